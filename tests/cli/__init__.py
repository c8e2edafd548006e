"""Tests of the ``labelarts`` command, run as a subprocess the way a user runs it.

Every subprocess start costs about half a second, so each test spends its calls on
what a user would check and verifies side effects in-process where it can.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

SERVER_SECRET = "test-server-secret-0123456789"  # the `settings` fixture's secret_key


def labelarts_executable() -> str:
    """The installed ``labelarts`` script of the interpreter running the tests."""
    beside = Path(sys.executable).with_name("labelarts")
    if beside.exists():
        return str(beside)
    found = shutil.which("labelarts")
    assert found, "the labelarts script is not installed (pip install -e .)"
    return found


def free_port() -> int:
    """A loopback port nothing listens on (for a moment)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# An empty config folder: the profiles of whoever runs the tests never leak in.
_NO_PROFILES = tempfile.mkdtemp(prefix="labelarts-cli-config-")


def cli_env(**values: str) -> dict[str, str]:
    """The caller's environment without any LABELARTS_* setting or COLUMNS, with an empty
    XDG_CONFIG_HOME (no profile file), plus ``values``.

    COLUMNS is dropped so tables are judged as a pipe sees them.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABELARTS_") and k != "COLUMNS"}
    env["XDG_CONFIG_HOME"] = _NO_PROFILES
    env.update(values)
    return env


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    input: str | None = None,
    timeout: float = 60,
    cwd: str | Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``labelarts ARGS``; stdin is empty unless ``input`` is given, and there is no terminal."""
    return subprocess.run(
        [labelarts_executable(), *args],
        env=env if env is not None else cli_env(),
        input=input if input is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
        # No controlling terminal: password prompts read stdin, as under cron or CI.
        start_new_session=True,
        cwd=cwd,
    )


def ok_json(result: subprocess.CompletedProcess[str]) -> Any:
    """Exit 0, and the whole of stdout is one JSON document."""
    assert result.returncode == 0, (
        f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    )
    return json.loads(result.stdout)


def assert_failed(result: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    """Exit ``code``, nothing on stdout, each needle on stderr, and no Python traceback."""
    assert result.returncode == code, (
        f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    )
    assert result.stdout == ""
    for needle in needles:
        assert needle in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
