"""Verifies credentials (AK/SK signatures and tokens) and issues IAM-style tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import bindparam, select, update

from labelarts.auth import signing
from labelarts.auth.crypto import SecretBox, hash_password, verify_password
from labelarts.auth.limits import SignInKeys, SignInLimiter
from labelarts.auth.principal import MEMBER, OWNER, Principal, ProjectRole
from labelarts.clock import now_ms
from labelarts.errors import ForbiddenError, UnauthorizedError, ValidationFailedError
from labelarts.storage.db import Database
from labelarts.storage.db.models import AccessKey, Project, ProjectMember, Token, User, Worker

TOKEN_PREFIX = "LA1."

# The lookups every authenticated request makes, built once (plain columns, values bound).
# The role comes from project_members for the credential's project (outer join: a user whose
# row is missing is the owner of their home project, as every user was before members).
_ACCESS_KEY = (
    select(AccessKey.secret_encrypted, User.id, User.name, User.project_id, User.email, ProjectMember.role)
    .join(User, User.id == AccessKey.user_id)
    .outerjoin(
        ProjectMember, (ProjectMember.user_id == User.id) & (ProjectMember.project_id == User.project_id)
    )
    .where(AccessKey.access_key == bindparam("access_key"))
)
_TOKEN = (
    select(
        Token.revoked,
        Token.expires_at,
        Token.project_id,
        User.id,
        User.name,
        User.email,
        User.project_id.label("home_project_id"),
        ProjectMember.role,
    )
    .join(User, User.id == Token.user_id)
    .outerjoin(
        ProjectMember, (ProjectMember.user_id == User.id) & (ProjectMember.project_id == Token.project_id)
    )
    .where(Token.token_hash == bindparam("token_hash"))
)


def _role(stored: str | None, project_id: str, home_project_id: str) -> ProjectRole | None:
    """The caller's role in ``project_id``; None when they have none there."""
    if stored == MEMBER:
        return MEMBER
    if stored == OWNER or project_id == home_project_id:
        return OWNER
    return None


@dataclass(frozen=True)
class SignedRequest:
    """The parts of an HTTP request that the signature covers.

    ``body_sha256`` is the hex SHA-256 of the body as received: the caller hashes the body
    while reading it (with its size limit), so the body never has to be parsed before the
    signature is known to be good.
    """

    method: str
    path: str
    raw_query: str
    headers: Mapping[str, str]
    body_sha256: str


@dataclass(frozen=True)
class PendingSignature:
    """An AK/SK Authorization whose form, date and access key are good; the body is not yet read.

    ``verify`` finishes the check once the body's hash is known.
    """

    authorization: signing.ParsedAuthorization
    sdk_date: str
    secret_key: str
    principal: Principal

    def verify(self, request: SignedRequest) -> Principal:
        signed_headers = self.authorization.signed_headers
        try:
            payload = signing.verified_payload_hash(request.body_sha256, request.headers, signed_headers)
        except signing.PayloadHashRefused as exc:
            raise UnauthorizedError(f"{exc}.", error_code="ModelArts.0208") from None
        canonical = signing.canonical_request_for_hash(
            request.method, request.path, request.raw_query, request.headers, signed_headers, payload
        )
        expected = signing.signature(self.secret_key, signing.string_to_sign(canonical, self.sdk_date))
        if not hmac.compare_digest(expected, self.authorization.signature.lower()):
            raise UnauthorizedError("The request signature does not match.", error_code="ModelArts.0208")
        return self.principal


@dataclass(frozen=True)
class IssuedToken:
    token: str
    user: User
    project: Project
    issued_at: int
    expires_at: int


class PasswordChangeRequired(UnauthorizedError):
    """The password was right but must be changed first (the first-start ``admin``).

    Answered like any 401 ``ModelArts.4122``; the sign-in page reads ``user_id`` to offer
    the change-password step."""

    def __init__(self, user_id: str, message: str, *, error_code: str) -> None:
        super().__init__(message, error_code=error_code)
        self.user_id = user_id


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AuthService:
    def __init__(
        self,
        db: Database,
        secret_box: SecretBox,
        *,
        token_ttl_seconds: int,
        signature_window_seconds: int,
        sign_in_limiter: SignInLimiter,
    ) -> None:
        self._db = db
        self._limiter = sign_in_limiter
        self._box = secret_box
        self._token_ttl_ms = token_ttl_seconds * 1000
        self._window_ms = signature_window_seconds * 1000

    # --- AK/SK -----------------------------------------------------------------------
    def begin_signature(self, authorization: str, headers: Mapping[str, str]) -> PendingSignature:
        """Check everything a signature needs except the body: form, date window, access key."""
        try:
            parsed = signing.parse_authorization(authorization)
        except signing.MalformedAuthorization as exc:
            raise UnauthorizedError(
                f"Incorrect authorization request header format: {exc}.",
                error_code="ModelArts.0206",
            ) from None
        if "host" not in parsed.signed_headers or "x-sdk-date" not in parsed.signed_headers:
            raise UnauthorizedError(
                "SignedHeaders must include host and x-sdk-date.", error_code="ModelArts.0206"
            )
        lowered = {k.lower(): v for k, v in headers.items()}
        sdk_date = lowered.get("x-sdk-date")
        if not sdk_date:
            raise UnauthorizedError("X-Sdk-Date header is missing.", error_code="ModelArts.0206")
        try:
            signed_at = signing.parse_sdk_date(sdk_date)
        except ValueError:
            raise UnauthorizedError(
                "X-Sdk-Date must look like 20240102T030405Z.", error_code="ModelArts.0206"
            ) from None
        skew_ms = abs(datetime.now(UTC).timestamp() * 1000 - signed_at.timestamp() * 1000)
        if skew_ms > self._window_ms:
            raise UnauthorizedError(
                "X-Sdk-Date is outside the allowed 15-minute window.", error_code="ModelArts.0208"
            )

        # Plain columns straight from the driver, no ORM session: every signed request reads it.
        row = self._db.first_row(_ACCESS_KEY, {"access_key": parsed.access_key})
        if row is None:
            raise UnauthorizedError(
                "User credential (AK and SK) does not exist.", error_code="ModelArts.3801"
            )
        secret_encrypted, user_id, user_name, project_id, email, stored_role = row
        role = _role(stored_role, project_id, project_id)
        assert role is not None
        principal = Principal(user_id, user_name, project_id, "aksk", role, email)
        return PendingSignature(parsed, sdk_date, self._box.open(secret_encrypted), principal)

    def authenticate_signature(self, authorization: str, request: SignedRequest) -> Principal:
        return self.begin_signature(authorization, request.headers).verify(request)

    # --- tokens ----------------------------------------------------------------------
    def _check_password(self, user: User | None, password: str, keys: SignInKeys) -> bool:
        """Verify under the sign-in limits (429 when over them); a success is not counted."""
        reservation = self._limiter.reserve(keys)
        ok = verify_password(user.password_hash if user is not None else None, password)
        if ok:
            self._limiter.release(reservation)
        return ok

    def issue_token(
        self, *, user_name: str, password: str, project_id: str | None, client_address: str
    ) -> IssuedToken:
        keys = SignInKeys(user=user_name, address=client_address)
        # No transaction stays open while argon2 works (and the limiter writes its rows).
        with self._db.session() as session:
            user = session.execute(select(User).where(User.name == user_name)).scalar_one_or_none()
            if user is not None:
                session.expunge(user)
        # Unknown names take the same path (a dummy hash is verified): no name oracle.
        if not self._check_password(user, password, keys) or user is None:
            raise UnauthorizedError("Incorrect username or password.", error_code="ModelArts.4122")
        if user.password_must_change:
            # Keystone's answer to an expired password: change it with the old one first.
            raise PasswordChangeRequired(
                user.id,
                "The password is expired and needs to be changed for user: "
                f"{user.id}. POST /v3/users/{user.id}/password, or run `labelarts user "
                "set-password`.",
                error_code="ModelArts.4122",
            )
        scope = project_id if project_id is not None else user.project_id
        with self._db.session() as session:
            if scope != user.project_id and session.get(ProjectMember, (user.id, scope)) is None:
                raise UnauthorizedError(
                    "The user has no role on the requested project.", error_code="ModelArts.4119"
                )
            project = session.get(Project, scope)
            assert project is not None
            if user.email is not None:
                # A team member's first sign-in: their workers in this project become "signed in".
                session.execute(
                    update(Worker)
                    .where(Worker.project_id == scope, Worker.email == user.email, Worker.status.in_((0, 1)))
                    .values(status=2, update_time=now_ms())
                )
            token = TOKEN_PREFIX + secrets.token_urlsafe(48)
            issued = now_ms()
            expires = issued + self._token_ttl_ms
            session.add(
                Token(
                    token_hash=_hash_token(token),
                    user_id=user.id,
                    project_id=scope,
                    issued_at=issued,
                    expires_at=expires,
                    revoked=False,
                )
            )
            return IssuedToken(token, user, project, issued, expires)

    def change_password(
        self, *, user_id: str, original_password: str, new_password: str, client_address: str
    ) -> None:
        """Keystone's self-service change: the old password proves who asks, no token needed.

        The user's tokens are revoked. Limited like sign-in (per user and per address).
        """
        if len(new_password) < 8:
            raise ValidationFailedError("Password must have at least 8 characters.")
        with self._db.session() as session:
            user = session.get(User, user_id) if len(user_id) <= 64 else None
            name = user.name if user is not None else f"id:{user_id}"
            stored_hash = user.password_hash if user is not None else None
        keys = SignInKeys(user=name, address=client_address)
        reservation = self._limiter.reserve(keys)
        if not verify_password(stored_hash, original_password):
            raise UnauthorizedError("Incorrect username or password.", error_code="ModelArts.4122")
        self._limiter.release(reservation)
        if original_password == new_password:
            raise ValidationFailedError("The new password must differ from the original one.")
        new_hash = hash_password(new_password)
        with self._db.session() as session:
            user = session.get(User, user_id)
            if user is None:  # deleted meanwhile
                raise UnauthorizedError("Incorrect username or password.", error_code="ModelArts.4122")
            user.password_hash = new_hash
            user.password_must_change = False
            session.execute(
                update(Token).where(Token.user_id == user.id, Token.revoked.is_(False)).values(revoked=True)
            )

    def authenticate_token(self, token: str) -> Principal:
        if not token:
            raise UnauthorizedError("Token doesn't exist.", error_code="ModelArts.0201")
        row = self._db.first_row(_TOKEN, {"token_hash": _hash_token(token)})  # every request
        if row is None:
            raise UnauthorizedError("Invalid token.", error_code="ModelArts.0203")
        revoked, expires_at, project_id, user_id, user_name, email, home_project_id, stored_role = row
        if revoked:
            raise UnauthorizedError("Invalid token.", error_code="ModelArts.0203")
        if expires_at <= now_ms():
            raise UnauthorizedError(
                "Invalid token header because the token has expired.", error_code="ModelArts.0202"
            )
        role = _role(stored_role, project_id, home_project_id)
        if role is None:  # the membership was removed after the token was issued
            raise UnauthorizedError("Invalid token.", error_code="ModelArts.0203")
        return Principal(user_id, user_name, project_id, "token", role, email)

    def describe_token(self, token: str) -> tuple[Token, User, Project]:
        self.authenticate_token(token)
        with self._db.session() as session:
            stored = session.get(Token, _hash_token(token))
            assert stored is not None
            user = session.get(User, stored.user_id)
            project = session.get(Project, stored.project_id)
            assert user is not None and project is not None
            return stored, user, project

    def revoke_token(self, token: str) -> None:
        with self._db.session() as session:
            result = session.execute(
                update(Token)
                .where(Token.token_hash == _hash_token(token), Token.revoked.is_(False))
                .values(revoked=True)
            )
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise UnauthorizedError("Invalid token.", error_code="ModelArts.0203")


def check_project_access(principal: Principal, path_project_id: str, claimed: str | None) -> None:
    """A valid credential on another project's path, or claiming another project, is a 403."""
    if path_project_id != principal.project_id or (claimed is not None and claimed != principal.project_id):
        raise ForbiddenError("The credential is not authorized for this project.")
