"""Dataset monitoring (``GET .../metrics``, ModelArts "Querying the Monitoring Data of a
Dataset"): series of figures over time, ``{series: {epoch ms: value}}``.

Series (docs/api.md, "Dataset monitoring"):

* sample counts: ``total``, ``un_annotation``, ``manual_annotation`` and LabelArts'
  ``auto_annotation`` (labels waiting for confirmation);
* the dataset's background tasks (imports, syncs, auto labeling, every kind) by state:
  ``queuing``, ``unfinished`` (running or stopping), ``success``, ``failed`` (failed or
  stopped), of which ``failed_system`` (an internal error or a worker that vanished,
  ``ModelArts.4392``) and ``failed_user`` (the rest: refused input, stopped by a user).

Points: one is stored in the transaction that ends each of the dataset's tasks
(:meth:`TaskRunner.on_finished`), at most one per dataset per hour (the hour's latest
replaces the earlier one), and the answer adds the live figures at the time of the request
when that lies in the asked range. Counts come from the maintained counters the dataset's
statistics read (storage/db/counters.py), so the two always agree.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from labelarts.clock import now_ms
from labelarts.errors import ValidationFailedError, WorkforceTaskNotFoundError
from labelarts.jobs.runner import INTERRUPTED
from labelarts.jobs.states import TaskStatus
from labelarts.services.ownership import get_owned_dataset
from labelarts.services.team_tasks.summary import task_sample_counts
from labelarts.storage.db import Database, counters
from labelarts.storage.db.models import DatasetMetricPoint, Task

SERIES: Final = (
    "total",
    "un_annotation",
    "manual_annotation",
    "auto_annotation",
    "queuing",
    "unfinished",
    "success",
    "failed",
    "failed_user",
    "failed_system",
)
HOUR_MS: Final = 3600 * 1000
MAX_POINTS: Final = 10_000  # stored points in one answer (more than a year of hours)


def current_values(session: Session, dataset_id: str) -> dict[str, int]:
    """The dataset's figures now, one value per series."""
    counts = counters.sample_totals(session, [dataset_id])[dataset_id]
    by_state: dict[str, int] = {}
    system = 0
    for status, code, number in session.execute(
        select(Task.status, Task.error_code, func.count())
        .where(Task.dataset_id == dataset_id)
        .group_by(Task.status, Task.error_code)
    ):
        by_state[status] = by_state.get(status, 0) + int(number)
        if status == TaskStatus.FAILED and code == INTERRUPTED[0]:
            system += int(number)
    failed = by_state.get(TaskStatus.FAILED, 0) + by_state.get(TaskStatus.STOPPED, 0)
    return {
        "total": counts.total,
        "un_annotation": counts.unlabeled,
        "manual_annotation": counts.manual,
        "auto_annotation": counts.auto,
        "queuing": by_state.get(TaskStatus.QUEUED, 0),
        "unfinished": by_state.get(TaskStatus.RUNNING, 0) + by_state.get(TaskStatus.STOPPING, 0),
        "success": by_state.get(TaskStatus.SUCCEEDED, 0),
        "failed": failed,
        "failed_user": failed - system,
        "failed_system": system,
    }


def record_point(session: Session, task: Task) -> None:
    """Store the dataset's figures as of a task's end (:meth:`TaskRunner.on_finished`)."""
    if task.dataset_id is None:
        return  # a processing run over a folder or prefix: no dataset to measure
    at = now_ms()
    hour = at - at % HOUR_MS
    session.execute(
        delete(DatasetMetricPoint).where(
            DatasetMetricPoint.dataset_id == task.dataset_id, DatasetMetricPoint.at_ms >= hour
        )
    )
    session.add(
        DatasetMetricPoint(
            dataset_id=task.dataset_id, at_ms=at, values=current_values(session, task.dataset_id)
        )
    )


class MonitoringService:
    def __init__(self, db: Database) -> None:
        self._db = db

    def metrics(
        self,
        project_id: str,
        dataset_id: str,
        *,
        start_time: int,
        end_time: int,
        workforce_task_id: str | None = None,
    ) -> dict[str, Any]:
        """``{"metrics": {series: {epoch ms (text): value}}}`` for ``start_time`` to ``end_time``
        (epoch ms, both included). 400 if the range is reversed. With ``workforce_task_id``: that
        team task's sample counts now (404 ``ModelArts.4619`` for a task not in the dataset)."""
        with self._db.session() as session:
            get_owned_dataset(session, project_id, dataset_id)
            if end_time < start_time:
                raise ValidationFailedError("end_time must not be before start_time.")
            if workforce_task_id is not None:
                # A team task's samples now: one live point, no history (docs/team-labeling.md).
                counts = task_sample_counts(session, dataset_id, workforce_task_id)
                if counts is None:
                    raise WorkforceTaskNotFoundError()
                team: dict[str, dict[str, int]] = {name: {} for name in SERIES}
                now = now_ms()
                if start_time <= now <= end_time:
                    for name, value in counts.items():
                        team[name][str(now)] = value
                return {"metrics": team}
            points = [
                (point.at_ms, point.values)
                for point in session.execute(
                    select(DatasetMetricPoint)
                    .where(
                        DatasetMetricPoint.dataset_id == dataset_id,
                        DatasetMetricPoint.at_ms >= start_time,
                        DatasetMetricPoint.at_ms <= end_time,
                    )
                    .order_by(DatasetMetricPoint.at_ms.desc(), DatasetMetricPoint.id.desc())
                    .limit(MAX_POINTS)
                ).scalars()
            ]
            now = now_ms()
            if start_time <= now <= end_time:
                points.append((now, current_values(session, dataset_id)))
        series: dict[str, dict[str, int]] = {name: {} for name in SERIES}
        for at, values in sorted(points, key=lambda p: p[0]):
            for name in SERIES:
                if name in values:
                    series[name][str(at)] = int(values[name])
        return {"metrics": series}
