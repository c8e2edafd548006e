"""Executors run task bodies. Services hand them a task id and a callable; nothing else.

:class:`InProcessExecutor` (threads) is the default. A worker-process or Ray executor
implements the same two methods, so services never change when the executor does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

log = logging.getLogger(__name__)

TaskBody = Callable[[], None]


class Executor(Protocol):
    def submit(self, task_id: str, body: TaskBody) -> None: ...

    def shutdown(self, wait: bool = True) -> None: ...


class InProcessExecutor:
    """Runs tasks on a small thread pool inside the API process."""

    def __init__(self, workers: int = 2) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="labelarts-job")
        self._futures: dict[str, Future[None]] = {}

    def submit(self, task_id: str, body: TaskBody) -> None:
        future = self._pool.submit(body)
        self._futures[task_id] = future
        future.add_done_callback(lambda f: self._done(task_id, f))

    def _done(self, task_id: str, future: Future[None]) -> None:
        self._futures.pop(task_id, None)
        exc = future.exception()
        if exc is not None:  # the runner records failures itself; this is a last resort
            log.error("task %s crashed outside its runner", task_id, exc_info=exc)

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=True)


class InlineExecutor:
    """Runs the task body at once in the caller's thread: a fake for tests."""

    def submit(self, task_id: str, body: TaskBody) -> None:
        body()

    def shutdown(self, wait: bool = True) -> None:
        return None
