"""``labelarts serve --api-processes 2``: two API processes answer on one port, share
everything through the database, run one set of task workers, and all stop on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from labelarts.client import SdkHmacAuth
from tests.cli import cli_env, free_port
from tests.processes import running


def _children(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of the direct children of ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.append((int(entry.name), cmdline))
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_two_api_processes_share_one_port_and_one_state(tmp_path: Path, database_url: str) -> None:
    port, data_dir = free_port(), tmp_path / "data"
    env = cli_env(LABELARTS_DATABASE_URL=database_url)
    args = ["serve", "--data-dir", str(data_dir), "--port", str(port), "--api-processes", "2"]
    url = f"http://127.0.0.1:{port}"
    with running(args, env, tmp_path / "serve.log", health_url=url) as proc:
        children = _children(proc.pid)
        api = [pid for pid, cmd in children if "multiprocessing.spawn" in cmd]
        task_workers = [pid for pid, cmd in children if " worker " in cmd]
        assert len(api) == 2, children
        assert len(task_workers) == 1, children  # started once, by the supervisor

        creds = json.loads((data_dir / "initial-credentials.json").read_text())
        project = creds["project_id"]
        auth = SdkHmacAuth(creds["access_key"], creds["secret_key"], project)

        def create(i: int) -> str:
            # A new connection per request: the kernel hands connections to either process.
            with httpx.Client(base_url=url, auth=auth, timeout=60) as http:
                response = http.post(
                    f"/v2/{project}/datasets",
                    json={
                        "dataset_name": f"shared_{i}",
                        "data_sources": [],
                        "work_path": f"/out/shared_{i}/",
                        "work_path_type": 0,
                        "labels": [{"name": "cat"}],
                    },
                )
                assert response.status_code == 201, response.text
                return str(response.json()["dataset_id"])

        with ThreadPoolExecutor(8) as pool:
            created = set(pool.map(create, range(24)))
        assert len(created) == 24

        def read(dataset_id: str) -> int:
            with httpx.Client(base_url=url, auth=auth, timeout=60) as http:
                return http.get(f"/v2/{project}/datasets/{dataset_id}").status_code

        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(read, sorted(created) * 2)) == {200}
        with httpx.Client(base_url=url, auth=auth, timeout=60) as http:
            listed = http.get(f"/v2/{project}/datasets", params={"limit": 100}).json()
        assert {d["dataset_id"] for d in listed["datasets"]} >= created

        proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(_alive(pid) for pid in [*api, *task_workers]):
            time.sleep(0.2)
        assert not [pid for pid in [*api, *task_workers] if _alive(pid)], "children outlived serve"
        assert proc.wait(timeout=60) is not None
    assert os.path.exists(data_dir)
