"""Task tests: several runners and workers on one database (both databases), and worker
processes killed or stopped in the middle of their work.

The in-process tests drive :class:`~labelarts.jobs.worker.Worker` with task bodies made for
the purpose (gates the test opens, bodies that report until told to stop), so every claim and
transition happens at a moment the test chooses; waits are bounded polls of the database.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import select

from labelarts.clock import new_resource_id, now_ms
from labelarts.jobs.runner import TaskRunner
from labelarts.services.samples.records import LabelInput, new_sample_rows
from labelarts.storage.db import Database
from labelarts.storage.db.models import Dataset, Project, Task


def make_dataset(db: Database, project_id: str) -> str:
    """A bare dataset row (and its project) for tasks to hang on."""
    dataset_id = new_resource_id()
    with db.session() as session:
        if session.get(Project, project_id) is None:
            session.add(Project(id=project_id, name=project_id[:8], create_time=now_ms()))
            session.flush()
        session.add(
            Dataset(
                id=dataset_id,
                project_id=project_id,
                name=f"ds-{dataset_id}",
                dataset_type=0,
                work_path="/w/",
                status=1,
                next_version_num=1,
                create_time=now_ms(),
                update_time=now_ms(),
                data_update_time=now_ms(),
            )
        )
    return dataset_id


def one_sample_rows(
    dataset_id: str, labels: Sequence[LabelInput] = ()
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The rows of one plain image sample ``/a.jpg`` (and its labels), for tests that insert
    rows themselves."""
    return new_sample_rows(
        dataset_id,
        0,
        source_kind="local",
        source_key="/a.jpg",
        sample_name="a.jpg",
        sample_dir="",
        sample_size=1,
        sample_time=1,
        metadata={},
        content_hash=None,
        import_origin=None,
        labels=labels,
        status="MANUAL_ANNOTATION",
    )


def queue(runner: TaskRunner, project_id: str, dataset_id: str, kind: str, **config: Any) -> str:
    return runner.create_exclusive(
        project_id=project_id,
        dataset_id=dataset_id,
        kind=kind,
        config=dict(config),
        on_conflict=lambda running: RuntimeError(f"conflict with {running}"),
    )


def task_row(db: Database, task_id: str) -> Task:
    with db.session() as session:
        task = session.execute(select(Task).where(Task.id == task_id)).scalar_one()
        session.expunge(task)
        return task


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds (a bound, not a measure)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for: {what}"
        time.sleep(0.02)


def status_of(db: Database, task_id: str) -> str:
    return task_row(db, task_id).status
