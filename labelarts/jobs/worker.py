"""A worker: claims queued tasks from the database and runs their bodies on a few threads.

The same class runs inside ``labelarts worker`` processes (what ``labelarts serve`` starts
beside the API) and inside a test's or embedded server's own process. A body is found by the
task's ``kind`` in a registry of handlers, and reads everything else from the task's row
(:class:`~labelarts.jobs.runner.ClaimedTask`), so any worker on any machine can run any task.

While it runs tasks the worker renews their leases (a heartbeat, and every progress report);
every so often it recovers tasks whose lease ran out because their worker died. On
:meth:`Worker.shutdown`, running bodies are asked to stop at their next progress report and
end STOPPED; a body that does not report within the grace period is left to lease recovery.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from labelarts.errors import LabelArtsError
from labelarts.jobs.runner import ClaimedTask, LeaseLost, StopRequested, TaskContext, TaskRunner
from labelarts.jobs.states import TaskStatus

log = logging.getLogger(__name__)

TaskHandler = Callable[[TaskContext], dict[str, Any]]
# Longest error_msg a task keeps; the whole message goes to the log.
MAX_ERROR_MESSAGE = 500
_HAND_OVER_POLL_S = 0.5


def new_owner() -> str:
    """A worker's identity in ``tasks.owner``: host, process id and a random part (a new
    worker in a reused process id is still someone else)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


def failure(exc: BaseException, task: ClaimedTask) -> tuple[str, str]:
    """The (error_code, error_msg) a failed task keeps: a domain error's own short message, or
    a generic one with an error id that finds the details in the log."""
    if isinstance(exc, LabelArtsError):
        message = exc.message
        if len(message) <= MAX_ERROR_MESSAGE:
            log.info("task %s (%s) failed: %s", task.id, task.kind, message)
            return exc.code, message
        error_id = secrets.token_hex(6)
        log.error("task %s (%s) failed, error id %s: %s", task.id, task.kind, error_id, message)
        return exc.code, f"{message[: MAX_ERROR_MESSAGE - 40]}... (error id {error_id})"
    error_id = secrets.token_hex(6)
    log.error("task %s (%s) failed, error id %s", task.id, task.kind, error_id, exc_info=exc)
    return "ModelArts.4392", f"Task failed on an internal error (error id {error_id}); see the server log."


class HandOverFailed(LabelArtsError):
    """A task handed to another executor (a Ray cluster) that never ran there."""

    error_code = "ModelArts.4392"


class Submitted(Protocol):
    """What :meth:`HandOver.submit` started (a Ray job)."""

    name: str

    def ended(self) -> str | None:
        """None while it may still run; else why it ended."""

    def cancel(self) -> None:
        """Stop it (it has not taken the task over)."""


class HandOver(Protocol):
    """Another executor for some task kinds: the worker claims such a task, submits it, and
    holds its lease until the body there takes it over with
    :meth:`~labelarts.jobs.runner.TaskRunner.take_over`; from then on task state, progress,
    stop and lease are that body's, in the database, as with a local body."""

    kinds: frozenset[str]
    start_seconds: float  # the longest a submitted body may take to take the task over

    def submit(self, task: ClaimedTask, owner: str) -> Submitted:
        """Start the body elsewhere; it takes the task over from ``owner``."""


def run_claimed(
    runner: TaskRunner, handler: TaskHandler, task: ClaimedTask, owner: str, closing: threading.Event
) -> None:
    """Run ``handler`` on ``owner``'s claimed task and end the task as the body did:
    SUCCEEDED with its result, STOPPED, or FAILED with :func:`failure`'s error. A body that
    lost the task (:class:`LeaseLost`, or failing once the task is no longer ``owner``'s)
    writes nothing more. ``closing`` set: the body stops at its next progress report."""
    ctx = TaskContext(runner, task, owner, closing)
    try:
        try:
            result = handler(ctx)
        except LeaseLost:
            log.warning("task %s is no longer ours (%s): stopped", task.id, owner)
        except StopRequested:
            runner.finish(task.id, owner, TaskStatus.STOPPED)
        except Exception as exc:
            if runner.owns(task.id, owner):
                runner.finish(task.id, owner, TaskStatus.FAILED, error=failure(exc, task))
            else:  # e.g. its dataset was deleted under it: the error is a consequence
                log.warning("task %s failed after it stopped being ours (%s): %r", task.id, owner, exc)
        else:
            runner.finish(task.id, owner, TaskStatus.SUCCEEDED, result=result)
    except Exception:  # finishing failed (database away): its lease runs out, recovery ends it
        log.exception("task %s: recording its end failed", task.id)


class Worker:
    """Runs up to ``slots`` tasks at once, at most ``per_project`` of them for one project
    (default ``slots - 1``, at least 1), so one project never holds every slot."""

    def __init__(
        self,
        runner: TaskRunner,
        handlers: Mapping[str, TaskHandler],
        *,
        slots: int = 2,
        per_project: int | None = None,
        poll_seconds: float = 0.5,
        heartbeat_seconds: float | None = None,
        recover_seconds: float | None = None,
        owner: str | None = None,
        hand_over: HandOver | None = None,
    ) -> None:
        lease_s = runner.lease_ms / 1000
        self.owner = owner or new_owner()
        self._runner = runner
        self._handlers = dict(handlers)
        self._hand_over = hand_over
        self._slots = max(1, slots)
        self._per_project = per_project or max(1, self._slots - 1)
        self._poll_s = poll_seconds
        self._heartbeat_s = heartbeat_seconds if heartbeat_seconds is not None else lease_s / 3
        self._recover_s = recover_seconds if recover_seconds is not None else lease_s / 2
        self._running: dict[str, ClaimedTask] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = threading.Event()  # bodies stop at their next report; nothing new starts
        self._stopped = threading.Event()  # the loop ends
        self._loop_thread: threading.Thread | None = None

    @property
    def running(self) -> list[str]:
        with self._lock:
            return list(self._running)

    def start(self) -> Worker:
        self._runner.on_queued(self._wake.set)
        self._loop_thread = threading.Thread(target=self._loop, name="labelarts-worker", daemon=True)
        self._loop_thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        next_heartbeat = next_recovery = 0.0
        while not self._stopped.is_set():
            try:
                now = time.monotonic()
                if now >= next_recovery and not self._closing.is_set():
                    self._runner.recover_expired()
                    next_recovery = now + self._recover_s
                if now >= next_heartbeat:
                    if self.running:
                        self._runner.heartbeat(self.owner)
                    next_heartbeat = now + self._heartbeat_s
                while not self._closing.is_set() and self._claim_one():
                    pass
            except Exception:  # the database may be away for a moment; try again next poll
                log.exception("task worker %s: polling failed", self.owner)
            self._wake.wait(min(self._poll_s, self._heartbeat_s))
            self._wake.clear()

    def _claim_one(self) -> bool:
        with self._lock:
            if len(self._running) >= self._slots:
                return False
            load = Counter(t.project_id for t in self._running.values())
        full = [project for project, count in load.items() if count >= self._per_project]
        task = self._runner.claim(self.owner, kinds=self._handlers, full_projects=full)
        if task is None:
            return False
        thread = threading.Thread(
            target=self._run, args=(task,), name=f"labelarts-task-{task.id}", daemon=True
        )
        # Started under the lock: shutdown() snapshots _threads under it and joins each one,
        # and joining a thread that has not started yet raises.
        with self._lock:
            self._running[task.id] = task
            self._threads[task.id] = thread
            thread.start()
        return True

    def _run(self, task: ClaimedTask) -> None:
        try:
            if self._hand_over is not None and task.kind in self._hand_over.kinds:
                self._run_elsewhere(task, self._hand_over)
            else:
                run_claimed(self._runner, self._handlers[task.kind], task, self.owner, self._closing)
        finally:
            with self._lock:
                self._running.pop(task.id, None)
                self._threads.pop(task.id, None)
            self._wake.set()

    def _run_elsewhere(self, task: ClaimedTask, hand_over: HandOver) -> None:
        """Submit the task to ``hand_over`` and hold its lease until the body there takes the
        task over (:meth:`TaskRunner.take_over`). If the submission fails, or what was
        submitted ends or does not start in time without taking it, the task fails here. On
        shutdown the worker stops waiting: a body that starts within the lease still takes
        the task over, otherwise lease recovery ends it."""
        try:
            submitted = hand_over.submit(task, self.owner)
        except Exception as exc:
            self._end_failed(task, exc)
            return
        deadline = time.monotonic() + hand_over.start_seconds
        while self._runner.owns(task.id, self.owner):
            if self._closing.is_set():
                log.info("task %s: shutting down before %s took it over", task.id, submitted.name)
                return
            ended = submitted.ended()
            if ended is not None or time.monotonic() > deadline:
                if not self._runner.owns(task.id, self.owner):
                    return  # it took the task over, then ended
                if ended is None:
                    submitted.cancel()
                    ended = f"it did not start in {hand_over.start_seconds:.0f} s"
                why = f"{submitted.name} ended without running the task: {ended}"
                self._end_failed(task, HandOverFailed(why))
                return
            self._closing.wait(_HAND_OVER_POLL_S)
        log.info("task %s is now run by %s", task.id, submitted.name)

    def _end_failed(self, task: ClaimedTask, exc: BaseException) -> None:
        try:
            if self._runner.owns(task.id, self.owner):
                self._runner.finish(task.id, self.owner, TaskStatus.FAILED, error=failure(exc, task))
        except Exception:
            log.exception("task %s: recording its end failed", task.id)

    def shutdown(self, grace_seconds: float = 10.0) -> list[str]:
        """Stop claiming; ask running bodies to stop at their next progress report and wait up
        to ``grace_seconds`` for them. Returns the ids of tasks still running then (their
        leases run out and another worker recovers them)."""
        self._closing.set()
        self._wake.set()
        deadline = time.monotonic() + grace_seconds
        with self._lock:
            threads = list(self._threads.values())
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._stopped.set()
        self._wake.set()
        if self._loop_thread is not None:
            self._loop_thread.join(max(1.0, deadline - time.monotonic()))
        left = self.running
        if left:
            log.warning("worker %s exits with tasks still running: %s", self.owner, ", ".join(left))
        return left
