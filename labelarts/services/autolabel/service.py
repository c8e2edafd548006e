"""Intelligent tasks: ``POST/GET .../tasks``, ``GET .../tasks/{id}`` and ``.../stop``.

``task_type`` ``auto-label`` (active learning) runs in job.py; ``pre-label`` (a model of the
registry) and ``auto-grouping`` in intelligent.py. All three are task kind ``auto-label`` (one
intelligent task per dataset at a time); ``config.task_type`` picks the body. The
preconditions are the guide's ("Creating an Auto Labeling Job"), each refused with its own
error code before anything is queued.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import distinct, func, select

from labelarts.clock import now_ms
from labelarts.config import Settings
from labelarts.errors import (
    ImportParameterError,
    NoLabelsError,
    NoUnlabeledError,
    TaskConflictError,
    TooFewLabeledError,
)
from labelarts.jobs.queries import find_task, page_tasks
from labelarts.jobs.runner import TaskContext, TaskRunner
from labelarts.jobs.states import ACTIVE, TaskStatus
from labelarts.schemas.tasks import CreateTaskRequest, SmartTaskConfig, parse_confidence_scope
from labelarts.services.autolabel.detection import DETECTION_DATASET_TYPE, DetectionJob
from labelarts.services.autolabel.features import FeatureCache
from labelarts.services.autolabel.intelligent import (
    AUTO_GROUPING,
    PRE_LABEL,
    GroupingJob,
    PreLabelJob,
    check_request,
    count_targets,
)
from labelarts.services.autolabel.job import (
    KEY_SAMPLE_COUNT,
    MIN_PER_LABEL,
    MODALITY,
    AutoLabelJob,
    FeatureBatches,
    JobSpec,
)
from labelarts.services.models import ModelService
from labelarts.services.ownership import get_owned_dataset
from labelarts.services.samples.records import AUTO, MANUAL, UNLABELED
from labelarts.services.samples.sources import SampleSourceService
from labelarts.storage.db import Database
from labelarts.storage.db.models import Dataset, Sample, SampleLabel, Task
from labelarts.storage.objects import ObjectStore

AUTO_LABEL_KIND = "auto-label"
# Task status -> the reference's Integer status (-1 queuing ... 5 stopped).
WIRE_STATUS = {
    TaskStatus.QUEUED: -1,
    TaskStatus.RUNNING: 1,
    TaskStatus.FAILED: 2,
    TaskStatus.SUCCEEDED: 3,
    TaskStatus.STOPPING: 4,
    TaskStatus.STOPPED: 5,
}
# The reference's task types (list filter ``type``) and their Integer ``type`` in answers.
TASK_TYPES = {"auto-label": 0, "pre-label": 1, "auto-grouping": 2}
_MESSAGES = {
    TaskStatus.QUEUED: ("ModelArts.4914", "Auto labeling task submitted."),
    TaskStatus.RUNNING: ("ModelArts.4914", "Auto labeling task is running."),
    TaskStatus.STOPPING: ("ModelArts.4914", "Auto labeling task is stopping."),
    TaskStatus.SUCCEEDED: ("ModelArts.4916", "Auto labeling task executed."),
    TaskStatus.STOPPED: ("ModelArts.4393", "Task stopped."),
    TaskStatus.FAILED: ("ModelArts.4392", "Task failed."),
}
_COUNTS = ("total_sample_count", "annotated_sample_count", "unconfirmed_sample_count")


class TaskStateError(ImportParameterError):
    default_message = "Only queued or running tasks can be stopped."


class AutoLabelService:
    def __init__(
        self,
        db: Database,
        runner: TaskRunner,
        sources: SampleSourceService,
        settings: Settings,
        models: ModelService,
        objects: ObjectStore,
        *,
        feature_batches: FeatureBatches | None = None,
    ) -> None:
        self._feature_batches = feature_batches
        self._models = models
        self._objects = objects
        self._db = db
        self._runner = runner
        self._cache = FeatureCache(db)
        self._sources = sources
        self._settings = settings

    # -- create -----------------------------------------------------------------------------------

    def create(self, project_id: str, dataset_id: str, request: CreateTaskRequest) -> str:
        with self._db.session() as session:
            dataset = get_owned_dataset(session, project_id, dataset_id)
            dataset_type = dataset.dataset_type
        if request.task_type != AUTO_LABEL_KIND:
            return self._create_other(project_id, dataset_id, dataset_type, request)
        if dataset_type not in MODALITY and dataset_type != DETECTION_DATASET_TYPE:
            raise ImportParameterError(
                "Auto labeling supports image classification (0), object detection (1), text "
                "classification (100) and sound classification (200) datasets, not dataset_type "
                f"{dataset_type}."
            )
        propose_only = False
        try:
            self._check_preconditions(dataset_id, need_unlabeled=not request.config.check_labeled_samples)
        except (NoLabelsError, TooFewLabeledError):
            # Too few labels to learn from: with collect_key_sample the task proposes the samples
            # to label first instead (classification only), as long as there is one to propose.
            if not request.collect_key_sample or dataset_type not in MODALITY:
                raise
            if self._count_targets(dataset_id) == 0:
                raise NoUnlabeledError("There is no unlabeled sample to propose for labeling.") from None
            propose_only = True
        config = request.config.model_dump(exclude_none=True)
        # a 400 now, not a failed task
        self._job(project_id, dataset_id, request.config, dataset_type).check_model()
        return self._claim(
            project_id,
            dataset_id,
            {
                "task_type": request.task_type,
                "task_name": request.task_name or "",
                "collect_key_sample": request.collect_key_sample,
                "model_id": request.model_id or "",
                "config": config,
                **({"propose_only": True} if propose_only else {}),
            },
        )

    def _count_targets(self, dataset_id: str) -> int:
        with self._db.session() as session:
            return int(
                session.execute(
                    select(func.count())
                    .select_from(Sample)
                    .where(Sample.dataset_id == dataset_id, Sample.sample_status.in_([UNLABELED, AUTO]))
                ).scalar_one()
            )

    def _create_other(
        self, project_id: str, dataset_id: str, dataset_type: int, request: CreateTaskRequest
    ) -> str:
        """A ``pre-label`` or ``auto-grouping`` task (intelligent.py checks its request)."""
        extra = check_request(
            project_id, dataset_type, request, self._models, count_targets(self._db, dataset_id)
        )
        return self._claim(
            project_id,
            dataset_id,
            {
                "task_type": request.task_type,
                "task_name": request.task_name or "",
                "collect_key_sample": request.collect_key_sample,
                "model_id": extra.get("model_id", request.model_id or ""),
                "config": request.config.model_dump(exclude_none=True),
            },
        )

    def run_task(self, ctx: TaskContext) -> dict[str, Any]:
        """The intelligent task body, from the task's row alone."""
        config = SmartTaskConfig.model_validate(ctx.config.get("config", {}))
        task_type = ctx.config.get("task_type", AUTO_LABEL_KIND)
        if task_type == PRE_LABEL:
            return PreLabelJob(
                self._db,
                self._sources,
                self._models,
                project_id=ctx.project_id,
                dataset_id=ctx.dataset_id,
                model_id=str(ctx.config.get("model_id", "")),
                config=config,
                threads=self._settings.ml_threads,
            ).run(ctx)
        if task_type == AUTO_GROUPING:
            return GroupingJob(
                self._db,
                self._objects,
                self._cache,
                self._job(ctx.project_id, ctx.dataset_id, config),
                project_id=ctx.project_id,
                dataset_id=ctx.dataset_id,
                config=config,
            ).run(ctx)
        with self._db.session() as session:
            dataset = session.get(Dataset, ctx.dataset_id)
            dataset_type = dataset.dataset_type if dataset is not None else -1
        return self._job(
            ctx.project_id,
            ctx.dataset_id,
            config,
            dataset_type,
            collect_key_sample=bool(ctx.config.get("collect_key_sample", False)),
            propose_only=bool(ctx.config.get("propose_only", False)),
        ).run(ctx)

    def _job(
        self,
        project_id: str,
        dataset_id: str,
        config: SmartTaskConfig,
        dataset_type: int | None = None,
        *,
        collect_key_sample: bool = False,
        propose_only: bool = False,
    ) -> AutoLabelJob:
        spec = JobSpec(
            project_id=project_id,
            dataset_id=dataset_id,
            mode=config.algorithm_type,
            target_precision=config.target_precision,
            feature_model=config.feature_model,
            confidence_scope=(
                parse_confidence_scope(config.confidence_scope) if config.confidence_scope else None
            ),
            augment_budget=self._settings.autolabel_augment_budget,
            augment_signal=self._settings.autolabel_augment_signal,
            check_labeled=bool(config.check_labeled_samples),
            key_sample_count=(config.key_sample_count or KEY_SAMPLE_COUNT) if collect_key_sample else 0,
            propose_only=propose_only,
        )
        job_class = DetectionJob if dataset_type == DETECTION_DATASET_TYPE else AutoLabelJob
        return job_class(
            self._db,
            self._sources,
            self._cache,
            models_dir=self._settings.resolved_models_dir,
            threads=self._settings.ml_threads,
            spec=spec,
            memmap_bytes=self._settings.autolabel_memmap_bytes,
            scratch_dir=self._settings.resolved_data_dir / "tmp",
            feature_batches=self._feature_batches,
        )

    def _check_preconditions(self, dataset_id: str, *, need_unlabeled: bool = True) -> None:
        with self._db.session() as session:
            per_label = dict(
                session.execute(
                    select(SampleLabel.name, func.count(distinct(SampleLabel.sample_id)))
                    .join(Sample, Sample.id == SampleLabel.sample_id)
                    .where(Sample.dataset_id == dataset_id, Sample.sample_status == MANUAL)
                    .group_by(SampleLabel.name)
                ).all()
            )
            unlabeled = session.execute(
                select(func.count())
                .select_from(Sample)
                .where(Sample.dataset_id == dataset_id, Sample.sample_status.in_([UNLABELED, AUTO]))
            ).scalar_one()
        if len(per_label) < 2:
            raise NoLabelsError(
                "Auto labeling needs at least two labels, each on at least "
                f"{MIN_PER_LABEL} labeled samples; the dataset has {len(per_label)} label(s) in use."
            )
        short = sorted(name for name, count in per_label.items() if count < MIN_PER_LABEL)
        if short:
            shown = ", ".join(f"{name} ({per_label[name]})" for name in short[:20])
            raise TooFewLabeledError(
                f"Each label needs at least {MIN_PER_LABEL} labeled samples; too few: {shown}."
            )
        if unlabeled == 0 and need_unlabeled:
            raise NoUnlabeledError("Auto labeling needs at least one unlabeled sample.")

    def _claim(self, project_id: str, dataset_id: str, config: dict[str, Any]) -> str:
        """Create the task row unless an auto-labeling task of the dataset is active (400, 4409)."""
        return self._runner.create_exclusive(
            project_id=project_id,
            dataset_id=dataset_id,
            kind=AUTO_LABEL_KIND,
            config=config,
            on_conflict=lambda running: TaskConflictError(
                f"The dataset already has an auto labeling task in progress ({running}); "
                "wait for it or stop it first."
            ),
        )

    # -- read -------------------------------------------------------------------------------------

    def get(self, project_id: str, dataset_id: str, task_id: str) -> dict[str, Any]:
        with self._db.session() as session:
            dataset = get_owned_dataset(session, project_id, dataset_id)
            task = find_task(session, dataset_id, task_id, AUTO_LABEL_KIND)
            return task_to_wire(task, dataset)

    def list(
        self,
        project_id: str,
        dataset_id: str,
        *,
        offset: int,
        limit: int,
        task_type: str | None,
        task_name: str | None,
    ) -> tuple[list[dict[str, Any]], int]:
        with self._db.session() as session:
            dataset = get_owned_dataset(session, project_id, dataset_id)
            where = [Task.config["task_name"].as_string() == task_name] if task_name else []
            if task_type is not None:
                where.append(Task.config["task_type"].as_string() == task_type)
            rows, total = page_tasks(
                session, dataset_id, AUTO_LABEL_KIND, offset=offset, limit=limit, where=where
            )
            return [task_to_wire(task, dataset, listing=True) for task in rows], total

    # -- stop -------------------------------------------------------------------------------------

    def stop(self, project_id: str, dataset_id: str, task_id: str) -> None:
        with self._db.session() as session:
            get_owned_dataset(session, project_id, dataset_id)
            find_task(session, dataset_id, task_id, AUTO_LABEL_KIND)
        before = self._runner.request_stop(task_id)
        if before not in ACTIVE:
            raise TaskStateError(f"The task has already ended ({before.value.lower()}); nothing to stop.")


def _wire_time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _message(status: TaskStatus, progress: str | None, error: str | None, default: str) -> str:
    """The last progress note while running or once succeeded; the outcome once it failed or stopped."""
    if status in (TaskStatus.FAILED, TaskStatus.STOPPED):
        return error or default
    return progress or default


def task_to_wire(task: Task, dataset: Dataset, *, listing: bool = False) -> dict[str, Any]:
    """The reference's AutoAnnotationProgress (detail) or RunningTask (list) answer."""
    status = TaskStatus(task.status)
    code, message = _MESSAGES[status]
    result = dict(task.result)
    end = task.end_time or (task.update_time if status not in ACTIVE else now_ms())
    counts = {key: int(result.get(key, 0)) for key in _COUNTS}
    body: dict[str, Any] = {
        "task_id": task.id,
        "task_name": task.config.get("task_name", ""),
        "dataset_id": task.dataset_id,
        "resource_id": task.dataset_id,
        "type": TASK_TYPES.get(task.config.get("task_type", AUTO_LABEL_KIND), 0),
        "status": WIRE_STATUS[status],
        "code": task.error_code or code,
        "message": _message(status, result.pop("message", None), task.error_msg, message),
        "progress": round(float(task.progress) * 100.0, 2),
        "create_time": _wire_time(task.create_time),
        "elapsed_time": max(0, (end - (task.start_time or task.create_time)) // 1000),
        "config": {
            **task.config.get("config", {}),
            "collect_key_sample": bool(task.config.get("collect_key_sample", False)),
        },
        "model_id": task.config.get("model_id", ""),
        "result": {
            **counts,
            "dataset_name": dataset.name,
            "dataset_type": str(dataset.dataset_type),
            **{k: v for k, v in result.items() if k not in _COUNTS},
        },
        **counts,
    }
    if task.config.get("config", {}).get("confidence_scope"):
        body["result"]["confidence_scope"] = task.config["config"]["confidence_scope"]
    if task.error_code:
        body["error_code"] = task.error_code
        body["error_msg"] = task.error_msg or ""
        body["error_detail"] = task.error_msg or ""
    if listing:
        body.pop("resource_id")
    return body
