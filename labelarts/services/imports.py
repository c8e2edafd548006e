"""Import tasks: the initial import of a new dataset, ``POST .../import-tasks``, list and detail.

Both kinds of task run the same importer (:mod:`labelarts.services.importing`), from the
task's row alone (:meth:`ImportService.run_task`, the ``import`` handler of every worker). A
dataset has at most one active import: creating a second answers 400 ``ModelArts.4356``.
While one is active the dataset shows status 8 ("importing"), derived from the task itself,
so an import that ends in any way (or whose worker died) leaves the dataset normal again. The
task reports the outcome and every file it could not import.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from labelarts.errors import (
    ImportParameterError,
    ImportRunningError,
    ValidationFailedError,
)
from labelarts.jobs.queries import find_task, page_tasks
from labelarts.jobs.runner import LeaseLost, TaskContext, TaskRunner
from labelarts.jobs.states import TaskStatus
from labelarts.schemas.imports import CreateImportTaskRequest
from labelarts.services.dataset_types import DATASET_TAGS
from labelarts.services.importing import sources
from labelarts.services.importing.checking import CheckPoolSettings
from labelarts.services.importing.layouts import CsvColumns, TextFormat
from labelarts.services.importing.runner import IMPORT_DIR, IMPORT_MANIFEST, Importer, ImportSpec, Target
from labelarts.services.importing.sniff import Kind, dataset_kind
from labelarts.services.ownership import get_owned_dataset
from labelarts.services.paths import Grants
from labelarts.storage.db import Database
from labelarts.storage.db.models import Dataset, Task
from labelarts.storage.objects import ObjectStore

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
_COUNTS = (
    "total_sample_count",
    "imported_sample_count",
    "annotated_sample_count",
    "unconfirmed_sample_count",
    "total_file_count",
    "total_file_size",
    "finished_file_count",
    "finished_file_size",
)
# LabelArts extras of the import-task answer (docs/api.md).
_EXTRA_COUNTS = (
    "skipped_file_count",
    "failed_file_count",
    "annotation_file_count",
    "ignored_annotation_count",
    "failed_files_omitted",
)


class ImportService:
    def __init__(
        self,
        db: Database,
        runner: TaskRunner,
        grants: Grants,
        objects: ObjectStore,
        checks: CheckPoolSettings = CheckPoolSettings(),
    ) -> None:
        self._db = db
        self._runner = runner
        self._grants = grants
        self._objects = objects
        self._checks = checks

    # --- create ---------------------------------------------------------------------------

    def resolve_data_path(self, project_id: str, raw: str) -> str:
        """A dataset's ``data_path`` as stored: a local folder under a root granted to the
        project, or a granted ``obs://prefix/`` (400 if it is neither granted nor existing)."""
        return sources.dir_location(self._grants.scope(project_id), self._objects, raw).display

    def queue_initial_import(self, session: Session, dataset: Dataset, data_path: Path | str | None) -> str:
        """Queue the import task of a new dataset in the caller's unit of work (the one that
        creates the dataset): from its data source, or an empty import without one.

        ``import_annotations`` and ``label_format`` come from the dataset row; a dataset type
        that cannot import files fails the task (the dataset exists and stays usable).
        """
        config: dict[str, Any] = {"import_type": IMPORT_DIR, "import_path": None}
        if data_path is not None:
            raw = str(data_path)
            scope = self._grants.scope(dataset.project_id)
            location = (
                sources.Location(sources.OBJECT, sources.object_key(scope, raw))
                if sources.is_object_uri(raw)
                else sources.Location(sources.LOCAL, raw)
            )
            config = ImportSpec(
                IMPORT_DIR,
                location,
                import_annotations=dataset.import_annotations,
                text_format=TextFormat.from_dict(dataset.label_format),
            ).to_config()
        return self._runner.create(
            session, project_id=dataset.project_id, dataset_id=dataset.id, kind=IMPORT_KIND, config=config
        )

    def create(self, project_id: str, dataset_id: str, request: CreateImportTaskRequest) -> str:
        """Validate and queue an import task; 400 if refused, ``ModelArts.4356`` if one is active."""
        with self._db.session() as session:
            dataset = get_owned_dataset(session, project_id, dataset_id)
            target = _target(dataset)
            label_format = dataset.label_format
        if request.import_path is None:
            raise ValidationFailedError("Invalid parameter. import_path: Field required")
        _check_supported(target)
        if request.data_source is not None and request.data_source.data_type != 0:
            raise ValidationFailedError("Only data_source.data_type 0 (files) can be imported.")
        if request.label_format is not None:
            label_format = request.label_format.model_dump(exclude_none=True)
        manifest = request.import_type == "manifest"
        locate = sources.file_location if manifest else sources.dir_location
        spec = ImportSpec(
            IMPORT_MANIFEST if manifest else IMPORT_DIR,
            locate(self._grants.scope(project_id), self._objects, request.import_path),
            import_annotations=request.import_annotations,
            text_format=TextFormat.from_dict(label_format),
            final_annotation=request.final_annotation,
            difficult_only=request.difficult_only,
            included_labels=request.label_names("included"),
            excluded_labels=request.label_names("excluded"),
            data_format=None if request.import_type in ("dir", "manifest") else request.import_type,
            csv_columns=None
            if request.with_column_header is None
            else CsvColumns(request.with_column_header, request.text_column, request.label_column),
        )
        if spec.data_format is not None and target.kind is not Kind.IMAGE:
            raise ImportParameterError(f"import_type {spec.data_format} takes image datasets only.")
        return self._runner.create_exclusive(
            project_id=project_id,
            dataset_id=dataset_id,
            kind=IMPORT_KIND,
            config=spec.to_config(),
            on_conflict=lambda running: ImportRunningError(
                f"Dataset already has a running import task ({running})."
            ),
        )

    # --- run ------------------------------------------------------------------------------

    def run_task(self, ctx: TaskContext) -> dict[str, Any]:
        """The ``import`` task body, from the task's row alone."""
        with self._db.session() as session:
            dataset = session.get(Dataset, ctx.dataset_id)
            if dataset is None:
                raise LeaseLost  # deleted, with its tasks, before the import started
            target = _target(dataset)
        if ctx.config.get("import_path") is None:
            return {"total_file_count": 0, "total_file_size": 0, "imported_sample_count": 0}
        _check_supported(target)
        return Importer(
            db=self._db,
            objects=self._objects,
            scope=self._grants.scope(ctx.project_id),
            target=target,
            spec=spec_from_config(ctx.config),
            ctx=ctx,
            checks=self._checks,
        ).run()

    # --- read -----------------------------------------------------------------------------

    def get(self, project_id: str, dataset_id: str, task_id: str) -> dict[str, Any]:
        with self._db.session() as session:
            get_owned_dataset(session, project_id, dataset_id)
            return import_task_to_dict(find_task(session, dataset_id, task_id, IMPORT_KIND), details=True)

    def list(
        self, project_id: str, dataset_id: str, *, offset: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        with self._db.session() as session:
            get_owned_dataset(session, project_id, dataset_id)
            rows, total = page_tasks(session, dataset_id, IMPORT_KIND, offset=offset, limit=limit)
            return [import_task_to_dict(t) for t in rows], total


def spec_from_config(config: Any) -> ImportSpec:
    """The :class:`ImportSpec` an import task's ``config`` holds (``ImportSpec.to_config``)."""
    location = config["location"]
    return ImportSpec(
        int(config["import_type"]),
        sources.Location(location["kind"], location["path"]),
        import_annotations=bool(config.get("import_annotations", True)),
        text_format=TextFormat.from_dict(config.get("label_format")),
        final_annotation=bool(config.get("final_annotation", True)),
        difficult_only=bool(config.get("difficult_only", False)),
        included_labels=frozenset(config.get("included_labels", ())),
        excluded_labels=frozenset(config.get("excluded_labels", ())),
        data_format=config.get("format"),
        csv_columns=CsvColumns.from_dict(config.get("csv")),
    )


def _target(dataset: Dataset) -> Target:
    return Target(dataset.id, dataset.dataset_type, dataset_kind(dataset.dataset_type))


def _check_supported(target: Target) -> None:
    if target.kind is None:
        tags = ", ".join(DATASET_TAGS.get(target.dataset_type, [str(target.dataset_type)]))
        raise ImportParameterError(f"Importing files into this dataset type ({tags}) is not supported.")


def import_task_to_dict(task: Task, *, details: bool = False) -> dict[str, Any]:
    """The reference's ImportTaskStatusResp, plus LabelArts' per-file report (``details``)."""
    result = task.result
    config = task.config
    end = task.end_time or task.update_time
    path = config.get("import_path") or ""
    body: dict[str, Any] = {
        "task_id": task.id,
        "dataset_id": task.dataset_id,
        "status": IMPORT_STATUS[TaskStatus(task.status)],
        "import_type": int(config.get("import_type", IMPORT_DIR)),
        "import_path": path,
        "data_source": {"data_path": path, "data_type": 0},
        "total_sub_sample_count": 0,
        "imported_sub_sample_count": 0,
        "create_time": task.create_time,
        "update_ms": task.update_time,
        "elapsed_time": max(0, (end - (task.start_time or task.create_time)) // 1000),
    }
    body.update({key: int(result.get(key, 0)) for key in (*_COUNTS, *_EXTRA_COUNTS)})
    body["file_statistics"] = {
        "file_num_finished": body["finished_file_count"],
        "file_num_total": body["total_file_count"],
        "file_size_finished": body["finished_file_size"],
        "file_size_total": body["total_file_size"],
    }
    body["skipped_reasons"] = dict(result.get("skipped_reasons", {}))
    body["progress"] = round(float(task.progress), 4)
    if details:
        body["failed_files"] = list(result.get("failed_files", []))
    if task.error_code:
        body["error_code"] = task.error_code
        body["error_msg"] = task.error_msg or ""
    return body
