"""Task metrics for Prometheus, read from the database at scrape time.

Counted from the ``tasks`` table rather than kept in process memory, so every API instance
and every worker process sees the same figures: whichever instance is scraped answers for
the whole deployment (aggregate them across instances with ``max``, not ``sum``).

- ``labelarts_tasks{kind,status}`` (gauge): tasks by kind and status; ``status="QUEUED"`` is
  the queue depth.
- ``labelarts_tasks_oldest_queued_seconds{kind}`` (gauge): how long the oldest queued task of
  the kind has waited (0 when none waits).
- ``labelarts_task_duration_seconds{kind,status}`` (summary: ``_count`` and ``_sum``): run
  time (start to end) of finished tasks, by final status.
- ``labelarts_task_metrics_up`` (gauge): 0 when the database could not be read this scrape.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from prometheus_client.core import GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from labelarts.clock import now_ms
from labelarts.jobs.states import TaskStatus
from labelarts.storage.db import Database
from labelarts.storage.db.models import Task

log = logging.getLogger(__name__)
FINISHED = (TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.STOPPED)


class TaskMetricsCollector(Collector):
    """A custom collector: each scrape runs three grouped queries over ``tasks``.

    ``database`` is a callable because the app builds its services in its lifespan, after
    the registry exists.
    """

    def __init__(self, database: Callable[[], Database]) -> None:
        self._database = database

    def describe(self) -> Iterable[Metric]:
        return []  # registering must not query the database

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("labelarts_task_metrics_up", "1 if the task table could be read.")
        try:
            families = self._read()
        except SQLAlchemyError:
            log.warning("task metrics: the database could not be read", exc_info=True)
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        return [*families, up]

    def _read(self) -> list[Metric]:
        tasks = GaugeMetricFamily("labelarts_tasks", "Tasks by kind and status.", labels=["kind", "status"])
        oldest = GaugeMetricFamily(
            "labelarts_tasks_oldest_queued_seconds",
            "Seconds the oldest queued task of the kind has waited.",
            labels=["kind"],
        )
        durations = SummaryMetricFamily(
            "labelarts_task_duration_seconds",
            "Run time of finished tasks (start to end), by final status.",
            labels=["kind", "status"],
        )
        with self._database().session() as session:
            counts = session.execute(
                select(Task.kind, Task.status, func.count()).group_by(Task.kind, Task.status)
            )
            by_kind: dict[str, dict[str, int]] = {}
            for kind, status, count in counts:
                by_kind.setdefault(kind, {})[status] = int(count)
            waiting: dict[str, int] = dict(
                session.execute(
                    select(Task.kind, func.min(Task.create_time))
                    .where(Task.status == TaskStatus.QUEUED)
                    .group_by(Task.kind)
                ).all()
            )
            finished = session.execute(
                select(Task.kind, Task.status, func.count(), func.sum(Task.end_time - Task.start_time))
                .where(Task.status.in_(FINISHED), Task.start_time.is_not(None), Task.end_time.is_not(None))
                .group_by(Task.kind, Task.status)
            ).all()
            run_times = [
                (kind, status, int(count), float(total or 0)) for kind, status, count, total in finished
            ]
        now = now_ms()
        for kind in sorted(by_kind):
            for status in TaskStatus:  # every status, so a drained queue reads 0, not absent
                tasks.add_metric([kind, status.value], by_kind[kind].get(status.value, 0))
            first = waiting.get(kind)
            oldest.add_metric([kind], max(0.0, (now - first) / 1000) if first is not None else 0.0)
        for kind, status, count, total_ms in sorted(run_times):
            durations.add_metric([kind, status], count_value=count, sum_value=total_ms / 1000)
        return [tasks, oldest, durations]
