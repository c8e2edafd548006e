"""Creates tasks, runs their bodies through an executor, and records every state change."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from labelarts.clock import new_resource_id, now_ms
from labelarts.errors import LabelArtsError
from labelarts.jobs.executor import Executor
from labelarts.jobs.states import ACTIVE, TaskStatus, transition
from labelarts.storage.db import Database
from labelarts.storage.db.models import Dataset, Task

log = logging.getLogger(__name__)


class StopRequested(Exception):
    """Raised inside a task body (via :meth:`TaskContext.report`) when a stop was asked for."""


class TaskContext:
    """What a running task body may do: report progress and learn that it should stop."""

    def __init__(self, runner: TaskRunner, task_id: str) -> None:
        self._runner = runner
        self.task_id = task_id

    def report(self, progress: float, **result: Any) -> None:
        """Record progress in [0, 1] and partial results; raise StopRequested if stopping."""
        status = self._runner.update_progress(self.task_id, progress, result)
        if status == TaskStatus.STOPPING:
            raise StopRequested

    def stop_requested(self, session: Session) -> bool:
        """See :meth:`TaskRunner.stop_requested`: for a body's final write, in its transaction."""
        return self._runner.stop_requested(session, self.task_id)


TaskFunction = Callable[[TaskContext], dict[str, Any]]


def _new_task(task_id: str, project_id: str, dataset_id: str, kind: str, config: dict[str, Any]) -> Task:
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
    def __init__(self, db: Database, executor: Executor) -> None:
        self._db = db
        self._executor = executor

    def create(self, *, project_id: str, dataset_id: str, kind: str, config: dict[str, Any]) -> str:
        task_id = new_resource_id()
        with self._db.session() as session:
            session.add(_new_task(task_id, project_id, dataset_id, kind, config))
        return task_id

    def create_exclusive(
        self,
        *,
        project_id: str,
        dataset_id: str,
        kind: str,
        config: dict[str, Any],
        on_conflict: Callable[[str], Exception],
        dataset_values: Mapping[str, Any] | None = None,
    ) -> str:
        """Create the task unless a task of ``kind`` is active on the dataset, atomically;
        otherwise raise ``on_conflict(active_task_id)``.

        The UPDATE of the dataset row (``update_time`` and ``dataset_values``) comes first: it
        takes the row lock (PostgreSQL) or the write lock (SQLite), so a concurrent claim, from
        this instance or another, waits, then sees this task and is refused.
        """
        task_id = new_resource_id()
        with self._db.session() as session:
            session.execute(
                update(Dataset)
                .where(Dataset.id == dataset_id)
                .values(update_time=now_ms(), **(dataset_values or {}))
                .execution_options(synchronize_session=False)
            )
            running = session.execute(
                select(Task.id).where(
                    Task.dataset_id == dataset_id,
                    Task.kind == kind,
                    Task.status.in_([s.value for s in ACTIVE]),
                )
            ).first()
            if running is not None:
                raise on_conflict(running[0])
            session.add(_new_task(task_id, project_id, dataset_id, kind, config))
        return task_id

    def start(self, task_id: str, body: TaskFunction) -> None:
        self._executor.submit(task_id, lambda: self._run(task_id, body))

    def _run(self, task_id: str, body: TaskFunction) -> None:
        if not self._move(task_id, TaskStatus.RUNNING, start=True):
            return
        try:
            result = body(TaskContext(self, task_id))
        except StopRequested:
            self._move(task_id, TaskStatus.STOPPED)
        except LabelArtsError as exc:
            self._move(task_id, TaskStatus.FAILED, error=(exc.code, exc.message))
        except Exception as exc:
            log.exception("task %s failed", task_id)
            self._move(task_id, TaskStatus.FAILED, error=("ModelArts.4392", f"Task failed: {exc}"))
        else:
            self._move(task_id, TaskStatus.SUCCEEDED, result=result)

    def update_progress(self, task_id: str, progress: float, result: dict[str, Any]) -> str:
        with self._db.session() as session:
            task = session.get(Task, task_id, with_for_update=True)
            if task is None:
                raise StopRequested
            task.progress = max(0.0, min(1.0, progress))
            if result:
                task.result = {**task.result, **result}
            task.update_time = now_ms()
            return task.status

    def request_stop(self, task_id: str) -> TaskStatus:
        """Ask the task to stop; returns its status *before* the request (a final status means
        there was nothing to stop). Checked and changed under the task's row lock."""
        with self._db.session() as session:
            task = session.get(Task, task_id, with_for_update=True)
            assert task is not None
            before = TaskStatus(task.status)
            if before == TaskStatus.QUEUED:
                task.status = transition(task.status, TaskStatus.STOPPED)
                task.end_time = now_ms()
            elif before == TaskStatus.RUNNING:
                task.status = transition(task.status, TaskStatus.STOPPING)
            task.update_time = now_ms()
            return before

    def stop_requested(self, session: Session, task_id: str) -> bool:
        """In the caller's transaction: whether a stop was asked for, with the task's row locked
        until that transaction ends (a stop request then waits for it)."""
        task = session.get(Task, task_id, with_for_update=True)
        if task is None:
            return True
        # A write takes SQLite's database lock now (FOR UPDATE is PostgreSQL's way).
        task.update_time = now_ms()
        session.flush()
        return task.status == TaskStatus.STOPPING

    def _move(
        self,
        task_id: str,
        target: TaskStatus,
        *,
        start: bool = False,
        result: dict[str, Any] | None = None,
        error: tuple[str, str] | None = None,
    ) -> bool:
        with self._db.session() as session:
            task = session.get(Task, task_id, with_for_update=True)
            if task is None:
                return False
            # A body that returns normally has done all its work (and written its results), so a
            # stop asked for after its last check came too late: the task succeeded.
            if target == TaskStatus.RUNNING and task.status != TaskStatus.QUEUED:
                return False  # stopped before it started
            task.status = transition(task.status, target)
            now = now_ms()
            task.update_time = now
            if start:
                task.start_time = now
            if target in (TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.STOPPED):
                task.end_time = now
            if target == TaskStatus.SUCCEEDED:
                task.progress = 1.0
            if result:
                task.result = {**task.result, **result}
            if error:
                task.error_code, task.error_msg = error
            return True

    def recover_interrupted(self) -> int:
        """At start-up: tasks a previous process left active can never finish; fail them."""
        count = 0
        with self._db.session() as session:
            tasks = session.execute(select(Task).where(Task.status.in_([s.value for s in ACTIVE]))).scalars()
            for task in tasks:
                target = TaskStatus.STOPPED if task.status == TaskStatus.STOPPING else TaskStatus.FAILED
                task.status = transition(task.status, target)
                task.end_time = task.update_time = now_ms()
                if target == TaskStatus.FAILED:
                    task.error_code = "ModelArts.4392"
                    task.error_msg = "Task interrupted by a server restart; run it again."
                count += 1
        return count
