"""A worker that hands tasks to another executor (:class:`~labelarts.jobs.worker.HandOver`, what
the Ray executor is), with a fake executor that runs the body on a thread of its own under
another owner: the body takes the task over, the worker lets go, and state, progress, stop and
the end are the body's, in the database; failures before the take-over fail the task."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from labelarts.jobs.runner import ClaimedTask, TaskContext, TaskRunner
from labelarts.jobs.states import TaskStatus
from labelarts.jobs.worker import Worker, run_claimed
from labelarts.storage.db import Database
from tests.jobs import make_dataset, queue, status_of, task_row, wait_until

PROJECT = "p" * 32


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.migrate()
    try:
        yield database
    finally:
        database.dispose()


class FakeJob:
    def __init__(self, name: str) -> None:
        self.name = name
        self.done = threading.Event()
        self.cancelled = False
        self.why: str | None = None

    def ended(self) -> str | None:
        return self.why if self.done.is_set() else None

    def cancel(self) -> None:
        self.cancelled = True


class FakeCluster:
    """Runs a handed-over task's body on a thread of its own as owner ``elsewhere``, once the
    test lets it start (``go``), or never takes it over (``take=False``)."""

    def __init__(self, runner: TaskRunner, body: Any, *, take: bool = True, fail: bool = False) -> None:
        self.kinds = frozenset({"heavy"})
        self.start_seconds = 30.0
        self.go = threading.Event()
        self.jobs: list[FakeJob] = []
        self._runner, self._body, self._take, self._fail = runner, body, take, fail

    def submit(self, task: ClaimedTask, owner: str) -> FakeJob:
        if self._fail:
            raise ConnectionError("cluster unreachable")
        job = FakeJob(f"fake job {len(self.jobs)}")
        self.jobs.append(job)

        def run() -> None:
            self.go.wait(30)
            if self._take:
                taken = self._runner.take_over(task.id, owner, "elsewhere")
                if taken is not None:
                    run_claimed(self._runner, self._body, taken, "elsewhere", threading.Event())
            job.why = "SUCCEEDED" if self._take else "FAILED: the driver crashed"
            job.done.set()

        threading.Thread(target=run, daemon=True).start()
        return job


def body(ctx: TaskContext) -> dict[str, Any]:
    ctx.report(0.5, step="half")
    return {"ran_on": "elsewhere"}


def local_body(ctx: TaskContext) -> dict[str, Any]:
    return {"ran_on": "here"}


def test_a_handed_over_task_outlives_its_worker_and_ends_as_the_body_ends_it(db: Database) -> None:
    runner = TaskRunner(db, lease_seconds=5)
    cluster = FakeCluster(runner, body)
    worker = Worker(
        runner, {"heavy": body, "light": local_body}, poll_seconds=0.05, hand_over=cluster
    ).start()
    try:
        heavy = queue(runner, PROJECT, make_dataset(db, PROJECT), "heavy")
        other = "q" * 32  # one project holds one of the two slots at most
        light = queue(runner, other, make_dataset(db, other), "light")
        wait_until(lambda: status_of(db, light) == "SUCCEEDED", "the local task ends")
        assert task_row(db, light).result == {"ran_on": "here"}
        wait_until(lambda: bool(cluster.jobs), "the heavy task is submitted")
        assert status_of(db, heavy) == "RUNNING" and task_row(db, heavy).owner == worker.owner
    finally:
        assert worker.shutdown(5.0) == []  # it lets go of the submitted task
    cluster.go.set()  # the job starts after the worker is gone, within the lease
    wait_until(lambda: status_of(db, heavy) == "SUCCEEDED", "the handed-over task ends")
    row = task_row(db, heavy)
    assert row.owner == "elsewhere"
    assert row.result == {"step": "half", "ran_on": "elsewhere"}
    assert row.progress == 1.0


def test_a_stop_reaches_the_body_that_took_the_task_over(db: Database) -> None:
    runner = TaskRunner(db, lease_seconds=5)
    release = threading.Event()

    def slow(ctx: TaskContext) -> dict[str, Any]:
        while not release.is_set():
            ctx.report(0.3)
            release.wait(0.02)
        return {}

    cluster = FakeCluster(runner, slow)
    cluster.go.set()
    worker = Worker(runner, {"heavy": slow}, poll_seconds=0.05, hand_over=cluster).start()
    try:
        task_id = queue(runner, PROJECT, make_dataset(db, PROJECT), "heavy")
        wait_until(lambda: task_row(db, task_id).owner == "elsewhere", "the body takes the task over")
        assert runner.request_stop(task_id) == TaskStatus.RUNNING
        wait_until(lambda: status_of(db, task_id) == "STOPPED", "the body stops")
    finally:
        release.set()
        worker.shutdown(5.0)


@pytest.mark.parametrize("failure", ["submit", "never-taken"])
def test_a_task_that_never_ran_elsewhere_fails(db: Database, failure: str) -> None:
    runner = TaskRunner(db, lease_seconds=5)
    cluster = FakeCluster(runner, body, take=failure != "never-taken", fail=failure == "submit")
    cluster.go.set()
    worker = Worker(runner, {"heavy": body}, poll_seconds=0.05, hand_over=cluster).start()
    try:
        task_id = queue(runner, PROJECT, make_dataset(db, PROJECT), "heavy")
        wait_until(lambda: status_of(db, task_id) == "FAILED", "the task fails")
    finally:
        worker.shutdown(5.0)
    row = task_row(db, task_id)
    assert row.error_code == "ModelArts.4392"
    if failure == "never-taken":
        assert row.error_msg == "fake job 0 ended without running the task: FAILED: the driver crashed"
    else:
        assert row.error_msg is not None and "internal error" in row.error_msg
