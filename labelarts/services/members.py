"""Team members' accounts: an account in the owner's project with the role ``member``.

There is no self-registration. An account comes from

- an **invitation** (:meth:`MemberService.invite`): a link holding 32 random bytes, of which
  only the SHA-256 is stored, good for ``invitation_ttl_seconds`` and once; whoever opens it
  sets a password (:meth:`MemberService.accept`) and gets the account ``name = email``, or,
  when an account with that email already exists (a member of another project), proves it
  with that account's password and gains a membership in this project;
- an **administrator** on the server (:meth:`MemberService.create_member`, the CLI's
  ``labelarts user create-member``).

A member signs in like every user (``POST /v3/auth/tokens``, naming the project when they
belong to several) and may hold AK/SK pairs (scoped to their home project, the first one they
joined).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from labelarts.auth.crypto import SecretBox, hash_password, verify_password
from labelarts.auth.principal import MEMBER
from labelarts.clock import new_hex_id, now_ms
from labelarts.errors import BadRequestError, NotFoundError, UnauthorizedError, ValidationFailedError
from labelarts.services.users import PROJECT_ID_PATTERN, Credentials, new_access_key, new_secret_key
from labelarts.storage.db import Database
from labelarts.storage.db.models import AccessKey, Invitation, Project, ProjectMember, Token, User

INVITATION_PREFIX = "LAI1."


def normalize_email(value: str) -> str:
    """The address in the form LabelArts stores: syntax checked (no DNS), lower-case.

    Raises ``ValidationFailedError`` (400 ``ModelArts.0104``) for anything that is not an
    address. Lower-casing the local part is a choice (docs/team-labeling.md): ModelArts treats
    team emails as case-insensitive and two workers differing only in case would be confusing.
    """
    if not isinstance(value, str) or "\x00" in value or len(value) > 254:
        raise ValidationFailedError("Invalid email address.")
    try:
        valid = validate_email(value.strip(), check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise ValidationFailedError(f"Invalid email address {value!r}: {exc}") from None
    return valid.normalized.lower()


def is_valid_email(value: str) -> bool:
    try:
        normalize_email(value)
    except ValidationFailedError:
        return False
    return True


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class MemberSummary:
    email: str
    user_id: str
    project_id: str
    role: str
    create_time: int


class MemberService:
    def __init__(self, db: Database, secret_box: SecretBox, *, invitation_ttl_seconds: int) -> None:
        self._db = db
        self._box = secret_box
        self._ttl_ms = invitation_ttl_seconds * 1000

    # --- invitations -------------------------------------------------------------------
    def invite(self, project_id: str, email: str, *, session: Session | None = None) -> str:
        """A new invitation token for ``email`` into ``project_id`` (the link carries it).

        With ``session``, written in the caller's unit of work (notify does this)."""
        address = normalize_email(email)
        token = INVITATION_PREFIX + secrets.token_urlsafe(32)
        row = Invitation(
            token_hash=_hash(token),
            project_id=project_id,
            email=address,
            create_time=now_ms(),
            expires_at=now_ms() + self._ttl_ms,
        )
        if session is not None:
            session.add(row)
        else:
            with self._db.session() as own:
                if own.get(Project, project_id) is None:
                    raise NotFoundError(f"Project {project_id} does not exist.")
                own.add(row)
        return token

    def describe_invitation(self, token: str) -> tuple[str, str, bool]:
        """(email, project_id, account_exists) of a usable invitation; 401 otherwise."""
        with self._db.session() as session:
            invitation = self._usable(session, token)
            exists = (
                session.execute(select(User.id).where(User.email == invitation.email)).first() is not None
            )
            return invitation.email, invitation.project_id, exists

    def accept(self, token: str, password: str) -> Credentials | None:
        """Use an invitation: create the member's account (returns its first AK/SK), or, for an
        existing account with that email, check its password and add the membership (None)."""
        if len(password) < 8:
            raise ValidationFailedError("Password must have at least 8 characters.")
        with self._db.session(write=True) as session:
            invitation = self._usable(session, token)
            existing = session.execute(
                select(User).where(User.email == invitation.email)
            ).scalar_one_or_none()
            if existing is not None:
                if not verify_password(existing.password_hash, password):
                    raise UnauthorizedError(
                        "An account with this email exists: give its password.", error_code="ModelArts.4122"
                    )
                self._add_membership(session, existing.id, invitation.project_id)
                invitation.used_at = now_ms()
                return None
            invitation.used_at = now_ms()
            return self._create_account(session, invitation.email, invitation.project_id, password)

    @staticmethod
    def _usable(session: Session, token: str) -> Invitation:
        invitation = session.get(Invitation, _hash(token)) if token.startswith(INVITATION_PREFIX) else None
        if invitation is None or invitation.used_at is not None or invitation.expires_at <= now_ms():
            raise UnauthorizedError(
                "The invitation is invalid, used or expired.", error_code="ModelArts.4632"
            )
        return invitation

    # --- accounts ----------------------------------------------------------------------
    def create_member(self, email: str, project_id: str, password: str) -> Credentials:
        """An administrator's way in: the member account ``email`` in ``project_id``."""
        if not PROJECT_ID_PATTERN.match(project_id):
            raise ValidationFailedError("Project id must be 32 lower-case hex characters.")
        if len(password) < 8:
            raise ValidationFailedError("Password must have at least 8 characters.")
        address = normalize_email(email)
        with self._db.session(write=True) as session:
            if session.get(Project, project_id) is None:
                raise NotFoundError(f"Project {project_id} does not exist.")
            return self._create_account(session, address, project_id, password)

    def add_membership(self, email: str, project_id: str) -> None:
        """Make an existing account (by email) a member of another project too."""
        address = normalize_email(email)
        with self._db.session(write=True) as session:
            user = session.execute(select(User).where(User.email == address)).scalar_one_or_none()
            if user is None:
                raise NotFoundError(f"No account has the email {address}.")
            if session.get(Project, project_id) is None:
                raise NotFoundError(f"Project {project_id} does not exist.")
            self._add_membership(session, user.id, project_id)

    def remove_membership(self, email: str, project_id: str) -> None:
        """End a member's membership in ``project_id``; their tokens for it stop working."""
        address = normalize_email(email)
        with self._db.session(write=True) as session:
            user = session.execute(select(User).where(User.email == address)).scalar_one_or_none()
            member = session.get(ProjectMember, (user.id, project_id)) if user is not None else None
            if user is None or member is None or member.role != MEMBER:
                raise NotFoundError(f"{address} is not a member of project {project_id}.")
            session.delete(member)
            session.execute(
                update(Token)
                .where(Token.user_id == user.id, Token.project_id == project_id)
                .values(revoked=True)
            )
            if user.project_id == project_id:
                # Their home project: the account goes with its keys (another membership, if
                # any, keeps the account: it moves home there).
                other = session.execute(
                    select(ProjectMember.project_id).where(ProjectMember.user_id == user.id).limit(1)
                ).scalar_one_or_none()
                if other is None:
                    session.execute(delete(AccessKey).where(AccessKey.user_id == user.id))
                    session.execute(delete(Token).where(Token.user_id == user.id))
                    session.delete(user)
                else:
                    session.execute(delete(AccessKey).where(AccessKey.user_id == user.id))
                    user.project_id = other

    @staticmethod
    def is_member(session: Session, project_id: str, email: str) -> bool:
        """Whether an account with ``email`` belongs to ``project_id`` (any role)."""
        found = session.execute(
            select(User.id)
            .join(ProjectMember, ProjectMember.user_id == User.id)
            .where(User.email == email, ProjectMember.project_id == project_id)
        ).first()
        return found is not None

    def list_members(self, project_id: str | None = None) -> list[MemberSummary]:
        with self._db.session() as session:
            query = (
                select(
                    User.email,
                    User.id,
                    ProjectMember.project_id,
                    ProjectMember.role,
                    ProjectMember.create_time,
                )
                .join(ProjectMember, ProjectMember.user_id == User.id)
                .where(ProjectMember.role == MEMBER)
            )
            if project_id is not None:
                query = query.where(ProjectMember.project_id == project_id)
            rows = session.execute(query.order_by(ProjectMember.create_time, User.email)).all()
            return [MemberSummary(row[0] or "", row[1], row[2], row[3], row[4]) for row in rows]

    def _create_account(self, session: Session, email: str, project_id: str, password: str) -> Credentials:
        if len(email) > 64:  # the account's name is the address (users.name holds 64)
            raise ValidationFailedError("An account's email may have at most 64 characters.")
        taken = session.execute(select(User.id).where((User.email == email) | (User.name == email))).first()
        if taken is not None:
            raise BadRequestError(f"An account named {email} already exists.")
        created = now_ms()
        user = User(
            id=new_hex_id(),
            name=email,
            email=email,
            password_hash=hash_password(password),
            project_id=project_id,
            create_time=created,
            password_must_change=False,
        )
        session.add(user)
        session.flush()
        session.add(ProjectMember(user_id=user.id, project_id=project_id, role=MEMBER, create_time=created))
        access_key, secret_key = new_access_key(), new_secret_key()
        session.add(
            AccessKey(
                access_key=access_key,
                user_id=user.id,
                secret_encrypted=self._box.seal(secret_key),
                create_time=created,
            )
        )
        return Credentials(email, project_id, access_key, secret_key)

    @staticmethod
    def _add_membership(session: Session, user_id: str, project_id: str) -> None:
        if session.get(ProjectMember, (user_id, project_id)) is not None:
            raise BadRequestError("The account is already in this project.")
        session.add(ProjectMember(user_id=user_id, project_id=project_id, role=MEMBER, create_time=now_ms()))
