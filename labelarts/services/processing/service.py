"""Data-processing tasks (ModelArts group E): tasks, their versions, a version's results, and
the algorithm list. See docs/processing.md for every choice the reference leaves open.

A processing task is a row (``processor_tasks``); each run is a version
(``processor_task_versions``) queued with a ``tasks`` row of kind ``processor`` in the same unit
of work, so progress, stop and restart recovery are the jobs system's. Feature analysis
(``sys_data_analyse``) has no versions: its one run is queued with the task.

Status (task and version) is derived from the jobs row: 0 queued, 1 running or stopping,
2 succeeded, 3 failed (or its row is gone), 4 stopped.
"""

from __future__ import annotations

import builtins
import logging
import posixpath
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from sqlalchemy import ColumnElement, case, delete, func, select, update
from sqlalchemy.orm import Session

from labelarts.clock import new_resource_id, now_ms
from labelarts.errors import (
    BadRequestError,
    ForbiddenError,
    ImageProcessError,
    NotFoundError,
    SourceUnavailableError,
    ValidationFailedError,
    VersionExistsError,
)
from labelarts.jobs.runner import TaskContext, TaskRunner
from labelarts.jobs.states import ACTIVE, TaskStatus
from labelarts.media.resize import ImageDecodeError, ProcessParameterError, resize_image
from labelarts.ml.processing import TEMPLATES
from labelarts.schemas.processing import (
    CreateProcessorTaskRequest,
    CreateProcessorTaskVersionRequest,
    ProcessorDataSource,
    WorkPath,
)
from labelarts.services.importing import sources
from labelarts.services.ownership import get_owned_dataset
from labelarts.services.paths import Grants, ProjectScope
from labelarts.services.processing import folder
from labelarts.services.processing.plan import ANALYSE, OperatorLookup, build_plan, input_type_of
from labelarts.services.samples.presign import ACCESS_KEY_ID, SourceRef, SourceSigner
from labelarts.services.samples.records import MANUAL
from labelarts.services.samples.sources import SourceContent, check_process_parameter, sniff_content_type
from labelarts.services.versions.publish import NORMAL as VERSION_NORMAL
from labelarts.storage.db import Database
from labelarts.storage.db.models import (
    Dataset,
    DatasetVersion,
    ProcessorResult,
    ProcessorTask,
    ProcessorTaskVersion,
    Sample,
    Task,
    VersionSample,
)
from labelarts.storage.objects import ObjectStore

log = logging.getLogger(__name__)

PROCESSOR_KIND: Final = "processor"
STATUS: Final = {
    TaskStatus.QUEUED.value: 0,
    TaskStatus.RUNNING.value: 1,
    TaskStatus.STOPPING.value: 1,
    TaskStatus.SUCCEEDED.value: 2,
    TaskStatus.FAILED.value: 3,
    TaskStatus.STOPPED.value: 4,
}
COMPLETED: Final = 2
ADDED_SEQ: Final = 1_000_000_000_000  # added samples come after every input in the results
MAX_VERSIONS: Final = 1_000
_ACTIVE = [s.value for s in ACTIVE]


class ProcessorTaskNotFoundError(NotFoundError):
    error_code = "ModelArts.4700"
    default_message = "Task does not exist."


class ProcessorTaskExistsError(BadRequestError):
    error_code = "ModelArts.4709"
    default_message = "Data preprocessing task already exists."


class ProcessorRunningError(BadRequestError):
    error_code = "ModelArts.4394"
    default_message = "Task is running."


def status_of(job_status: str | None) -> int:
    """The reference's status of a jobs row's status (3 when the row is gone)."""
    return STATUS.get(job_status or "", 3)


def _status_expr() -> ColumnElement[int]:
    return case(
        *((Task.status == name, code) for name, code in STATUS.items()),
        else_=3,
    )


def output_prefix(task_id: str, version_id: str) -> str:
    return f"processing/{task_id}/{version_id}"


def result_path(project_id: str, task_id: str, version_id: str, seq: int, side: str) -> str:
    return f"processing/{task_id}/{version_id}/{seq}.{side}"


class ProcessingService:
    def __init__(
        self,
        db: Database,
        runner: TaskRunner,
        objects: ObjectStore,
        grants: Grants,
        signer: SourceSigner,
        read_local: Callable[[str, str], bytes],
        operators: OperatorLookup,
        run_body: Callable[[ProcessingService, TaskContext], dict[str, Any]],
        *,
        models_dir: Path,
        ml_threads: int | None,
        export_grants: Grants | None = None,
    ) -> None:
        self.models_dir = models_dir
        self.ml_threads = ml_threads
        # Samples per committed batch of results (and per progress report, which notices a stop).
        self.batch_size = 200
        self._db = db
        self._runner = runner
        self.objects = objects
        self._grants = grants
        # Export roots (docs/export.md): where a run may deliver its output as a local folder.
        self._export_grants = export_grants
        self._signer = signer
        self.read_local = read_local
        # The operator registry (labelarts.ml.processing.get_operator): a test may swap in its own.
        self.operators = operators
        self._run_body = run_body

    @property
    def db(self) -> Database:
        return self._db

    def export_scope(self, project_id: str) -> ProjectScope:
        """The export roots granted to a project (a run's output delivered as a folder)."""
        if self._export_grants is None:
            raise ValidationFailedError("No export roots are configured.")
        return self._export_grants.scope(project_id)

    def scope(self, project_id: str) -> ProjectScope:
        """The import roots and object prefixes granted to a project (OBS inputs)."""
        return self._grants.scope(project_id)

    # --- inputs and outputs, checked -------------------------------------------------------

    def _input(self, session: Session, project_id: str, request: Any) -> dict[str, Any]:
        """The one input, resolved: ``{type, source, version_id, dataset_id, dataset_type}``."""
        given: list[ProcessorDataSource] = list(request.inputs or [])
        if request.data_source is not None:
            given.append(request.data_source)
        if not given:
            raise ValidationFailedError("Send the input as data_source or inputs.")
        first = given[0]
        for other in given[1:]:
            if (other.type, other.source, other.version_id) != (first.type, first.source, first.version_id):
                raise ValidationFailedError(
                    "LabelArts processes one input: data_source and inputs must agree."
                )
        kind = first.type or "DATASET"
        source = first.source or ""
        version_id = first.version_id or request.version_id or None
        return self._resolve_input(session, project_id, kind, source, version_id)

    def _resolve_input(
        self, session: Session, project_id: str, kind: str, source: str, version_id: str | None
    ) -> dict[str, Any]:
        if kind == "CUSTOM":
            raise ValidationFailedError("Inputs of type CUSTOM (resource tenants) are not supported.")
        if not source:
            raise ValidationFailedError("The input's source is required.")
        if kind == "OBS":
            return self._folder_input(project_id, source, None)
        if kind == "TASK":
            upstream = self._find_task(session, project_id, source)
            if upstream.template_id == ANALYSE:
                raise ValidationFailedError("A feature analysis task has no output to process.")
            name = None
            if upstream.dataset_id is not None:
                dataset = session.get(Dataset, upstream.dataset_id)
                if dataset is None:
                    raise ValidationFailedError("The input task's dataset no longer exists.")
                dataset_type, name = dataset.dataset_type, dataset.name
            else:  # the upstream task reads a folder or prefix
                dataset_type = input_type_of(upstream.template.get("operator_params", []))
            return {
                "type": "TASK",
                "source": upstream.id,
                "version_id": None,
                "dataset_id": upstream.dataset_id,
                "dataset_type": dataset_type,
                "name": name,
            }
        dataset = get_owned_dataset(session, project_id, source)
        version_name = None
        if version_id is not None:
            version = session.get(DatasetVersion, version_id) if "\x00" not in version_id else None
            if version is None or version.dataset_id != dataset.id or version.status != VERSION_NORMAL:
                raise BadRequestError(
                    "version_id is not a published version of the input dataset.",
                    error_code="ModelArts.4353",
                )
            version_name = version.name
        return {
            "type": "DATASET",
            "source": dataset.id,
            "version_id": version_id,
            "version_name": version_name,
            "dataset_id": dataset.id,
            "dataset_type": dataset.dataset_type,
            "name": dataset.name,
        }

    def _folder_input(
        self, project_id: str, raw: str, operator_params: builtins.list[dict[str, Any]] | None
    ) -> dict[str, Any]:
        """An OBS input: a granted local folder or object-store prefix (400 otherwise), read in
        place; its dataset type is the operators' ``task_type`` (filled in once they are known)."""
        location = folder.locate(self._grants.scope(project_id), self.objects, raw)
        return {
            "type": "OBS",
            "source": raw,
            "version_id": None,
            "dataset_id": None,
            "dataset_type": input_type_of(operator_params) if operator_params is not None else None,
            "location": location,
        }

    def _work_path(
        self, session: Session, project_id: str, work_path: WorkPath | None, dataset_type: int
    ) -> dict[str, Any] | None:
        if work_path is None or (work_path.type is None and not work_path.path):
            return None
        kind = work_path.type or "DATASET"
        if kind == "OBS":
            raw = work_path.path or ""
            if sources.is_object_uri(raw):
                key = sources.object_key(self._grants.scope(project_id), raw).strip("/")
                return {"type": "OBS", "path": raw, "key": key}
            return {"type": "OBS", "path": raw, "folder": self._export_folder(project_id, raw)}
        dataset = get_owned_dataset(session, project_id, work_path.path or "")
        if dataset.dataset_type != dataset_type:
            raise BadRequestError(
                "work_path names a dataset of another type than the input's.", error_code="ModelArts.4399"
            )
        name = work_path.version_name or None
        if name is not None:
            taken = session.execute(
                select(DatasetVersion.id).where(
                    DatasetVersion.dataset_id == dataset.id, DatasetVersion.name == name
                )
            ).first()
            if taken is not None:
                raise VersionExistsError(f"Dataset version {name} already exists.")
        return {"type": "DATASET", "path": dataset.id, "name": dataset.name, "version_name": name}

    def _export_folder(self, project_id: str, raw: str) -> str:
        """A local output: a folder inside an export root granted to the project (as an
        export's destination, docs/export.md), not the root itself, in a folder that exists;
        each run delivers ``{folder}/{task_version_id}/`` into it. 400 otherwise."""
        if self._export_grants is None:
            raise ValidationFailedError("work_path of type OBS must be an obs:// prefix (no export roots).")
        found = self._export_grants.scope(project_id).local(raw)
        if not found.rel:
            raise ValidationFailedError("The output folder must be inside an export root, not the root.")
        parent_rel = posixpath.dirname(found.rel)
        if not found.root.is_dir(parent_rel):
            raise ValidationFailedError("The folder that holds the output folder must exist.")
        return found.path

    @staticmethod
    def _check_apart(source: dict[str, Any], work_path: dict[str, Any] | None) -> None:
        """An output inside its input (or around it) would be read back by the run that writes
        it: refused (400)."""
        location = source.get("location")
        if location is None or work_path is None or work_path.get("type") != "OBS":
            return
        if location["kind"] == "object" and "key" in work_path:
            inside, outside = location["path"].strip("/"), str(work_path["key"]).strip("/")
        elif location["kind"] == "local" and "folder" in work_path:
            inside, outside = location["path"].rstrip("/"), str(work_path["folder"]).rstrip("/")
        else:
            return
        if _overlaps(inside, outside):
            raise ValidationFailedError("The output path lies inside the input (or holds it): name another.")

    # --- tasks ----------------------------------------------------------------------------------

    def create_task(self, project_id: str, request: CreateProcessorTaskRequest) -> str:
        """Create the task (and queue its analysis, or its first version with
        ``create_version``); 400 with the reason for anything that could not run."""
        template_id = request.template.id
        if template_id is None:
            raise ValidationFailedError("template.id is required.")
        with self._db.session(write=True) as session:
            taken = session.execute(
                select(ProcessorTask.id).where(
                    ProcessorTask.project_id == project_id, ProcessorTask.name == request.name
                )
            ).first()
            if taken is not None:
                raise ProcessorTaskExistsError(f"A processing task named {request.name} already exists.")
            source = self._input(session, project_id, request)
            operator_params = [p.model_dump(exclude_none=True) for p in request.template.operator_params]
            if source["dataset_type"] is None:
                source["dataset_type"] = input_type_of(operator_params)
            if template_id == ANALYSE:
                self._check_analysis(session, source)
                work_path = None
            else:
                build_plan(template_id, operator_params, source["dataset_type"], self.operators)
                work_path = self._work_path(session, project_id, request.work_path, source["dataset_type"])
                self._check_apart(source, work_path)
            now = now_ms()
            task = ProcessorTask(
                id=new_resource_id(),
                project_id=project_id,
                name=request.name,
                description=request.description,
                template_id=template_id,
                template={
                    "id": template_id,
                    "name": request.template.name or _template_name(template_id),
                    "operator_params": operator_params,
                },
                inputs=[_echo_source(request, source)],
                data_source=_echo_source(request, source) if request.data_source is not None else None,
                work_path=work_path,
                source_type=source["type"],
                source=source["source"],
                dataset_id=source["dataset_id"],
                version_id=source.get("version_id"),
                workspace_id=request.workspace_id or "0",
                next_version_num=1,
                create_time=now,
                update_time=now,
            )
            session.add(task)
            session.flush()
            if template_id == ANALYSE:
                task.job_id = self._runner.create(
                    session,
                    project_id=project_id,
                    dataset_id=source["dataset_id"],
                    kind=PROCESSOR_KIND,
                    config={"analysis_task_id": task.id},
                )
            elif request.create_version:
                self._new_version(session, task, description="", overrides=None)
            return task.id

    @staticmethod
    def _check_analysis(session: Session, source: dict[str, Any]) -> None:
        if source["type"] != "DATASET" or source["dataset_type"] not in (0, 1):
            raise BadRequestError(
                "Feature analysis takes an image classification or object detection dataset.",
                error_code="ModelArts.4701",
            )
        if source.get("version_id"):
            labeled = select(VersionSample.sample_id).where(
                VersionSample.version_id == source["version_id"], VersionSample.sample_status == MANUAL
            )
        else:
            labeled = select(Sample.id).where(
                Sample.dataset_id == source["dataset_id"], Sample.sample_status == MANUAL
            )
        if session.execute(labeled.limit(1)).first() is None:
            raise BadRequestError(
                "Can not start data analysis task, dataset version must contains annotated samples",
                error_code="ModelArts.4703",
            )

    def _find_task(self, session: Session, project_id: str, task_id: str) -> ProcessorTask:
        if "\x00" in task_id:
            raise ProcessorTaskNotFoundError()
        task = session.execute(
            select(ProcessorTask).where(ProcessorTask.id == task_id, ProcessorTask.project_id == project_id)
        ).scalar_one_or_none()
        if task is None:
            raise ProcessorTaskNotFoundError()
        return task

    def get_task(self, project_id: str, task_id: str) -> dict[str, Any]:
        with self._db.session() as session:
            task = self._find_task(session, project_id, task_id)
            return self._task_to_wire(session, task, return_result=True)

    def list_tasks(
        self,
        project_id: str,
        *,
        offset: int,
        limit: int,
        sort_by: str,
        order: str,
        source_type: str | None,
        source: str | None,
        status: int | None,
        task_name: str | None,
        task_type: str | None,
        version_ids: builtins.list[str],
        query_current: bool,
        return_result: bool,
        workspace_id: str | None,
    ) -> tuple[builtins.list[dict[str, Any]], int]:
        with self._db.session() as session:
            where: list[ColumnElement[bool]] = [ProcessorTask.project_id == project_id]
            if source_type:
                where.append(ProcessorTask.source_type == source_type)
            if source:
                where.append(ProcessorTask.source == source)
            if task_name:
                pattern = "%" + task_name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
                where.append(ProcessorTask.name.like(pattern, escape="\\"))
            if task_type:
                where.append(ProcessorTask.template_id == task_type)
            if version_ids:
                where.append(ProcessorTask.version_id.in_(version_ids[:500]))
            if workspace_id:
                where.append(ProcessorTask.workspace_id == workspace_id)
            latest = self._latest_job_status()
            stmt = select(ProcessorTask).where(*where)
            if status is not None:
                stmt = stmt.where(latest == status)
            if query_current:
                rows = [t for t in session.execute(stmt).scalars() if self._is_current(session, t)]
                total = len(rows)
                rows = _sorted(rows, sort_by, order)[offset * limit : offset * limit + limit]
            else:
                total = int(session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one())
                column = {
                    "name": ProcessorTask.name,
                    "create_time": ProcessorTask.create_time,
                }.get(sort_by, ProcessorTask.create_time)
                ordering = column.asc() if order == "asc" else column.desc()
                rows = list(
                    session.execute(
                        stmt.order_by(ordering, ProcessorTask.id).offset(offset * limit).limit(limit)
                    ).scalars()
                )
                if sort_by == "duration_seconds":
                    rows = _sorted(rows, sort_by, order)
            return [self._task_to_wire(session, t, return_result=return_result) for t in rows], total

    @staticmethod
    def _latest_job_status() -> Any:
        """The task's status in SQL: its analysis job's, else its newest version's (0 without one)."""
        newest = (
            select(ProcessorTaskVersion.job_id)
            .where(ProcessorTaskVersion.task_id == ProcessorTask.id)
            .order_by(ProcessorTaskVersion.create_time.desc(), ProcessorTaskVersion.id.desc())
            .limit(1)
            .correlate(ProcessorTask)
            .scalar_subquery()
        )
        job = func.coalesce(ProcessorTask.job_id, newest)
        status = select(_status_expr()).where(Task.id == job).correlate(ProcessorTask).scalar_subquery()
        return case((job.is_(None), 0), else_=func.coalesce(status, 3))

    def _is_current(self, session: Session, task: ProcessorTask) -> bool:
        """Whether no later task of this template reads the same dataset version."""
        newer = session.execute(
            select(ProcessorTask.id)
            .where(
                ProcessorTask.project_id == task.project_id,
                ProcessorTask.template_id == task.template_id,
                ProcessorTask.source == task.source,
                (ProcessorTask.version_id == task.version_id)
                if task.version_id is not None
                else ProcessorTask.version_id.is_(None),
                (ProcessorTask.create_time > task.create_time)
                | ((ProcessorTask.create_time == task.create_time) & (ProcessorTask.id > task.id)),
            )
            .limit(1)
        ).first()
        return newer is None

    def _task_to_wire(self, session: Session, task: ProcessorTask, *, return_result: bool) -> dict[str, Any]:
        if task.job_id is not None:
            job = session.get(Task, task.job_id)
        else:
            job_id = session.execute(
                select(ProcessorTaskVersion.job_id)
                .where(ProcessorTaskVersion.task_id == task.id)
                .order_by(ProcessorTaskVersion.create_time.desc(), ProcessorTaskVersion.id.desc())
                .limit(1)
            ).scalar_one_or_none()
            job = session.get(Task, job_id) if job_id else None
        version_count = int(
            session.execute(select(func.count()).where(ProcessorTaskVersion.task_id == task.id)).scalar_one()
        )
        status = (
            0
            if job is None and task.job_id is None and version_count == 0
            else status_of(job.status if job is not None else None)
        )
        body: dict[str, Any] = {
            "task_id": task.id,
            "name": task.name,
            "description": task.description,
        }
        if task.data_source is not None:
            body["data_source"] = dict(task.data_source)
        body["inputs"] = [dict(i) for i in task.inputs]
        body["template"] = dict(task.template)
        if task.work_path is not None:
            body["work_path"] = _work_path_wire(task.work_path)
        body.update(
            status=status,
            duration_seconds=_duration(job),
            create_time=task.create_time,
            version_count=version_count,
            is_current=self._is_current(session, task),
            workspace_id=task.workspace_id,
        )
        if task.version_id is not None:
            body["version_id"] = task.version_id
            name = task.inputs[0].get("version_name") if task.inputs else None
            if name:
                body["version_name"] = name
        if status == 3:
            body["error_msg"] = (job.error_msg if job is not None else None) or "The task failed."
        if return_result and task.result is not None and status == COMPLETED:
            body["result"] = task.result
        return body

    def update_task(self, project_id: str, task_id: str, description: str) -> None:
        with self._db.session(write=True) as session:
            task = self._find_task(session, project_id, task_id)
            task.description = description
            task.update_time = now_ms()

    def delete_task(self, project_id: str, task_id: str) -> None:
        """Delete the task, its versions, results and files; 400 ModelArts.4394 while it runs."""
        with self._db.session(write=True) as session:
            task = self._find_task(session, project_id, task_id)
            jobs = [task.job_id] if task.job_id else []
            jobs += [
                j
                for j in session.execute(
                    select(ProcessorTaskVersion.job_id).where(ProcessorTaskVersion.task_id == task.id)
                ).scalars()
                if j
            ]
            if (
                jobs
                and session.execute(
                    select(Task.id).where(Task.id.in_(jobs), Task.status.in_(_ACTIVE)).limit(1)
                ).first()
            ):
                raise ProcessorRunningError("A version of the task is running; stop it first.")
            prefixes = list(
                session.execute(
                    select(ProcessorTaskVersion.output_prefix).where(ProcessorTaskVersion.task_id == task.id)
                ).scalars()
            )
            version_ids = select(ProcessorTaskVersion.id).where(ProcessorTaskVersion.task_id == task.id)
            kept = self._kept_keys(session, version_ids)
            session.execute(delete(ProcessorResult).where(ProcessorResult.version_id.in_(version_ids)))
            session.execute(delete(ProcessorTaskVersion).where(ProcessorTaskVersion.task_id == task.id))
            session.execute(delete(ProcessorTask).where(ProcessorTask.id == task.id))
        self._delete_files(prefixes, kept)

    @staticmethod
    def _kept_keys(session: Session, version_ids: Any) -> set[str]:
        """Output files a dataset version still uses (not deleted with the processing version)."""
        keys = select(ProcessorResult.out_key).where(
            ProcessorResult.version_id.in_(version_ids), ProcessorResult.result_property.in_((1, 3))
        )
        return set(
            session.execute(
                select(VersionSample.source_key).where(
                    VersionSample.source_kind == "object", VersionSample.source_key.in_(keys)
                )
            ).scalars()
        )

    def _delete_files(self, prefixes: builtins.list[str], kept: set[str]) -> None:
        for prefix in prefixes:
            try:
                if not kept:
                    self.objects.delete(prefix + "/")
                    continue
                for key in list(self.objects.list(prefix + "/")):
                    if key not in kept:
                        self.objects.delete(key)
            except OSError:
                log.exception("deleting the files under %s failed", prefix)

    # --- versions -------------------------------------------------------------------------------

    def create_version(
        self, project_id: str, task_id: str, request: CreateProcessorTaskVersionRequest
    ) -> str:
        with self._db.session(write=True) as session:
            task = self._find_task(session, project_id, task_id)
            if task.template_id == ANALYSE:
                raise ValidationFailedError("A feature analysis task has no versions.")
            if request.name is not None and request.name not in ("", task.name):
                raise ValidationFailedError("name must be the task's name.")
            if request.template is not None and request.template.id not in (None, task.template_id):
                raise ValidationFailedError("A version runs its task's template; create a task for another.")
            return self._new_version(session, task, description=request.description, overrides=request)

    def _new_version(
        self,
        session: Session,
        task: ProcessorTask,
        *,
        description: str,
        overrides: CreateProcessorTaskVersionRequest | None,
    ) -> str:
        # The task row first: a concurrent create of the same task waits here, then sees this one.
        session.execute(update(ProcessorTask).where(ProcessorTask.id == task.id).values(update_time=now_ms()))
        running = session.execute(
            select(ProcessorTaskVersion.id)
            .join(Task, Task.id == ProcessorTaskVersion.job_id)
            .where(ProcessorTaskVersion.task_id == task.id, Task.status.in_(_ACTIVE))
            .limit(1)
        ).first()
        if running is not None:
            raise ProcessorRunningError(
                f"Version {running[0]} of the task is queued or running; run another once it has ended."
            )
        count = session.execute(
            select(func.count()).where(ProcessorTaskVersion.task_id == task.id)
        ).scalar_one()
        if count >= MAX_VERSIONS:
            raise BadRequestError(f"A task has at most {MAX_VERSIONS} versions.", error_code="ModelArts.4714")
        source: dict[str, Any] = {
            "type": task.source_type,
            "source": task.source,
            "version_id": task.version_id,
            "dataset_id": task.dataset_id,
        }
        inputs = [dict(i) for i in task.inputs]
        work_path = dict(task.work_path) if task.work_path is not None else None
        operator_params = list(task.template.get("operator_params", []))
        if overrides is not None:
            if overrides.template is not None and overrides.template.operator_params:
                operator_params = [
                    p.model_dump(exclude_none=True) for p in overrides.template.operator_params
                ]
            if overrides.inputs or overrides.data_source is not None:
                source = self._input(session, task.project_id, overrides)
                inputs = [_echo_source(overrides, source)]
        if source["type"] == "OBS":
            # Checked again at each run: a grant taken back since refuses it.
            source = self._folder_input(task.project_id, source["source"], operator_params)
        elif source["type"] == "TASK" and source.get("dataset_id") is None:
            source = self._resolve_input(session, task.project_id, "TASK", source["source"], None)
        else:
            dataset = session.get(Dataset, source["dataset_id"]) if source.get("dataset_id") else None
            if dataset is None:
                raise ValidationFailedError("The input dataset no longer exists.")
            source["dataset_type"] = dataset.dataset_type
        dataset_type = int(source["dataset_type"])
        if overrides is not None and overrides.work_path is not None:
            work_path = self._work_path(session, task.project_id, overrides.work_path, dataset_type)
        build_plan(task.template_id, operator_params, dataset_type, self.operators)
        self._check_apart(source, work_path)
        if work_path is not None and work_path.get("type") == "DATASET" and work_path.get("version_name"):
            taken = session.execute(
                select(DatasetVersion.id).where(
                    DatasetVersion.dataset_id == work_path["path"],
                    DatasetVersion.name == work_path["version_name"],
                )
            ).first()
            if taken is not None:
                raise VersionExistsError(
                    f"Dataset version {work_path['version_name']} already exists: name another in work_path."
                )
        upstream_version = None
        if source["type"] == "TASK":
            upstream_version = self._latest_completed(session, source["source"])
            if upstream_version is None:
                raise ValidationFailedError("The input task has no completed version to read.")
        number = max(task.next_version_num, count + 1)
        task.next_version_num = number + 1
        version_id = new_resource_id()
        now = now_ms()
        version = ProcessorTaskVersion(
            id=version_id,
            task_id=task.id,
            project_id=task.project_id,
            version_name=f"V{number:03d}",
            description=description,
            inputs=inputs,
            work_path=work_path,
            template={**task.template, "operator_params": operator_params},
            output_prefix=(
                f"{work_path['key']}/{version_id}"
                if work_path is not None and work_path.get("key")
                else output_prefix(task.id, version_id)
            ),
            stats={},
            create_time=now,
            update_time=now,
        )
        session.add(version)
        session.flush()
        version.job_id = self._runner.create(
            session,
            project_id=task.project_id,
            dataset_id=source["dataset_id"],
            kind=PROCESSOR_KIND,
            config={
                "processor_version_id": version_id,
                "source": {**source, "upstream_version_id": upstream_version},
            },
        )
        return version_id

    @staticmethod
    def _latest_completed(session: Session, task_id: str) -> str | None:
        found: str | None = session.execute(
            select(ProcessorTaskVersion.id)
            .join(Task, Task.id == ProcessorTaskVersion.job_id)
            .where(ProcessorTaskVersion.task_id == task_id, Task.status == TaskStatus.SUCCEEDED.value)
            .order_by(ProcessorTaskVersion.create_time.desc(), ProcessorTaskVersion.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        return found

    def _find_version(
        self, session: Session, project_id: str, task_id: str, version_id: str
    ) -> tuple[ProcessorTask, ProcessorTaskVersion]:
        task = self._find_task(session, project_id, task_id)
        version = session.get(ProcessorTaskVersion, version_id) if "\x00" not in version_id else None
        if version is None or version.task_id != task.id:
            raise ProcessorTaskNotFoundError("Task version does not exist.")
        return task, version

    def get_version(self, project_id: str, task_id: str, version_id: str) -> dict[str, Any]:
        with self._db.session() as session:
            _task, version = self._find_version(session, project_id, task_id, version_id)
            job = session.get(Task, version.job_id) if version.job_id else None
            return _version_to_wire(version, job)

    def list_versions(
        self, project_id: str, task_id: str, *, offset: int, limit: int, sort_by: str, order: str
    ) -> tuple[builtins.list[dict[str, Any]], int]:
        with self._db.session() as session:
            task = self._find_task(session, project_id, task_id)
            column = (
                ProcessorTaskVersion.version_name
                if sort_by == "version_name"
                else ProcessorTaskVersion.create_time
            )
            ordering = column.asc() if order == "asc" else column.desc()
            total = int(
                session.execute(
                    select(func.count()).where(ProcessorTaskVersion.task_id == task.id)
                ).scalar_one()
            )
            rows = session.execute(
                select(ProcessorTaskVersion, Task)
                .outerjoin(Task, Task.id == ProcessorTaskVersion.job_id)
                .where(ProcessorTaskVersion.task_id == task.id)
                .order_by(ordering, ProcessorTaskVersion.id)
                .offset(offset * limit)
                .limit(limit)
            ).all()
            return [_version_to_wire(v, j) for v, j in rows], total

    def delete_version(self, project_id: str, task_id: str, version_id: str) -> None:
        with self._db.session(write=True) as session:
            _task, version = self._find_version(session, project_id, task_id, version_id)
            job = session.get(Task, version.job_id) if version.job_id else None
            if job is not None and job.status in _ACTIVE:
                raise ProcessorRunningError("The version is running; stop it first.")
            prefix = version.output_prefix
            kept = self._kept_keys(
                session, select(ProcessorTaskVersion.id).where(ProcessorTaskVersion.id == version.id)
            )
            session.execute(delete(ProcessorResult).where(ProcessorResult.version_id == version.id))
            session.execute(delete(ProcessorTaskVersion).where(ProcessorTaskVersion.id == version.id))
        self._delete_files([prefix], kept)

    def job_of(self, task_version_id: str) -> str | None:
        """The jobs row that runs a version (for operators and tests)."""
        with self._db.session() as session:
            version = session.get(ProcessorTaskVersion, task_version_id)
            return version.job_id if version is not None else None

    def stop_version(self, project_id: str, task_id: str, version_id: str) -> None:
        with self._db.session() as session:
            _task, version = self._find_version(session, project_id, task_id, version_id)
            job_id = version.job_id
        before = self._runner.request_stop(job_id) if job_id else TaskStatus.FAILED
        if before not in ACTIVE:
            raise BadRequestError(
                f"The version has already ended ({before.value.lower()}); nothing to stop.",
                error_code="ModelArts.4396",
            )

    # --- results -------------------------------------------------------------------------------

    def list_results(
        self,
        project_id: str,
        task_id: str,
        version_id: str,
        *,
        result_property: int | None,
        offset: int,
        limit: int,
        process_parameter: str | None,
        origin: str,
    ) -> dict[str, Any]:
        process = process_parameter.strip() if process_parameter else None
        check_process_parameter(process)
        with self._db.session() as session:
            _task, version = self._find_version(session, project_id, task_id, version_id)
            where: list[ColumnElement[bool]] = [ProcessorResult.version_id == version.id]
            if result_property is not None and result_property >= 0:
                where.append(ProcessorResult.result_property == result_property)
            else:
                shown = version.stats.get("total_status")
                if isinstance(shown, list) and shown:
                    where.append(ProcessorResult.result_property.in_(shown))
            count = int(session.execute(select(func.count()).where(*where)).scalar_one())
            rows = list(
                session.execute(
                    select(ProcessorResult)
                    .where(*where)
                    .order_by(ProcessorResult.seq)
                    .offset(offset * limit)
                    .limit(limit)
                ).scalars()
            )
            results = []
            for row in rows:
                body: dict[str, Any] = {
                    "sample_id": row.sample_id,
                    "version_id": version.id,
                    "origin_source": _source(row.origin_kind, row.origin_key),
                    "new_source": _source(row.out_kind, row.out_key) if row.result_property in (1, 3) else "",
                    "signed_origin_source": "",
                    "signed_new_source": "",
                    "result_property": row.result_property,
                    "result_description": list(row.description),
                }
                if row.origin_key is not None:
                    body["signed_origin_source"] = self._signed(
                        origin, project_id, task_id, version.id, row.seq, "origin", process
                    )
                if row.result_property in (1, 3) and row.out_key is not None:
                    body["signed_new_source"] = self._signed(
                        origin, project_id, task_id, version.id, row.seq, "new", process
                    )
                results.append(body)
            return {"count": count, "has_more": (offset + 1) * limit < count, "results": results}

    def _signed(
        self,
        origin: str,
        project_id: str,
        task_id: str,
        version_id: str,
        seq: int,
        side: str,
        process: str | None,
    ) -> str:
        ref = SourceRef(project_id, f"processing/{task_id}/{version_id}", f"{seq}.{side}")
        return self._signer.url(origin, ref, process or None)

    def open_signed_result(
        self,
        project_id: str,
        task_id: str,
        version_id: str,
        result_id: str,
        query: builtins.list[tuple[str, str]],
    ) -> SourceContent:
        """A result's original or new file for a pre-signed URL (403 unless it holds)."""
        params = dict(query)
        if params.get("AccessKeyId") != ACCESS_KEY_ID:
            raise ForbiddenError("The URL is not signed by this server.", error_code="ModelArts.4203")
        process = params.get("x-image-process")
        ref = SourceRef(project_id, f"processing/{task_id}/{version_id}", result_id)
        self._signer.verify(ref, params.get("Expires"), params.get("Signature"), process)
        seq_text, _, side = result_id.partition(".")
        if not seq_text.isdigit() or side not in ("origin", "new"):
            raise ProcessorTaskNotFoundError("Result does not exist.")
        with self._db.session() as session:
            row = session.execute(
                select(ProcessorResult)
                .join(ProcessorTaskVersion, ProcessorTaskVersion.id == ProcessorResult.version_id)
                .where(
                    ProcessorResult.version_id == version_id,
                    ProcessorResult.seq == int(seq_text),
                    ProcessorTaskVersion.task_id == task_id,
                    ProcessorTaskVersion.project_id == project_id,
                )
            ).scalar_one_or_none()
            if row is None:
                raise ProcessorTaskNotFoundError("Result does not exist.")
            kind, key = (row.origin_kind, row.origin_key) if side == "origin" else (row.out_kind, row.out_key)
        if key is None:
            raise ProcessorTaskNotFoundError("Result has no such file.")
        data = self.read_file(project_id, kind or "object", key)
        spec = check_process_parameter(process)
        if spec is not None:
            try:
                data, content_type = resize_image(data, spec)
            except ImageDecodeError as exc:
                raise ImageProcessError(f"The file cannot be processed as an image: {exc}") from None
            except ProcessParameterError as exc:
                raise ValidationFailedError(f"Invalid process_parameter: {exc}") from None
        else:
            content_type = sniff_content_type(data[:16], key)
        return SourceContent(content_type, headers={"Cache-Control": "private"}, body=data)

    def read_file(self, project_id: str, kind: str, key: str) -> bytes:
        if kind == "local":
            return self.read_local(project_id, key)
        try:
            return self.objects.get(key)
        except (FileNotFoundError, IsADirectoryError):
            raise SourceUnavailableError() from None

    # --- algorithms ------------------------------------------------------------------------------

    @staticmethod
    def items(offset: int, limit: int) -> dict[str, Any]:
        everything = [
            {"template_id": template_id, "label_en": spec.label_en, "label_zh": spec.label_zh}
            for template_id, spec in TEMPLATES.items()
        ]
        return {"total": len(everything), "items": everything[offset * limit : offset * limit + limit]}

    # --- run --------------------------------------------------------------------------------------

    def run_task(self, ctx: TaskContext) -> dict[str, Any]:
        """The ``processor`` task body (a version's run, or a feature analysis)."""
        return self._run_body(self, ctx)


def _template_name(template_id: str) -> str:
    spec = TEMPLATES.get(template_id)
    return spec.label_en if spec is not None else "feature analysis"


def _echo_source(request: Any, source: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"type": source["type"], "source": source["source"]}
    if source.get("version_id"):
        body["version_id"] = source["version_id"]
    if source.get("version_name"):
        body["version_name"] = source["version_name"]
    if source.get("name"):
        body["name"] = source["name"]
    return body


def _work_path_wire(work_path: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in work_path.items() if k not in ("key", "folder") and v is not None}


def _overlaps(a: str, b: str) -> bool:
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def _source(kind: str | None, key: str | None) -> str:
    if key is None:
        return ""
    return key if kind == "local" else "obs://" + key.lstrip("/")


def _duration(job: Task | None) -> int:
    if job is None or job.start_time is None:
        return 0
    end = job.end_time if job.end_time is not None else now_ms()
    return max(0, int((end - job.start_time) / 1000))


def _sorted(rows: builtins.list[ProcessorTask], sort_by: str, order: str) -> builtins.list[ProcessorTask]:
    def key(task: ProcessorTask) -> Any:
        if sort_by == "name":
            return (task.name, task.id)
        return (task.create_time, task.id)

    return sorted(rows, key=key, reverse=order != "asc")


def _version_to_wire(version: ProcessorTaskVersion, job: Task | None) -> dict[str, Any]:
    stats = version.stats or {}
    status = status_of(job.status if job is not None else None)
    work_path = dict(version.work_path) if version.work_path is not None else {}
    work_path = _work_path_wire(work_path) if work_path else {}
    work_path["output_path"] = "obs://" + version.output_prefix + "/"
    if version.output_version_id:
        work_path["version_id"] = version.output_version_id
    body: dict[str, Any] = {
        "task_version_id": version.id,
        "task_id": version.task_id,
        "version_name": version.version_name,
        "description": version.description,
        "status": status,
        "create_time": version.create_time,
        "update_time": job.update_time if job is not None else version.update_time,
        "inputs": [dict(i) for i in version.inputs],
        "work_path": work_path,
        "template": dict(version.template),
        "duration_seconds": _duration(job),
        "origin_sample_count": int(stats.get("origin_sample_count", 0)),
        "unmodified_sample_count": int(stats.get("unmodified_sample_count", 0)),
        "modified_sample_count": int(stats.get("modified_sample_count", 0)),
        "deleted_sample_count": int(stats.get("deleted_sample_count", 0)),
        "add_sample_count": int(stats.get("add_sample_count", 0)),
    }
    if job is not None and status in (0, 1):
        body["progress"] = round(float(job.progress) * 100, 2)  # LabelArts extra
    if status == 3:
        body["error_msg"] = (job.error_msg if job is not None else None) or "The run failed."
    elif status == 4:
        body["error_msg"] = (
            job.error_msg if job is not None else None
        ) or "Stopped; the results so far are kept."
    return body
