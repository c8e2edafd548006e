"""Users, projects and access keys (administered locally through the CLI)."""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from labelarts.auth.crypto import SecretBox, hash_password
from labelarts.auth.principal import OWNER
from labelarts.clock import new_hex_id, now_ms
from labelarts.errors import BadRequestError, NotFoundError, ValidationFailedError
from labelarts.storage.db import Database
from labelarts.storage.db.models import AccessKey, Project, ProjectMember, Token, User

PROJECT_ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")
USER_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_AK_ALPHABET = string.ascii_uppercase + string.digits


@dataclass(frozen=True)
class Credentials:
    user: str
    project_id: str
    access_key: str
    secret_key: str


@dataclass(frozen=True)
class UserSummary:
    user: str
    user_id: str
    project_id: str
    access_keys: list[str]
    create_time: int


def new_access_key() -> str:
    return "".join(secrets.choice(_AK_ALPHABET) for _ in range(20))


def new_secret_key() -> str:
    return secrets.token_urlsafe(30)


class UserService:
    def __init__(self, db: Database, secret_box: SecretBox) -> None:
        self._db = db
        self._box = secret_box

    def create_user(
        self, name: str, *, project_id: str | None, password: str, must_change_password: bool = False
    ) -> Credentials:
        """Create a user with one access key. ``must_change_password``: the password is a
        generated one that can change itself (``POST /v3/users/{id}/password``) but gets no token."""
        if not USER_NAME_PATTERN.match(name):
            raise ValidationFailedError("User name must be 1-64 of A-Z a-z 0-9 _ . @ -.")
        if project_id is None:
            project_id = new_hex_id()
        if not PROJECT_ID_PATTERN.match(project_id):
            raise ValidationFailedError("Project id must be 32 lower-case hex characters.")
        if len(password) < 8:
            raise ValidationFailedError("Password must have at least 8 characters.")
        access_key, secret_key = new_access_key(), new_secret_key()
        with self._db.session() as session:
            if session.execute(select(User.id).where(User.name == name)).first():
                raise BadRequestError(f"User {name} already exists.")
            if session.get(Project, project_id) is None:
                session.add(Project(id=project_id, name=f"project-{project_id[:8]}", create_time=now_ms()))
                session.flush()
            user = User(
                id=new_hex_id(),
                name=name,
                password_hash=hash_password(password),
                project_id=project_id,
                create_time=now_ms(),
                password_must_change=must_change_password,
            )
            session.add(user)
            session.flush()
            session.add(
                ProjectMember(user_id=user.id, project_id=project_id, role=OWNER, create_time=now_ms())
            )
            session.add(
                AccessKey(
                    access_key=access_key,
                    user_id=user.id,
                    secret_encrypted=self._box.seal(secret_key),
                    create_time=now_ms(),
                )
            )
        return Credentials(name, project_id, access_key, secret_key)

    def user_id(self, name: str) -> str:
        with self._db.session() as session:
            return self._get(session, name).id

    def list_users(self) -> list[UserSummary]:
        with self._db.session() as session:
            users = session.execute(select(User).order_by(User.create_time, User.name)).scalars()
            keys = session.execute(select(AccessKey.user_id, AccessKey.access_key)).all()
            by_user: dict[str, list[str]] = {}
            for user_id, ak in keys:
                by_user.setdefault(user_id, []).append(ak)
            return [
                UserSummary(u.name, u.id, u.project_id, sorted(by_user.get(u.id, [])), u.create_time)
                for u in users
            ]

    def delete_user(self, name: str) -> None:
        with self._db.session() as session:
            user = self._get(session, name)
            session.execute(delete(AccessKey).where(AccessKey.user_id == user.id))
            session.execute(delete(Token).where(Token.user_id == user.id))
            session.delete(user)

    def rotate_key(self, name: str) -> Credentials:
        """Replace every access key of the user with a new one; old signatures stop working."""
        access_key, secret_key = new_access_key(), new_secret_key()
        with self._db.session() as session:
            user = self._get(session, name)
            session.execute(delete(AccessKey).where(AccessKey.user_id == user.id))
            session.add(
                AccessKey(
                    access_key=access_key,
                    user_id=user.id,
                    secret_encrypted=self._box.seal(secret_key),
                    create_time=now_ms(),
                )
            )
            return Credentials(user.name, user.project_id, access_key, secret_key)

    def set_password(self, name: str, password: str) -> None:
        if len(password) < 8:
            raise ValidationFailedError("Password must have at least 8 characters.")
        with self._db.session() as session:
            user = self._get(session, name)
            user.password_hash = hash_password(password)
            user.password_must_change = False
            # As Keystone does: a changed password ends the sessions the old one opened.
            session.execute(update(Token).where(Token.user_id == user.id).values(revoked=True))

    def count_users(self) -> int:
        with self._db.session() as session:
            return int(session.execute(select(func.count()).select_from(User)).scalar_one())

    @staticmethod
    def _get(session: Session, name: str) -> User:
        user = session.execute(select(User).where(User.name == name)).scalar_one_or_none()
        if user is None:
            raise NotFoundError(f"User {name} does not exist.")
        return user
