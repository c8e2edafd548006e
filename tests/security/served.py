"""``labelarts serve`` as a subprocess, for tests that watch the server process itself."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.cli import cli_env, free_port
from tests.processes import running


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
    url = f"http://127.0.0.1:{port}"
    args = ["serve", "--port", str(port), "--data-dir", str(data_dir)]
    with running(args, env, tmp_path / "serve.log", health_url=url) as process:
        yield Served(url, port, process, data_dir)
