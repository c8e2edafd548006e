"""Export tasks: ``POST .../export-tasks`` (create), list, status, and stop (a LabelArts extra).

An export is a background task (kind ``export``, :mod:`labelarts.services.exporting.job`)
that writes the selected samples and their labels in a chosen format (docs/export.md) into a
folder under an export root granted to the project, under an object-store prefix granted to
it, or into a new dataset. Everything is checked when the task is created (400 with the
reason, 404 for another project's dataset), and again when it runs.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any, Final

from sqlalchemy import select

from labelarts.errors import DatasetExistsError, ValidationFailedError
from labelarts.jobs.queries import find_task, page_tasks
from labelarts.jobs.runner import LeaseLost, TaskContext, TaskRunner
from labelarts.jobs.states import ACTIVE, TaskStatus
from labelarts.schemas.exports import CreateExportTaskRequest
from labelarts.services.autolabel.service import TaskStateError
from labelarts.services.exporting.job import ExportJob, _check_free
from labelarts.services.exporting.reader import Selection
from labelarts.services.importing import sources
from labelarts.services.ownership import get_owned_dataset
from labelarts.services.paths import Grants
from labelarts.services.samples.sources import LocalFiles
from labelarts.services.versions.publish import NORMAL as VERSION_NORMAL
from labelarts.storage.db import Database
from labelarts.storage.db.models import Dataset, DatasetVersion, Task
from labelarts.storage.objects import ObjectStore

EXPORT_KIND: Final = "export"
# Task status -> export task status of the reference (INIT, RUNNING, FAILED, SUCCESSED).
EXPORT_STATUS: Final = {
    TaskStatus.QUEUED: "INIT",
    TaskStatus.RUNNING: "RUNNING",
    TaskStatus.STOPPING: "RUNNING",
    TaskStatus.SUCCEEDED: "SUCCESSED",
    TaskStatus.FAILED: "FAILED",
    TaskStatus.STOPPED: "FAILED",
}
IMAGE_TYPES: Final = frozenset({0, 1, 3})
SHAPE_TYPES: Final = frozenset({1, 3})
TEXT_AUDIO_TYPES: Final = frozenset({100, 101, 102, 200, 201, 202})
# API format -> the job's format name, and the dataset types each applies to.
_FORMATS: Final[dict[str, tuple[str, frozenset[int]]]] = {
    "COCO": ("coco", IMAGE_TYPES),
    "VOC": ("voc", IMAGE_TYPES),
    "YOLO": ("yolo", SHAPE_TYPES),
    "IMAGENET": ("imagenet", frozenset({0})),
    "CVAT": ("cvat", IMAGE_TYPES),
    # LabelMe files carry shapes only: a classification dataset's labels would be lost.
    "LABELME": ("labelme", SHAPE_TYPES),
    "MANIFEST": ("manifest", IMAGE_TYPES | TEXT_AUDIO_TYPES | {900}),
    "CSV": ("csv", TEXT_AUDIO_TYPES | {0}),
    "JSONL": ("jsonl", IMAGE_TYPES | TEXT_AUDIO_TYPES | {900}),
}
FOLDER_TYPES: Final = frozenset({0, 1, 3, 200, 900})


class ExportService:
    def __init__(
        self,
        db: Database,
        runner: TaskRunner,
        grants: Grants,
        export_grants: Grants,
        objects: ObjectStore,
        local_files: LocalFiles,
        staging_dir: Path,
    ) -> None:
        self._db = db
        self._runner = runner
        self._grants = grants
        self._export_grants = export_grants
        self._objects = objects
        self._local = local_files
        self._staging_dir = staging_dir

    # --- create ---------------------------------------------------------------------------

    def create(self, project_id: str, dataset_id: str, request: CreateExportTaskRequest) -> str:
        """Validate and queue an export task; 400 with the reason if it cannot run."""
        config = self.plan(project_id, dataset_id, request)
        with self._db.session() as session:
            return self._runner.create(
                session, project_id=project_id, dataset_id=dataset_id, kind=EXPORT_KIND, config=config
            )

    def plan(self, project_id: str, dataset_id: str, request: CreateExportTaskRequest) -> dict[str, Any]:
        """The task config of a valid request (400 with the reason, 404 for another project's
        dataset): everything the task body needs."""
        with self._db.session() as session:
            dataset = get_owned_dataset(session, project_id, dataset_id)
            dataset_type = dataset.dataset_type
        params = request.export_params
        version_split = self._check_version(dataset_id, request.version_id) if request.version_id else None
        fmt = _format(request, dataset_type)
        try:
            ratio = params.ratio()
        except ValueError:
            raise ValidationFailedError(
                "export_params.train_sample_ratio must be a number between 0 and 1."
            ) from None
        sample_state = params.sample_state or request.sample_state or None
        selection = Selection(
            dataset_id=dataset_id,
            export_type=request.export_type,
            sample_state=sample_state,
            sample_ids=params.samples,
            conditions=tuple(params.search_conditions or ()),
            version_id=request.version_id or None,
        )
        selection.where()  # 400 now for a bad sample_state or search condition
        config: dict[str, Any] = {
            "format": fmt,
            "layout": request.export_format,
            "export_type": request.export_type if request.export_type is not None else 3,
            "sample_state": sample_state,
            "samples": sorted(set(params.samples)) if params.samples is not None else None,
            "search_conditions": params.search_conditions,
            # A version keeps its own split (TRAIN/EVAL), when it has one.
            "ratio_sample_usage": params.ratio_sample_usage if version_split is None else version_split,
            "version_id": request.version_id or None,
            "train_sample_ratio": ratio,
            "clear_hard_property": params.clear_hard_property,
            # What the answers echo (the request's fields as the reference names them).
            "request": {
                "path": request.path or "",
                "export_format": request.export_format,
                "annotation_format": request.annotation_format,
                "version_id": request.version_id or None,
                "export_params": params.model_dump(exclude_none=True),
            },
        }
        if params.export_dest == "NEW_DATASET":
            name = (params.export_new_dataset_name or "").strip()
            if not name:
                raise ValidationFailedError(
                    "export_params.export_new_dataset_name is required for NEW_DATASET."
                )
            with self._db.session() as session:
                taken = session.execute(
                    select(Dataset.id).where(Dataset.project_id == project_id, Dataset.name == name)
                ).first()
            if taken:
                raise DatasetExistsError(f"Dataset {name} already exists.")
            config["dest"] = {"kind": "dataset"}
            config["new_dataset_name"] = name
            config["new_dataset_work_path"] = params.export_new_dataset_work_path
        else:
            if request.path is None:
                raise ValidationFailedError("Invalid parameter. path: Field required")
            config["dest"] = self._destination(project_id, request.path)
        return config

    def _check_version(self, dataset_id: str, version_id: str) -> bool:
        """Whether the dataset's published version ``version_id`` has a train/eval split
        (400 if it is not a published version of this dataset)."""
        with self._db.session() as session:
            version = session.get(DatasetVersion, version_id) if "\x00" not in version_id else None
            if version is None or version.dataset_id != dataset_id or version.status != VERSION_NORMAL:
                raise ValidationFailedError("version_id is not a published version of this dataset.")
            return bool(version.train_ratio < 1.0)

    def _destination(self, project_id: str, raw: str) -> dict[str, str]:
        """Where the export goes: a folder under a granted export root that does not exist yet
        (or is empty) in an existing folder, or a granted object-store prefix; 400 otherwise."""
        if sources.is_object_uri(raw):
            return {"kind": "object", "key": sources.object_key(self._grants.scope(project_id), raw)}
        found = self._export_grants.scope(project_id).local(raw)
        if not found.rel:
            raise ValidationFailedError(
                "The export path must be a folder inside an export root, not the root."
            )
        parent_rel, name = posixpath.split(found.rel)
        try:
            with found.root.open_dir(parent_rel) as parent_fd:
                _check_free(parent_fd, name)
        except OSError:
            raise ValidationFailedError("The folder that holds the export path must exist.") from None
        return {"kind": "local", "path": found.path}

    # --- run ------------------------------------------------------------------------------

    def run_task(self, ctx: TaskContext) -> dict[str, Any]:
        """The ``export`` task body, from the task's row alone."""
        with self._db.session() as session:
            if session.get(Dataset, ctx.dataset_id) is None:
                raise LeaseLost
        return ExportJob(
            db=self._db,
            objects=self._objects,
            local_files=self._local,
            export_scope=self._export_grants.scope(ctx.project_id),
            staging_dir=self._staging_dir,
            ctx=ctx,
        ).run()

    # --- read and stop --------------------------------------------------------------------

    def get(self, project_id: str, dataset_id: str, task_id: str) -> dict[str, Any]:
        with self._db.session() as session:
            get_owned_dataset(session, project_id, dataset_id)
            return export_task_to_dict(find_task(session, dataset_id, task_id, EXPORT_KIND))

    def list(
        self, project_id: str, dataset_id: str, *, offset: int, limit: int, export_type: int | None = None
    ) -> tuple[list[dict[str, Any]], int]:
        with self._db.session() as session:
            get_owned_dataset(session, project_id, dataset_id)
            where = [] if export_type is None else [Task.config["export_type"].as_integer() == export_type]
            rows, total = page_tasks(
                session, dataset_id, EXPORT_KIND, offset=offset, limit=limit, where=where
            )
            return [export_task_to_dict(t) for t in rows], total

    def stop(self, project_id: str, dataset_id: str, task_id: str) -> None:
        with self._db.session() as session:
            get_owned_dataset(session, project_id, dataset_id)
            find_task(session, dataset_id, task_id, EXPORT_KIND)
        before = self._runner.request_stop(task_id)
        if before not in ACTIVE:
            raise TaskStateError(f"The task has already ended ({before.value.lower()}); nothing to stop.")


def _format(request: CreateExportTaskRequest, dataset_type: int) -> str:
    """The job's format name; 400 if it does not apply to this dataset type."""
    if request.annotation_format is None:
        if dataset_type not in FOLDER_TYPES:
            raise ValidationFailedError(
                "This dataset type has no folder layout; choose annotation_format CSV, JSONL or MANIFEST."
            )
        return "folders"
    fmt, types = _FORMATS[request.annotation_format]
    if dataset_type not in types:
        raise ValidationFailedError(
            f"annotation_format {request.annotation_format} does not apply to dataset type {dataset_type}."
        )
    return fmt


def export_task_to_dict(task: Task) -> dict[str, Any]:
    """The reference's ExportTaskStatusResp."""
    config = task.config
    echo = config.get("request", {})
    result = task.result
    status = TaskStatus(task.status)
    total = int(result.get("total_sample_count", 0))
    finished = int(result.get("finished_sample_count", 0))
    params = dict(echo.get("export_params", {}))
    params.setdefault("export_dest", "DIR")
    params.setdefault("clear_hard_property", True)
    params.setdefault("ratio_sample_usage", False)
    params["train_sample_ratio"] = float(config.get("train_sample_ratio", 1.0))
    body: dict[str, Any] = {
        "task_id": task.id,
        "path": echo.get("path", ""),
        "export_type": int(config.get("export_type", 3)),
        "version_format": "Default",
        "export_format": int(echo.get("export_format", 2)),
        "export_params": params,
        "status": EXPORT_STATUS[status],
        "progress": round(100.0 * float(task.progress), 2),
        "total_sample_count": total,
        "finished_sample_count": finished,
        "create_time": task.create_time,
        "update_time": task.update_time,
    }
    if echo.get("version_id"):
        body["version_id"] = echo["version_id"]
    if echo.get("annotation_format"):
        body["annotation_format"] = echo["annotation_format"]
    if result.get("export_new_dataset_id"):
        body["export_new_dataset_id"] = result["export_new_dataset_id"]
    if status is TaskStatus.STOPPED:
        body["error_code"] = task.error_code or "ModelArts.4394"
        body["error_msg"] = task.error_msg or "Export stopped; nothing was written."
    elif task.error_code:
        body["error_code"] = task.error_code
        body["error_msg"] = task.error_msg or ""
    return body
