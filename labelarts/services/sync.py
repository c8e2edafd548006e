"""Data-source sync tasks: ``POST .../sync-data`` and ``GET .../sync-data/status``.

A sync rescans the dataset's data source (the folder or ``obs://`` prefix it was created
with) as a background task of kind ``sync``; :mod:`labelarts.services.importing.sync` does
the work. One sync at a time per dataset (a second answers 400 ``ModelArts.4409``). Text
datasets cannot be synced (the reference says so: their samples are lines, not files), nor
datasets without a data source.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from labelarts.errors import ImportParameterError, TaskConflictError
from labelarts.jobs.runner import LeaseLost, TaskContext, TaskRunner
from labelarts.jobs.states import TaskStatus
from labelarts.services.importing import sources
from labelarts.services.importing.checking import CheckPoolSettings
from labelarts.services.importing.layouts import TextFormat
from labelarts.services.importing.runner import IMPORT_DIR, ImportSpec, Target
from labelarts.services.importing.sniff import Kind, dataset_kind
from labelarts.services.importing.sync import SyncImporter
from labelarts.services.imports import spec_from_config
from labelarts.services.ownership import get_owned_dataset
from labelarts.services.paths import Grants
from labelarts.services.samples.sources import SampleFiles
from labelarts.storage.db import Database
from labelarts.storage.db.models import Dataset, Task
from labelarts.storage.objects import ObjectStore

SYNC_KIND = "sync"
# Task status -> the sync status strings of the reference.
SYNC_STATUS = {
    TaskStatus.QUEUED: "QUEUING",
    TaskStatus.RUNNING: "RUNNING",
    TaskStatus.STOPPING: "RUNNING",
    TaskStatus.SUCCEEDED: "COMPLETED",
    TaskStatus.FAILED: "FAILED",
    TaskStatus.STOPPED: "FAILED",
}
_COUNTS = ("add_sample_count", "deleted_sample_count", "total_sample_count")
# LabelArts extras of the status answer (docs/sync.md).
_EXTRA_COUNTS = ("updated_sample_count", "unchanged_sample_count", "failed_file_count", "total_file_count")


class SyncService:
    def __init__(
        self,
        db: Database,
        runner: TaskRunner,
        grants: Grants,
        objects: ObjectStore,
        files: SampleFiles,
        checks: CheckPoolSettings = CheckPoolSettings(),
    ) -> None:
        self._db = db
        self._runner = runner
        self._grants = grants
        self._objects = objects
        self._files = files
        self._checks = checks  # new files are checked as an import's are

    def create(self, project_id: str, dataset_id: str) -> str:
        """Queue a sync of the dataset's data source; 400 if it has none, is a text dataset, its
        source is gone or no longer granted, or a sync is already running."""
        with self._db.session() as session:
            dataset = get_owned_dataset(session, project_id, dataset_id)
            kind = dataset_kind(dataset.dataset_type)
            data_path = _data_path(dataset)
            import_annotations = dataset.import_annotations
            label_format = dataset.label_format
        if kind is None or kind is Kind.TEXT:
            raise ImportParameterError("This dataset type cannot be synchronized with its data source.")
        if data_path is None:
            raise ImportParameterError("The dataset has no data source to synchronize with.")
        location = sources.dir_location(self._grants.scope(project_id), self._objects, data_path)
        spec = ImportSpec(
            IMPORT_DIR,
            location,
            import_annotations=import_annotations,
            text_format=TextFormat.from_dict(label_format),
        )
        return self._runner.create_exclusive(
            project_id=project_id,
            dataset_id=dataset_id,
            kind=SYNC_KIND,
            config=spec.to_config(),
            on_conflict=lambda running: TaskConflictError(
                f"Dataset already has a running synchronization task ({running})."
            ),
        )

    def run_task(self, ctx: TaskContext) -> dict[str, Any]:
        """The ``sync`` task body, from the task's row alone."""
        with self._db.session() as session:
            dataset = session.get(Dataset, ctx.dataset_id)
            if dataset is None:
                raise LeaseLost
            target = Target(dataset.id, dataset.dataset_type, dataset_kind(dataset.dataset_type))
        if target.kind is None or target.kind is Kind.TEXT:
            raise ImportParameterError("This dataset type cannot be synchronized with its data source.")
        importer = SyncImporter(
            db=self._db,
            objects=self._objects,
            scope=self._grants.scope(ctx.project_id),
            target=target,
            spec=spec_from_config(ctx.config),
            ctx=ctx,
            checks=self._checks,
        )
        try:
            return importer.run()
        finally:
            if importer.touched:
                self._files.remove(ctx.project_id, ctx.dataset_id, importer.touched, [])

    def status(self, project_id: str, dataset_id: str) -> dict[str, Any]:
        """The latest sync task of the dataset (``NOT_EXIST`` when there was none)."""
        with self._db.session() as session:
            get_owned_dataset(session, project_id, dataset_id)
            task = session.execute(
                select(Task)
                .where(Task.dataset_id == dataset_id, Task.kind == SYNC_KIND)
                .order_by(Task.create_time.desc(), Task.id.desc())
                .limit(1)
            ).scalar_one_or_none()
            if task is None:
                return {"dataset_id": dataset_id, "status": "NOT_EXIST"}
            return sync_task_to_dict(task)


def _data_path(dataset: Dataset) -> str | None:
    for source in dataset.data_sources or []:
        if isinstance(source, dict) and source.get("data_path"):
            return str(source["data_path"])
    return None


def sync_task_to_dict(task: Task) -> dict[str, Any]:
    """The reference's sync status answer, plus LabelArts' extras (progress and counts)."""
    result = task.result
    end = task.end_time or task.update_time
    body: dict[str, Any] = {
        "task_id": task.id,
        "dataset_id": task.dataset_id,
        "status": SYNC_STATUS[TaskStatus(task.status)],
        "create_time": task.create_time,
        "duration_time": max(0, end - (task.start_time or task.create_time)) if task.start_time else 0,
    }
    body.update({key: int(result.get(key, 0)) for key in (*_COUNTS, *_EXTRA_COUNTS)})
    body["progress"] = round(float(task.progress), 4)
    body["removal_skipped"] = bool(result.get("removal_skipped", False))
    body["failed_files"] = list(result.get("failed_files", []))
    if task.error_code:
        body["error_code"] = task.error_code
        body["error_msg"] = task.error_msg or ""
    return body
