"""Datasets: create (with its initial import task), list, detail, modify, delete, statistics.

Create and delete each own one unit of work: a dataset is inserted together with its initial
import task (a failure leaves neither), and deleted with every row that hangs on it; its
stored objects go once that has committed.
"""

from __future__ import annotations

import builtins
import logging
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from labelarts.clock import new_resource_id, now_ms
from labelarts.errors import (
    BadRequestError,
    DatasetExistsError,
    LabelArtsError,
    ValidationFailedError,
)
from labelarts.jobs.states import ACTIVE
from labelarts.schemas.datasets import CreateDatasetRequest, UpdateDatasetRequest
from labelarts.services.dataset_types import (
    DATASET_TAGS,
    STATUS_CREATING,
    STATUS_IMPORTING,
    STATUS_NORMAL,
)
from labelarts.services.imports import IMPORT_KIND, ImportService
from labelarts.services.labels import (
    DeletePolicy,
    apply_label_update,
    delete_label_rows,
    find_label,
    label_names_stay_unique,
    label_to_dict,
    new_labels,
    require_label_name,
)
from labelarts.services.ownership import get_owned_dataset
from labelarts.services.team_tasks.summary import dataset_summaries
from labelarts.services.versions.service import current_version
from labelarts.storage.db import Database, counters
from labelarts.storage.db.counters import SampleTotals
from labelarts.storage.db.dialect import is_unique_violation
from labelarts.storage.db.models import (
    Dataset,
    DatasetVersion,
    Label,
    Sample,
    SampleFeature,
    SampleLabel,
    Task,
    VersionLabel,
    VersionSample,
)
from labelarts.storage.objects import ObjectStore

log = logging.getLogger(__name__)

TABLE_DATASET = 400
DATASET_NAME_CONSTRAINT = "uq_dataset_project_name"
EXPORTABLE_TYPES = frozenset({0, 1, 900})


@dataclass(frozen=True)
class DatasetListQuery:
    offset: int = 0
    limit: int = 10
    order: Literal["asc", "desc"] = "desc"
    sort_by: Literal["create_time", "dataset_name"] = "create_time"
    dataset_type: int | None = None
    search_content: str | None = None
    with_labels: bool = False
    support_export: bool = False
    workspace_id: str | None = None


VERSION_NORMAL = 1  # a published version's status (services.versions)


def _version_summary(
    session: Session, datasets: builtins.list[Dataset]
) -> tuple[dict[str, int], dict[str, str]]:
    """Versions per dataset, and the names of their current versions (two small queries)."""
    ids = [d.id for d in datasets]
    if not ids:
        return {}, {}
    counts = {
        dataset_id: int(n)
        for dataset_id, n in session.execute(
            select(DatasetVersion.dataset_id, func.count())
            .where(DatasetVersion.dataset_id.in_(ids))
            .group_by(DatasetVersion.dataset_id)
        ).all()
    }
    current = [d.current_version_id for d in datasets if d.current_version_id]
    names: dict[str, str] = {}
    if current:
        for version_id, name in session.execute(
            select(DatasetVersion.id, DatasetVersion.name).where(DatasetVersion.id.in_(current))
        ):
            names[version_id] = name
    return counts, names


def inner_path(dataset: Dataset, leaf: str = "") -> str:
    base = dataset.work_path if dataset.work_path.endswith("/") else dataset.work_path + "/"
    root = f"{base}{dataset.name}-{dataset.id}/"
    return f"{root}{leaf}/" if leaf else root


class DatasetService:
    # ``builtins.list`` in annotations: the ``list`` method shadows the builtin in this class.

    def __init__(self, db: Database, imports: ImportService, objects: ObjectStore) -> None:
        self._db = db
        self._imports = imports
        self._objects = objects

    # --- create ----------------------------------------------------------------------
    def create(self, project_id: str, request: CreateDatasetRequest) -> tuple[str, str]:
        """Insert the dataset, its labels and its initial import task in one unit of work;
        returns (dataset_id, import_task_id). The data source must be importable (400)."""
        raw_path = ensure_single_source(request)
        data_path = self._imports.resolve_data_path(project_id, raw_path) if raw_path else None
        now = now_ms()
        dataset = Dataset(
            id=new_resource_id(),
            project_id=project_id,
            name=request.dataset_name,
            dataset_type=request.dataset_type,
            description=request.description,
            data_format=request.data_format,
            data_sources=[
                {"data_type": s.data_type, "data_path": data_path if s.data_path else None}
                | ({"with_column_header": s.with_column_header} if s.with_column_header is not None else {})
                for s in request.data_sources
            ],
            work_path=request.work_path,
            work_path_type=request.work_path_type,
            workspace_id=request.workspace_id,
            import_annotations=request.import_annotations,
            import_data=request.import_data,
            managed=request.managed,
            label_format=request.label_format.model_dump(exclude_none=True) if request.label_format else None,
            schema=[f.model_dump(exclude_none=True) for f in request.schema_ or []] or None,
            status=STATUS_NORMAL,
            next_version_num=1,
            create_time=now,
            update_time=now,
            data_update_time=now,
        )
        try:
            with self._db.session() as session:
                self._check_unique_name(session, project_id, request.dataset_name)
                session.add(dataset)
                session.flush()
                if request.labels:
                    new_labels(session, dataset, request.labels)
                dataset.import_task_id = self._imports.queue_initial_import(session, dataset, data_path)
        except IntegrityError:
            # Two concurrent creates with one name: the unique constraint decides.
            raise DatasetExistsError(f"Dataset {request.dataset_name} already exists.") from None
        assert dataset.import_task_id is not None
        return dataset.id, dataset.import_task_id

    @staticmethod
    def _check_unique_name(
        session: Session, project_id: str, name: str, *, except_id: str | None = None
    ) -> None:
        query = select(Dataset.id).where(Dataset.project_id == project_id, Dataset.name == name)
        if except_id:
            query = query.where(Dataset.id != except_id)
        if session.execute(query).first():
            raise DatasetExistsError(f"Dataset {name} already exists.")

    # --- read ------------------------------------------------------------------------
    def list(self, project_id: str, query: DatasetListQuery) -> tuple[builtins.list[dict[str, Any]], int]:
        with self._db.session() as session:
            where = [Dataset.project_id == project_id]
            if query.dataset_type is not None:
                where.append(Dataset.dataset_type == query.dataset_type)
            if query.workspace_id is not None:
                where.append(Dataset.workspace_id == query.workspace_id)
            if query.support_export:
                where.append(Dataset.dataset_type.in_(EXPORTABLE_TYPES))
            if query.search_content:
                pattern = "%" + _escape_like(query.search_content) + "%"
                where.append(
                    or_(
                        Dataset.name.ilike(pattern, escape="\\"),
                        Dataset.description.ilike(pattern, escape="\\"),
                        # Ids are random: only a whole id matches, or two letters would
                        # match datasets at random.
                        Dataset.id == query.search_content,
                    )
                )
            total = session.execute(select(func.count()).select_from(Dataset).where(*where)).scalar_one()
            key = Dataset.create_time if query.sort_by == "create_time" else Dataset.name
            order = (
                [key.asc(), Dataset.id.asc()]
                if query.order == "asc"
                else [
                    key.desc(),
                    Dataset.id.desc(),
                ]
            )
            rows = list(
                session.execute(
                    select(Dataset)
                    .where(*where)
                    .order_by(*order)
                    .offset(query.offset * query.limit)
                    .limit(query.limit)
                ).scalars()
            )
            return self._describe_many(session, rows, with_labels=query.with_labels), int(total)

    def describe(self, project_id: str, dataset_id: str) -> dict[str, Any]:
        with self._db.session() as session:
            dataset = get_owned_dataset(session, project_id, dataset_id)
            body = self._describe_many(session, [dataset], with_labels=True)[0]
            current = current_version(session, dataset)
            if current is not None:  # "only the current version information is recorded"
                body["versions"] = [current]
            return body

    def _describe_many(
        self, session: Session, datasets: builtins.list[Dataset], *, with_labels: bool
    ) -> builtins.list[dict[str, Any]]:
        ids = [d.id for d in datasets]
        counts = counters.sample_totals(session, ids)  # maintained counts: no sample is read
        labels: dict[str, list[dict[str, Any]]] = {d: [] for d in ids}
        if with_labels and ids:
            for label in session.execute(
                select(Label).where(Label.dataset_id.in_(ids)).order_by(Label.id)
            ).scalars():
                labels[label.dataset_id].append(label_to_dict(label))
        running: dict[str, list[str]] = {d: [] for d in ids}
        importing: set[str] = set()
        if ids:
            for task_id, dataset_id, kind in session.execute(
                select(Task.id, Task.dataset_id, Task.kind).where(
                    Task.dataset_id.in_(ids), Task.status.in_([s.value for s in ACTIVE])
                )
            ):
                if dataset_id is None:  # cannot happen (the IN above); for the type checker
                    continue
                running[dataset_id].append(task_id)
                if kind == IMPORT_KIND:
                    importing.add(dataset_id)
        bodies = [
            self._to_dict(
                d,
                dataset_status(d.status, importing=d.id in importing),
                counts[d.id],
                labels[d.id] if with_labels else None,
                running[d.id],
            )
            for d in datasets
        ]
        version_counts, current_names = _version_summary(session, datasets)
        teams = dataset_summaries(session, ids)
        for dataset, body in zip(datasets, bodies, strict=True):
            body["dataset_version_count"] = version_counts.get(dataset.id, 0)
            body.update(teams[dataset.id])
            if dataset.current_version_id in current_names:
                body["current_version_name"] = current_names[dataset.current_version_id]
        return bodies

    @staticmethod
    def _to_dict(
        dataset: Dataset,
        status: int,
        counts: SampleTotals,
        labels: builtins.list[dict[str, Any]] | None,
        running_tasks: builtins.list[str],
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "dataset_id": dataset.id,
            "dataset_name": dataset.name,
            "dataset_type": dataset.dataset_type,
            "dataset_format": 1 if dataset.dataset_type == TABLE_DATASET else 0,
            "dataset_tags": DATASET_TAGS.get(dataset.dataset_type, []),
            "data_format": dataset.data_format,
            "data_sources": dataset.data_sources,
            "description": dataset.description,
            "status": status,
            "create_time": dataset.create_time,
            "update_time": dataset.update_time,
            "data_update_time": dataset.data_update_time,
            "total_sample_count": counts.total,
            "annotated_sample_count": counts.manual,
            "unconfirmed_sample_count": counts.auto,
            "deleted_sample_count": 0,
            "loading_sample_count": 0,
            "total_sub_sample_count": 0,
            "annotated_sub_sample_count": 0,
            "work_path": dataset.work_path,
            "work_path_type": dataset.work_path_type,
            "inner_work_path": inner_path(dataset),
            "inner_annotation_path": inner_path(dataset, "annotation"),
            "inner_data_path": inner_path(dataset, "data"),
            "inner_log_path": inner_path(dataset, "logs"),
            "inner_temp_path": inner_path(dataset, "temp"),
            "inner_task_path": inner_path(dataset, "task"),
            "workspace_id": dataset.workspace_id,
            "enterprise_project_id": "0",
            "import_data": dataset.import_data,
            "import_task_id": dataset.import_task_id,
            "managed": dataset.managed,
            "content_labeling": True,
            "feature_supports": ["0"],
            "next_version_num": dataset.next_version_num,
            "dataset_version_count": 0,
            "label_task_count": 1,
            # workforce_task_count, exist_workforce_task, workforce_descriptor: _describe_many.
            "exist_running_task": bool(running_tasks),
            "running_tasks_id": running_tasks,
        }
        if dataset.current_version_id:
            body["current_version_id"] = dataset.current_version_id
        if dataset.schema:
            body["schema"] = dataset.schema
        if labels is not None:
            body["labels"] = labels
        return body

    # --- modify / delete ---------------------------------------------------------------
    def update(self, project_id: str, dataset_id: str, request: UpdateDatasetRequest) -> None:
        try:
            with label_names_stay_unique():
                self._update(project_id, dataset_id, request)
        except IntegrityError as exc:
            # A concurrent rename took the name between the check and the commit.
            if not is_unique_violation(exc, DATASET_NAME_CONSTRAINT, "datasets"):
                raise
            raise DatasetExistsError(f"Dataset {request.dataset_name} already exists.") from None

    def _update(self, project_id: str, dataset_id: str, request: UpdateDatasetRequest) -> None:
        with self._db.session() as session:
            dataset = get_owned_dataset(session, project_id, dataset_id)
            current = None
            if request.current_version_id is not None:
                current = session.execute(
                    select(DatasetVersion.id).where(
                        DatasetVersion.id == request.current_version_id,
                        DatasetVersion.dataset_id == dataset.id,
                        DatasetVersion.status == VERSION_NORMAL,
                    )
                ).scalar_one_or_none()
                if current is None:
                    raise BadRequestError(
                        "Dataset version does not exist (or is not published).", error_code="ModelArts.4353"
                    )
            # Labels first, the dataset row last: the lock order every writer follows (labels,
            # samples, dataset; docs/architecture.md "Integrity"). Changing the name first would
            # lock the dataset row before the labels and could deadlock with a sample edit.
            if request.add_labels:
                new_labels(session, dataset, request.add_labels)
            for label in request.update_labels or []:
                apply_label_update(session, dataset, require_label_name(label), label, label_type=None)
            if request.delete_labels:
                rows = [
                    find_label(session, dataset.id, require_label_name(x), x.type)
                    for x in request.delete_labels
                ]
                delete_label_rows(session, dataset, rows, DeletePolicy(False, False))
            if request.dataset_name is not None and request.dataset_name != dataset.name:
                self._check_unique_name(session, project_id, request.dataset_name, except_id=dataset.id)
                dataset.name = request.dataset_name
            if request.description is not None:
                dataset.description = request.description
            if current is not None:
                dataset.current_version_id = current
            dataset.update_time = now_ms()

    def delete(self, project_id: str, dataset_id: str) -> None:
        """Delete the dataset with its labels, samples and tasks (a running task stops at its
        next progress report), then its stored objects."""
        with self._db.session() as session:
            dataset = get_owned_dataset(session, project_id, dataset_id)
            ids = select(Sample.id).where(Sample.dataset_id == dataset.id)
            session.execute(delete(SampleLabel).where(SampleLabel.sample_id.in_(ids)))
            session.execute(delete(SampleFeature).where(SampleFeature.dataset_id == dataset.id))
            session.execute(delete(Sample).where(Sample.dataset_id == dataset.id))
            session.execute(delete(Label).where(Label.dataset_id == dataset.id))
            session.execute(delete(Task).where(Task.dataset_id == dataset.id))
            versions = select(DatasetVersion.id).where(DatasetVersion.dataset_id == dataset.id)
            session.execute(delete(VersionLabel).where(VersionLabel.version_id.in_(versions)))
            session.execute(delete(VersionSample).where(VersionSample.version_id.in_(versions)))
            session.execute(delete(DatasetVersion).where(DatasetVersion.dataset_id == dataset.id))
            session.delete(dataset)
            session.flush()
            counters.forget_dataset(session, dataset.id)  # the dataset row first: the lock order
        # After the commit: objects without rows are garbage, rows without objects are broken.
        for prefix in (f"datasets/{dataset_id}", f"thumbnails/{dataset_id}"):
            try:
                self._objects.delete(prefix)
            except (OSError, LabelArtsError):  # an unreachable S3 store: leftovers, not an error
                log.exception("deleting the objects of dataset %s (%s) failed", dataset_id, prefix)

    # --- statistics ------------------------------------------------------------------
    def statistics(self, project_id: str, dataset_id: str) -> dict[str, Any]:
        with self._db.session() as session:
            dataset = get_owned_dataset(session, project_id, dataset_id)
            counts = counters.sample_totals(session, [dataset.id])[dataset.id]
            per_label = counters.label_totals(session, dataset.id)
            label_stats = []
            grouped: dict[str, list[dict[str, Any]]] = {}
            for label in session.execute(
                select(Label).where(Label.dataset_id == dataset.id).order_by(Label.id)
            ).scalars():
                count, samples = per_label.get(label.name, (0, 0))
                entry = label_to_dict(label) | {"count": count, "sample_count": samples}
                label_stats.append(entry)
                grouped.setdefault(str(label.type), []).append(entry)
            return {
                "label_stats": label_stats,
                "grouped_label_stats": grouped,
                "sample_stats": {
                    "un_annotation": counts.unlabeled,
                    "all": counts.total,
                    "total": counts.total,
                    "deleted": 0,
                    "manual_annotation": counts.manual,
                    "auto_annotation": counts.auto,
                    "lefted": counts.total,
                },
                "key_sample_stats": {
                    "total": counts.total,
                    "non_key_sample": counts.total - counts.hard,
                    "key_sample": counts.hard,
                },
                "hard_detail_stats": {},
                "metadata_stats": {},
                "data_spliting_enable": counts.manual >= 2 and len(label_stats) > 0,
                "data_path": inner_path(dataset, "data"),
            }


def dataset_status(stored: int, *, importing: bool) -> int:
    """The status a dataset shows: 8 while an import task of it is active, else the stored
    status (normal; 8 and 0 left by earlier versions read as normal)."""
    if importing:
        return STATUS_IMPORTING
    return STATUS_NORMAL if stored in (STATUS_CREATING, STATUS_IMPORTING) else stored


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def ensure_single_source(request: CreateDatasetRequest) -> str | None:
    """Return the one local data path the request names (the reference allows one)."""
    paths = [s.data_path for s in request.data_sources if s.data_path]
    for source in request.data_sources:
        if source.data_type != 0:
            raise ValidationFailedError("Only data_type 0 (a folder) is supported as a data source.")
    return paths[0] if paths else None
