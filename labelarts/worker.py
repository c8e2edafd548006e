"""Worker processes: ``labelarts worker`` (:func:`run_worker`), and the supervisor that
``labelarts serve`` uses to run some beside the API (:class:`WorkerProcesses`).

Task bodies (imports, model inference) run in worker processes, so they never compete with
request threads for the API process's GIL, and a worker that crashes takes no request with
it. A worker started by ``serve`` watches its parent and shuts down when it is gone, and is woken
through its standard input as the API queues each task (:meth:`WorkerProcesses.wake`), so a
task starts at once rather than at the worker's next poll of the database.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import site
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from labelarts.config import Settings
from labelarts.container import build_services
from labelarts.logs import configure_logging
from labelarts.startup import settle_long_lived_objects

log = logging.getLogger(__name__)

# A worker that dies sooner than this after its start counts as crashing: restarts back off.
_STABLE_S = 10.0
_MAX_BACKOFF_S = 30.0
_PARENT_CHECK_S = 0.5


def run_worker(settings: Settings, *, parent_pid: int | None = None, wake_on_stdin: bool = False) -> None:
    """Run queued tasks until SIGTERM/SIGINT (or, with ``parent_pid``, until that process is
    gone); then ask running tasks to stop and wait ``worker_shutdown_seconds`` for them.
    ``wake_on_stdin``: each byte read from standard input means "a task was queued" (the
    doorbell of :meth:`WorkerProcesses.wake`)."""
    configure_logging(settings.log_level)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("worker: signal %d, stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    services = build_services(settings, run_tasks=False)
    settle_long_lived_objects()
    try:
        worker = services.start_worker()
        log.info("worker %s runs up to %d tasks at once", worker.owner, settings.job_workers)
        if wake_on_stdin:
            doorbell = threading.Thread(target=_doorbell, args=(worker.wake,), name="labelarts-doorbell")
            doorbell.daemon = True
            doorbell.start()
        while not stop.wait(_PARENT_CHECK_S):
            if parent_pid is not None and os.getppid() != parent_pid:
                log.warning("worker: parent process %d is gone, stopping", parent_pid)
                break
    finally:
        services.close()


def _doorbell(wake: Callable[[], None]) -> None:
    """Wake the worker for every read from standard input (several rings may arrive as one
    read: one look at the queue claims every task waiting); end at end of file."""
    while True:
        try:
            rung = os.read(0, 512)
        except OSError:
            return
        if not rung:
            return
        wake()


def run_ray_task(settings: Settings, task_id: str, from_owner: str) -> None:
    """The driver of a Ray job (:class:`labelarts.jobs.ray_executor.RayJobs`): take the task
    over from the worker that submitted it, then run its body exactly as that worker would
    (:func:`~labelarts.jobs.worker.run_claimed`), renewing its lease meanwhile, with feature
    extraction on the cluster's encoder actors. The task is the job's from then on: neither
    the worker nor the API instance that accepted it is needed any more. SIGTERM (``ray job
    stop``) stops the body at its next progress report, as a worker's shutdown does."""
    import ray

    from labelarts.jobs.ray_executor import RayFeatureBatches
    from labelarts.jobs.worker import new_owner, run_claimed

    configure_logging(settings.log_level)
    closing = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("Ray task driver: signal %d, stopping the task", signum)
        closing.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    ray.init(address="auto", logging_level=logging.WARNING, log_to_driver=False)
    batches = RayFeatureBatches(
        models_dir=settings.resolved_models_dir, threads=settings.ml_threads, actors=settings.ray_encoders
    )
    services = build_services(settings, run_tasks=False, feature_batches=batches)
    owner = f"ray:{new_owner()}"
    try:
        task = services.tasks.take_over(task_id, from_owner, owner)
        if task is None:
            log.warning("task %s is no longer %s's: nothing to run", task_id, from_owner)
            return
        log.info("task %s (%s) taken over from %s as %s", task.id, task.kind, from_owner, owner)
        stop_heartbeat = threading.Event()
        heartbeat_s = services.tasks.lease_ms / 3000

        def heartbeat() -> None:
            while not stop_heartbeat.wait(heartbeat_s):
                try:
                    services.tasks.heartbeat(owner)
                except Exception:  # the database may be away for a moment
                    log.exception("task %s: heartbeat failed", task.id)

        beating = threading.Thread(target=heartbeat, name="labelarts-ray-heartbeat", daemon=True)
        beating.start()
        try:
            run_claimed(services.tasks, services.task_handlers[task.kind], task, owner, closing)
        finally:
            stop_heartbeat.set()
            beating.join(5.0)
        from labelarts.ml.features.registry import loaded_encoders

        # The weights belong in the encoder actors only (tests/ray checks this line).
        log.info("task %s: models loaded by this driver: %s", task.id, ", ".join(loaded_encoders()) or "none")
    finally:
        batches.close()
        services.close()
        ray.shutdown()


# A worker runs ``python -P -m labelarts worker``: without -P, ``-m`` puts the current directory
# first on sys.path, and ``labelarts serve`` started in a folder holding another ``labelarts``
# package (a checkout of another version) ran that code in its workers.
WORKER_COMMAND = (sys.executable, "-P", "-m", "labelarts", "worker")


def worker_environment(settings: Settings) -> dict[str, str]:
    """The environment of a worker process: this one's, plus every setting given to this one
    (flags of ``serve`` included), written as its ``LABELARTS_*`` variable. The secret stays
    out: the worker reads it from the same data dir, or from the inherited variable.

    ``PYTHONPATH`` starts with the folder this process's ``labelarts`` was imported from,
    unless that is an installed package's site-packages: the worker then imports the same
    code (a source checkout run in place, an editable install, a ``PYTHONPATH``)."""
    environment = {**os.environ, **settings.environment()}
    root = str(Path(__file__).resolve().parent.parent)
    inherited = [entry for entry in environment.get("PYTHONPATH", "").split(os.pathsep) if entry]
    if root not in _site_folders() and inherited[:1] != [root]:
        environment["PYTHONPATH"] = os.pathsep.join([root, *inherited])
    return environment


def _site_folders() -> set[str]:
    folders = [*site.getsitepackages(), site.getusersitepackages()]
    return {str(Path(folder).resolve()) for folder in folders}


class WorkerProcesses:
    """``count`` ``labelarts worker`` processes, restarted (with back-off) when one dies."""

    def __init__(self, settings: Settings, count: int) -> None:
        self._settings = settings
        self._count = count
        self._procs: list[subprocess.Popen[bytes] | None] = [None] * count
        self._started = [0.0] * count
        self._failures = [0] * count
        self._next_start = [0.0] * count
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._monitor: threading.Thread | None = None

    @property
    def pids(self) -> list[int]:
        with self._lock:
            return [p.pid for p in self._procs if p is not None and p.poll() is None]

    def start(self) -> WorkerProcesses:
        with self._lock:
            for slot in range(self._count):
                self._spawn(slot)
        self._monitor = threading.Thread(target=self._watch, name="labelarts-workers", daemon=True)
        self._monitor.start()
        return self

    def _spawn(self, slot: int) -> None:
        command = [*WORKER_COMMAND, *("--parent-pid", str(os.getpid()), "--wake-on-stdin")]
        proc = subprocess.Popen(command, env=worker_environment(self._settings), stdin=subprocess.PIPE)
        assert proc.stdin is not None
        os.set_blocking(proc.stdin.fileno(), False)  # wake() never waits on a busy worker
        self._procs[slot] = proc
        self._started[slot] = time.monotonic()

    def wake(self) -> None:
        """Ring each worker's doorbell (a byte on its standard input): a task was queued. A full
        pipe already holds a ring the worker has not read; a worker that died is restarted by
        the monitor and polls at start."""
        with self._lock:
            procs = [p for p in self._procs if p is not None]
        for proc in procs:
            if proc.stdin is None:
                continue
            # A full pipe (BlockingIOError), a dead worker (BrokenPipeError), closed by stop().
            with contextlib.suppress(OSError, ValueError):
                os.write(proc.stdin.fileno(), b"\n")

    def _watch(self) -> None:
        while not self._stopping.wait(0.5):
            with self._lock:
                if self._stopping.is_set():
                    return
                now = time.monotonic()
                for slot, proc in enumerate(self._procs):
                    if proc is not None and proc.poll() is not None:
                        lived = now - self._started[slot]
                        self._failures[slot] = self._failures[slot] + 1 if lived < _STABLE_S else 0
                        delay = min(_MAX_BACKOFF_S, 0.5 * 2 ** max(0, self._failures[slot] - 1))
                        log.warning(
                            "worker process %d exited with %s; restarting in %.1f s",
                            proc.pid,
                            proc.returncode,
                            delay,
                        )
                        self._procs[slot] = None
                        self._next_start[slot] = now + delay
                    if self._procs[slot] is None and now >= self._next_start[slot]:
                        self._spawn(slot)

    def stop(self, grace_seconds: float) -> None:
        """SIGTERM every worker; SIGKILL those still running ``grace_seconds`` (plus their own
        start-up and clean-up time) later."""
        with self._lock:
            self._stopping.set()
            procs = [p for p in self._procs if p is not None]
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + grace_seconds + 5.0
        for proc in procs:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("worker process %d did not stop in time; killing it", proc.pid)
                proc.kill()
                proc.wait()
        for proc in procs:
            if proc.stdin is not None:
                proc.stdin.close()
        if self._monitor is not None:
            self._monitor.join(2.0)
