"""Project scoping for every dataset lookup."""

from __future__ import annotations

from sqlalchemy import select
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
