"""Team labeling tasks: create, start, deal, label, review, accept (docs/team-labeling.md).

Results stay in ``workforce_assignments`` (one row per sample and labeler) until acceptance
passes them; only then are they written to the dataset, through the dataset's own sample
writer (:meth:`SampleEditService.update_samples`), so counters, labels and page anchors stay
exact. Who may do what: the project's owner everything; a member only in tasks that name
them, by role (0 labeler: their own assignments; 1 reviewer: review; 2 administrator:
start/update when they are the task's ``agency``, read everything of the task); anything
else of the project is 404 to a member, a call their role does not allow 403 ModelArts.4600.
"""

from __future__ import annotations

import math
import random
import secrets
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, delete, func, insert, literal, not_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from labelarts.auth.principal import Principal
from labelarts.clock import new_resource_id, now_ms
from labelarts.errors import (
    AcceptanceOpenError,
    LabelArtsError,
    NothingToAcceptError,
    NotInAcceptanceError,
    RoleForbiddenError,
    SampleNotFoundError,
    TaskNotFoundError,
    ValidationFailedError,
    WorkerNotFoundError,
    WorkforceInUseError,
    WorkforceNotFoundError,
    WorkforceTaskExistsError,
    WorkforceTaskNotFoundError,
    WorkforceTaskStateError,
)
from labelarts.schemas.samples import SampleLabelIn, UpdateSampleIn, UpdateSamplesRequest
from labelarts.schemas.team_tasks import (
    AcceptSamplesRequest,
    CreateWorkforceTaskRequest,
    ReviewSamplesRequest,
    SampleCommentIn,
    SetGoldSamplesRequest,
    StartSamplingRequest,
    StartWorkforceTaskRequest,
    UpdateSamplingRequest,
    UpdateTeamSamplesRequest,
    UpdateWorkforceTaskRequest,
    WorkforcesConfigIn,
)
from labelarts.services.datasets import inner_path
from labelarts.services.labels import default_label_type
from labelarts.services.ownership import get_owned_dataset
from labelarts.services.paths import Grants
from labelarts.services.samples.edits import SampleEditService
from labelarts.services.samples.records import AUTO as SAMPLE_AUTO
from labelarts.services.samples.records import UNLABELED, labels_of, sample_to_wire
from labelarts.services.samples.search import conditions_to_sql, parse_search_conditions
from labelarts.services.samples.sources import hide_ungranted_paths
from labelarts.services.team_tasks import states as st
from labelarts.services.team_tasks.agreement import agreement, gold_accuracy
from labelarts.services.team_tasks.dealing import DealingError, deal, redeal, top_up
from labelarts.services.team_tasks.merging import merge
from labelarts.services.team_tasks.report import Verdict, check_stats, letter, points
from labelarts.services.workforces import WorkforceService
from labelarts.storage.db import Database
from labelarts.storage.db.dialect import chunked, refresh_statistics
from labelarts.storage.db.models import (
    Dataset,
    Label,
    OutboxMessage,
    Sample,
    Worker,
    Workforce,
    WorkforceAssignment,
    WorkforceCheckingTask,
    WorkforceTask,
    WorkforceTaskMember,
    WorkforceTaskSample,
)

# Team labeling takes these dataset types (the guide's team-labeling chapter).
TEAM_DATASET_TYPES = frozenset({0, 1, 100, 101, 102, 202})
LABELER, REVIEWER, ADMIN, OWNER_ROLE = 0, 1, 2, 3
DELETED_WORKER = 3
SYNC_CHUNK = 500
# A deal of at least this many (sample, labeler) pairs refreshes the planner's statistics.
ANALYZE_AFTER_PAIRS = 1_000

SourceUrl = Callable[[Sample], str]


@dataclass(frozen=True)
class Member:
    worker_id: str
    workforce_id: str
    email: str
    role: int


@dataclass
class Access:
    """What the caller is in one task: the owner, or the member rows that name them."""

    owner: bool
    members: list[WorkforceTaskMember] = field(default_factory=list)

    @property
    def roles(self) -> set[int]:
        return {m.role for m in self.members if m.active}

    @property
    def worker_ids(self) -> set[str]:
        return {m.worker_id for m in self.members}

    def require(self, *roles: int) -> None:
        if not self.owner and not (self.roles & set(roles)):
            raise RoleForbiddenError()

    @property
    def sees_all(self) -> bool:
        return self.owner or bool(self.roles & {REVIEWER, ADMIN})


def _short_counts(counts: dict[str, int]) -> dict[str, int]:
    """The statistics' short names for :meth:`TeamTaskService._stats`' counts."""
    return {
        "total": counts["total_sample_count"],
        "un_annotation": counts["unannotated_sample_count"],
        "auto_annotation": counts["auto_annotation_sample_count"],
        "unreviewed": counts["unreviewed_sample_count"],
        "uncheck": counts["uncheck_sample_count"],
        "sampled": counts["sampled_sample_count"],
        "accepted": counts["accepted_sample_count"],
        "rejected": counts["rejected_sample_count"],
    }


def _page(items: list[Any], offset: int, limit: int) -> list[Any]:
    return items[offset * limit : offset * limit + limit]


class TeamTaskService:
    def __init__(
        self, db: Database, grants: Grants, sample_edits: SampleEditService, workforces: WorkforceService
    ) -> None:
        self._db = db
        self._grants = grants
        self._edits = sample_edits
        # The people side tells the task side, in its own transaction, what it changes.
        workforces.on_workers_removed(self._workers_removed)
        workforces.on_workforce_deleting(self._workforce_deleting)
        workforces.set_task_workforces(self._task_workforces)

    # -- hooks of the people side -----------------------------------------------------------------

    def _workers_removed(self, session: Session, project_id: str, worker_ids: list[str]) -> None:
        for worker_id in worker_ids:
            self.worker_removed(session, worker_id)

    @staticmethod
    def _workforce_deleting(session: Session, project_id: str, workforce_id: str) -> None:
        """A team an unfinished task uses cannot go (400 ``ModelArts.4603``)."""
        used = session.execute(
            select(WorkforceTask.id)
            .join(WorkforceTaskMember, WorkforceTaskMember.task_id == WorkforceTask.id)
            .where(
                WorkforceTask.project_id == project_id,
                WorkforceTask.status != st.ACCEPTED_TASK,
                WorkforceTaskMember.workforce_id == workforce_id,
                WorkforceTaskMember.active.is_(True),
            )
            .limit(1)
        ).first()
        if used is not None:
            raise WorkforceInUseError()

    @staticmethod
    def _task_workforces(session: Session, project_id: str, task_id: str) -> set[str]:
        """The teams a task uses (ListWorkforces' ``workforce_task_id``, a filter: an unknown
        task uses none)."""
        task = session.execute(
            select(WorkforceTask).where(WorkforceTask.id == task_id, WorkforceTask.project_id == project_id)
        ).scalar_one_or_none()
        return set() if task is None else {str(item["workforce_id"]) for item in task.workforces}

    # -- access -----------------------------------------------------------------------------------

    @staticmethod
    def _task(
        session: Session, principal: Principal, dataset_id: str, task_id: str
    ) -> tuple[WorkforceTask, Access]:
        get_owned_dataset(session, principal.project_id, dataset_id)
        if "\x00" in task_id:
            raise WorkforceTaskNotFoundError()
        task = session.execute(
            select(WorkforceTask).where(
                WorkforceTask.id == task_id,
                WorkforceTask.dataset_id == dataset_id,
                WorkforceTask.project_id == principal.project_id,
            )
        ).scalar_one_or_none()
        if task is None:
            raise WorkforceTaskNotFoundError()
        if principal.is_owner:
            return task, Access(owner=True)
        members = list(
            session.execute(
                select(WorkforceTaskMember).where(
                    WorkforceTaskMember.task_id == task.id,
                    WorkforceTaskMember.email == (principal.email or "").lower(),
                    WorkforceTaskMember.active.is_(True),
                )
            ).scalars()
        )
        if not members:
            raise WorkforceTaskNotFoundError()
        return task, Access(owner=False, members=members)

    def task_for(
        self, session: Session, principal: Principal, dataset_id: str, task_id: str
    ) -> tuple[WorkforceTask, Access]:
        """The task and what the caller is in it (404 for a task they are not in)."""
        return self._task(session, principal, dataset_id, task_id)

    def roles_in(self, principal: Principal, dataset_id: str, task_id: str) -> tuple[bool, frozenset[int]]:
        """Whether the caller owns the task's project, and their active roles in the task
        (404 for a task they are not in). The pages decide with it which queue to show."""
        with self._db.session() as session:
            _task, access = self._task(session, principal, dataset_id, task_id)
            return access.owner, frozenset(access.roles)

    def open_work(self, session: Session, task_id: str) -> dict[str, int]:
        """Unfinished assignments per worker id."""
        return self._open_load(session, task_id)

    @staticmethod
    def _owner_only(principal: Principal) -> None:
        if not principal.is_owner:
            raise RoleForbiddenError()

    # -- roster -----------------------------------------------------------------------------------

    @staticmethod
    def _resolve(
        session: Session, project_id: str, config: WorkforcesConfigIn
    ) -> tuple[list[Member], list[Any]]:
        """The people a WorkforcesConfig names (a team without ``workers``: all of it), and the
        config as stored (ids resolved)."""
        members: dict[str, Member] = {}
        stored: list[Any] = []
        for i, item in enumerate(config.workforces or []):
            where = [Workforce.project_id == project_id]
            if item.workforce_id:
                where.append(Workforce.id == item.workforce_id)
            elif item.workforce_name:
                where.append(Workforce.name == item.workforce_name)
            else:
                raise ValidationFailedError(f"workforces_config.workforces[{i}]: workforce_id is required.")
            team = session.execute(select(Workforce).where(*where)).scalar_one_or_none()
            if team is None:
                raise WorkforceNotFoundError()
            live = list(
                session.execute(
                    select(Worker)
                    .where(Worker.workforce_id == team.id, Worker.status != DELETED_WORKER)
                    .order_by(Worker.create_time, Worker.id)
                ).scalars()
            )
            chosen: list[Worker] = []
            if item.workers:
                for j, person in enumerate(item.workers):
                    found = [
                        w
                        for w in live
                        if (person.worker_id and w.id == person.worker_id)
                        or (not person.worker_id and person.email and w.email == person.email.strip().lower())
                    ]
                    if not found:
                        if not person.worker_id and not person.email:
                            raise ValidationFailedError(
                                f"workforces_config.workforces[{i}].workers[{j}]: "
                                "email or worker_id is required."
                            )
                        raise WorkerNotFoundError()
                    chosen.append(found[0])
            else:
                chosen = live
            for w in chosen:
                members.setdefault(w.id, Member(w.id, team.id, w.email, w.role))
            stored.append(
                {"workforce_id": team.id, "workforce_name": team.name, "worker_ids": [w.id for w in chosen]}
            )
        if config.agency is not None:
            agency = config.agency.strip().lower()
            if not any(m.email == agency and m.role == ADMIN for m in members.values()):
                raise ValidationFailedError(
                    "workforces_config.agency must be the email of a team administrator (role 2) "
                    "of the task's teams."
                )
        return list(members.values()), stored

    @staticmethod
    def _set_members(
        session: Session, task: WorkforceTask, members: Sequence[Member]
    ) -> tuple[list[str], list[str]]:
        """Make the task's active members exactly ``members``; answer the labelers removed and added."""
        now = now_ms()
        existing = {
            m.worker_id: m
            for m in session.execute(
                select(WorkforceTaskMember).where(WorkforceTaskMember.task_id == task.id)
            ).scalars()
        }
        wanted = {m.worker_id: m for m in members}
        removed = [w for w, m in existing.items() if m.active and m.role == LABELER and w not in wanted]
        added = [
            w for w, m in wanted.items() if m.role == LABELER and not (w in existing and existing[w].active)
        ]
        position = max((m.position for m in existing.values()), default=-1) + 1
        for worker_id, row in existing.items():
            if worker_id not in wanted and row.active:
                row.active = False
                row.update_time = now
        for worker_id, m in wanted.items():
            found = existing.get(worker_id)
            if found is None:
                session.add(
                    WorkforceTaskMember(
                        task_id=task.id,
                        worker_id=worker_id,
                        workforce_id=m.workforce_id,
                        email=m.email,
                        role=m.role,
                        position=position,
                        active=True,
                        create_time=now,
                        update_time=now,
                    )
                )
                position += 1
            else:
                found.active, found.role, found.email, found.update_time = True, m.role, m.email, now
        session.flush()
        return removed, added

    @staticmethod
    def _labelers(session: Session, task_id: str) -> list[str]:
        return list(
            session.execute(
                select(WorkforceTaskMember.worker_id)
                .where(
                    WorkforceTaskMember.task_id == task_id,
                    WorkforceTaskMember.role == LABELER,
                    WorkforceTaskMember.active.is_(True),
                )
                .order_by(WorkforceTaskMember.position)
            ).scalars()
        )

    @staticmethod
    def _has_reviewers(session: Session, task_id: str) -> bool:
        return (
            session.execute(
                select(WorkforceTaskMember.worker_id).where(
                    WorkforceTaskMember.task_id == task_id,
                    WorkforceTaskMember.role == REVIEWER,
                    WorkforceTaskMember.active.is_(True),
                )
            ).first()
            is not None
        )

    # -- create / start / update / delete ---------------------------------------------------------

    def create(self, principal: Principal, dataset_id: str, request: CreateWorkforceTaskRequest) -> str:
        self._owner_only(principal)
        conditions = parse_search_conditions(request.sample_conditions)
        sync_data, sync_labels = request.synchronize_data, request.synchronize_auto_labeling_data
        if request.data_sync_type is not None:
            explicit = request.model_fields_set & {"synchronize_data", "synchronize_auto_labeling_data"}
            want_data, want_labels = bool(request.data_sync_type & 1), bool(request.data_sync_type & 2)
            if ("synchronize_data" in explicit and sync_data != want_data) or (
                "synchronize_auto_labeling_data" in explicit and sync_labels != want_labels
            ):
                raise ValidationFailedError(
                    "data_sync_type contradicts synchronize_data / synchronize_auto_labeling_data."
                )
            sync_data, sync_labels = want_data, want_labels
        try:
            with self._db.session(write=True) as session:
                dataset = get_owned_dataset(session, principal.project_id, dataset_id)
                if dataset.dataset_type not in TEAM_DATASET_TYPES:
                    raise ValidationFailedError(
                        f"Team labeling is not available for dataset type {dataset.dataset_type}."
                    )
                conditions_to_sql(dataset.id, conditions)  # 400 now, not when dealing
                name = request.task_name or f"task-{secrets.token_hex(2)}"
                if session.execute(
                    select(WorkforceTask.id).where(
                        WorkforceTask.dataset_id == dataset.id, WorkforceTask.name == name
                    )
                ).first():
                    raise WorkforceTaskExistsError()
                now = now_ms()
                task = WorkforceTask(
                    id=new_resource_id(),
                    project_id=principal.project_id,
                    dataset_id=dataset.id,
                    name=name,
                    description=request.description,
                    status=st.CREATED,
                    repetition=request.repetition,
                    synchronize_data=sync_data,
                    synchronize_auto_labeling_data=sync_labels,
                    auto_sync_dataset=request.auto_sync_dataset,
                    sample_search_conditions=conditions,
                    workforces=[],
                    agency=None,
                    version_id=request.version_id or dataset.current_version_id,
                    seed=random.SystemRandom().randrange(2**31),
                    create_time=now,
                    update_time=now,
                )
                session.add(task)
                session.flush()
                task_id, dealt = task.id, 0
                config = request.workforces_config
                if config is not None and config.workforces:
                    members, stored = self._resolve(session, principal.project_id, config)
                    task.workforces = stored
                    task.agency = config.agency.strip().lower() if config.agency else None
                    self._set_members(session, task, members)
                    if task.agency is None:
                        # Named people and no administrator to hand it to: it starts at once.
                        dealt = self._start(session, task, dataset)
        except IntegrityError:
            raise WorkforceTaskExistsError() from None
        self._refresh_plans(dealt)
        return task_id

    def start(
        self, principal: Principal, dataset_id: str, task_id: str, request: StartWorkforceTaskRequest
    ) -> None:
        with self._db.session(write=True) as session:
            task, access = self._task(session, principal, dataset_id, task_id)
            if not access.owner:
                access.require(ADMIN)
                if task.agency != (principal.email or "").lower():
                    raise RoleForbiddenError()
            if task.status != st.CREATED:
                raise WorkforceTaskStateError("Only a created task (status 6) can be started.")
            config = request.workforces_config
            if config is not None and config.workforces:
                members, stored = self._resolve(session, principal.project_id, config)
                task.workforces = stored
                if config.agency is not None:
                    task.agency = config.agency.strip().lower()
                self._set_members(session, task, members)
            dataset = get_owned_dataset(session, principal.project_id, dataset_id)
            dealt = self._start(session, task, dataset)
        self._refresh_plans(dealt)

    def _refresh_plans(self, dealt: int) -> None:
        """After a large deal, refresh PostgreSQL's statistics of the tables it grew. Until
        then the planner knows nothing of the new task's rows: it took a labeler's next sample
        through the (task, state) index and filtered every other labeler's assignments out
        (60-150 ms a query at 100k among 20, against a few ms through (task, worker, state))."""
        if dealt >= ANALYZE_AFTER_PAIRS:
            refresh_statistics(self._db.engine, ("workforce_assignments", "workforce_task_samples"))

    def _start(self, session: Session, task: WorkforceTask, dataset: Dataset) -> int:
        """Deal the task's pool and set it running; the number of (sample, labeler) pairs."""
        labelers = self._labelers(session, task.id)
        if not labelers:
            raise ValidationFailedError("The task has no labelers (role 0): name at least one.")
        if task.repetition > len(labelers):
            raise ValidationFailedError(
                f"repetition {task.repetition} needs at least {task.repetition} labelers; "
                f"the task has {len(labelers)}."
            )
        pool = self._pool(session, task, dataset)
        pairs = deal([row[0] for row in pool], labelers, task.repetition, task.seed)
        self._add_assignments(session, task, pool, pairs)
        self._mix_gold(session, task)
        task.status = st.RUNNING
        task.update_time = now_ms()
        return len(pairs)

    def _pool(
        self, session: Session, task: WorkforceTask, dataset: Dataset
    ) -> list[tuple[str, int, str, int]]:
        """``(sample_id, revision, status, sample_time)`` of the dataset samples the task may take: matching
        its conditions, unlabeled (or to be confirmed, with ``synchronize_auto_labeling_data``),
        and in no other unfinished task of the dataset nor in this one."""
        statuses = [UNLABELED, SAMPLE_AUTO] if task.synchronize_auto_labeling_data else [UNLABELED]
        taken = (
            select(WorkforceTaskSample.sample_id)
            .join(WorkforceTask, WorkforceTask.id == WorkforceTaskSample.task_id)
            .where(
                WorkforceTaskSample.dataset_id == dataset.id,
                or_(WorkforceTask.id == task.id, WorkforceTask.status != st.ACCEPTED_TASK),
            )
        )
        stmt = select(Sample.id, Sample.revision, Sample.sample_status, Sample.sample_time).where(
            Sample.dataset_id == dataset.id,
            Sample.sample_status.in_(statuses),
            not_(Sample.id.in_(taken)),
            *conditions_to_sql(dataset.id, task.sample_search_conditions),
        )
        return [(r[0], int(r[1] or 0), r[2], int(r[3])) for r in session.execute(stmt).all()]

    def _add_assignments(
        self,
        session: Session,
        task: WorkforceTask,
        pool: Sequence[tuple[str, int, str, int]],
        pairs: Sequence[tuple[str, str]],
    ) -> None:
        if not pairs:
            return
        now = now_ms()
        info = {sample_id: (revision, status, time) for sample_id, revision, status, time in pool}
        dealt = {sample_id for sample_id, _ in pairs}
        auto = [s for s, (_, status, _) in info.items() if status == SAMPLE_AUTO]
        drafts = self._auto_drafts(session, auto)
        session.execute(
            insert(WorkforceTaskSample),
            [
                {
                    "task_id": task.id,
                    "sample_id": sample_id,
                    "dataset_id": task.dataset_id,
                    "base_revision": revision,
                    "checking_task_id": None,
                    "synced": False,
                    "conflict": None,
                }
                for sample_id, (revision, _, _) in info.items()
                if sample_id in dealt
            ],
        )
        session.execute(
            insert(WorkforceAssignment),
            [
                {
                    "task_id": task.id,
                    "sample_id": sample_id,
                    "worker_id": worker_id,
                    "state": st.AUTO if sample_id in drafts else st.NONE,
                    "labels": drafts.get(sample_id, []),
                    "sample_time": info[sample_id][2],
                    "create_time": now,
                    "update_time": now,
                }
                for sample_id, worker_id in pairs
            ],
        )

    @staticmethod
    def _auto_drafts(session: Session, sample_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        drafts: dict[str, list[dict[str, Any]]] = {}
        for sample_id, labels in labels_of(session, sample_ids).items():
            drafts[sample_id] = [
                {
                    "name": label.name,
                    "type": label.type,
                    "property": dict(label.property),
                    **({"score": label.score} if label.score is not None else {}),
                    "annotated_by": label.annotated_by,
                }
                for label in labels
            ]
        return drafts

    def _open_load(self, session: Session, task_id: str) -> dict[str, int]:
        rows = session.execute(
            select(WorkforceAssignment.worker_id, func.count())
            .where(WorkforceAssignment.task_id == task_id, WorkforceAssignment.state.in_(st.UNFINISHED))
            .group_by(WorkforceAssignment.worker_id)
        ).all()
        return {r[0]: int(r[1]) for r in rows}

    def _catch_up(self, principal: Principal, dataset_id: str, task_id: str) -> None:
        """``synchronize_data``: samples that match now and joined the dataset since are dealt
        to the least loaded labelers. ``synchronize_auto_labeling_data``: untouched assignments
        of samples auto labeling has labeled since get those labels as their draft. Runs when
        the task is read (detail, samples, statistics) and before an acceptance starts."""
        with self._db.session() as session:
            task, _ = self._task(session, principal, dataset_id, task_id)
            if task.status not in st.WORKING or not (
                task.synchronize_data or task.synchronize_auto_labeling_data
            ):
                return
        dealt = 0
        with self._db.session(write=True) as session:
            current = session.get(WorkforceTask, task_id)
            if current is None or current.status not in st.WORKING:
                return
            task = current
            dataset = session.get(Dataset, task.dataset_id)
            assert dataset is not None
            if task.synchronize_data:
                labelers = self._labelers(session, task.id)
                pool = self._pool(session, task, dataset)
                if pool and len(labelers) >= task.repetition:
                    pairs = top_up(
                        [p[0] for p in pool],
                        labelers,
                        self._open_load(session, task.id),
                        task.repetition,
                        task.seed,
                    )
                    self._add_assignments(session, task, pool, pairs)
                    dealt = len(pairs)
            if task.synchronize_auto_labeling_data:
                rows = (
                    session.execute(
                        select(WorkforceAssignment)
                        .join(Sample, Sample.id == WorkforceAssignment.sample_id)
                        .where(
                            WorkforceAssignment.task_id == task.id,
                            WorkforceAssignment.state == st.NONE,
                            Sample.sample_status == SAMPLE_AUTO,
                        )
                    )
                    .scalars()
                    .all()
                )
                drafts = self._auto_drafts(session, sorted({r.sample_id for r in rows}))
                for row in rows:
                    if drafts.get(row.sample_id):
                        row.labels, row.state, row.update_time = drafts[row.sample_id], st.AUTO, now_ms()
        self._refresh_plans(dealt)

    def update(
        self, principal: Principal, dataset_id: str, task_id: str, request: UpdateWorkforceTaskRequest
    ) -> None:
        try:
            with self._db.session(write=True) as session:
                task, access = self._task(session, principal, dataset_id, task_id)
                if not access.owner:
                    access.require(ADMIN)
                    if task.agency != (principal.email or "").lower():
                        raise RoleForbiddenError()
                if task.status in st.BUSY:
                    raise WorkforceTaskStateError("The task is busy (starting, sampling or synchronizing).")
                if request.task_name is not None and request.task_name != task.name:
                    if session.execute(
                        select(WorkforceTask.id).where(
                            WorkforceTask.dataset_id == task.dataset_id,
                            WorkforceTask.name == request.task_name,
                        )
                    ).first():
                        raise WorkforceTaskExistsError()
                    task.name = request.task_name
                if request.description is not None:
                    task.description = request.description
                config = request.workforces_config
                if config is not None and config.workforces:
                    members, stored = self._resolve(session, principal.project_id, config)
                    labelers_after = [m for m in members if m.role == LABELER]
                    if task.status != st.CREATED and len(labelers_after) < task.repetition:
                        raise ValidationFailedError(
                            f"repetition {task.repetition} needs at least {task.repetition} labelers."
                        )
                    task.workforces = stored
                    if config.agency is not None:
                        task.agency = config.agency.strip().lower()
                    removed, _ = self._set_members(session, task, members)
                    if task.status != st.CREATED:
                        self._redeal(session, task, removed)
                        self._mix_gold(session, task)
                task.update_time = now_ms()
        except IntegrityError:
            raise WorkforceTaskExistsError() from None

    def _redeal(self, session: Session, task: WorkforceTask, removed: Sequence[str]) -> None:
        """Deal the unfinished assignments of ``removed`` labelers to the remaining ones."""
        if not removed:
            return
        orphans = list(
            session.execute(
                select(WorkforceAssignment).where(
                    WorkforceAssignment.task_id == task.id,
                    WorkforceAssignment.worker_id.in_(list(removed)),
                    WorkforceAssignment.state.in_(st.UNFINISHED),
                )
            ).scalars()
        )
        # Everyone holds the gold samples: a leaver's unlabeled copy just goes.
        gold = self._gold(session, task.id)
        for orphan in [o for o in orphans if o.sample_id in gold]:
            session.delete(orphan)
        orphans = [o for o in orphans if o.sample_id not in gold]
        if not orphans:
            session.flush()
            return
        labelers = self._labelers(session, task.id)
        ids = sorted({o.sample_id for o in orphans})
        holders: dict[str, set[str]] = defaultdict(set)
        for chunk in chunked(ids):
            for sample_id, worker_id in session.execute(
                select(WorkforceAssignment.sample_id, WorkforceAssignment.worker_id).where(
                    WorkforceAssignment.task_id == task.id, WorkforceAssignment.sample_id.in_(chunk)
                )
            ).all():
                if worker_id not in removed:
                    holders[sample_id].add(worker_id)
        try:
            pairs = redeal(
                [o.sample_id for o in orphans], labelers, holders, self._open_load(session, task.id)
            )
        except DealingError as exc:
            raise ValidationFailedError(str(exc)) from None
        drafts = {o.sample_id: (o.labels if o.state == st.AUTO else []) for o in orphans}
        times = {o.sample_id: o.sample_time for o in orphans}
        for orphan in orphans:
            session.delete(orphan)
        session.flush()
        now = now_ms()
        session.execute(
            insert(WorkforceAssignment),
            [
                {
                    "task_id": task.id,
                    "sample_id": sample_id,
                    "worker_id": worker_id,
                    "state": st.AUTO if drafts.get(sample_id) else st.NONE,
                    "labels": drafts.get(sample_id) or [],
                    "sample_time": times[sample_id],
                    "create_time": now,
                    "update_time": now,
                }
                for sample_id, worker_id in pairs
            ],
        )

    def worker_removed(self, session: Session, worker_id: str) -> None:
        """A team member was deleted: they leave every unfinished task, and their unfinished
        labeling is dealt to the task's other labelers (called in the deleting transaction)."""
        rows = session.execute(
            select(WorkforceTaskMember, WorkforceTask)
            .join(WorkforceTask, WorkforceTask.id == WorkforceTaskMember.task_id)
            .where(
                WorkforceTaskMember.worker_id == worker_id,
                WorkforceTaskMember.active.is_(True),
                WorkforceTask.status != st.ACCEPTED_TASK,
            )
        ).all()
        for member, task in rows:
            member.active = False
            member.update_time = now_ms()
            session.flush()
            if member.role == LABELER and task.status != st.CREATED:
                self._redeal(session, task, [worker_id])

    def delete(self, principal: Principal, dataset_id: str, task_id: str) -> None:
        self._owner_only(principal)
        with self._db.session(write=True) as session:
            task, _ = self._task(session, principal, dataset_id, task_id)
            if task.status in st.BUSY:
                raise WorkforceTaskStateError("The task is busy (starting, sampling or synchronizing).")
            for model in (
                WorkforceAssignment,
                WorkforceTaskSample,
                WorkforceCheckingTask,
                WorkforceTaskMember,
            ):
                session.execute(delete(model).where(model.task_id == task.id))
            session.delete(task)

    # -- reading tasks ----------------------------------------------------------------------------

    def list_tasks(
        self, principal: Principal, dataset_id: str, *, offset: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        with self._db.session() as session:
            get_owned_dataset(session, principal.project_id, dataset_id)
            stmt = select(WorkforceTask).where(
                WorkforceTask.dataset_id == dataset_id, WorkforceTask.project_id == principal.project_id
            )
            if not principal.is_owner:
                mine = select(WorkforceTaskMember.task_id).where(
                    WorkforceTaskMember.email == (principal.email or "").lower(),
                    WorkforceTaskMember.active.is_(True),
                )
                stmt = stmt.where(WorkforceTask.id.in_(mine))
            tasks = list(
                session.execute(stmt.order_by(WorkforceTask.create_time.desc(), WorkforceTask.id)).scalars()
            )
            page = _page(tasks, offset, limit)
            return [self._task_wire(session, t, sample_stats=True, workforce_stats=True) for t in page], len(
                tasks
            )

    def get(
        self,
        principal: Principal,
        dataset_id: str,
        task_id: str,
        *,
        label_stats: bool,
        sample_stats: bool,
        workforce_stats: bool,
    ) -> dict[str, Any]:
        self._catch_up(principal, dataset_id, task_id)
        with self._db.session() as session:
            task, _ = self._task(session, principal, dataset_id, task_id)
            return self._task_wire(
                session,
                task,
                sample_stats=sample_stats,
                workforce_stats=workforce_stats,
                label_stats=label_stats,
                worker_stats=workforce_stats,
            )

    def _workforces_config(self, session: Session, task: WorkforceTask) -> dict[str, Any]:
        members = {
            m.worker_id: m
            for m in session.execute(
                select(WorkforceTaskMember).where(
                    WorkforceTaskMember.task_id == task.id, WorkforceTaskMember.active.is_(True)
                )
            ).scalars()
        }
        workers = {w.id: w for w in self._workers(session, list(members))}
        teams = []
        for item in task.workforces:
            people = [
                self._worker_wire(workers.get(w), members[w])
                for w in item.get("worker_ids", [])
                if w in members
            ]
            teams.append(
                {
                    "workforce_id": item["workforce_id"],
                    "workforce_name": item.get("workforce_name", ""),
                    "workers": people,
                }
            )
        body: dict[str, Any] = {"workforces": teams}
        if task.agency:
            body["agency"] = task.agency
        return body

    @staticmethod
    def _workers(session: Session, worker_ids: Sequence[str]) -> list[Worker]:
        found: list[Worker] = []
        for chunk in chunked(list(worker_ids)):
            found.extend(session.execute(select(Worker).where(Worker.id.in_(chunk))).scalars())
        return found

    @staticmethod
    def _worker_wire(worker: Worker | None, member: WorkforceTaskMember) -> dict[str, Any]:
        return {
            "worker_id": member.worker_id,
            "workforce_id": member.workforce_id,
            "email": member.email,
            "role": member.role,
            "status": worker.status if worker is not None else DELETED_WORKER,
            "description": worker.description if worker is not None else "",
            "create_time": worker.create_time if worker is not None else member.create_time,
            "update_time": worker.update_time if worker is not None else member.update_time,
        }

    @staticmethod
    def _assignment_rows(
        session: Session, task_id: str, worker_ids: Iterable[str] | None = None
    ) -> list[Any]:
        stmt = select(
            WorkforceAssignment.sample_id,
            WorkforceAssignment.worker_id,
            WorkforceAssignment.state,
            WorkforceAssignment.check_accept,
            WorkforceAssignment.check_score,
        ).where(WorkforceAssignment.task_id == task_id)
        if worker_ids is not None:
            stmt = stmt.where(WorkforceAssignment.worker_id.in_(list(worker_ids)))
        return list(session.execute(stmt).all())

    @staticmethod
    def _stats(states: Iterable[str]) -> dict[str, int]:
        counts = Counter(states)
        total = sum(counts.values())
        return {
            "total_sample_count": total,
            "unannotated_sample_count": counts[st.NONE],
            "auto_annotation_sample_count": counts[st.AUTO],
            "unreviewed_sample_count": counts[st.UNREVIEWED],
            "uncheck_sample_count": counts[st.UNCHECK],
            "sampled_sample_count": sum(counts[s] for s in st.SAMPLED),
            "accepted_sample_count": counts[st.ACCEPTED],
            "rejected_sample_count": counts[st.REJECTED],
            "deleted_sample_count": 0,
        }

    @staticmethod
    def _per_sample(rows: Iterable[Any]) -> dict[str, str]:
        by_sample: dict[str, list[str]] = defaultdict(list)
        for row in rows:
            by_sample[row.sample_id].append(row.state)
        return {sample_id: st.sample_state(states) for sample_id, states in by_sample.items()}

    def _quality(
        self, session: Session, task_id: str, worker_id: str | None = None
    ) -> tuple[float, float, int]:
        """``pass_rate``, ``score`` (mean points) and how many were checked, over the task's
        acceptances except cancelled ones (per assignment for one worker)."""
        valid = select(WorkforceCheckingTask.id).where(
            WorkforceCheckingTask.task_id == task_id,
            or_(WorkforceCheckingTask.action.is_(None), WorkforceCheckingTask.action != 2),
        )
        stmt = select(WorkforceAssignment.check_accept, WorkforceAssignment.check_score).where(
            WorkforceAssignment.task_id == task_id,
            WorkforceAssignment.check_accept.is_not(None),
            WorkforceAssignment.checking_task_id.in_(valid),
        )
        if worker_id is not None:
            stmt = stmt.where(WorkforceAssignment.worker_id == worker_id)
        verdicts = session.execute(stmt).all()
        if not verdicts:
            return 0.0, 0.0, 0
        accepted = sum(1 for v in verdicts if v[0])
        total_points = sum(points(bool(v[0]), v[1]) for v in verdicts)
        return accepted / len(verdicts), total_points / len(verdicts), len(verdicts)

    def _task_wire(
        self,
        session: Session,
        task: WorkforceTask,
        *,
        sample_stats: bool = True,
        workforce_stats: bool = True,
        label_stats: bool = False,
        worker_stats: bool = False,
    ) -> dict[str, Any]:
        rows = self._assignment_rows(session, task.id)
        per_sample = self._per_sample(rows)
        pass_rate, score, _ = self._quality(session, task.id)
        checked_samples = len(
            {
                r.sample_id
                for r in rows
                if r.check_accept is not None and r.state in st.SAMPLED | {st.ACCEPTED, st.REJECTED}
            }
        )
        body: dict[str, Any] = {
            "task_id": task.id,
            "task_name": task.name,
            "description": task.description,
            "dataset_id": task.dataset_id,
            "repetition": task.repetition,
            "status": task.status,
            "synchronize_data": task.synchronize_data,
            "synchronize_auto_labeling_data": task.synchronize_auto_labeling_data,
            "auto_sync_dataset": task.auto_sync_dataset,
            "sample_search_conditions": task.sample_search_conditions,
            "workforces_config": self._workforces_config(session, task),
            "check_rate": checked_samples / len(per_sample) if per_sample else 0.0,
            "pass_rate": pass_rate,
            "score": score,
            "create_time": task.create_time,
            "update_time": task.update_time,
        }
        if task.version_id:
            body["version_id"] = task.version_id
        if task.checking_task_id:
            check = session.get(WorkforceCheckingTask, task.checking_task_id)
            if check is not None:
                body["checking_task_desc"] = {
                    "checking_task_id": check.id,
                    **({"action": check.action} if check.action is not None else {}),
                    "overwrite_last_result": check.overwrite_last_result,
                    "checking_stats": self._check_stats(session, task, check),
                    "total_stats": self._total_stats(session, task),
                }
        if sample_stats:
            body["sample_stats"] = self._stats(per_sample.values())
        members = list(
            session.execute(
                select(WorkforceTaskMember)
                .where(WorkforceTaskMember.task_id == task.id, WorkforceTaskMember.active.is_(True))
                .order_by(WorkforceTaskMember.position)
            ).scalars()
        )
        if workforce_stats:
            body["workforce_stats"] = {
                "workforce_count": len({m.workforce_id for m in members}),
                "labeler_count": sum(1 for m in members if m.role == LABELER),
                "reviewer_count": sum(1 for m in members if m.role == REVIEWER),
            }
        if worker_stats:
            dataset = session.get(Dataset, task.dataset_id)
            assert dataset is not None
            by_worker: dict[str, list[str]] = defaultdict(list)
            for r in rows:
                by_worker[r.worker_id].append(r.state)
            body["worker_stats"] = [
                self._worker_task_wire(session, task, dataset, m, by_worker.get(m.worker_id, []))
                for m in members
            ]
        if label_stats:
            body["label_stats"] = self._label_stats(session, task.id, None, None)
        return body

    def _worker_task_wire(
        self,
        session: Session,
        task: WorkforceTask,
        dataset: Dataset,
        member: WorkforceTaskMember,
        states: list[str],
    ) -> dict[str, Any]:
        pass_rate, score, _ = self._quality(session, task.id, member.worker_id)
        mail = session.execute(
            select(OutboxMessage.email_status, OutboxMessage.sent_time, OutboxMessage.create_time)
            .where(OutboxMessage.task_id == task.id, OutboxMessage.worker_id == member.worker_id)
            .order_by(OutboxMessage.create_time.desc())
            .limit(1)
        ).first()
        body: dict[str, Any] = {
            "task_id": task.id,
            "workforce_task_name": task.name,
            "dataset_id": task.dataset_id,
            "dataset_type": dataset.dataset_type,
            "task_status": task.status,
            "worker_id": member.worker_id,
            "email": member.email,
            "role": member.role,
            "sample_stats": self._stats(states),
            "pass_rate": pass_rate,
            "score": score,
            "email_status": int(mail[0]) if mail else 0,
            "create_time": member.create_time,
            "update_time": member.update_time,
        }
        if mail and (mail[1] or mail[2]):
            body["last_notify_time"] = mail[1] or mail[2]
        return body

    def worker_tasks(
        self,
        principal: Principal,
        *,
        offset: int,
        limit: int,
        search_content: str | None,
        sort_by: str,
        order: str,
    ) -> tuple[list[dict[str, Any]], int]:
        """The caller's own rows: one per task that names them (ListWorkerTasks)."""
        if not principal.email:
            return [], 0
        with self._db.session() as session:
            stmt = (
                select(WorkforceTaskMember, WorkforceTask, Dataset)
                .join(WorkforceTask, WorkforceTask.id == WorkforceTaskMember.task_id)
                .join(Dataset, Dataset.id == WorkforceTask.dataset_id)
                .where(
                    WorkforceTask.project_id == principal.project_id,
                    WorkforceTaskMember.email == principal.email.lower(),
                    WorkforceTaskMember.active.is_(True),
                )
            )
            if search_content:
                stmt = stmt.where(WorkforceTask.name.contains(search_content, autoescape=True))
            rows = list(session.execute(stmt).all())
            by_name = sort_by == "task_name"

            def key(r: Any) -> tuple[Any, str, str]:
                return (r[1].name if by_name else r[1].create_time, r[1].id, r[0].worker_id)

            rows.sort(key=key, reverse=order == "desc")
            page = _page(rows, offset, limit)
            answers = []
            for member, task, dataset in page:
                states = [r.state for r in self._assignment_rows(session, task.id, [member.worker_id])]
                answers.append(self._worker_task_wire(session, task, dataset, member, states))
            return answers, len(rows)

    # -- samples ----------------------------------------------------------------------------------

    def _visible(self, session: Session, task: WorkforceTask, access: Access) -> Any:
        stmt = select(WorkforceAssignment, Sample).join(Sample, Sample.id == WorkforceAssignment.sample_id)
        return stmt.where(*self._visible_assignments(task, access))

    @staticmethod
    def _visible_assignments(task: WorkforceTask, access: Access) -> list[Any]:
        """The conditions on the task's assignments that the caller may see."""
        clauses = [WorkforceAssignment.task_id == task.id]
        if not access.sees_all:
            clauses.append(WorkforceAssignment.worker_id.in_(list(access.worker_ids)))
        elif not access.owner and ADMIN not in access.roles:
            # A reviewer sees the labeled work of the task, and their own.
            clauses.append(
                or_(
                    WorkforceAssignment.state.not_in([st.NONE, st.AUTO]),
                    WorkforceAssignment.worker_id.in_(list(access.worker_ids)),
                )
            )
        return clauses

    def list_samples(
        self,
        principal: Principal,
        dataset_id: str,
        task_id: str,
        *,
        sample_state: str | None,
        label_name: str | None,
        label_type: int | None,
        search_conditions: str | None,
        offset: int,
        limit: int,
        source_url: SourceUrl,
    ) -> tuple[list[dict[str, Any]], int]:
        conditions = parse_search_conditions(search_conditions)
        self._catch_up(principal, dataset_id, task_id)
        with self._db.session() as session:
            task, access = self._task(session, principal, dataset_id, task_id)
            stmt = self._visible(session, task, access).where(*conditions_to_sql(task.dataset_id, conditions))
            wanted = st.normalize_filter(sample_state)
            positions = self._positions(session, task.id)
            if label_name is None and label_type is None and wanted != st.ALL:
                # Without sample conditions the count needs no samples (each assignment has its
                # sample): an index-only count of the caller's assignments.
                assignments = None if conditions else self._visible_assignments(task, access)
                page, total = self._page_by_keys(session, stmt, wanted, positions, offset, limit, assignments)
            else:
                rows = [
                    (a, s)
                    for a, s in session.execute(stmt).all()
                    if st.matches(a.state, wanted, has_labels=bool(a.labels), review_accept=a.review_accept)
                    and (label_name is None or any(label.get("name") == label_name for label in a.labels))
                    and (label_type is None or any(label.get("type") == label_type for label in a.labels))
                ]
                rows.sort(key=lambda r: (-r[0].sample_time, r[0].sample_id, positions.get(r[0].worker_id, 0)))
                page, total = _page(rows, offset, limit), len(rows)
            labelers = self._labelers_of(session, task, [s.id for _, s in page], access)
            scope = self._grants.scope(principal.project_id)
            return [
                hide_ungranted_paths(self._sample_wire(a, s, labelers[s.id], source_url), scope)
                for a, s in page
            ], total

    @staticmethod
    def _page_by_keys(
        session: Session,
        stmt: Any,
        wanted: str | None,
        positions: dict[str, int],
        offset: int,
        limit: int,
        assignments: list[Any] | None,
    ) -> tuple[list[Any], int]:
        """One page of ``stmt``'s rows when the filter needs no labels, in the order
        :meth:`list_samples` gives otherwise (newest sample first, by the time the assignment
        keeps, then sample id, then the labeler's dealing position), reading only the page's
        rows. With no state filter or one stored state, the database filters, counts, orders
        and pages; ``assignments`` (the caller's visible assignments, when there are no sample
        conditions) lets it do so from the assignments' index alone, without the samples. The
        unions of states sort their keys here."""
        if wanted is None or wanted not in st.UNIONS:
            state = [] if wanted is None else [WorkforceAssignment.state == wanted]
            keyed = (
                stmt.where(*state).with_only_columns(WorkforceAssignment.id)
                if assignments is None
                else select(WorkforceAssignment.id).where(*assignments, *state)
            )
            total = session.execute(select(func.count()).select_from(keyed.subquery())).scalar_one()
            sample_id: Any = WorkforceAssignment.sample_id
            if session.get_bind().dialect.name == "postgresql":
                sample_id = sample_id.collate("C")  # Python's str order: code points
            position: Any = (
                case(positions, value=WorkforceAssignment.worker_id, else_=0) if positions else literal(0)
            )
            ids = list(
                session.scalars(
                    keyed.order_by(
                        WorkforceAssignment.sample_time.desc(), sample_id, position, WorkforceAssignment.id
                    )
                    .offset(offset * limit)
                    .limit(limit)
                ).all()
            )
            return TeamTaskService._rows_by_id(session, ids), int(total)
        keys = stmt.with_only_columns(
            WorkforceAssignment.id,
            WorkforceAssignment.state,
            WorkforceAssignment.review_accept,
            WorkforceAssignment.worker_id,
            WorkforceAssignment.sample_time,
            WorkforceAssignment.sample_id,
        )
        found = [
            r
            for r in session.execute(keys).all()
            if st.matches(r[1], wanted, has_labels=True, review_accept=r[2])
        ]
        found.sort(key=lambda r: (-r[4], r[5], positions.get(r[3], 0)))
        return TeamTaskService._rows_by_id(session, [r[0] for r in _page(found, offset, limit)]), len(found)

    @staticmethod
    def _rows_by_id(session: Session, ids: list[int]) -> list[Any]:
        """``(assignment, sample)`` of these assignment ids, in their order."""
        if not ids:
            return []
        rows = {
            a.id: (a, s)
            for a, s in session.execute(
                select(WorkforceAssignment, Sample)
                .join(Sample, Sample.id == WorkforceAssignment.sample_id)
                .where(WorkforceAssignment.id.in_(ids))
            ).all()
        }
        return [rows[i] for i in ids if i in rows]

    def describe_sample(
        self,
        principal: Principal,
        dataset_id: str,
        task_id: str,
        sample_id: str,
        *,
        worker_id: str | None,
        sample_state: str | None,
        source_url: SourceUrl,
    ) -> dict[str, Any]:
        with self._db.session() as session:
            task, access = self._task(session, principal, dataset_id, task_id)
            stmt = self._visible(session, task, access).where(WorkforceAssignment.sample_id == sample_id)
            if worker_id:
                stmt = stmt.where(WorkforceAssignment.worker_id == worker_id)
            positions = self._positions(session, task.id)
            wanted = st.normalize_filter(sample_state)
            rows = [
                (a, s)
                for a, s in session.execute(stmt).all()
                if st.matches(a.state, wanted, has_labels=bool(a.labels), review_accept=a.review_accept)
            ]
            if "\x00" in sample_id or not rows:
                raise SampleNotFoundError()
            mine = [r for r in rows if r[0].worker_id in access.worker_ids]
            a, s = min(mine or rows, key=lambda r: positions.get(r[0].worker_id, 0))
            labelers = self._labelers_of(session, task, [s.id], access)
            return hide_ungranted_paths(
                self._sample_wire(a, s, labelers[s.id], source_url), self._grants.scope(principal.project_id)
            )

    @staticmethod
    def _positions(session: Session, task_id: str) -> dict[str, int]:
        return {
            r[0]: int(r[1])
            for r in session.execute(
                select(WorkforceTaskMember.worker_id, WorkforceTaskMember.position).where(
                    WorkforceTaskMember.task_id == task_id
                )
            ).all()
        }

    def _labelers_of(
        self, session: Session, task: WorkforceTask, sample_ids: Sequence[str], viewer: Access | None = None
    ) -> dict[str, list[dict[str, Any]]]:
        """Each sample's labelers, in dealing order. A member sees a gold sample with
        ``repetition`` labelers, themself among them, as any dealt sample shows: gold samples
        stay unannounced."""
        task_id = task.id
        members = {
            m.worker_id: m
            for m in session.execute(
                select(WorkforceTaskMember).where(WorkforceTaskMember.task_id == task_id)
            ).scalars()
        }
        workers = {w.id: w for w in self._workers(session, list(members))}
        result: dict[str, list[dict[str, Any]]] = {s: [] for s in sample_ids}
        for chunk in chunked(list(sample_ids)):
            for sample_id, worker_id in session.execute(
                select(WorkforceAssignment.sample_id, WorkforceAssignment.worker_id).where(
                    WorkforceAssignment.task_id == task_id, WorkforceAssignment.sample_id.in_(chunk)
                )
            ).all():
                if worker_id in members:
                    result[sample_id].append(self._worker_wire(workers.get(worker_id), members[worker_id]))
        for people in result.values():
            people.sort(key=lambda p: members[p["worker_id"]].position)
        if viewer is not None and not viewer.owner:
            for sample_id in self._gold(session, task_id) & set(result):
                people = result[sample_id]
                mine = [i for i, p in enumerate(people) if p["worker_id"] in viewer.worker_ids]
                start = mine[0] if mine else 0
                window = {(start + k) % len(people) for k in range(min(task.repetition, len(people)))}
                result[sample_id] = [p for i, p in enumerate(people) if i in window]
        return result

    @staticmethod
    def _gold(session: Session, task_id: str) -> set[str]:
        """The task's gold sample ids."""
        return set(
            session.execute(
                select(WorkforceTaskSample.sample_id).where(
                    WorkforceTaskSample.task_id == task_id, WorkforceTaskSample.gold_labels.is_not(None)
                )
            ).scalars()
        )

    @staticmethod
    def _sample_wire(
        a: WorkforceAssignment, s: Sample, labelers: list[dict[str, Any]], source_url: SourceUrl
    ) -> dict[str, Any]:
        body = sample_to_wire(s, [], source_url(s))
        body["labels"] = [dict(label, id=str(i)) for i, label in enumerate(a.labels)]
        body["sample_status"] = a.state
        body["worker_id"] = a.worker_id
        body["labelers"] = labelers
        for key in (
            "review_accept",
            "review_comment",
            "review_score",
            "check_accept",
            "check_comment",
            "check_score",
        ):
            value = getattr(a, key)
            if value is not None:
                body[key] = value
        score = a.check_score or a.review_score
        if score:
            body["score"] = score
        return body

    def update_samples(
        self, principal: Principal, dataset_id: str, task_id: str, request: UpdateTeamSamplesRequest
    ) -> dict[str, Any]:
        """Save results: a labeler their own, the owner anyone's. Saving is handing in: the
        assignment moves on to review (or to acceptance when the task has no reviewers); empty
        labels take it back to ``__NONE__``. One result per item: ``{success, results}``."""
        items = request.samples or []
        results: list[dict[str, Any]] = []
        with self._db.session(write=True) as session:
            task, access = self._task(session, principal, dataset_id, task_id)
            access.require(LABELER)
            if not items:
                raise ValidationFailedError("samples must contain at least one sample.")
            if task.status not in st.WORKING | {st.ACCEPTING}:
                raise WorkforceTaskStateError("Results can be saved while the task runs (status 1, 2 or 4).")
            dataset = session.get(Dataset, task.dataset_id)
            assert dataset is not None
            known = self._label_types(session, dataset.id, items)
            reviewed = self._has_reviewers(session, task.id)
            for i, item in enumerate(items):
                try:
                    self._save(session, task, access, dataset, known, reviewed, i, item)
                    results.append({"success": True})
                except LabelArtsError as exc:
                    results.append({"success": False, "error_code": exc.code, "error_msg": exc.message})
            task.update_time = now_ms()
        return {"success": all(r["success"] for r in results), "results": results}

    @staticmethod
    def _label_types(session: Session, dataset_id: str, items: Sequence[UpdateSampleIn]) -> dict[str, int]:
        names = sorted({label.name for item in items for label in item.labels or [] if label.name})
        known: dict[str, int] = {}
        for chunk in chunked(names):
            for name, label_type in session.execute(
                select(Label.name, Label.type).where(Label.dataset_id == dataset_id, Label.name.in_(chunk))
            ).all():
                known[name] = label_type
        return known

    def _save(
        self,
        session: Session,
        task: WorkforceTask,
        access: Access,
        dataset: Dataset,
        known: dict[str, int],
        reviewed: bool,
        i: int,
        item: UpdateSampleIn,
    ) -> None:
        if not item.sample_id:
            raise ValidationFailedError(f"samples[{i}].sample_id is required.")
        stmt = select(WorkforceAssignment).where(
            WorkforceAssignment.task_id == task.id, WorkforceAssignment.sample_id == item.sample_id
        )
        if not access.owner:
            stmt = stmt.where(WorkforceAssignment.worker_id.in_(list(access.worker_ids)))
        if item.worker_id:
            stmt = stmt.where(WorkforceAssignment.worker_id == item.worker_id)
        targets = list(session.execute(stmt).scalars())
        if not targets:
            raise SampleNotFoundError()
        labels = self._checked_labels(dataset, known, i, item.labels or [])
        now = now_ms()
        for target in targets:
            if not access.owner and target.state not in st.EDITABLE:
                raise WorkforceTaskStateError(
                    f"samples[{i}]: the result is {target.state}; from __UNCHECK__ on only the owner edits."
                )
        for target in targets:
            target.labels = labels
            target.update_time = now
            if target.state in st.EDITABLE:
                target.state = (st.UNREVIEWED if reviewed else st.UNCHECK) if labels else st.NONE
                target.review_accept = target.review_comment = target.review_score = None

    @staticmethod
    def _checked_labels(
        dataset: Dataset, known: dict[str, int], i: int, labels: Sequence[SampleLabelIn]
    ) -> list[dict[str, Any]]:
        result = []
        for j, label in enumerate(labels):
            if not label.name:
                raise ValidationFailedError(f"samples[{i}].labels[{j}]: name is required.")
            label_type = known.get(label.name)
            if label_type is not None and label.type is not None and label.type != label_type:
                raise ValidationFailedError(
                    f"samples[{i}].labels[{j}]: label {label.name[:128]!r} has type {label_type} "
                    "in this dataset."
                )
            body: dict[str, Any] = {
                "name": label.name,
                "type": label_type
                if label_type is not None
                else (label.type if label.type is not None else default_label_type(dataset.dataset_type)),
                "property": dict(label.property or {}),
                "annotated_by": label.annotated_by or "human",
            }
            if label.score is not None:
                body["score"] = label.score
            result.append(body)
        return result

    # -- review -----------------------------------------------------------------------------------

    def review(
        self, principal: Principal, dataset_id: str, task_id: str, request: ReviewSamplesRequest
    ) -> None:
        comments = request.comments or []
        with self._db.session(write=True) as session:
            task, access = self._task(session, principal, dataset_id, task_id)
            access.require(REVIEWER, ADMIN)
            if not comments:
                raise ValidationFailedError("comments must contain at least one comment.")
            if task.status not in st.WORKING | {st.ACCEPTING}:
                raise WorkforceTaskStateError("Review happens while the task runs.")
            reviewer = next((m.worker_id for m in access.members if m.role in (REVIEWER, ADMIN)), None)
            now = now_ms()
            for i, comment in enumerate(comments):
                for target in self._comment_targets(session, task, i, comment, None):
                    if target.state != st.UNREVIEWED:
                        if target.review_accept is not None and target.review_accept == comment.accept:
                            continue  # reviewed already with this verdict: a silent 200
                        raise ValidationFailedError(
                            f"comments[{i}]: the result is {target.state}, not waiting for review.",
                            error_code="ModelArts.4606",
                        )
                    target.review_accept = comment.accept
                    target.review_comment = comment.comment
                    target.review_score = comment.score if comment.accept else None
                    target.reviewer_id = reviewer
                    target.state = st.UNCHECK if comment.accept else st.REJECTED
                    target.update_time = now

    @staticmethod
    def _comment_targets(
        session: Session, task: WorkforceTask, i: int, comment: SampleCommentIn, checking_task_id: str | None
    ) -> list[WorkforceAssignment]:
        if not comment.sample_id:
            raise ValidationFailedError(f"comments[{i}].sample_id is required.")
        stmt = select(WorkforceAssignment).where(
            WorkforceAssignment.task_id == task.id, WorkforceAssignment.sample_id == comment.sample_id
        )
        if comment.worker_id:
            stmt = stmt.where(WorkforceAssignment.worker_id == comment.worker_id)
        if checking_task_id is not None:
            stmt = stmt.where(WorkforceAssignment.checking_task_id == checking_task_id)
        targets = list(session.execute(stmt.order_by(WorkforceAssignment.id)).scalars())
        if not targets:
            if checking_task_id is not None:
                raise NotInAcceptanceError(
                    f"comments[{i}]: sample {comment.sample_id} is not in the current acceptance."
                )
            raise SampleNotFoundError()
        return targets

    # -- acceptance -------------------------------------------------------------------------------

    def start_sampling(
        self, principal: Principal, dataset_id: str, task_id: str, request: StartSamplingRequest
    ) -> str:
        self._owner_only(principal)
        self._catch_up(principal, dataset_id, task_id)  # 404 first
        if (request.sampling_num is None) == (request.sampling_rate is None):
            raise ValidationFailedError("Give exactly one of sampling_num and sampling_rate.")
        with self._db.session(write=True) as session:
            task, _ = self._task(session, principal, dataset_id, task_id)
            if task.status in (st.ACCEPTING, st.SAMPLING):
                raise AcceptanceOpenError()
            if task.status not in st.WORKING:
                raise WorkforceTaskStateError("An acceptance starts while the task runs (status 1 or 4).")
            per_sample = self._per_sample(self._assignment_rows(session, task.id))
            pool = sorted(s for s, state in per_sample.items() if state == st.UNCHECK)
            if not pool:
                raise NothingToAcceptError()
            if request.sampling_num is not None:
                count = min(request.sampling_num, len(pool))
            else:
                assert request.sampling_rate is not None
                count = min(len(pool), max(1, math.ceil(request.sampling_rate * len(pool) - 1e-9)))
            seed = random.SystemRandom().randrange(2**31)
            drawn = sorted(random.Random(seed).sample(pool, count))
            now = now_ms()
            check = WorkforceCheckingTask(
                id=new_resource_id(),
                task_id=task.id,
                sampling_num=request.sampling_num,
                sampling_rate=request.sampling_rate,
                seed=seed,
                pool_size=len(pool),
                open=True,
                action=None,
                overwrite_last_result=False,
                stats={},
                create_time=now,
                update_time=now,
            )
            session.add(check)
            session.flush()
            for chunk in chunked(drawn):
                session.execute(
                    update(WorkforceAssignment)
                    .where(WorkforceAssignment.task_id == task.id, WorkforceAssignment.sample_id.in_(chunk))
                    .values(
                        state=st.SAMPLED_UNCHECK,
                        checking_task_id=check.id,
                        check_accept=None,
                        check_comment=None,
                        check_score=None,
                        update_time=now,
                    )
                )
                session.execute(
                    update(WorkforceTaskSample)
                    .where(WorkforceTaskSample.task_id == task.id, WorkforceTaskSample.sample_id.in_(chunk))
                    .values(checking_task_id=check.id)
                )
            task.checking_task_id = check.id
            task.status = st.ACCEPTING
            task.update_time = now
            return check.id

    def accept_samples(
        self, principal: Principal, dataset_id: str, task_id: str, request: AcceptSamplesRequest
    ) -> None:
        self._owner_only(principal)
        with self._db.session(write=True) as session:
            task, _ = self._task(session, principal, dataset_id, task_id)
            if not request.comments:
                raise ValidationFailedError("comments must contain at least one comment.")
            check = self._open_check(session, task)
            now = now_ms()
            for i, comment in enumerate(request.comments):
                for target in self._comment_targets(session, task, i, comment, check.id):
                    if target.state not in st.SAMPLED:
                        raise NotInAcceptanceError(f"comments[{i}]: the result is {target.state}.")
                    target.check_accept = comment.accept
                    target.check_comment = comment.comment
                    target.check_score = comment.score
                    target.state = st.SAMPLED_ACCEPTED if comment.accept else st.SAMPLED_REJECTED
                    target.update_time = now

    @staticmethod
    def _open_check(session: Session, task: WorkforceTask) -> WorkforceCheckingTask:
        check = session.get(WorkforceCheckingTask, task.checking_task_id) if task.checking_task_id else None
        if task.status != st.ACCEPTING or check is None or not check.open:
            raise NotInAcceptanceError("The task has no acceptance in progress.")
        return check

    def _verdicts(self, session: Session, check: WorkforceCheckingTask) -> list[Verdict]:
        rows = session.execute(
            select(
                WorkforceAssignment.sample_id,
                WorkforceAssignment.check_accept,
                WorkforceAssignment.check_score,
            )
            .where(WorkforceAssignment.checking_task_id == check.id)
            .order_by(WorkforceAssignment.sample_id)
        ).all()
        by_sample: dict[str, list[tuple[bool | None, str | None]]] = defaultdict(list)
        for sample_id, accept, score in rows:
            by_sample[sample_id].append((accept, score))
        verdicts = []
        for marks in by_sample.values():
            if any(accept is None for accept, _ in marks):
                verdicts.append(Verdict(None))
            elif all(accept for accept, _ in marks):
                worst = min(marks, key=lambda m: points(True, m[1]))
                verdicts.append(Verdict(True, worst[1]))
            else:
                verdicts.append(Verdict(False))
        return verdicts

    def _check_stats(
        self, session: Session, task: WorkforceTask, check: WorkforceCheckingTask
    ) -> dict[str, Any]:
        if not check.open and check.stats:
            return dict(check.stats)
        return check_stats(
            check.id,
            check.pool_size,
            self._verdicts(session, check),
            sampling_num=check.sampling_num,
            sampling_rate=check.sampling_rate,
        )

    def _total_stats(self, session: Session, task: WorkforceTask) -> dict[str, Any]:
        checks = session.execute(
            select(WorkforceCheckingTask)
            .where(WorkforceCheckingTask.task_id == task.id)
            .order_by(WorkforceCheckingTask.create_time, WorkforceCheckingTask.id)
        ).scalars()
        totals: Counter[str] = Counter()
        for check in checks:
            if check.action == 2:
                continue
            stats = self._check_stats(session, task, check)
            for key in (
                "total_sample_count",
                "sampled_sample_count",
                "checked_sample_count",
                "accepted_sample_count",
                "rejected_sample_count",
                "unchecked_sample_count",
                "total_score",
            ):
                totals[key] += int(stats[key])
        checked = totals["checked_sample_count"]
        body: dict[str, Any] = {
            key: totals[key]
            for key in (
                "total_sample_count",
                "sampled_sample_count",
                "checked_sample_count",
                "accepted_sample_count",
                "rejected_sample_count",
                "unchecked_sample_count",
            )
        }
        body["pass_rate"] = totals["accepted_sample_count"] / checked if checked else 0.0
        body["total_score"] = totals["total_score"]
        body["score"] = letter(totals["total_score"] / checked if checked else None)
        return body

    def report(
        self, principal: Principal, dataset_id: str, task_id: str, checking_task_id: str | None
    ) -> dict[str, Any]:
        with self._db.session() as session:
            task, access = self._task(session, principal, dataset_id, task_id)
            access.require(ADMIN)
            wanted = checking_task_id or task.checking_task_id
            check = session.get(WorkforceCheckingTask, wanted) if wanted and "\x00" not in wanted else None
            if check is None or check.task_id != task.id:
                raise TaskNotFoundError("The acceptance task does not exist.")
            return {
                "checking_stats": self._check_stats(session, task, check),
                "total_stats": self._total_stats(session, task),
            }

    def close(
        self,
        principal: Principal,
        dataset_id: str,
        task_id: str,
        request: UpdateSamplingRequest,
        *,
        source_url: SourceUrl,
    ) -> dict[str, Any]:
        """UpdateWorkforceSamplingTask: end the acceptance with one of six actions.

        0 everything passes; 1 everything is rejected; 2 cancel (sampled samples go back to
        ``__UNCHECK__``, verdicts dropped); 3 list the conflicts (nothing changes); 4 sampled
        and accepted, and not sampled, pass, sampled and rejected are rejected; 5 only sampled
        and accepted pass. What passes is written to the dataset (``auto_sync_dataset``)."""
        self._owner_only(principal)
        action = request.action
        with self._db.session(write=True) as session:
            task, _ = self._task(session, principal, dataset_id, task_id)
            if action is None:
                raise ValidationFailedError("action is required.")
            check = self._open_check(session, task)
            by_sample = self._pool_assignments(session, task)
            if action == 3:
                conflicts = self._conflicts(session, task, by_sample, overwrite=request.overwrite_last_result)
                ids = sorted(conflicts)
                samples = {
                    s.id: s
                    for chunk in chunked(ids)
                    for s in session.execute(select(Sample).where(Sample.id.in_(chunk))).scalars()
                }
                labelers = self._labelers_of(session, task, ids)
                scope = self._grants.scope(principal.project_id)
                answers = [
                    hide_ungranted_paths(
                        self._sample_wire(by_sample[i][0], samples[i], labelers[i], source_url), scope
                    )
                    for i in ids
                    if i in samples
                ]
                return {"sample_count": len(answers), "samples": answers}
            now = now_ms()
            if action == 2:
                for assignments in by_sample.values():
                    for a in assignments:
                        if a.checking_task_id == check.id:
                            a.state, a.check_accept, a.check_comment, a.check_score = (
                                st.UNCHECK,
                                None,
                                None,
                                None,
                            )
                            a.checking_task_id, a.update_time = None, now
                session.execute(
                    update(WorkforceTaskSample)
                    .where(
                        WorkforceTaskSample.task_id == task.id,
                        WorkforceTaskSample.checking_task_id == check.id,
                    )
                    .values(checking_task_id=None)
                )
                check.open, check.action, check.update_time = False, 2, now
                task.status, task.update_time = st.RUNNING, now
                return {"sample_count": 0, "samples": []}
            stats = self._check_stats(session, task, check)
            passed: list[str] = []
            rejected: list[str] = []
            for sample_id, assignments in by_sample.items():
                sampled = any(a.checking_task_id == check.id for a in assignments)
                any_reject = any(a.check_accept is False for a in assignments)
                all_accept = all(a.check_accept is True for a in assignments)
                ok = (
                    action == 0
                    or (action == 4 and not (sampled and any_reject))
                    or (action == 5 and sampled and all_accept)
                )
                (passed if ok else rejected).append(sample_id)
            for sample_id in rejected:
                assignments = by_sample[sample_id]
                refused = [a for a in assignments if a.check_accept is False] or assignments
                for a in refused:
                    a.state, a.update_time = st.REJECTED, now
                for a in assignments:
                    if a not in refused:
                        a.state, a.update_time = st.UNCHECK, now
            for sample_id in passed:
                for a in by_sample[sample_id]:
                    a.state, a.update_time = st.ACCEPTED, now
            check.open, check.action, check.update_time = False, action, now
            check.overwrite_last_result = request.overwrite_last_result
            check.stats = stats
            task.status, task.update_time = st.SYNCHRONIZING, now
            writes = (
                self._decide_writes(
                    session, task, {s: by_sample[s] for s in passed}, request.overwrite_last_result
                )
                if task.auto_sync_dataset
                else {}
            )
        # Acceptance writes to the dataset through the dataset's own writer (counters, page
        # anchors, labels); the task says "synchronizing" (5) meanwhile.
        try:
            self._write_to_dataset(principal.project_id, dataset_id, writes)
        finally:
            with self._db.session(write=True) as session:
                closed = session.get(WorkforceTask, task_id)
                assert closed is not None
                task = closed
                rows = self._assignment_rows(session, task.id)
                per_sample = self._per_sample(rows)
                if per_sample and all(state == st.ACCEPTED for state in per_sample.values()):
                    task.status = st.ACCEPTED_TASK
                elif any(r.state == st.REJECTED for r in rows):
                    task.status = st.REJECTED_TASK
                else:
                    task.status = st.RUNNING
                task.update_time = now_ms()
        return {"sample_count": len(passed), "samples": []}

    @staticmethod
    def _pool_assignments(session: Session, task: WorkforceTask) -> dict[str, list[WorkforceAssignment]]:
        """Assignments of the samples waiting for acceptance (every assignment at least
        ``__UNCHECK__``, none final yet)."""
        rows = session.execute(
            select(WorkforceAssignment)
            .where(WorkforceAssignment.task_id == task.id)
            .order_by(WorkforceAssignment.sample_id, WorkforceAssignment.id)
        ).scalars()
        by_sample: dict[str, list[WorkforceAssignment]] = defaultdict(list)
        for a in rows:
            by_sample[a.sample_id].append(a)
        return {
            s: items
            for s, items in by_sample.items()
            if all(a.state == st.UNCHECK or a.state in st.SAMPLED for a in items)
        }

    def _conflicts(
        self,
        session: Session,
        task: WorkforceTask,
        by_sample: dict[str, list[WorkforceAssignment]],
        *,
        overwrite: bool,
    ) -> dict[str, str]:
        """Samples acceptance would not write: labels changed in the dataset since they joined
        the task (unless ``overwrite``), or results that disagree (``repetition`` > 1)."""
        conflicts: dict[str, str] = {}
        gold = self._gold(session, task.id)
        ids = sorted(s for s in by_sample if s not in gold)
        changed = self._changed(session, task, ids)
        for sample_id in ids:
            if sample_id in changed and not overwrite:
                conflicts[sample_id] = "changed in the dataset"
            elif len(by_sample[sample_id]) > 1 and merge([a.labels for a in by_sample[sample_id]]) is None:
                conflicts[sample_id] = "results disagree"
        return conflicts

    @staticmethod
    def _changed(session: Session, task: WorkforceTask, ids: Sequence[str]) -> set[str]:
        changed: set[str] = set()
        for chunk in chunked(list(ids)):
            changed.update(
                session.execute(
                    select(WorkforceTaskSample.sample_id)
                    .join(Sample, Sample.id == WorkforceTaskSample.sample_id)
                    .where(
                        WorkforceTaskSample.task_id == task.id,
                        WorkforceTaskSample.sample_id.in_(chunk),
                        Sample.revision != WorkforceTaskSample.base_revision,
                    )
                ).scalars()
            )
        return changed

    def _decide_writes(
        self,
        session: Session,
        task: WorkforceTask,
        passed: dict[str, list[WorkforceAssignment]],
        overwrite: bool,
    ) -> dict[str, list[tuple[str, list[dict[str, Any]]]]]:
        """Labeler email -> [(sample_id, labels)] for the dataset; conflicts are marked on the
        task's sample and left out."""
        emails = {
            r[0]: r[1]
            for r in session.execute(
                select(WorkforceTaskMember.worker_id, WorkforceTaskMember.email).where(
                    WorkforceTaskMember.task_id == task.id
                )
            ).all()
        }
        changed = self._changed(session, task, sorted(passed))
        gold = self._gold(session, task.id)
        writes: dict[str, list[tuple[str, list[dict[str, Any]]]]] = defaultdict(list)
        marks: dict[str, str | None] = {}
        for sample_id, assignments in sorted(passed.items()):
            if sample_id in gold:
                continue  # a gold sample's answers never reach the dataset
            if sample_id in changed and not overwrite:
                marks[sample_id] = "changed in the dataset"
                continue
            labels = (
                merge([a.labels for a in assignments])
                if len(assignments) > 1
                else list(assignments[0].labels)
            )
            if labels is None:
                marks[sample_id] = "results disagree"
                continue
            marks[sample_id] = None
            writes[emails.get(assignments[0].worker_id, "team")].append((sample_id, labels))
        for sample_id, conflict in marks.items():
            session.execute(
                update(WorkforceTaskSample)
                .where(WorkforceTaskSample.task_id == task.id, WorkforceTaskSample.sample_id == sample_id)
                .values(synced=conflict is None, conflict=conflict)
            )
        return writes

    def _write_to_dataset(
        self, project_id: str, dataset_id: str, writes: dict[str, list[tuple[str, list[dict[str, Any]]]]]
    ) -> None:
        for email, items in sorted(writes.items()):
            for start in range(0, len(items), SYNC_CHUNK):
                batch = items[start : start + SYNC_CHUNK]
                request = UpdateSamplesRequest(
                    samples=[
                        UpdateSampleIn(
                            sample_id=sample_id,
                            labels=[
                                SampleLabelIn(
                                    name=label["name"],
                                    type=label.get("type"),
                                    score=label.get("score"),
                                    property=label.get("property") or {},
                                    annotated_by="human",
                                )
                                for label in labels
                            ],
                        )
                        for sample_id, labels in batch
                    ]
                )
                self._edits.update_samples(project_id, dataset_id, request, labeler=email)

    # -- agreement and gold samples (LabelArts extension) ------------------------------------------

    def _mix_gold(self, session: Session, task: WorkforceTask) -> None:
        """Every active labeler holds every gold sample: the copies they lack join their queue
        as ordinary untouched assignments."""
        gold = sorted(self._gold(session, task.id))
        labelers = self._labelers(session, task.id)
        if not gold or not labelers:
            return
        held: set[tuple[str, str]] = set()
        for chunk in chunked(gold):
            held.update(
                (r[0], r[1])
                for r in session.execute(
                    select(WorkforceAssignment.sample_id, WorkforceAssignment.worker_id).where(
                        WorkforceAssignment.task_id == task.id, WorkforceAssignment.sample_id.in_(chunk)
                    )
                ).all()
            )
        times = {
            r[0]: int(r[1])
            for chunk in chunked(gold)
            for r in session.execute(select(Sample.id, Sample.sample_time).where(Sample.id.in_(chunk))).all()
        }
        now = now_ms()
        missing = [
            {
                "task_id": task.id,
                "sample_id": sample_id,
                "worker_id": worker_id,
                "state": st.NONE,
                "labels": [],
                "sample_time": times[sample_id],
                "create_time": now,
                "update_time": now,
            }
            for sample_id in gold
            for worker_id in labelers
            if (sample_id, worker_id) not in held
        ]
        if missing:
            session.execute(insert(WorkforceAssignment), missing)

    def set_gold(
        self, principal: Principal, dataset_id: str, task_id: str, request: SetGoldSamplesRequest
    ) -> dict[str, Any]:
        """Mark samples of the task's dataset as gold, with their known answers (or change an
        answer). A sample already in the task stays where it is; one outside joins it. Owner
        only; while the task is created or running (status 6, 1 or 4). All or nothing."""
        self._owner_only(principal)
        with self._db.session(write=True) as session:
            task, _ = self._task(session, principal, dataset_id, task_id)
            if task.status not in st.WORKING | {st.CREATED}:
                raise WorkforceTaskStateError(
                    "Gold samples can be set while the task is created or running (status 6, 1 or 4)."
                )
            if not request.samples:
                raise ValidationFailedError("Invalid parameter. samples: Field required")
            dataset = session.get(Dataset, task.dataset_id)
            assert dataset is not None
            items = {item.sample_id: item for item in request.samples}
            ids = sorted(items)
            found = {
                r[0]: int(r[1] or 0)
                for chunk in chunked(ids)
                for r in session.execute(
                    select(Sample.id, Sample.revision).where(
                        Sample.dataset_id == dataset.id, Sample.id.in_(chunk)
                    )
                ).all()
            }
            if len(found) != len(ids):
                raise SampleNotFoundError()
            mine: dict[str, WorkforceTaskSample] = {}
            elsewhere: set[str] = set()
            for chunk in chunked(ids):
                for row, status in session.execute(
                    select(WorkforceTaskSample, WorkforceTask.status)
                    .join(WorkforceTask, WorkforceTask.id == WorkforceTaskSample.task_id)
                    .where(
                        WorkforceTaskSample.dataset_id == dataset.id, WorkforceTaskSample.sample_id.in_(chunk)
                    )
                ).all():
                    if row.task_id == task.id:
                        mine[row.sample_id] = row
                    elif status != st.ACCEPTED_TASK:
                        elsewhere.add(row.sample_id)
            if elsewhere:
                raise ValidationFailedError(
                    f"Sample {min(elsewhere)} is in another unfinished team task of the dataset."
                )
            known = self._label_types(
                session, dataset.id, [UpdateSampleIn(sample_id=i, labels=items[i].labels) for i in ids]
            )
            for n, sample_id in enumerate(ids):
                answer = self._checked_labels(dataset, known, n, items[sample_id].labels)
                if not answer:
                    raise ValidationFailedError(f"Gold sample {sample_id} needs at least one label.")
                current = mine.get(sample_id)
                if current is None:
                    session.add(
                        WorkforceTaskSample(
                            task_id=task.id,
                            sample_id=sample_id,
                            dataset_id=dataset.id,
                            base_revision=found[sample_id],
                            checking_task_id=None,
                            synced=False,
                            conflict=None,
                            gold_labels=answer,
                        )
                    )
                else:
                    current.gold_labels = answer
            session.flush()
            if task.status != st.CREATED:
                self._mix_gold(session, task)
            task.update_time = now_ms()
            return {"gold_sample_count": len(self._gold(session, task.id))}

    def _results(
        self, session: Session, task_id: str
    ) -> tuple[dict[str, dict[str, list[dict[str, Any]]]], dict[str, list[dict[str, Any]]]]:
        """Handed-in results (sample -> worker -> labels) and the gold answers."""
        results: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(dict)
        for sample_id, worker_id, labels in session.execute(
            select(
                WorkforceAssignment.sample_id, WorkforceAssignment.worker_id, WorkforceAssignment.labels
            ).where(
                WorkforceAssignment.task_id == task_id, WorkforceAssignment.state.not_in([st.NONE, st.AUTO])
            )
        ).all():
            if labels:
                results[sample_id][worker_id] = list(labels)
        answers = {
            r[0]: list(r[1])
            for r in session.execute(
                select(WorkforceTaskSample.sample_id, WorkforceTaskSample.gold_labels).where(
                    WorkforceTaskSample.task_id == task_id, WorkforceTaskSample.gold_labels.is_not(None)
                )
            ).all()
        }
        return results, answers

    def list_gold(self, principal: Principal, dataset_id: str, task_id: str) -> dict[str, Any]:
        """The gold samples, their answers, and how many labelers handed in and matched."""
        self._owner_only(principal)
        with self._db.session() as session:
            task, _ = self._task(session, principal, dataset_id, task_id)
            results, answers = self._results(session, task.id)
            samples = []
            for sample_id in sorted(answers):
                handed = results.get(sample_id, {})
                scores = gold_accuracy({sample_id: handed}, {sample_id: answers[sample_id]}, sorted(handed))
                samples.append(
                    {
                        "sample_id": sample_id,
                        "labels": answers[sample_id],
                        "labeled_count": len(handed),
                        "correct_count": sum(v["gold_correct_count"] for v in scores.values()),
                    }
                )
            return {"sample_count": len(samples), "samples": samples}

    def agreement(self, principal: Principal, dataset_id: str, task_id: str) -> dict[str, Any]:
        """The agreement report: Fleiss' kappa overall and per label, Cohen's kappa per pair of
        labelers (gold samples left out), and each labeler's accuracy on the gold samples.
        Owner and the task's team administrators."""
        with self._db.session() as session:
            task, access = self._task(session, principal, dataset_id, task_id)
            access.require(ADMIN)
            members = list(
                session.execute(
                    select(WorkforceTaskMember)
                    .where(WorkforceTaskMember.task_id == task.id, WorkforceTaskMember.role == LABELER)
                    .order_by(WorkforceTaskMember.position)
                ).scalars()
            )
            results, answers = self._results(session, task.id)
            dealt = {s: r for s, r in results.items() if s not in answers}
            ids = [m.worker_id for m in members]
            body = agreement(dealt, ids, task.repetition)
            emails = {m.worker_id: m.email for m in members}
            for pair in body["pairs"]:
                pair["emails"] = [emails[w] for w in pair["worker_ids"]]
            gold = gold_accuracy({s: results.get(s, {}) for s in answers}, answers, ids)
            return {
                "task_id": task.id,
                "repetition": task.repetition,
                "gold_sample_count": len(answers),
                **body,
                "members": [
                    {"worker_id": m.worker_id, "email": m.email, "active": m.active, **gold[m.worker_id]}
                    for m in members
                ],
            }

    # -- statistics -------------------------------------------------------------------------------

    def stats(
        self, principal: Principal, dataset_id: str, task_id: str, *, sample_state: str | None
    ) -> dict[str, Any]:
        self._catch_up(principal, dataset_id, task_id)
        with self._db.session() as session:
            task, access = self._task(session, principal, dataset_id, task_id)
            scope = None if access.sees_all else access.worker_ids
            dataset = session.get(Dataset, task.dataset_id)
            rows = self._assignment_rows(session, task.id, scope)
            per_sample = self._per_sample(rows)
            counts = self._stats(per_sample.values())
            hard = dict(
                session.execute(
                    select(Sample.hard, func.count())
                    .join(WorkforceTaskSample, WorkforceTaskSample.sample_id == Sample.id)
                    .where(WorkforceTaskSample.task_id == task.id)
                    .group_by(Sample.hard)
                ).all()
            )
            return {
                "sample_stats": _short_counts(counts),
                "key_sample_stats": {
                    "total": int(sum(hard.values())),
                    "key_sample": int(hard.get(True, 0)),
                    "non_key_sample": int(hard.get(False, 0)),
                },
                "label_stats": self._label_stats(session, task.id, scope, st.normalize_filter(sample_state)),
                # The rest of the dataset statistics' shape (the reference's table): the team
                # results are not grouped, split or graded by hard-example detail.
                "grouped_label_stats": {},
                "hard_detail_stats": {},
                "metadata_stats": {},
                "data_spliting_enable": False,
                "data_path": inner_path(dataset, "data") if dataset is not None else "",
            }

    @staticmethod
    def _label_stats(
        session: Session, task_id: str, scope: set[str] | None, wanted: str | None
    ) -> list[dict[str, Any]]:
        stmt = select(
            WorkforceAssignment.sample_id,
            WorkforceAssignment.labels,
            WorkforceAssignment.state,
            WorkforceAssignment.review_accept,
        ).where(WorkforceAssignment.task_id == task_id)
        if scope is not None:
            stmt = stmt.where(WorkforceAssignment.worker_id.in_(list(scope)))
        count: Counter[str] = Counter()
        samples: dict[str, set[str]] = defaultdict(set)
        types: dict[str, int] = {}
        for sample_id, labels, state, review_accept in session.execute(stmt).all():
            if not st.matches(state, wanted, has_labels=bool(labels), review_accept=review_accept):
                continue
            for label in labels:
                name = str(label.get("name"))
                count[name] += 1
                samples[name].add(sample_id)
                types.setdefault(name, int(label.get("type") or 0))
        return [
            {"name": name, "type": types[name], "count": count[name], "sample_count": len(samples[name])}
            for name in sorted(count)
        ]

    def metrics(self, principal: Principal, dataset_id: str, task_id: str) -> dict[str, Any]:
        with self._db.session() as session:
            task, access = self._task(session, principal, dataset_id, task_id)
            members = list(
                session.execute(
                    select(WorkforceTaskMember)
                    .where(WorkforceTaskMember.task_id == task.id, WorkforceTaskMember.role == LABELER)
                    .order_by(WorkforceTaskMember.position)
                ).scalars()
            )
            if not access.sees_all:
                members = [m for m in members if m.worker_id in access.worker_ids]
            rows = self._assignment_rows(session, task.id, [m.worker_id for m in members])
            by_worker: dict[str, list[str]] = defaultdict(list)
            for r in rows:
                by_worker[r.worker_id].append(r.state)
            answer: dict[str, dict[str, int]] = {}
            for m in members:
                counts = self._stats(by_worker.get(m.worker_id, []))
                answer[m.email] = _short_counts(counts)
            return {"sample_stats": answer}


__all__ = ["TEAM_DATASET_TYPES", "TeamTaskService"]
