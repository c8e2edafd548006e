"""Tasks are rows: created in a caller's unit of work, claimed by one worker under a lease,
reported on, finished, stopped and recovered, all in the database.

Ownership: a worker claims a QUEUED task by setting ``owner`` and ``lease_expires_at`` in one
statement; every later write of that worker (progress, heartbeat, the final transition) is
conditional on still owning the task, so a task that another process recovered, a user
deleted with its dataset, or a stop finished, is left alone instead of raising
:class:`~labelarts.jobs.states.IllegalTransition`.

Locking: each transaction that decides on a task's state starts with a conditional UPDATE
of that row. It takes the row lock on PostgreSQL and the write lock on SQLite *before*
anything is read, so two processes never act on the same stale read (pysqlite runs a SELECT
that comes first outside any transaction).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, event, func, select, update
from sqlalchemy.orm import Session, aliased

from labelarts.clock import new_resource_id, now_ms
from labelarts.jobs.states import ACTIVE, TaskStatus, transition
from labelarts.storage.db import Database
from labelarts.storage.db.models import Dataset, Task

log = logging.getLogger(__name__)

# The error of a task whose worker vanished (killed, lost power) without ending it.
INTERRUPTED = ("ModelArts.4392", "Task interrupted: its worker stopped without finishing it; run it again.")
# The error of a task a worker stopped because it was shutting down.
SHUT_DOWN = ("ModelArts.4393", "Task stopped: its worker shut down; run it again.")
_RUNNING = (TaskStatus.RUNNING.value, TaskStatus.STOPPING.value)
# The lease of a task run by its caller (run_here): no heartbeat renews it, so it is long.
_HERE_LEASE_MS = 24 * 3600 * 1000
_ACTIVE = [s.value for s in ACTIVE]


class StopRequested(Exception):
    """Raised inside a task body (by :meth:`TaskContext.report`) when it should stop: a user
    asked for it, its worker is shutting down, or the task is no longer its worker's."""


class LeaseLost(StopRequested):
    """The task is no longer this worker's (recovered after its lease ran out, deleted with
    its dataset, or already final): stop without writing anything more."""


@dataclass(frozen=True)
class ClaimedTask:
    """What a task body may know of its row: everything it needs to run."""

    id: str
    project_id: str
    dataset_id: str | None  # None for a run over no dataset (processing a folder or prefix)
    kind: str
    config: Mapping[str, Any]


class TaskContext:
    """What a running task body may do: report progress and learn that it should stop."""

    def __init__(
        self, runner: TaskRunner, task: ClaimedTask, owner: str, shutting_down: threading.Event
    ) -> None:
        self._runner = runner
        self._owner = owner
        self._shutting_down = shutting_down
        self.task = task

    @property
    def task_id(self) -> str:
        return self.task.id

    @property
    def project_id(self) -> str:
        return self.task.project_id

    @property
    def dataset_id(self) -> str:
        """The task's dataset; only a processing run over a folder or prefix has none (and
        never asks)."""
        if self.task.dataset_id is None:
            raise RuntimeError(f"task {self.task.id} has no dataset")
        return self.task.dataset_id

    @property
    def config(self) -> Mapping[str, Any]:
        return self.task.config

    def report(self, progress: float, **result: Any) -> None:
        """Record progress in [0, 1] and partial results, renewing the lease; raise
        :class:`StopRequested` if the task should stop (:class:`LeaseLost` if it is no longer
        this worker's)."""
        if self._shutting_down.is_set():
            raise StopRequested
        status = self._runner.report(self.task.id, self._owner, progress, result)
        if status == TaskStatus.STOPPING:
            raise StopRequested

    def hold_lease(self, session: Session, seconds: float) -> None:
        """In the caller's write transaction, before one long statement that keeps the
        heartbeat out until it commits (a SQLite writer holds the whole database): lease the
        task for ``seconds`` from now, so it is not recovered as abandoned meanwhile. If the
        transaction rolls back (the worker died), so does the longer lease.
        :class:`LeaseLost` if the task is no longer this worker's."""
        if not self._runner.extend_lease(session, self.task.id, self._owner, seconds):
            raise LeaseLost

    def stop_requested(self, session: Session) -> bool:
        """For a body's final write, in its transaction: whether it must not write (a stop was
        asked for, the worker is shutting down, or the task is no longer ours). The task's
        row stays locked until that transaction ends, so a stop request waits for it."""
        owned = self._runner.lock_owned(session, self.task.id, self._owner)
        return owned != TaskStatus.RUNNING or self._shutting_down.is_set()


def _new_task(
    task_id: str, project_id: str, dataset_id: str | None, kind: str, config: dict[str, Any]
) -> Task:
    now = now_ms()
    return Task(
        id=task_id,
        project_id=project_id,
        dataset_id=dataset_id,
        kind=kind,
        status=TaskStatus.QUEUED,
        progress=0.0,
        config=config,
        result={},
        create_time=now,
        update_time=now,
    )


class TaskRunner:
    """Every database operation on tasks. Workers (:mod:`labelarts.jobs.worker`) run them."""

    def __init__(self, db: Database, *, lease_seconds: float = 30.0) -> None:
        self._db = db
        self.lease_ms = int(lease_seconds * 1000)
        self._listeners: list[Callable[[], None]] = []
        self._finish_listeners: list[Callable[[Session, Task], None]] = []

    # --- queueing -----------------------------------------------------------------------------

    def on_queued(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after each commit that queued a task through this runner (a worker
        in this process wakes at once instead of at its next poll)."""
        self._listeners.append(listener)

    def on_finished(self, listener: Callable[[Session, Task], None]) -> None:
        """Call ``listener(session, task)`` in the transaction that ends a task (after its final
        status is set): what it writes commits with the task's end, or not at all. A listener
        that raises is logged and its writes are rolled back (a savepoint); the task still ends.
        """
        self._finish_listeners.append(listener)

    def _notify_finished(self, session: Session, task: Task) -> None:
        for listener in list(self._finish_listeners):
            try:
                with session.begin_nested():
                    listener(session, task)
            except Exception:
                log.exception("a task-end listener failed for task %s; the task ends anyway", task.id)

    def _notify_after_commit(self, session: Session) -> None:
        def notify(_session: Session) -> None:
            for listener in list(self._listeners):
                listener()

        event.listen(session, "after_commit", notify, once=True)

    def create(
        self,
        session: Session,
        *,
        project_id: str,
        dataset_id: str | None,
        kind: str,
        config: dict[str, Any],
    ) -> str:
        """Queue a task in the caller's unit of work (it runs once that commits)."""
        task_id = new_resource_id()
        session.add(_new_task(task_id, project_id, dataset_id, kind, config))
        self._notify_after_commit(session)
        return task_id

    def create_exclusive(
        self,
        *,
        project_id: str,
        dataset_id: str,
        kind: str,
        config: dict[str, Any],
        on_conflict: Callable[[str], Exception],
    ) -> str:
        """Queue the task unless a task of ``kind`` is active on the dataset, atomically;
        otherwise raise ``on_conflict(active_task_id)``.

        The UPDATE of the dataset row comes first: it takes the row lock (PostgreSQL) or the
        write lock (SQLite), so a concurrent claim, from this instance or another, waits, then
        sees this task and is refused.
        """
        with self._db.session() as session:
            session.execute(
                update(Dataset)
                .where(Dataset.id == dataset_id)
                .values(update_time=now_ms())
                .execution_options(synchronize_session=False)
            )
            running = session.execute(
                select(Task.id).where(
                    Task.dataset_id == dataset_id, Task.kind == kind, Task.status.in_(_ACTIVE)
                )
            ).first()
            if running is not None:
                raise on_conflict(running[0])
            return self.create(
                session, project_id=project_id, dataset_id=dataset_id, kind=kind, config=config
            )

    def run_here(
        self, *, project_id: str, dataset_id: str, kind: str, config: dict[str, Any], owner: str = "here"
    ) -> TaskContext:
        """Create a task that is RUNNING at once, owned by the caller and run by no worker: the
        context for a benchmark or test that drives a body's steps itself. Nothing renews its
        lease, so it lasts a day."""
        task_id = new_resource_id()
        with self._db.session() as session:
            task = _new_task(task_id, project_id, dataset_id, kind, config)
            task.status = transition(task.status, TaskStatus.RUNNING)
            task.owner, task.start_time = owner, now_ms()
            task.lease_expires_at = now_ms() + _HERE_LEASE_MS
            session.add(task)
        claimed = ClaimedTask(task_id, project_id, dataset_id, kind, config)
        return TaskContext(self, claimed, owner, threading.Event())

    # --- claiming ------------------------------------------------------------------------------

    def claim(
        self, owner: str, *, kinds: Collection[str], full_projects: Collection[str] = ()
    ) -> ClaimedTask | None:
        """Take the next QUEUED task of ``kinds`` for ``owner`` (RUNNING, leased), or None.

        Fairness: the task of the project with the fewest running tasks (over every worker)
        goes first, then the oldest; projects in ``full_projects`` (those holding their share
        of this worker) are passed over. One statement, so two workers never take one task:
        PostgreSQL skips rows another claim has locked, SQLite runs one writer at a time.
        """
        waiting = [Task.status == TaskStatus.QUEUED.value, Task.kind.in_(list(kinds))]
        if full_projects:
            waiting.append(Task.project_id.not_in(list(full_projects)))
        with self._db.session() as session:
            # A plain read first: an idle poll takes no write lock.
            if session.execute(select(Task.id).where(*waiting).limit(1)).first() is None:
                return None
            busy = aliased(Task)
            load = (
                select(func.count())
                .select_from(busy)
                .where(busy.project_id == Task.project_id, busy.status.in_(_RUNNING))
                .scalar_subquery()
            )
            pick = select(Task.id).where(*waiting).order_by(load, Task.create_time, Task.id).limit(1)
            if session.get_bind().dialect.name == "postgresql":
                pick = pick.with_for_update(skip_locked=True)
            now = now_ms()
            row = session.execute(
                update(Task)
                .where(Task.id == pick.scalar_subquery(), Task.status == TaskStatus.QUEUED.value)
                .values(
                    status=transition(TaskStatus.QUEUED, TaskStatus.RUNNING).value,
                    owner=owner,
                    lease_expires_at=now + self.lease_ms,
                    start_time=now,
                    update_time=now,
                )
                .returning(Task.id, Task.project_id, Task.dataset_id, Task.kind, Task.config)
                .execution_options(synchronize_session=False)
            ).first()
            if row is None:
                return None
            return ClaimedTask(row.id, row.project_id, row.dataset_id, row.kind, dict(row.config or {}))

    def take_over(self, task_id: str, from_owner: str, owner: str) -> ClaimedTask | None:
        """Make ``from_owner``'s running task ``owner``'s, with a fresh lease (a body started
        elsewhere takes over the task a worker claimed and submitted); the task, or None if
        it is not ``from_owner``'s any more (recovered, ended, or already taken over)."""
        now = now_ms()
        with self._db.session() as session:
            row = session.execute(
                update(Task)
                .where(Task.id == task_id, Task.owner == from_owner, Task.status.in_(_RUNNING))
                .values(owner=owner, lease_expires_at=now + self.lease_ms, update_time=now)
                .returning(Task.id, Task.project_id, Task.dataset_id, Task.kind, Task.config)
                .execution_options(synchronize_session=False)
            ).first()
            if row is None:
                return None
            return ClaimedTask(row.id, row.project_id, row.dataset_id, row.kind, dict(row.config or {}))

    # --- while running ----------------------------------------------------------------------------

    def _renewed(self, now: int) -> Any:
        """The renewed lease: ``lease`` from now, never shorter than it was."""
        renewed = now + self.lease_ms
        return case((Task.lease_expires_at > renewed, Task.lease_expires_at), else_=renewed)

    def _take_owned(self, session: Session, task_id: str, owner: str) -> Task | None:
        """Lock the task if ``owner`` runs it (RUNNING or STOPPING) and renew its lease; the
        row, or None if it is not ``owner``'s any more."""
        now = now_ms()
        locked = session.execute(
            update(Task)
            .where(Task.id == task_id, Task.owner == owner, Task.status.in_(_RUNNING))
            .values(lease_expires_at=self._renewed(now), update_time=now)
            .execution_options(synchronize_session=False)
        )
        if locked.rowcount != 1:  # type: ignore[attr-defined]
            return None
        task = session.get(Task, task_id, populate_existing=True)
        return task

    def report(self, task_id: str, owner: str, progress: float, result: Mapping[str, Any]) -> TaskStatus:
        """Record progress (and renew the lease); the task's status. :class:`LeaseLost` if
        ``owner`` no longer runs it."""
        with self._db.session() as session:
            task = self._take_owned(session, task_id, owner)
            if task is None:
                raise LeaseLost
            task.progress = max(0.0, min(1.0, progress))
            if result:
                task.result = {**task.result, **result}
            return TaskStatus(task.status)

    def lock_owned(self, session: Session, task_id: str, owner: str) -> TaskStatus | None:
        """In the caller's transaction: lock the task if ``owner`` runs it; its status, or
        None if it is not ``owner``'s any more."""
        task = self._take_owned(session, task_id, owner)
        return None if task is None else TaskStatus(task.status)

    def owns(self, task_id: str, owner: str) -> bool:
        """Whether ``owner`` still runs the task (a plain read)."""
        with self._db.session() as session:
            found = session.execute(
                select(Task.id).where(Task.id == task_id, Task.owner == owner, Task.status.in_(_RUNNING))
            ).first()
            return found is not None

    def extend_lease(self, session: Session, task_id: str, owner: str, seconds: float) -> bool:
        """In the caller's transaction: lease the task for ``seconds`` from now (never shorter
        than it was) if ``owner`` runs it; whether it does."""
        now = now_ms()
        until = now + int(seconds * 1000)
        extended = session.execute(
            update(Task)
            .where(Task.id == task_id, Task.owner == owner, Task.status.in_(_RUNNING))
            .values(
                lease_expires_at=case((Task.lease_expires_at > until, Task.lease_expires_at), else_=until),
                update_time=now,
            )
            .execution_options(synchronize_session=False)
        )
        return int(extended.rowcount) == 1  # type: ignore[attr-defined]

    def heartbeat(self, owner: str) -> int:
        """Renew the lease of every task ``owner`` runs; how many it runs."""
        now = now_ms()
        with self._db.session() as session:
            renewed = session.execute(
                update(Task)
                .where(Task.owner == owner, Task.status.in_(_RUNNING))
                .values(lease_expires_at=self._renewed(now))
                .execution_options(synchronize_session=False)
            )
            return int(renewed.rowcount)  # type: ignore[attr-defined]

    def finish(
        self,
        task_id: str,
        owner: str,
        outcome: TaskStatus,
        *,
        result: Mapping[str, Any] | None = None,
        error: tuple[str, str] | None = None,
    ) -> TaskStatus | None:
        """End ``owner``'s task. ``outcome`` SUCCEEDED or FAILED as given; STOPPED means "the
        body stopped" and becomes STOPPED. Returns the final status, or None when the task is
        not ``owner``'s any more (someone else ended it; nothing is written)."""
        with self._db.session() as session:
            task = self._take_owned(session, task_id, owner)
            if task is None:
                log.warning("task %s ended here, but is no longer ours (%s); left as it is", task_id, owner)
                return None
            # A body that returns normally has written all its results, so a stop asked for
            # after its last check came too late: STOPPING -> SUCCEEDED.
            now = now_ms()
            task.update_time = task.end_time = now
            task.lease_expires_at = None
            if outcome == TaskStatus.SUCCEEDED:
                task.progress = 1.0
            if result:
                task.result = {**task.result, **result}
            if outcome == TaskStatus.STOPPED and task.status == TaskStatus.RUNNING and error is None:
                error = SHUT_DOWN  # no one asked for the stop: its worker is shutting down
            task.status = transition(task.status, outcome)
            if error:
                task.error_code, task.error_msg = error
            self._notify_finished(session, task)
            return outcome

    # --- stopping and recovery --------------------------------------------------------------------

    def request_stop(self, task_id: str) -> TaskStatus:
        """Ask the task to stop; returns its status *before* the request (a final status means
        there was nothing to stop). A QUEUED task stops at once; a RUNNING one is STOPPING
        until its body notices at its next progress report."""
        with self._db.session() as session:
            session.execute(
                update(Task)
                .where(Task.id == task_id)
                .values(update_time=now_ms())
                .execution_options(synchronize_session=False)
            )
            task = session.get(Task, task_id, populate_existing=True)
            assert task is not None
            before = TaskStatus(task.status)
            if before == TaskStatus.QUEUED:
                task.status = transition(task.status, TaskStatus.STOPPED)
                task.end_time = now_ms()
            elif before == TaskStatus.RUNNING:
                task.status = transition(task.status, TaskStatus.STOPPING)
            return before

    def recover_expired(self) -> list[str]:
        """End the running tasks whose lease ran out (their worker is gone): FAILED, or STOPPED
        if a stop was asked for. Each such task is recovered by exactly one caller: the
        UPDATE that marks it is conditional on the expired lease, and row locks (PostgreSQL)
        or the write lock (SQLite) make a second caller see it already ended."""
        now = now_ms()
        expired = (Task.status.in_(_RUNNING), Task.lease_expires_at.is_(None) | (Task.lease_expires_at < now))
        with self._db.session() as session:
            # The plain read first: the usual answer, none, takes no write lock.
            if session.execute(select(Task.id).where(*expired).limit(1)).first() is None:
                return []
            ids = list(
                session.execute(
                    update(Task)
                    .where(*expired)
                    .values(update_time=now)
                    .returning(Task.id)
                    .execution_options(synchronize_session=False)
                ).scalars()
            )
            for task_id in ids:
                task = session.get(Task, task_id, populate_existing=True)
                assert task is not None
                stopping = task.status == TaskStatus.STOPPING
                task.status = transition(task.status, TaskStatus.STOPPED if stopping else TaskStatus.FAILED)
                task.end_time = now
                if not stopping:
                    task.error_code, task.error_msg = INTERRUPTED
                log.warning(
                    "task %s of %s lost its worker %s; now %s", task.id, task.kind, task.owner, task.status
                )
                task.lease_expires_at = None
            return ids
