"""Reading task rows of one kind in one dataset: the lookup and the page every task API uses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from labelarts.errors import TaskNotFoundError
from labelarts.storage.db.models import Task


def find_task(session: Session, dataset_id: str, task_id: str, kind: str) -> Task:
    """The dataset's task of ``kind``; 404 (ModelArts.4612) for any other id."""
    if "\x00" in task_id:  # PostgreSQL refuses NUL in a query; no id has one
        raise TaskNotFoundError()
    task = session.execute(
        select(Task).where(Task.id == task_id, Task.dataset_id == dataset_id, Task.kind == kind)
    ).scalar_one_or_none()
    if task is None:
        raise TaskNotFoundError()
    return task


def page_tasks(
    session: Session, dataset_id: str, kind: str, *, offset: int, limit: int, where: Sequence[Any] = ()
) -> tuple[list[Task], int]:
    """Page ``offset`` (a page number) of the dataset's tasks of ``kind``, newest first, and the
    total; ``where`` adds conditions."""
    conditions = (Task.dataset_id == dataset_id, Task.kind == kind, *where)
    total = session.execute(select(func.count()).select_from(Task).where(*conditions)).scalar_one()
    rows = session.execute(
        select(Task)
        .where(*conditions)
        .order_by(Task.create_time.desc(), Task.id.desc())
        .offset(offset * limit)
        .limit(limit)
    ).scalars()
    return list(rows), int(total)
