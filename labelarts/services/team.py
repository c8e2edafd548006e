"""Who may do what in team labeling: the one place that resolves a caller's team roles.

A caller is either the project's **owner** (``Principal.role == "owner"``: everything, as
before team labeling) or a **member** (``"member"``: an account created from an invitation
or by an administrator, in the owner's project). A member's team roles come from the
workers (``workers`` rows) of that project whose email is the account's email: one worker
per team the member belongs to, each with its own role (0 labeler, 1 reviewer, 2 team
administrator).

Rules every team route applies through this module:

- an id the caller may not see (another project's, or a task / team / sample not assigned to
  a member) is a 404, never a hint that it exists;
- a call the caller's role does not allow is a 403 ``ModelArts.4600``
  (:class:`~labelarts.errors.RoleForbiddenError`).

Functions taking a ``Session`` run inside the caller's unit of work; :class:`TeamAccess`
opens its own for routes that need only the answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from labelarts.auth.principal import Principal
from labelarts.errors import RoleForbiddenError, WorkerNotFoundError, WorkforceNotFoundError
from labelarts.storage.db import Database
from labelarts.storage.db.models import Worker, Workforce

ROLE_LABELER = 0
ROLE_REVIEWER = 1
ROLE_ADMIN = 2
ROLE_OWNER = 3  # synthesized in answers only, never stored
ROLES = (ROLE_LABELER, ROLE_REVIEWER, ROLE_ADMIN)

STATUS_NOT_INVITED = 0
STATUS_INVITED = 1
STATUS_SIGNED_IN = 2
STATUS_DELETED = 3


@dataclass(frozen=True)
class WorkerRef:
    """One team membership of a member: the worker row, as plain values."""

    worker_id: str
    workforce_id: str
    email: str
    role: int
    status: int


@dataclass(frozen=True)
class Membership:
    """The caller's standing in the project: owner, or member with these workers.

    Owners usually have no workers (they may have some, if their account has an email that a
    team lists; an owner can still do everything)."""

    principal: Principal
    workers: tuple[WorkerRef, ...]

    @property
    def is_owner(self) -> bool:
        return self.principal.is_owner

    @property
    def project_id(self) -> str:
        return self.principal.project_id

    def roles(self, workforce_ids: Iterable[str] | None = None) -> set[int]:
        """The member's roles, in the given teams or in all of theirs."""
        wanted = None if workforce_ids is None else set(workforce_ids)
        return {w.role for w in self.workers if wanted is None or w.workforce_id in wanted}

    def worker_ids(self, roles: Iterable[int] | None = None) -> set[str]:
        wanted = None if roles is None else set(roles)
        return {w.worker_id for w in self.workers if wanted is None or w.role in wanted}

    def workforce_ids(self, roles: Iterable[int] | None = None) -> set[str]:
        wanted = None if roles is None else set(roles)
        return {w.workforce_id for w in self.workers if wanted is None or w.role in wanted}

    def in_workforce(self, workforce_id: str) -> WorkerRef | None:
        """The member's worker in that team (a member is in a team at most once)."""
        return next((w for w in self.workers if w.workforce_id == workforce_id), None)

    def administers(self, workforce_id: str) -> bool:
        """Owner, or the team's administrator (role 2)."""
        if self.is_owner:
            return True
        worker = self.in_workforce(workforce_id)
        return worker is not None and worker.role == ROLE_ADMIN

    # --- checks that raise ------------------------------------------------------------
    def require_owner(self) -> None:
        """403 ``ModelArts.4600`` unless the caller owns the project."""
        require_owner(self.principal)

    def require_role(self, roles: Iterable[int], workforce_ids: Iterable[str] | None = None) -> None:
        """Owners pass; a member passes with one of ``roles`` in one of ``workforce_ids`` (any
        team when None); otherwise 403 ``ModelArts.4600``."""
        if self.is_owner:
            return
        if not self.roles(workforce_ids) & set(roles):
            raise RoleForbiddenError()


def require_owner(principal: Principal) -> None:
    """403 ``ModelArts.4600`` unless the caller owns the project."""
    if not principal.is_owner:
        raise RoleForbiddenError()


def load_membership(session: Session, principal: Principal) -> Membership:
    """The caller's live workers in their project (by the account's email)."""
    if principal.email is None:
        return Membership(principal, ())
    rows = session.execute(
        select(Worker.id, Worker.workforce_id, Worker.email, Worker.role, Worker.status)
        .where(
            Worker.project_id == principal.project_id,
            Worker.email == principal.email,
            Worker.status != STATUS_DELETED,
        )
        .order_by(Worker.workforce_id)
    ).all()
    return Membership(principal, tuple(WorkerRef(*row) for row in rows))


def get_workforce(session: Session, project_id: str, workforce_id: str) -> Workforce:
    """The project's team, or 404 ``ModelArts.4601``."""
    if "\x00" in workforce_id or len(workforce_id) > 32:
        raise WorkforceNotFoundError()
    workforce = session.execute(
        select(Workforce).where(Workforce.id == workforce_id, Workforce.project_id == project_id)
    ).scalar_one_or_none()
    if workforce is None:
        raise WorkforceNotFoundError()
    return workforce


def get_workforce_by_name(session: Session, project_id: str, name: str) -> Workforce:
    """The project's team called ``name``, or 404 ``ModelArts.4601``."""
    workforce = session.execute(
        select(Workforce).where(Workforce.name == name, Workforce.project_id == project_id)
    ).scalar_one_or_none()
    if workforce is None:
        raise WorkforceNotFoundError()
    return workforce


def get_worker(session: Session, project_id: str, workforce_id: str, worker_id: str) -> Worker:
    """A live worker of the project's team, or 404 (``ModelArts.4601`` for the team,
    ``ModelArts.4604`` for the worker)."""
    get_workforce(session, project_id, workforce_id)
    if "\x00" in worker_id or len(worker_id) > 32:
        raise WorkerNotFoundError()
    worker = session.execute(
        select(Worker).where(
            Worker.id == worker_id,
            Worker.workforce_id == workforce_id,
            Worker.status != STATUS_DELETED,
        )
    ).scalar_one_or_none()
    if worker is None:
        raise WorkerNotFoundError()
    return worker


def live_workers(
    session: Session, project_id: str, workforce_id: str, roles: Iterable[int] | None = None
) -> list[Worker]:
    """The team's workers that are not deleted, oldest first (404 for an unknown team)."""
    get_workforce(session, project_id, workforce_id)
    query = select(Worker).where(Worker.workforce_id == workforce_id, Worker.status != STATUS_DELETED)
    if roles is not None:
        query = query.where(Worker.role.in_(list(roles)))
    return list(session.execute(query.order_by(Worker.create_time, Worker.id)).scalars())


class TeamAccess:
    """:func:`load_membership` with its own unit of work, for routes that only need the answer."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def membership(self, principal: Principal) -> Membership:
        with self._db.session() as session:
            return load_membership(session, principal)
