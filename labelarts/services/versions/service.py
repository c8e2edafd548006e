"""Dataset versions: publish (create), list, detail, delete, and a version's sample list.

A version is a row (``dataset_versions``) created with its ``publish`` task in one unit of
work; the task body (:mod:`.publish`) freezes the samples and writes the manifest. The
answered ``status`` is derived like the dataset's: a stored 0 reads 0 (creating) while the
task is queued or running and 4 (error) once it ended any other way than succeeded, so a
version can never stay "creating" after its worker died.
"""

from __future__ import annotations

import builtins
import logging
import secrets
from collections.abc import Callable, Iterator
from typing import Any, Final

from sqlalchemy import ColumnElement, case, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session

from labelarts.clock import new_resource_id, now_ms
from labelarts.errors import (
    BadRequestError,
    PublishRunningError,
    ValidationFailedError,
    VersionEmptyError,
    VersionExistsError,
    VersionNotFoundError,
    VersionStateError,
)
from labelarts.jobs.runner import TaskContext, TaskRunner
from labelarts.jobs.states import ACTIVE, TaskStatus
from labelarts.schemas.common import normalize_label_name
from labelarts.schemas.versions import VERSION_FORMAT_CODES, CreateVersionRequest
from labelarts.services.dataset_types import DATASET_TAGS
from labelarts.services.ownership import get_owned_dataset
from labelarts.services.paths import Grants
from labelarts.services.samples.query import STATE_TO_STATUS, SampleQuery
from labelarts.services.samples.records import sample_to_wire
from labelarts.services.samples.sources import hide_ungranted_paths
from labelarts.services.versions.publish import (
    CREATING,
    ERROR,
    NORMAL,
    PUBLISH_KIND,
    PublishBody,
    state_filter,
    version_prefix,
)
from labelarts.storage.db import Database
from labelarts.storage.db.dialect import begin_read_snapshot
from labelarts.storage.db.models import (
    Dataset,
    DatasetVersion,
    Sample,
    SampleLabel,
    Task,
    VersionLabel,
    VersionSample,
)
from labelarts.storage.objects import ObjectStore

log = logging.getLogger(__name__)

# Dataset types a version can be published for (those whose labels a manifest can hold).
PUBLISHABLE: Final = frozenset({0, 1, 3, 100, 101, 102, 200, 201, 202})
_ACTIVE = [s.value for s in ACTIVE]
MAX_VERSIONS: Final = 1_000  # versions per dataset (ModelArts.4714 past it)


def _status_of(version: DatasetVersion, task_status: str | None) -> int:
    if version.status != CREATING:
        return version.status
    return CREATING if task_status in _ACTIVE else ERROR


def _status_expr() -> ColumnElement[int]:
    """The derived status in SQL (the list filters on it); ``tasks`` outer-joined."""
    return case(
        (DatasetVersion.status != CREATING, DatasetVersion.status),
        (Task.status.in_(_ACTIVE), CREATING),
        else_=ERROR,
    )


def parse_ratio_range(raw: str | None) -> tuple[float, float] | None:
    """``train_evaluate_ratio`` "min,max" (both in [0, 1], min <= max); 400 otherwise."""
    if raw is None or raw.strip() == "":
        return None
    parts = raw.split(",")
    try:
        low, high = (float(p) for p in parts) if len(parts) == 2 else (float("nan"), 0.0)
    except ValueError:
        low, high = float("nan"), 0.0
    if not (0.0 <= low <= high <= 1.0):
        raise ValidationFailedError('train_evaluate_ratio must be "min,max" with 0 <= min <= max <= 1.')
    return low, high


class VersionService:
    def __init__(self, db: Database, runner: TaskRunner, objects: ObjectStore, grants: Grants) -> None:
        self._db = db
        self._runner = runner
        self._objects = objects
        self._grants = grants

    # --- create -----------------------------------------------------------------------------

    def create(self, project_id: str, dataset_id: str, request: CreateVersionRequest) -> str:
        """Queue the publishing of a new version; its id. 400 if refused (see docs/versions.md)."""
        with self._db.session(write=True) as session:
            dataset = get_owned_dataset(session, project_id, dataset_id)
            self._check(dataset, request)
            # The dataset row first: a concurrent publish of the same dataset waits here, then
            # sees this one's task (PostgreSQL row lock; SQLite holds the write lock already).
            session.execute(update(Dataset).where(Dataset.id == dataset.id).values(update_time=now_ms()))
            # A publish whose version is already normal has ended for the user, though its task
            # is still being marked succeeded in its own transaction: a client that polls the
            # version and publishes again at once must not be refused.
            running = session.execute(
                select(Task.id)
                .outerjoin(DatasetVersion, DatasetVersion.task_id == Task.id)
                .where(
                    Task.dataset_id == dataset.id,
                    Task.kind == PUBLISH_KIND,
                    Task.status.in_(_ACTIVE),
                    or_(DatasetVersion.id.is_(None), DatasetVersion.status == CREATING),
                )
            ).first()
            if running is not None:
                raise PublishRunningError(
                    f"Dataset is publishing a version (task {running[0]}); publish when it has ended."
                )
            count = session.execute(
                select(func.count())
                .select_from(DatasetVersion)
                .where(DatasetVersion.dataset_id == dataset.id)
            ).scalar_one()
            if count >= MAX_VERSIONS:
                raise BadRequestError(
                    f"The dataset has {MAX_VERSIONS} versions, the most it may have; delete some first.",
                    error_code="ModelArts.4714",
                )
            has_samples = session.execute(
                select(
                    exists(
                        select(Sample.id).where(
                            Sample.dataset_id == dataset.id, *state_filter(request.sample_state)
                        )
                    )
                )
            ).scalar_one()
            if not has_samples:
                raise VersionEmptyError("No sample of the dataset can be published (none matches).")
            name = self._name(session, dataset, request.version_name)
            previous = session.execute(
                select(DatasetVersion.id)
                .where(DatasetVersion.dataset_id == dataset.id, DatasetVersion.status == NORMAL)
                .order_by(DatasetVersion.create_time.desc(), DatasetVersion.id.desc())
                .limit(1)
            ).scalar_one_or_none()
            now = now_ms()
            version = DatasetVersion(
                id=new_resource_id(),
                dataset_id=dataset.id,
                project_id=project_id,
                name=name,
                status=CREATING,
                version_format=request.version_format,
                description=request.description,
                train_evaluate_sample_ratio=request.ratio_text,
                train_ratio=request.ratio,
                seed=request.split_seed if request.split_seed is not None else secrets.randbelow(2**31),
                clear_hard_property=request.clear_hard_property,
                export_images=request.export_images,
                remove_sample_usage=request.remove_sample_usage,
                with_column_header=request.with_column_header,
                sample_state=request.sample_state,
                dataset_type=dataset.dataset_type,
                previous_version_id=previous,
                stats={},
                create_time=now,
                update_time=now,
            )
            session.add(version)
            session.flush()
            version.task_id = self._runner.create(
                session,
                project_id=project_id,
                dataset_id=dataset.id,
                kind=PUBLISH_KIND,
                config={"version_id": version.id},
            )
            return version.id

    @staticmethod
    def _check(dataset: Dataset, request: CreateVersionRequest) -> None:
        if dataset.dataset_type not in PUBLISHABLE:
            tags = ", ".join(DATASET_TAGS.get(dataset.dataset_type, [str(dataset.dataset_type)]))
            raise ValidationFailedError(f"Versions of this dataset type ({tags}) cannot be published.")
        if request.version_format == "CarbonData":
            raise ValidationFailedError("version_format CarbonData is only for table datasets.")
        if request.version_format == "CSV" and dataset.dataset_type != 100:
            raise ValidationFailedError("version_format CSV is only for text classification datasets.")
        if request.sample_state is not None and request.sample_state not in STATE_TO_STATUS:
            raise ValidationFailedError(f"Unknown sample_state {request.sample_state!r}.")

    @staticmethod
    def _name(session: Session, dataset: Dataset, wanted: str | None) -> str:
        """The requested name (400 ModelArts.4371 if taken) or the next free ``Vnnn``."""
        taken = set(
            session.execute(
                select(DatasetVersion.name).where(DatasetVersion.dataset_id == dataset.id)
            ).scalars()
        )
        if wanted is not None:
            if wanted in taken:
                raise VersionExistsError(f"Dataset version {wanted} already exists.")
            return wanted
        number = max(dataset.next_version_num, 1)
        while f"V{number:03d}" in taken:
            number += 1
        dataset.next_version_num = number + 1
        return f"V{number:03d}"

    # --- run ---------------------------------------------------------------------------------

    def run_task(self, ctx: TaskContext) -> dict[str, Any]:
        """The ``publish`` task body."""
        return PublishBody(self._db, self._objects, ctx).run()

    # --- read --------------------------------------------------------------------------------

    def _find(self, session: Session, dataset: Dataset, version_id: str) -> tuple[DatasetVersion, str | None]:
        if "\x00" in version_id:
            raise VersionNotFoundError()
        row = session.execute(
            select(DatasetVersion, Task.status)
            .outerjoin(Task, Task.id == DatasetVersion.task_id)
            .where(DatasetVersion.id == version_id, DatasetVersion.dataset_id == dataset.id)
        ).one_or_none()
        if row is None:
            raise VersionNotFoundError()
        return row[0], row[1]

    def get(self, project_id: str, dataset_id: str, version_id: str) -> dict[str, Any]:
        with self._db.session() as session:
            # One snapshot for the dataset and its version: publishing's finish writes the
            # version's status and the dataset's current version together, and READ COMMITTED
            # reads could straddle it (status 1 but not current).
            begin_read_snapshot(session)
            dataset = get_owned_dataset(session, project_id, dataset_id)
            version, task_status = self._find(session, dataset, version_id)
            task = session.get(Task, version.task_id) if version.task_id else None
            return version_to_wire(version, dataset, task_status, task)

    def list(
        self,
        project_id: str,
        dataset_id: str,
        *,
        status: int | None,
        train_evaluate_ratio: str | None,
        version_format: int | None,
        offset: int,
        limit: int,
    ) -> tuple[list[dict[str, Any]], int]:
        ratio = parse_ratio_range(train_evaluate_ratio)
        with self._db.session() as session:
            begin_read_snapshot(session)  # as in get: status and is_current of one moment
            dataset = get_owned_dataset(session, project_id, dataset_id)
            where: list[ColumnElement[bool]] = [DatasetVersion.dataset_id == dataset.id]
            if status is not None:
                where.append(_status_expr() == status)
            if ratio is not None:
                where.append(DatasetVersion.train_ratio.between(*ratio))
            if version_format is not None:
                names = [n for n, code in VERSION_FORMAT_CODES.items() if code == version_format]
                where.append(DatasetVersion.version_format.in_(names))
            joined = select(DatasetVersion, Task.status).outerjoin(Task, Task.id == DatasetVersion.task_id)
            total = session.execute(
                select(func.count()).select_from(joined.where(*where).subquery())
            ).scalar_one()
            rows = session.execute(
                joined.where(*where)
                .order_by(DatasetVersion.create_time.desc(), DatasetVersion.id.desc())
                .offset(offset * limit)
                .limit(limit)
            ).all()
            return [version_to_wire(v, dataset, s, None) for v, s in rows], int(total)

    def manifest(self, project_id: str, dataset_id: str, version_id: str) -> Iterator[bytes]:
        """The version's manifest, streamed (LabelArts' download route); 400 ModelArts.4824
        unless the version is normal."""
        with self._db.session() as session:
            dataset = get_owned_dataset(session, project_id, dataset_id)
            version, task_status = self._find(session, dataset, version_id)
            if _status_of(version, task_status) != NORMAL or version.manifest_key is None:
                raise BadRequestError("Dataset version status must be normal.", error_code="ModelArts.4824")
            key = version.manifest_key
        handle = self._objects.open(key)

        def chunks() -> Iterator[bytes]:
            with handle:
                while block := handle.read(1 << 20):
                    yield block

        return chunks()

    # --- delete ------------------------------------------------------------------------------

    def delete(self, project_id: str, dataset_id: str, version_id: str) -> None:
        """Delete the version (its frozen rows and files); the live dataset is not touched.
        400 ModelArts.4828 while it is being published."""
        with self._db.session(write=True) as session:
            dataset = get_owned_dataset(session, project_id, dataset_id)
            version, task_status = self._find(session, dataset, version_id)
            if _status_of(version, task_status) == CREATING:
                raise VersionStateError(
                    "The version is being published; delete it once publishing has ended."
                )
            prefix = version_prefix(dataset.id, version.name)
            session.execute(delete(VersionLabel).where(VersionLabel.version_id == version.id))
            session.execute(delete(VersionSample).where(VersionSample.version_id == version.id))
            session.execute(
                update(DatasetVersion)
                .where(DatasetVersion.previous_version_id == version.id)
                .values(previous_version_id=version.previous_version_id)
            )
            session.execute(delete(DatasetVersion).where(DatasetVersion.id == version.id))
            if dataset.current_version_id == version.id:
                dataset.current_version_id = session.execute(
                    select(DatasetVersion.id)
                    .where(DatasetVersion.dataset_id == dataset.id, DatasetVersion.status == NORMAL)
                    .order_by(DatasetVersion.create_time.desc(), DatasetVersion.id.desc())
                    .limit(1)
                ).scalar_one_or_none()
        try:  # after the commit: files without a row are garbage, a row without files is broken
            self._objects.delete(prefix)
        except OSError:
            log.exception("deleting the files of version %s (%s) failed", version_id, prefix)

    # --- the version's samples ---------------------------------------------------------------

    def list_samples(
        self,
        project_id: str,
        dataset_id: str,
        version_id: str,
        query: SampleQuery,
        *,
        source_url: Callable[[Sample], str],
    ) -> tuple[builtins.list[dict[str, Any]], int]:
        """A page of the samples the version froze, with their frozen labels and status (the
        sample list with ``version_id``). 400 ModelArts.4353 for an unknown version."""
        with self._db.session() as session:
            dataset = get_owned_dataset(session, project_id, dataset_id)
            try:
                version, task_status = self._find(session, dataset, version_id)
            except VersionNotFoundError:
                raise BadRequestError(
                    "Dataset version does not exist.", error_code="ModelArts.4353"
                ) from None
            if _status_of(version, task_status) != NORMAL:
                raise BadRequestError("Dataset version status must be normal.", error_code="ModelArts.4824")
            where = _version_where(version.id, query)
            count = int(
                session.execute(select(func.count()).select_from(VersionSample).where(*where)).scalar_one()
            )
            first, second = (
                (VersionSample.top_score, VersionSample.sample_id)
                if query.by_score
                else (VersionSample.sample_time, VersionSample.sample_id)
            )
            ordering = (first.asc(), second.asc()) if query.order == "asc" else (first.desc(), second.desc())
            rows = list(
                session.execute(
                    select(VersionSample)
                    .where(*where)
                    .order_by(*ordering)
                    .offset(query.offset * query.limit)
                    .limit(query.limit)
                ).scalars()
            )
            labels: dict[str, list[SampleLabel]] = {row.sample_id: [] for row in rows}
            if rows:
                ids = sorted(str(key) for key in labels)
                for label in session.execute(
                    select(VersionLabel)
                    .where(
                        VersionLabel.version_id == version.id,
                        VersionLabel.sample_id >= ids[0],
                        VersionLabel.sample_id <= ids[-1],
                    )
                    .order_by(VersionLabel.label_id)
                ).scalars():
                    if label.sample_id in labels:
                        labels[label.sample_id].append(_as_label(label))
            scope = self._grants.scope(project_id)
            page = []
            for row in rows:
                sample = _as_sample(row, dataset.id)
                body = sample_to_wire(sample, labels[row.sample_id], source_url(sample))
                page.append(hide_ungranted_paths(body, scope))
            return page, count


def current_version(session: Session, dataset: Dataset) -> dict[str, Any] | None:
    """The dataset's current version as the dataset detail's ``versions`` holds it."""
    if not dataset.current_version_id:
        return None
    row = session.execute(
        select(DatasetVersion, Task.status)
        .outerjoin(Task, Task.id == DatasetVersion.task_id)
        .where(DatasetVersion.id == dataset.current_version_id, DatasetVersion.dataset_id == dataset.id)
    ).one_or_none()
    return None if row is None else version_to_wire(row[0], dataset, row[1], None)


def _version_where(version_id: str, query: SampleQuery) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [VersionSample.version_id == version_id]
    if query.fixed_status is not None:
        where.append(VersionSample.sample_status == query.fixed_status)
    if query.sample_state is not None:
        if query.sample_state not in STATE_TO_STATUS:
            raise ValidationFailedError(f"Unknown sample_state {query.sample_state!r}.")
        status = STATE_TO_STATUS[query.sample_state]
        where.append(
            VersionSample.sample_status == status if status is not None else VersionSample.position < 0
        )
    if query.sample_type is not None:
        where.append(VersionSample.sample_type == query.sample_type)
    if query.label_name is not None or query.label_type is not None:
        label_where = [
            VersionLabel.version_id == version_id,
            VersionLabel.sample_id == VersionSample.sample_id,
        ]
        if query.label_name is not None:
            label_where.append(VersionLabel.name == normalize_label_name(query.label_name))
        if query.label_type is not None:
            label_where.append(VersionLabel.type == query.label_type)
        where.append(exists(select(VersionLabel.label_id).where(*label_where)))
    if query.by_score:
        where.append(VersionSample.top_score >= (query.low_score if query.low_score is not None else 0.0))
        where.append(VersionSample.top_score <= (query.high_score if query.high_score is not None else 1.0))
    for condition in query.conditions:
        if set(condition) == {"labeler"} and isinstance(condition["labeler"], str):
            where.append(VersionSample.labeler == condition["labeler"])
        else:
            raise ValidationFailedError("search_conditions cannot be combined with version_id.")
    return where


def _as_sample(row: VersionSample, dataset_id: str) -> Sample:
    """A detached :class:`Sample` holding the frozen values (for the one wire form)."""
    return Sample(
        id=row.sample_id,
        dataset_id=dataset_id,
        sample_type=row.sample_type,
        sample_status=row.sample_status,
        sample_name=row.sample_name,
        sample_dir=row.sample_dir,
        source_kind=row.source_kind,
        source_key=row.source_key,
        sample_size=row.sample_size,
        sample_time=row.sample_time,
        metadata_=dict(row.metadata_ or {}),
        hard=bool(row.hard),
        hard_coefficient=row.hard_coefficient,
        top_score=row.top_score,
        import_origin=row.import_origin,
        labeler=row.labeler,
        text=row.text,
    )


def _as_label(row: VersionLabel) -> SampleLabel:
    return SampleLabel(
        id=row.label_id,
        sample_id=row.sample_id,
        name=row.name,
        type=row.type,
        score=row.score,
        property=dict(row.property or {}),
        annotated_by=row.annotated_by,
    )


def version_to_wire(
    version: DatasetVersion, dataset: Dataset, task_status: str | None, task: Task | None
) -> dict[str, Any]:
    """The reference's DatasetVersion (see docs/versions.md for the values LabelArts gives)."""
    stats = version.stats or {}
    status = _status_of(version, task_status)
    base = "/" + version_prefix(dataset.id, version.name)
    body: dict[str, Any] = {
        "version_id": version.id,
        "version_name": version.name,
        "version_format": version.version_format,
        "status": status,
        "create_time": version.create_time,
        "update_time": version.update_time,
        "description": version.description,
        "total_sample_count": int(stats.get("total_sample_count", 0)),
        "annotated_sample_count": int(stats.get("annotated_sample_count", 0)),
        "total_sub_sample_count": 0,
        "annotated_sub_sample_count": 0,
        "add_sample_count": int(stats.get("add_sample_count", 0)),
        "deleted_sample_count": int(stats.get("deleted_sample_count", 0)),
        "modified_sample_count": int(stats.get("modified_sample_count", 0)),
        "deletion_stats": {},
        "manifest_path": f"{base}{version.name}.manifest",
        "data_path": base,
        "is_current": dataset.current_version_id == version.id,
        "train_evaluate_sample_ratio": version.train_evaluate_sample_ratio,
        "remove_sample_usage": version.remove_sample_usage,
        "export_images": version.export_images,
        "clear_hard_property": version.clear_hard_property,
        "with_column_header": version.with_column_header,
        "crop": False,
        "rotate": False,
        "data_validate": False,
        "start_processor_task": False,
        "extract_serial_number": False,
        "include_dataset_data": False,
        "task_type": version.dataset_type,
        "tags": list(DATASET_TAGS.get(version.dataset_type, [])),
        "label_stats": list(stats.get("label_stats", [])),
        "data_statistics": _data_statistics(stats),
    }
    if "label_type" in stats:
        body["label_type"] = stats["label_type"]
    if version.previous_version_id is not None:
        body["previous_version_id"] = version.previous_version_id
        body["previous_total_sample_count"] = int(stats.get("previous_total_sample_count", 0))
        body["previous_annotated_sample_count"] = int(stats.get("previous_annotated_sample_count", 0))
    if version.sample_state is not None:
        body["sample_state"] = version.sample_state
    for key in (
        "processor_task_id",
        "processor_task_status",
        "data_analysis",
        "analysis_task_id",
        "analysis_status",
    ):
        if key in stats:
            body[key] = stats[key]
    # LabelArts extras: the split's seed, the publish task and, while it runs, its progress.
    body["split_seed"] = version.seed
    body["task_id"] = version.task_id
    if status == CREATING and task is not None:
        body["progress"] = round(float(task.progress) * 100, 2)
    if status == ERROR:
        message = version.message
        if message is None and task is not None:
            message = task.error_msg or ("stopped" if task.status == TaskStatus.STOPPED else None)
        body["message"] = message or "Publishing failed."
    elif version.message:
        body["message"] = version.message
    return body


def _data_statistics(stats: dict[str, Any]) -> dict[str, Any]:
    splits = stats.get("splits", {})
    return {
        "sample_count": int(stats.get("total_sample_count", 0)),
        "annotated_sample_count": int(stats.get("annotated_sample_count", 0)),
        "unconfirmed_sample_count": int(stats.get("unconfirmed_sample_count", 0)),
        "train_sample_count": int(splits.get("TRAIN", {}).get("sample_count", 0)),
        "evaluate_sample_count": int(splits.get("EVAL", {}).get("sample_count", 0)),
        "splits": splits,
    }
