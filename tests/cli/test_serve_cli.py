"""``labelarts serve`` as a subprocess on an empty data dir."""

from __future__ import annotations

import json
import signal
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from labelarts.client import SdkHmacAuth
from tests.cli import cli_env, free_port
from tests.processes import running

INITIAL_CREDENTIALS = "initial-credentials.json"


@contextmanager
def serving(args: list[str], env: dict[str, str], log_dir: Path) -> Iterator[Path]:
    """Run ``labelarts serve ARGS`` until /health answers; yields the stdout file.

    The server is always terminated, and must then shut down cleanly.
    """
    port = int(env.get("LABELARTS_PORT") or args[args.index("--port") + 1])
    stdout_path, stderr_path = log_dir / "serve.out", log_dir / "serve.err"
    health_url = f"http://127.0.0.1:{port}"
    with running(["serve", *args], env, stdout_path, stderr_log=stderr_path, health_url=health_url) as proc:
        yield stdout_path
    # uvicorn re-raises the signal once it has shut down cleanly (exit 0 before 0.29).
    assert proc.returncode in (0, -signal.SIGTERM), stderr_path.read_text()
    assert "Application shutdown complete" in stderr_path.read_text()


@pytest.mark.parametrize("port_from", ["flag", "env"])
def test_first_start_serves_and_writes_working_credentials(
    tmp_path: Path, database_url: str, port_from: str
) -> None:
    data_dir, port = tmp_path / "data", free_port()
    env = cli_env(LABELARTS_DATABASE_URL=database_url)
    args = ["--data-dir", str(data_dir)]
    if port_from == "flag":
        args += ["--port", str(port)]
    else:
        env["LABELARTS_PORT"] = str(port)
    base = f"http://127.0.0.1:{port}"

    with serving(args, env, tmp_path) as stdout_path:
        for path in ("/health", "/openapi.json", "/docs"):
            assert httpx.get(f"{base}{path}").status_code == 200, path
        assert httpx.get(f"{base}/openapi.json").json()["info"]["title"] == "LabelArts"

        creds_path = data_dir.resolve() / INITIAL_CREDENTIALS
        assert stat.S_IMODE(creds_path.stat().st_mode) == 0o600
        creds = json.loads(creds_path.read_text())
        assert creds["user"] == "admin"
        auth = SdkHmacAuth(creds["access_key"], creds["secret_key"], creds["project_id"])
        listed = httpx.get(f"{base}/v2/{creds['project_id']}/datasets", auth=auth)
        assert listed.status_code == 200, listed.text
        assert listed.json()["total_number"] == 0
        assert httpx.get(f"{base}/v2/{creds['project_id']}/datasets").status_code == 401

    stdout = stdout_path.read_text()
    assert str(creds_path) in stdout  # on one line, whatever the path's length
    assert f"http://127.0.0.1:{port}" in stdout  # loopback unless --host says otherwise
    assert creds["secret_key"] not in stdout
    assert creds["password"] not in stdout
    # No LABELARTS_SECRET_KEY: a server secret was generated, readable only by its owner.
    assert stat.S_IMODE((data_dir / "secret.key").stat().st_mode) == 0o600
    if database_url.startswith("sqlite:///"):
        # SQLite removes the write-ahead log when the last connection closes: the server
        # closed its database on SIGTERM.
        assert not Path(database_url.removeprefix("sqlite:///") + "-wal").exists()


def test_second_start_keeps_the_first_credentials(tmp_path: Path, database_url: str) -> None:
    data_dir, port = tmp_path / "data", free_port()
    args = ["--data-dir", str(data_dir), "--port", str(port)]
    env = cli_env(LABELARTS_DATABASE_URL=database_url)
    with serving(args, env, tmp_path):
        pass
    first = (data_dir / INITIAL_CREDENTIALS).read_text()

    with serving(args, env, tmp_path) as stdout_path:
        creds = json.loads((data_dir / INITIAL_CREDENTIALS).read_text())
        auth = SdkHmacAuth(creds["access_key"], creds["secret_key"], creds["project_id"])
        listed = httpx.get(f"http://127.0.0.1:{port}/v2/{creds['project_id']}/datasets", auth=auth)
        assert listed.status_code == 200, listed.text

    assert (data_dir / INITIAL_CREDENTIALS).read_text() == first
    assert "First start" not in stdout_path.read_text()
