"""Two task runners on one database: leases, recovery, exclusivity, stopping, fairness."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import update

from labelarts.jobs.runner import INTERRUPTED, SHUT_DOWN, LeaseLost, TaskContext, TaskRunner
from labelarts.jobs.states import FINAL, TaskStatus
from labelarts.jobs.worker import Worker
from labelarts.storage.db import Database
from labelarts.storage.db.models import Task
from tests.jobs import make_dataset, queue, status_of, task_row, wait_until

PROJECT_A, PROJECT_B = "a" * 32, "b" * 32


@pytest.fixture
def databases(database_url: str) -> Iterator[tuple[Database, Database]]:
    """Two handles on one database, as two instances (or a restarted one) have."""
    first = Database(database_url)
    first.migrate()
    second = Database(database_url)
    try:
        yield first, second
    finally:
        first.dispose()
        second.dispose()


class Gates:
    """Task bodies that wait for the test: ``release(task_id)`` lets one finish. While waiting
    they report progress (renewing their lease and noticing stops) every few milliseconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: set[str] = set()
        self.started: list[str] = []
        self.errors: dict[str, BaseException] = {}

    def release(self, task_id: str) -> None:
        with self._lock:
            self._open.add(task_id)

    def release_all(self) -> None:
        with self._lock:
            self._open.add("*")

    def _is_open(self, task_id: str) -> bool:
        with self._lock:
            return task_id in self._open or "*" in self._open

    def body(self, ctx: TaskContext) -> dict[str, Any]:
        with self._lock:
            self.started.append(ctx.task_id)
        try:
            while not self._is_open(ctx.task_id):
                ctx.report(0.5)
                time.sleep(0.01)
        except BaseException as exc:
            self.errors[ctx.task_id] = exc
            raise
        return {"done_by": ctx.task_id}


def worker(runner: TaskRunner, handlers: dict[str, Any], **options: Any) -> Worker:
    return Worker(runner, handlers, poll_seconds=0.05, **options).start()


def expire_lease(db: Database, task_id: str) -> None:
    with db.session() as session:
        session.execute(update(Task).where(Task.id == task_id).values(lease_expires_at=1))


def test_a_restart_of_one_runner_fails_none_of_the_others_tasks(
    databases: tuple[Database, Database],
) -> None:
    db_a, db_b = databases
    gates = Gates()
    runner_a = TaskRunner(db_a)
    worker_a = worker(runner_a, {"auto-label": gates.body})
    dataset_id = make_dataset(db_a, PROJECT_A)
    task_id = queue(runner_a, PROJECT_A, dataset_id, "auto-label")
    try:
        wait_until(lambda: task_id in gates.started, "the task started on A")
        # B starts (a new instance, or A's neighbour restarting): its start-up recovery runs.
        runner_b = TaskRunner(db_b)
        worker_b = worker(runner_b, {"auto-label": gates.body})
        assert runner_b.recover_expired() == []
        worker_b.shutdown(5)
        worker_b = worker(TaskRunner(db_b), {"auto-label": gates.body})  # and restarts
        row = task_row(db_b, task_id)
        assert row.status == TaskStatus.RUNNING and row.owner == worker_a.owner
        # The task is still exclusive: a second one on the dataset is refused, from either side.
        for runner in (runner_a, runner_b):
            with pytest.raises(RuntimeError, match="conflict"):
                queue(runner, PROJECT_A, dataset_id, "auto-label")
        gates.release(task_id)
        wait_until(lambda: status_of(db_b, task_id) == TaskStatus.SUCCEEDED, "the task succeeded")
        assert task_row(db_b, task_id).result == {"done_by": task_id}
        assert task_id not in gates.errors
        worker_b.shutdown(5)
    finally:
        gates.release_all()
        worker_a.shutdown(5)


def test_an_expired_lease_is_recovered_exactly_once(databases: tuple[Database, Database]) -> None:
    db_a, db_b = databases
    runners = [TaskRunner(db_a), TaskRunner(db_b), TaskRunner(db_a), TaskRunner(db_b)]
    dataset_id = make_dataset(db_a, PROJECT_A)
    for attempt in range(5):  # bounded: five races of four recoverers
        task_id = queue(runners[0], PROJECT_A, dataset_id, "import")
        claimed = runners[0].claim(f"ghost-{attempt}", kinds=["import"])  # a worker that then died
        assert claimed is not None and claimed.id == task_id
        expire_lease(db_a, task_id)
        recovered = recover_all_at_once(runners)
        assert [t for ids in recovered for t in ids] == [task_id], recovered
        row = task_row(db_b, task_id)
        assert row.status == TaskStatus.FAILED
        assert (row.error_code, row.error_msg) == INTERRUPTED


def recover_all_at_once(runners: list[TaskRunner]) -> list[list[str]]:
    """Every runner's ``recover_expired()``, started together; what each recovered."""
    barrier = threading.Barrier(len(runners))
    recovered: list[list[str]] = [[] for _ in runners]

    def recover(i: int) -> None:
        barrier.wait()
        recovered[i] = runners[i].recover_expired()

    threads = [threading.Thread(target=recover, args=(i,)) for i in range(len(runners))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return recovered


def test_a_task_whose_lease_is_alive_is_never_recovered(databases: tuple[Database, Database]) -> None:
    db_a, db_b = databases
    runner = TaskRunner(db_a, lease_seconds=60)
    dataset_id = make_dataset(db_a, PROJECT_A)
    task_id = queue(runner, PROJECT_A, dataset_id, "import")
    assert runner.claim("someone", kinds=["import"]) is not None
    assert TaskRunner(db_b).recover_expired() == []
    assert status_of(db_b, task_id) == TaskStatus.RUNNING


@pytest.mark.parametrize("body_then", ["reports", "returns"])
def test_a_task_that_lost_its_lease_stops_cleanly(
    databases: tuple[Database, Database], body_then: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Recovered elsewhere while its worker was stalled: the body's next report raises
    LeaseLost, or its result is dropped; no IllegalTransition, the recovery's FAILED stays."""
    db_a, db_b = databases
    stalled = threading.Event()
    go_on = threading.Event()
    seen: list[BaseException] = []

    def body(ctx: TaskContext) -> dict[str, Any]:
        ctx.report(0.1)
        stalled.set()
        go_on.wait(30)
        if body_then == "reports":
            try:
                ctx.report(0.9)
            except BaseException as exc:
                seen.append(exc)
                raise
        return {"written": True}

    # No heartbeat during the test: the lease ends when the test says so.
    worker_a = worker(TaskRunner(db_a), {"import": body}, heartbeat_seconds=3600)
    dataset_id = make_dataset(db_a, PROJECT_A)
    task_id = queue(TaskRunner(db_a), PROJECT_A, dataset_id, "import")
    try:
        assert stalled.wait(30)
        expire_lease(db_a, task_id)
        assert TaskRunner(db_b).recover_expired() == [task_id]
        with caplog.at_level(logging.WARNING, logger="labelarts"):
            go_on.set()
            wait_until(lambda: not worker_a.running, "worker A let go of the task")
        row = task_row(db_b, task_id)
        assert row.status == TaskStatus.FAILED and (row.error_code, row.error_msg) == INTERRUPTED
        assert "written" not in row.result
        if body_then == "reports":
            assert len(seen) == 1 and isinstance(seen[0], LeaseLost)
        assert "no longer ours" in caplog.text
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    finally:
        go_on.set()
        worker_a.shutdown(5)


def test_two_exclusive_tasks_never_run_together(databases: tuple[Database, Database]) -> None:
    """Two workers poll one database while two clients keep queueing the same exclusive
    task (same dataset, same kind); the bodies' run times never overlap."""
    db_a, db_b = databases
    lock = threading.Lock()
    active: list[str] = []
    overlaps: list[tuple[str, str]] = []
    finished: list[str] = []

    def body(ctx: TaskContext) -> dict[str, Any]:
        with lock:
            overlaps.extend((other, ctx.task_id) for other in active)
            active.append(ctx.task_id)
        for step in range(5):
            ctx.report(step / 5)
            time.sleep(0.005)
        with lock:
            active.remove(ctx.task_id)
            finished.append(ctx.task_id)
        return {}

    dataset_id = make_dataset(db_a, PROJECT_A)
    workers = [worker(TaskRunner(db), {"auto-label": body}, slots=3) for db in (db_a, db_b)]
    created: list[str] = []

    def client(db: Database) -> None:
        runner = TaskRunner(db)
        deadline = time.monotonic() + 60
        while len(created) < 8 and time.monotonic() < deadline:
            try:
                task_id = queue(runner, PROJECT_A, dataset_id, "auto-label")
            except RuntimeError:  # refused: one is active
                time.sleep(0.002)
                continue
            with lock:
                created.append(task_id)

    try:
        clients = [threading.Thread(target=client, args=(db,)) for db in (db_a, db_b)]
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join(90)
        assert len(created) >= 8
        wait_until(lambda: len(finished) == len(created), "every queued task ran")
        # A body has returned before its task's end is written: wait for that too.
        wait_until(lambda: all(status_of(db_a, t) in FINAL for t in created), "every task's end is written")
        assert overlaps == []
        assert all(status_of(db_a, t) == TaskStatus.SUCCEEDED for t in created)
    finally:
        for w in workers:
            w.shutdown(5)


def test_the_next_claim_goes_to_the_project_with_fewest_running_tasks(
    databases: tuple[Database, Database],
) -> None:
    db_a, db_b = databases
    runner = TaskRunner(db_a)
    a1, a2 = (queue(runner, PROJECT_A, make_dataset(db_a, PROJECT_A), "import") for _ in range(2))
    b1 = queue(runner, PROJECT_B, make_dataset(db_a, PROJECT_B), "import")  # queued last
    first = runner.claim("w1", kinds=["import"])
    assert first is not None and first.id == a1  # oldest first while nobody runs anything
    second = TaskRunner(db_b).claim("w2", kinds=["import"])  # another worker, same queue
    assert second is not None and second.id == b1  # A runs one, B none: B goes before A's second
    third = runner.claim("w1", kinds=["import"])
    assert third is not None and third.id == a2


def test_one_projects_queue_cannot_hold_every_slot(databases: tuple[Database, Database]) -> None:
    """Project A queues three long tasks, then project B one small import; with two slots,
    B's import runs and completes while all of A's are still unfinished."""
    db_a, _ = databases
    gates = Gates()
    runner = TaskRunner(db_a)

    def small_import(ctx: TaskContext) -> dict[str, Any]:
        ctx.report(0.5)
        return {"imported_sample_count": 1}

    a_tasks = [queue(runner, PROJECT_A, make_dataset(db_a, PROJECT_A), "auto-label") for _ in range(3)]
    b_task = queue(runner, PROJECT_B, make_dataset(db_a, PROJECT_B), "import")
    w = worker(runner, {"auto-label": gates.body, "import": small_import}, slots=2)
    try:
        wait_until(lambda: status_of(db_a, b_task) == TaskStatus.SUCCEEDED, "B's import completed")
        statuses = [status_of(db_a, t) for t in a_tasks]
        assert statuses == [TaskStatus.RUNNING, TaskStatus.QUEUED, TaskStatus.QUEUED], statuses
        # Only one of A's ever ran at once, and once released, all complete in turn.
        gates.release_all()
        wait_until(lambda: all(status_of(db_a, t) == TaskStatus.SUCCEEDED for t in a_tasks), "A's tasks done")
    finally:
        gates.release_all()
        w.shutdown(5)


def test_shutdown_stops_running_tasks_at_their_next_report_and_leaves_queued_ones(
    databases: tuple[Database, Database],
) -> None:
    db_a, _ = databases
    gates = Gates()
    runner = TaskRunner(db_a)
    running = queue(runner, PROJECT_A, make_dataset(db_a, PROJECT_A), "import")
    waiting = queue(runner, PROJECT_A, make_dataset(db_a, PROJECT_A), "import")
    w = worker(runner, {"import": gates.body}, slots=1)
    wait_until(lambda: running in gates.started, "the first task started")
    assert w.shutdown(10) == []  # every body stopped within the grace period
    row = task_row(db_a, running)
    assert row.status == TaskStatus.STOPPED and (row.error_code, row.error_msg) == SHUT_DOWN
    assert row.lease_expires_at is None
    assert status_of(db_a, waiting) == TaskStatus.QUEUED  # another worker (or this one, later) runs it
    assert waiting not in gates.started


def test_a_user_stop_ends_the_task_stopped_without_an_error(databases: tuple[Database, Database]) -> None:
    db_a, db_b = databases
    gates = Gates()
    runner = TaskRunner(db_a)
    task_id = queue(runner, PROJECT_A, make_dataset(db_a, PROJECT_A), "import")
    w = worker(runner, {"import": gates.body})
    try:
        wait_until(lambda: task_id in gates.started, "the task started")
        assert TaskRunner(db_b).request_stop(task_id) == TaskStatus.RUNNING  # from another instance
        wait_until(lambda: status_of(db_a, task_id) == TaskStatus.STOPPED, "the task stopped")
        assert task_row(db_a, task_id).error_code is None
    finally:
        w.shutdown(5)


def test_a_failed_tasks_error_is_short_with_an_id_and_the_details_are_logged(
    databases: tuple[Database, Database], caplog: pytest.LogCaptureFixture
) -> None:
    db_a, _ = databases
    statement = "INSERT INTO samples VALUES " + ", ".join(["(?, ?, ?)"] * 20_000)

    def body(ctx: TaskContext) -> dict[str, Any]:
        raise RuntimeError(statement)

    runner = TaskRunner(db_a)
    task_id = queue(runner, PROJECT_A, make_dataset(db_a, PROJECT_A), "import")
    with caplog.at_level(logging.ERROR, logger="labelarts"):
        w = worker(runner, {"import": body})
        try:
            wait_until(lambda: status_of(db_a, task_id) == TaskStatus.FAILED, "the task failed")
        finally:
            w.shutdown(5)
    row = task_row(db_a, task_id)
    assert row.error_code == "ModelArts.4392"
    assert row.error_msg is not None and len(row.error_msg) < 200, row.error_msg
    assert "INSERT" not in row.error_msg
    error_id = row.error_msg.split("error id ")[1].split(")")[0]
    logged = [r for r in caplog.records if error_id in r.getMessage()]
    assert logged and logged[0].exc_info is not None and statement in str(logged[0].exc_info[1])


def test_a_task_run_by_its_caller_keeps_its_long_lease_through_reports(
    databases: tuple[Database, Database],
) -> None:
    """run_here (benchmarks, tests): no heartbeat renews it, and a report never shortens it."""
    db_a, db_b = databases
    runner = TaskRunner(db_a, lease_seconds=1)
    ctx = runner.run_here(
        project_id=PROJECT_A, dataset_id=make_dataset(db_a, PROJECT_A), kind="auto-label", config={}
    )
    ctx.report(0.5)
    row = task_row(db_b, ctx.task_id)
    assert row.status == TaskStatus.RUNNING
    assert row.lease_expires_at is not None and row.lease_expires_at > row.update_time + 3600_000
    assert TaskRunner(db_b).recover_expired() == []
