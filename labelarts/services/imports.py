"""Import tasks. This release records the initial import task of a dataset and reports
honestly what it found; copying files into samples arrives with the import feature
(issue "Samples, import, search conditions and thumbnails")."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from labelarts.errors import BadRequestError, TaskNotFoundError
from labelarts.jobs.runner import TaskContext, TaskRunner
from labelarts.jobs.states import TaskStatus
from labelarts.services.datasets import STATUS_NORMAL, DatasetService
from labelarts.services.ownership import get_owned_dataset
from labelarts.storage.db import Database
from labelarts.storage.db.models import Task

IMPORT_KIND = "import"
# Task status -> import task status string of the reference.
IMPORT_STATUS = {
    TaskStatus.QUEUED: "QUEUING",
    TaskStatus.RUNNING: "RUNNING",
    TaskStatus.STOPPING: "RUNNING",
    TaskStatus.SUCCEEDED: "COMPLETED",
    TaskStatus.FAILED: "FAILED",
    TaskStatus.STOPPED: "FAILED",
}
_PROGRESS_EVERY = 500


class FileImportUnavailable(BadRequestError):
    error_code = "ModelArts.4362"
    default_message = "Import data error."


class ImportService:
    def __init__(self, db: Database, runner: TaskRunner, datasets: DatasetService) -> None:
        self._db = db
        self._runner = runner
        self._datasets = datasets

    def start_initial_import(self, project_id: str, dataset_id: str, data_path: Path | None) -> str:
        config: dict[str, Any] = {
            "import_type": 0,
            "import_path": str(data_path) if data_path else None,
        }
        task_id = self._runner.create(
            project_id=project_id, dataset_id=dataset_id, kind=IMPORT_KIND, config=config
        )
        self._datasets.attach_import_task(dataset_id, task_id)

        def body(ctx: TaskContext) -> dict[str, Any]:
            try:
                return self._scan(ctx, data_path)
            finally:
                self._datasets.mark_status(dataset_id, STATUS_NORMAL)

        self._runner.start(task_id, body)
        return task_id

    @staticmethod
    def _scan(ctx: TaskContext, data_path: Path | None) -> dict[str, Any]:
        if data_path is None:
            return {"total_file_count": 0, "total_file_size": 0, "imported_sample_count": 0}
        files = size = 0
        for root, _dirs, names in os.walk(data_path):  # streams: memory stays flat
            for name in names:
                files += 1
                try:
                    size += (Path(root) / name).stat().st_size
                except OSError:
                    continue
                if files % _PROGRESS_EVERY == 0:
                    ctx.report(0.0, total_file_count=files, total_file_size=size)
        ctx.report(1.0, total_file_count=files, total_file_size=size, imported_sample_count=0)
        raise FileImportUnavailable(
            f"Importing files is not available in this LabelArts version: found {files} files "
            f"under the data source and imported none. The dataset was created empty."
        )

    def get(self, project_id: str, dataset_id: str, task_id: str) -> dict[str, Any]:
        with self._db.session() as session:
            get_owned_dataset(session, project_id, dataset_id)
            task = session.execute(
                select(Task).where(
                    Task.id == task_id, Task.dataset_id == dataset_id, Task.kind == IMPORT_KIND
                )
            ).scalar_one_or_none()
            if task is None:
                raise TaskNotFoundError()
            return import_task_to_dict(task)

    def list(
        self, project_id: str, dataset_id: str, *, offset: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        with self._db.session() as session:
            get_owned_dataset(session, project_id, dataset_id)
            where = (Task.dataset_id == dataset_id, Task.kind == IMPORT_KIND)
            total = session.execute(select(func.count()).select_from(Task).where(*where)).scalar_one()
            rows = session.execute(
                select(Task)
                .where(*where)
                .order_by(Task.create_time.desc(), Task.id.desc())
                .offset(offset * limit)
                .limit(limit)
            ).scalars()
            return [import_task_to_dict(t) for t in rows], int(total)


def import_task_to_dict(task: Task) -> dict[str, Any]:
    result = task.result
    end = task.end_time or task.update_time
    body: dict[str, Any] = {
        "task_id": task.id,
        "dataset_id": task.dataset_id,
        "status": IMPORT_STATUS[TaskStatus(task.status)],
        "import_type": int(task.config.get("import_type", 0)),
        "import_path": task.config.get("import_path") or "",
        "total_sample_count": int(result.get("imported_sample_count", 0)),
        "imported_sample_count": int(result.get("imported_sample_count", 0)),
        "annotated_sample_count": int(result.get("annotated_sample_count", 0)),
        "unconfirmed_sample_count": 0,
        "total_sub_sample_count": 0,
        "imported_sub_sample_count": 0,
        "total_file_count": int(result.get("total_file_count", 0)),
        "total_file_size": int(result.get("total_file_size", 0)),
        "finished_file_count": int(result.get("imported_sample_count", 0)),
        "finished_file_size": 0,
        "create_time": task.create_time,
        "update_ms": task.update_time,
        "elapsed_time": max(0, (end - (task.start_time or task.create_time)) // 1000),
    }
    if task.error_code:
        body["error_code"] = task.error_code
        body["error_msg"] = task.error_msg or ""
    return body
