"""Labeling teams (workforces) and their members (workers): ModelArts group D's people side.

Who may call what (the routes pass the caller's :class:`~labelarts.services.team.Membership`):

- the project's owner: everything;
- a team's administrator (role 2): their team's detail, its workers (list, detail, add and
  update labelers and reviewers, delete them), and the all-workers list limited to their teams;
- a worker: their own worker's detail.

Anything else of a team the member is in is a 403 ``ModelArts.4600``; a team they are not in is
a 404, as for a team that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from labelarts.clock import new_hex_id, new_resource_id, now_ms
from labelarts.errors import (
    BadRequestError,
    RoleForbiddenError,
    TeamManagerError,
    ValidationFailedError,
    WorkerExistsError,
    WorkerNotFoundError,
    WorkforceExistsError,
    WorkforceNotFoundError,
)
from labelarts.schemas.workforces import (
    CreateWorkerRequest,
    CreateWorkforceRequest,
    UpdateWorkerRequest,
    UpdateWorkforceRequest,
)
from labelarts.services.members import normalize_email
from labelarts.services.team import (
    ROLE_ADMIN,
    ROLE_LABELER,
    ROLE_REVIEWER,
    STATUS_DELETED,
    STATUS_NOT_INVITED,
    STATUS_SIGNED_IN,
    Membership,
    get_worker,
    get_workforce,
)
from labelarts.storage.db import Database
from labelarts.storage.db.models import Token, User, Worker, Workforce

# hook(session, project_id, worker_ids): workers were deleted (in this transaction).
WorkersRemovedHook = Callable[[Session, str, list[str]], None]
# hook(session, project_id, workforce_id): the team is about to be deleted; raise to refuse.
WorkforceDeletingHook = Callable[[Session, str, str], None]
# provider(session, project_id, task_id) -> the ids of the teams a team task uses (404 if unknown).
TaskWorkforcesProvider = Callable[[Session, str, str], set[str]]

Order = Literal["asc", "desc"]


@dataclass(frozen=True)
class ListQuery:
    offset: int = 0  # a page number (COMPATIBILITY 2.3)
    limit: int = 10
    order: Order = "desc"
    sort_by: str = "create_time"


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def workforce_body(workforce: Workforce, worker_count: int) -> dict[str, Any]:
    return {
        "workforce_id": workforce.id,
        "workforce_name": workforce.name,
        "description": workforce.description,
        "workspace_id": workforce.workspace_id,
        "worker_count": worker_count,
        "create_time": workforce.create_time,
        "update_time": workforce.update_time,
    }


def worker_body(worker: Worker) -> dict[str, Any]:
    return {
        "worker_id": worker.id,
        "workforce_id": worker.workforce_id,
        "email": worker.email,
        "role": worker.role,
        "status": worker.status,
        "description": worker.description,
        "create_time": worker.create_time,
        "update_time": worker.update_time,
    }


def split_emails(raw: str) -> list[str]:
    """``emails`` as the addresses it names (comma or semicolon separated), normalized,
    duplicates removed, order kept. 400 for an invalid one or none."""
    parts = [p.strip() for p in raw.replace(";", ",").split(",")]
    addresses: list[str] = []
    for part in parts:
        if not part:
            continue
        address = normalize_email(part)
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise ValidationFailedError("emails must name at least one address.")
    return addresses


class WorkforceService:
    def __init__(self, db: Database, *, max_workforces: int, max_workers: int) -> None:
        self._db = db
        self._max_workforces = max_workforces
        self._max_workers = max_workers
        self._removed_hooks: list[WorkersRemovedHook] = []
        self._deleting_hooks: list[WorkforceDeletingHook] = []
        self._task_workforces: TaskWorkforcesProvider | None = None

    # --- hooks for the task side ---------------------------------------------------------
    def on_workers_removed(self, hook: WorkersRemovedHook) -> None:
        self._removed_hooks.append(hook)

    def on_workforce_deleting(self, hook: WorkforceDeletingHook) -> None:
        self._deleting_hooks.append(hook)

    def set_task_workforces(self, provider: TaskWorkforcesProvider) -> None:
        self._task_workforces = provider

    # --- workforces ----------------------------------------------------------------------
    def create_workforce(self, membership: Membership, body: CreateWorkforceRequest) -> str:
        membership.require_owner()
        project_id = membership.project_id
        with self._db.session(write=True) as session:
            self._check_name_free(session, project_id, body.workforce_name)
            count = session.execute(
                select(func.count()).select_from(Workforce).where(Workforce.project_id == project_id)
            ).scalar_one()
            if count >= self._max_workforces:
                raise ValidationFailedError(
                    f"A project may have at most {self._max_workforces} labeling teams."
                )
            created = now_ms()
            workforce = Workforce(
                id=new_resource_id(),
                project_id=project_id,
                name=body.workforce_name,
                description=body.description,
                workspace_id="0",
                create_time=created,
                update_time=created,
            )
            session.add(workforce)
            return workforce.id

    def list_workforces(
        self,
        membership: Membership,
        query: ListQuery,
        *,
        search_content: str | None = None,
        workforce_task_id: str | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """``(workforces, total_number)``. Members see the teams they administer (a member who
        administers none: 403)."""
        project_id = membership.project_id
        with self._db.session() as session:
            where: list[Any] = [Workforce.project_id == project_id]
            if not membership.is_owner:
                administered = membership.workforce_ids(roles=[ROLE_ADMIN])
                if not administered:
                    raise RoleForbiddenError()
                where.append(Workforce.id.in_(sorted(administered)))
            if search_content:
                pattern = "%" + _escape_like(search_content) + "%"
                where.append(or_(Workforce.name.ilike(pattern, escape="\\"), Workforce.id == search_content))
            if workforce_task_id is not None:
                used = (
                    self._task_workforces(session, project_id, workforce_task_id)
                    if self._task_workforces is not None
                    else set()
                )
                where.append(Workforce.id.in_(sorted(used)))
            total = session.execute(select(func.count()).select_from(Workforce).where(*where)).scalar_one()
            key = Workforce.name if query.sort_by == "workforce_name" else Workforce.create_time
            order = (
                [key.asc(), Workforce.id.asc()] if query.order == "asc" else [key.desc(), Workforce.id.desc()]
            )
            rows = list(
                session.execute(
                    select(Workforce)
                    .where(*where)
                    .order_by(*order)
                    .offset(query.offset * query.limit)
                    .limit(query.limit)
                ).scalars()
            )
            counts = self._worker_counts(session, [w.id for w in rows])
            return [workforce_body(w, counts.get(w.id, 0)) for w in rows], int(total)

    def describe_workforce(self, membership: Membership, workforce_id: str) -> dict[str, Any]:
        with self._db.session() as session:
            workforce = self._visible_workforce(session, membership, workforce_id)
            if not membership.administers(workforce_id):
                raise RoleForbiddenError()
            return workforce_body(
                workforce, self._worker_counts(session, [workforce.id]).get(workforce.id, 0)
            )

    def update_workforce(
        self, membership: Membership, workforce_id: str, body: UpdateWorkforceRequest
    ) -> None:
        membership.require_owner()
        with self._db.session(write=True) as session:
            workforce = get_workforce(session, membership.project_id, workforce_id)
            if body.workforce_name is not None and body.workforce_name != workforce.name:
                self._check_name_free(session, membership.project_id, body.workforce_name)
                workforce.name = body.workforce_name
            if body.description is not None:
                workforce.description = body.description
            workforce.update_time = now_ms()

    def delete_workforce(self, membership: Membership, workforce_id: str) -> None:
        membership.require_owner()
        with self._db.session(write=True) as session:
            workforce = get_workforce(session, membership.project_id, workforce_id)
            for deleting in self._deleting_hooks:
                deleting(session, membership.project_id, workforce.id)
            live = [
                w.id
                for w in session.execute(
                    select(Worker).where(Worker.workforce_id == workforce.id, Worker.status != STATUS_DELETED)
                ).scalars()
            ]
            if live:
                for hook in self._removed_hooks:
                    hook(session, membership.project_id, live)
            session.delete(workforce)  # its workers go with it (ON DELETE CASCADE)
            session.flush()

    # --- workers -------------------------------------------------------------------------
    def create_workers(
        self, membership: Membership, workforce_id: str, body: CreateWorkerRequest
    ) -> list[str]:
        """Add every address in ``emails`` with ``role``, or none (400 with the first problem)."""
        addresses = split_emails(body.emails)
        with self._db.session(write=True) as session:
            self._visible_workforce(session, membership, workforce_id)
            if not membership.administers(workforce_id):
                raise RoleForbiddenError()
            if not membership.is_owner and body.role == ROLE_ADMIN:
                raise RoleForbiddenError("Only the owner appoints a team administrator.")
            live = list(
                session.execute(
                    select(Worker).where(Worker.workforce_id == workforce_id, Worker.status != STATUS_DELETED)
                ).scalars()
            )
            taken = {w.email for w in live}
            for address in addresses:
                if address in taken:
                    raise WorkerExistsError(f"The worker {address} already exists.")
            if body.role == ROLE_ADMIN and (len(addresses) > 1 or any(w.role == ROLE_ADMIN for w in live)):
                raise TeamManagerError()
            if len(live) + len(addresses) > self._max_workers:
                raise ValidationFailedError(f"A labeling team may have at most {self._max_workers} members.")
            created = now_ms()
            signed_in = self._signed_in(session, membership.project_id, addresses)
            ids = []
            for address in addresses:
                worker = Worker(
                    id=new_hex_id(),
                    workforce_id=workforce_id,
                    project_id=membership.project_id,
                    email=address,
                    role=body.role,
                    status=STATUS_SIGNED_IN if address in signed_in else STATUS_NOT_INVITED,
                    description=body.description,
                    create_time=created,
                    update_time=created,
                )
                session.add(worker)
                ids.append(worker.id)
            self._touch(session, workforce_id)
            return ids

    def list_workers(
        self, membership: Membership, workforce_id: str | None, query: ListQuery, *, role: int | None = None
    ) -> tuple[list[dict[str, Any]], int]:
        """One team's workers, or (``workforce_id`` None) every team's: for a member, the teams
        they administer."""
        project_id = membership.project_id
        with self._db.session() as session:
            where: list[Any] = [Worker.project_id == project_id, Worker.status != STATUS_DELETED]
            if workforce_id is not None:
                self._visible_workforce(session, membership, workforce_id)
                if not membership.administers(workforce_id):
                    raise RoleForbiddenError()
                where.append(Worker.workforce_id == workforce_id)
            elif not membership.is_owner:
                administered = membership.workforce_ids(roles=[ROLE_ADMIN])
                if not administered:
                    raise RoleForbiddenError()
                where.append(Worker.workforce_id.in_(sorted(administered)))
            if role is not None:
                where.append(Worker.role == role)
            total = session.execute(select(func.count()).select_from(Worker).where(*where)).scalar_one()
            key = Worker.email if query.sort_by == "email" else Worker.create_time
            order = [key.asc(), Worker.id.asc()] if query.order == "asc" else [key.desc(), Worker.id.desc()]
            rows = session.execute(
                select(Worker)
                .where(*where)
                .order_by(*order)
                .offset(query.offset * query.limit)
                .limit(query.limit)
            ).scalars()
            return [worker_body(w) for w in rows], int(total)

    def describe_worker(self, membership: Membership, workforce_id: str, worker_id: str) -> dict[str, Any]:
        with self._db.session() as session:
            self._visible_workforce(session, membership, workforce_id)
            worker = get_worker(session, membership.project_id, workforce_id, worker_id)
            if not membership.administers(workforce_id) and worker.id not in membership.worker_ids():
                raise RoleForbiddenError()
            return worker_body(worker)

    def update_worker(
        self, membership: Membership, workforce_id: str, worker_id: str, body: UpdateWorkerRequest
    ) -> None:
        with self._db.session(write=True) as session:
            self._visible_workforce(session, membership, workforce_id)
            if not membership.administers(workforce_id):
                raise RoleForbiddenError()
            worker = get_worker(session, membership.project_id, workforce_id, worker_id)
            if body.role == 3:
                raise ValidationFailedError("role 3 (dataset owner) cannot be given to a worker.")
            if not membership.is_owner and (worker.role == ROLE_ADMIN or body.role == ROLE_ADMIN):
                raise RoleForbiddenError("Only the owner changes the team administrator.")
            if body.role is not None and body.role != worker.role:
                if body.role == ROLE_ADMIN:
                    admin = session.execute(
                        select(Worker.id).where(
                            Worker.workforce_id == workforce_id,
                            Worker.role == ROLE_ADMIN,
                            Worker.status != STATUS_DELETED,
                        )
                    ).first()
                    if admin is not None:
                        raise TeamManagerError()
                worker.role = body.role
            if body.description is not None:
                worker.description = body.description
            worker.update_time = now_ms()
            self._touch(session, workforce_id)

    def delete_worker(self, membership: Membership, workforce_id: str, worker_id: str) -> None:
        with self._db.session(write=True) as session:
            self._visible_workforce(session, membership, workforce_id)
            self._delete(session, membership, workforce_id, [worker_id])

    def batch_delete_workers(
        self, membership: Membership, workforce_id: str, worker_ids: Sequence[str]
    ) -> list[dict[str, Any]]:
        """Each id on its own: the ones that can go, go; each result says why not."""
        with self._db.session(write=True) as session:
            self._visible_workforce(session, membership, workforce_id)
            if not membership.administers(workforce_id):
                raise RoleForbiddenError()
            results: list[dict[str, Any]] = []
            for worker_id in worker_ids:
                try:
                    with session.begin_nested():
                        self._delete(session, membership, workforce_id, [worker_id])
                except (WorkerNotFoundError, BadRequestError, RoleForbiddenError) as exc:
                    results.append({"success": False, "error_code": exc.code, "error_msg": exc.message})
                else:
                    results.append({"success": True})
            return results

    # --- helpers -------------------------------------------------------------------------
    def _delete(
        self, session: Session, membership: Membership, workforce_id: str, worker_ids: list[str]
    ) -> None:
        if not membership.administers(workforce_id):
            raise RoleForbiddenError()
        removed = []
        for worker_id in worker_ids:
            worker = get_worker(session, membership.project_id, workforce_id, worker_id)
            if worker.id in membership.worker_ids():
                raise BadRequestError("Can not delete yourself.", error_code="ModelArts.4618")
            if not membership.is_owner and worker.role not in (ROLE_LABELER, ROLE_REVIEWER):
                raise RoleForbiddenError("Only the owner removes the team administrator.")
            worker.status = STATUS_DELETED
            worker.update_time = now_ms()
            removed.append(worker.id)
        session.flush()
        for hook in self._removed_hooks:
            hook(session, membership.project_id, removed)
        self._touch(session, workforce_id)

    @staticmethod
    def _visible_workforce(session: Session, membership: Membership, workforce_id: str) -> Workforce:
        """The team, if the caller may know of it: owners, and members in it. Else 404."""
        workforce = get_workforce(session, membership.project_id, workforce_id)
        if not membership.is_owner and membership.in_workforce(workforce_id) is None:
            raise WorkforceNotFoundError()
        return workforce

    @staticmethod
    def _signed_in(session: Session, project_id: str, addresses: list[str]) -> set[str]:
        """Those of ``addresses`` whose account has signed in to the project already."""
        rows = session.execute(
            select(User.email)
            .join(Token, Token.user_id == User.id)
            .where(User.email.in_(addresses), Token.project_id == project_id)
            .distinct()
        ).scalars()
        return {email for email in rows if email is not None}

    @staticmethod
    def _check_name_free(session: Session, project_id: str, name: str) -> None:
        exists = session.execute(
            select(Workforce.id).where(Workforce.project_id == project_id, Workforce.name == name)
        ).first()
        if exists is not None:
            raise WorkforceExistsError(f"The workforce {name} already exists.")

    @staticmethod
    def _worker_counts(session: Session, workforce_ids: list[str]) -> dict[str, int]:
        if not workforce_ids:
            return {}
        rows = session.execute(
            select(Worker.workforce_id, func.count())
            .where(Worker.workforce_id.in_(workforce_ids), Worker.status != STATUS_DELETED)
            .group_by(Worker.workforce_id)
        ).all()
        return {wid: int(n) for wid, n in rows}

    @staticmethod
    def _touch(session: Session, workforce_id: str) -> None:
        workforce = session.get(Workforce, workforce_id)
        if workforce is not None:
            workforce.update_time = now_ms()
