"""``labelarts`` commands (``serve``, ``worker``) run as subprocesses, the way a user runs them."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.cli import labelarts_executable

# serve starts its worker processes before it answers: generous on 2 busy cores (60 s was
# seen too short at load 17-20; a server that works answers in a few seconds on a quiet box).
START_SECONDS = 180
STOP_SECONDS = 15


def logs_text(*logs: Path) -> str:
    return "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')}" for log in logs if log.exists())


def wait_for_health(
    url: str, process: subprocess.Popen[bytes], *logs: Path, timeout: float = START_SECONDS
) -> None:
    """Return once ``url``/health answers 200; fail with the logs if the process ends first or
    ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        code = process.poll()
        assert code is None, f"the process exited {code} before {url}/health answered\n{logs_text(*logs)}"
        assert time.monotonic() < deadline, f"{url}/health did not answer in {timeout} s\n{logs_text(*logs)}"
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)


@contextmanager
def running(
    args: Sequence[str],
    env: dict[str, str],
    log: Path,
    *,
    stderr_log: Path | None = None,
    health_url: str | None = None,
    cwd: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``labelarts ARGS`` with ``env`` (in ``cwd`` if given), its output written afresh to
    ``log`` (stderr to ``stderr_log`` if given); with ``health_url``, yield once its /health
    answers.

    On the way out a process still running is terminated, and killed if it has not ended
    ``STOP_SECONDS`` later; either way it has ended when the block is left.
    """
    with log.open("wb") as out:
        if stderr_log is None:
            process = subprocess.Popen(
                [labelarts_executable(), *args], env=env, stdout=out, stderr=out, cwd=cwd
            )
        else:
            with stderr_log.open("wb") as err:
                process = subprocess.Popen(
                    [labelarts_executable(), *args], env=env, stdout=out, stderr=err, cwd=cwd
                )
    try:
        if health_url is not None:
            wait_for_health(health_url, process, *(p for p in (log, stderr_log) if p is not None))
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
        process.wait()
