"""``labelarts serve`` as a subprocess, for tests that watch the server process itself."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.cli import cli_env, free_port, labelarts_executable


@dataclass
class Served:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    data_dir: Path

    def initial_credentials(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((self.data_dir / "initial-credentials.json").read_text())
        return loaded


@contextmanager
def serve(tmp_path: Path, database_url: str, **settings: str) -> Iterator[Served]:
    """Run ``labelarts serve`` on a free port until /health answers; stop it afterwards.

    ``settings`` are LABELARTS_* variables (``header_timeout_seconds="1"``...).
    """
    port, data_dir = free_port(), tmp_path / "data"
    env = cli_env(
        LABELARTS_DATABASE_URL=database_url,
        **{f"LABELARTS_{name.upper()}": value for name, value in settings.items()},
    )
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [labelarts_executable(), "serve", "--port", str(port), "--data-dir", str(data_dir)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield Served(url, port, process, data_dir)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
