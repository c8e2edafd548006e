"""What a dataset's answers say about its team tasks (ShowDataset / ListDatasets:
``workforce_task_count``, ``exist_workforce_task``, ``workforce_descriptor``) and a team task's
figures for the dataset metrics' ``workforce_task_id`` (docs/team-labeling.md, "The dataset
side"). Reads only; imports no other service, so the dataset service can use it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from labelarts.services.team_tasks import states as st
from labelarts.storage.db.dialect import chunked
from labelarts.storage.db.models import Worker, WorkforceAssignment, WorkforceTask, WorkforceTaskMember

DELETED_WORKER = 3


def dataset_summaries(session: Session, dataset_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per dataset id: ``workforce_task_count``, ``exist_workforce_task`` and, when it has a
    task, ``workforce_descriptor`` for its current task (the newest unfinished one, else the
    newest)."""
    tasks: dict[str, list[WorkforceTask]] = defaultdict(list)
    for chunk in chunked(list(dataset_ids)):
        for task in session.execute(
            select(WorkforceTask)
            .where(WorkforceTask.dataset_id.in_(chunk))
            .order_by(WorkforceTask.create_time.desc(), WorkforceTask.id)
        ).scalars():
            tasks[task.dataset_id].append(task)
    current = {
        dataset_id: next((t for t in found if t.status != st.ACCEPTED_TASK), found[0])
        for dataset_id, found in tasks.items()
    }
    task_ids = [t.id for t in current.values()]
    rejected: dict[str, int] = {}
    members: dict[str, list[tuple[WorkforceTaskMember, Worker | None]]] = defaultdict(list)
    for chunk in chunked(task_ids):
        rejected.update(
            (r[0], int(r[1]))
            for r in session.execute(
                select(WorkforceAssignment.task_id, func.count(func.distinct(WorkforceAssignment.sample_id)))
                .where(WorkforceAssignment.task_id.in_(chunk), WorkforceAssignment.state == st.REJECTED)
                .group_by(WorkforceAssignment.task_id)
            ).all()
        )
        for member, worker in session.execute(
            select(WorkforceTaskMember, Worker)
            .outerjoin(Worker, Worker.id == WorkforceTaskMember.worker_id)
            .where(WorkforceTaskMember.task_id.in_(chunk), WorkforceTaskMember.active.is_(True))
            .order_by(WorkforceTaskMember.position)
        ).all():
            members[member.task_id].append((member, worker))
    answers: dict[str, dict[str, Any]] = {}
    for dataset_id in dataset_ids:
        found = tasks.get(dataset_id, [])
        body: dict[str, Any] = {"workforce_task_count": len(found), "exist_workforce_task": bool(found)}
        now = current.get(dataset_id)
        if now is not None:
            task = now
            first = task.workforces[0] if task.workforces else {}
            body["workforce_descriptor"] = {
                "current_task_id": task.id,
                "current_task_name": task.name,
                "reject_num": rejected.get(task.id, 0),
                "repetition": task.repetition,
                "is_synchronize_auto_labeling_data": task.synchronize_auto_labeling_data,
                "is_synchronize_data": task.synchronize_data,
                "workers": [_worker(member, worker) for member, worker in members.get(task.id, [])],
                "workforce_id": str(first.get("workforce_id", "")),
                "workforce_name": str(first.get("workforce_name", "")),
            }
        answers[dataset_id] = body
    return answers


def _worker(member: WorkforceTaskMember, worker: Worker | None) -> dict[str, Any]:
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


def task_sample_counts(session: Session, dataset_id: str, task_id: str) -> dict[str, int] | None:
    """A team task's samples now, for the dataset metrics' ``workforce_task_id``: ``total``,
    ``un_annotation`` (no one handed in a result), ``auto_annotation`` (auto-label drafts
    untouched) and ``manual_annotation`` (handed in, whatever happened to it since), by each
    sample's least advanced result. ``None``: no such task in the dataset."""
    found = session.execute(
        select(WorkforceTask.id).where(WorkforceTask.id == task_id, WorkforceTask.dataset_id == dataset_id)
    ).first()
    if found is None:
        return None
    by_sample: dict[str, list[str]] = defaultdict(list)
    for sample_id, state in session.execute(
        select(WorkforceAssignment.sample_id, WorkforceAssignment.state).where(
            WorkforceAssignment.task_id == task_id
        )
    ).all():
        by_sample[sample_id].append(state)
    states = [st.sample_state(s) for s in by_sample.values()]
    none = sum(1 for s in states if s == st.NONE)
    auto = sum(1 for s in states if s == st.AUTO)
    return {
        "total": len(states),
        "un_annotation": none,
        "auto_annotation": auto,
        "manual_annotation": len(states) - none - auto,
    }


__all__ = ["dataset_summaries", "task_sample_counts"]
