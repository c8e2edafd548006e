"""Project scoping for every dataset lookup."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Executable, Select, bindparam, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from labelarts.errors import DatasetNotFoundError
from labelarts.storage.db.models import Dataset


def get_owned_dataset(session: Session, project_id: str, dataset_id: str) -> Dataset:
    """The dataset if it belongs to the project; otherwise 404, never a hint it exists."""
    if "\x00" in dataset_id:  # PostgreSQL refuses NUL in text; no id contains one
        raise DatasetNotFoundError()
    dataset = session.execute(
        select(Dataset).where(Dataset.id == dataset_id, Dataset.project_id == project_id)
    ).scalar_one_or_none()
    if dataset is None:
        raise DatasetNotFoundError()
    return dataset


_DATASET_VERSION = select(Dataset.id, Dataset.data_version).where(
    Dataset.id == bindparam("dataset_id"), Dataset.project_id == bindparam("project_id")
)


def _owned_row(
    session: Session | Connection,
    statement: Executable,
    project_id: str,
    dataset_id: str,
    params: dict[str, Any] | None = None,
) -> Sequence[Any]:
    """The one row ``statement`` (on the dataset, bound as ``dataset_id`` and ``project_id``)
    reads if the dataset belongs to the project; 404 otherwise."""
    if "\x00" in dataset_id:
        raise DatasetNotFoundError()
    row = session.execute(
        statement, {**(params or {}), "dataset_id": dataset_id, "project_id": project_id}
    ).first()
    if row is None:
        raise DatasetNotFoundError()
    return row


def owned_dataset_version(session: Session | Connection, project_id: str, dataset_id: str) -> tuple[str, int]:
    """The dataset's id and ``data_version`` if it belongs to the project (404 otherwise), read
    without loading the whole row: what a sample-list page needs."""
    # A statement built once: building and caching-keying one per call was a tenth of a page.
    row = _owned_row(session, _DATASET_VERSION, project_id, dataset_id)
    return row[0], int(row[1])


@functools.cache
def _dataset_version_counted(count: Select[Any]) -> Select[Any]:
    """:data:`_DATASET_VERSION` with ``count`` (one of the counters' statements, which binds
    the same ``dataset_id``) as a third column: built once per count statement."""
    return _DATASET_VERSION.add_columns(count.scalar_subquery())


def owned_dataset_version_counted(
    session: Session | Connection,
    project_id: str,
    dataset_id: str,
    count: Select[Any],
    params: dict[str, Any],
) -> tuple[str, int, int]:
    """:func:`owned_dataset_version` and the result of ``count`` (a scalar statement bound to
    ``dataset_id`` and ``params``) in one statement: a page answered from the counters reads
    its version and its total in one round trip to the database."""
    row = _owned_row(session, _dataset_version_counted(count), project_id, dataset_id, params)
    return row[0], int(row[1]), int(row[2])
