"""The task state machine. Task status changes only through :func:`transition`.

    QUEUED ──> RUNNING ──> SUCCEEDED
       │          │──────> FAILED
       │          └──────> STOPPING ──> STOPPED (or SUCCEEDED, when the stop came too late)
       └─────────────────> STOPPED / FAILED

A server restart moves every QUEUED, RUNNING or STOPPING task to FAILED (or STOPPED for
STOPPING) through the same rules, so no task is left "running" forever.
"""

from __future__ import annotations

from enum import StrEnum


class TaskStatus(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    STOPPING = "STOPPING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    STOPPED = "STOPPED"


ALLOWED: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.QUEUED: frozenset({TaskStatus.RUNNING, TaskStatus.STOPPED, TaskStatus.FAILED}),
    TaskStatus.RUNNING: frozenset(
        {TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.STOPPING, TaskStatus.STOPPED}
    ),
    # STOPPING -> SUCCEEDED: the stop came after the body's last check; its work is complete.
    TaskStatus.STOPPING: frozenset({TaskStatus.STOPPED, TaskStatus.FAILED, TaskStatus.SUCCEEDED}),
    TaskStatus.SUCCEEDED: frozenset(),
    TaskStatus.FAILED: frozenset(),
    TaskStatus.STOPPED: frozenset(),
}

ACTIVE = frozenset({TaskStatus.QUEUED, TaskStatus.RUNNING, TaskStatus.STOPPING})
FINAL = frozenset({TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.STOPPED})


class IllegalTransition(RuntimeError):
    def __init__(self, current: TaskStatus, target: TaskStatus) -> None:
        super().__init__(f"task cannot move from {current} to {target}")
        self.current = current
        self.target = target


def transition(current: str, target: TaskStatus) -> TaskStatus:
    """Return ``target`` if the move is allowed, else raise :class:`IllegalTransition`."""
    state = TaskStatus(current)
    if target not in ALLOWED[state]:
        raise IllegalTransition(state, target)
    return target
