"""SIGKILL in the middle of an auto-labeling task, of the server (its worker process notices its
parent is gone and stops the task) or of the worker process that runs the task (the server
starts a new worker, and the task's lease runs out): the task ends failed or stopped, never
left running; no sample is half labeled; and running the task again finishes, reusing the
features the killed task had already cached."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from labelarts.client import SdkHmacAuth
from tests.autolabel import picture, upload, wait_for_task
from tests.cli import cli_env, free_port
from tests.processes import running


@contextmanager
def server(data_dir: Path, port: int, database_url: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = cli_env(
        LABELARTS_DATABASE_URL=database_url,
        LABELARTS_MODELS_DIR=os.environ["LABELARTS_MODELS_DIR"],
        # The perturbation checks are not what this test is about; they would triple its time.
        LABELARTS_AUTOLABEL_AUGMENT_BUDGET="0",
        # A killed worker's task is recovered this long after its last heartbeat.
        LABELARTS_TASK_LEASE_SECONDS="3",
    )
    args = ["serve", "--data-dir", str(data_dir), "--port", str(port)]
    with running(args, env, log, health_url=f"http://127.0.0.1:{port}") as proc:
        yield proc


class _Tenant:
    """Just enough of tests.conftest.Tenant for the autolabel helpers."""

    def __init__(self, base: str, creds: dict[str, str]) -> None:
        self.project_id = creds["project_id"]
        self.base = base
        self.aksk = httpx.Client(
            base_url=base,
            auth=SdkHmacAuth(creds["access_key"], creds["secret_key"], creds["project_id"]),
            timeout=30,
        )

    def v2(self, path: str = "") -> str:
        return f"/v2/{self.project_id}{path}"


UNLABELED = 160


def worker_pid(database_url: str, task_id: str) -> int:
    """The process id of the worker that runs the task (``tasks.owner`` is host:pid:random)."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            owner = connection.execute(
                text("SELECT owner FROM tasks WHERE id = :id"), {"id": task_id}
            ).scalar()
    finally:
        engine.dispose()
    assert owner, "the task has no worker"
    return int(owner.split(":")[1])


def alive(pid: int) -> bool:
    """Whether the process runs (a zombie nobody reaped yet counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.mark.parametrize("killed", ["server", "worker"])
def test_a_kill_mid_task_ends_the_task_and_a_rerun_reuses_cached_features(
    tmp_path: Path, database_url: str, killed: str
) -> None:
    data_dir, port, log = tmp_path / "data", free_port(), tmp_path / "serve.log"
    base = f"http://127.0.0.1:{port}"
    with server(data_dir, port, database_url, log) as proc:
        tenant = _Tenant(base, json.loads((data_dir / "initial-credentials.json").read_text()))
        created = tenant.aksk.post(
            tenant.v2("/datasets"),
            json={
                "dataset_name": "restart",
                "dataset_type": 0,
                "data_sources": [{"data_type": 0}],
                "work_path": "/w/",
                "work_path_type": 0,
            },
        )
        assert created.status_code == 201, created.text
        dataset_id = created.json()["dataset_id"]
        upload(
            tenant,
            dataset_id,
            [
                (f"l{k}{i}.jpg", picture(k, i + 100 * (k == "red"), 32), k)
                for k in ("red", "blue")
                for i in range(5)
            ],
        )
        upload(
            tenant,
            dataset_id,
            [
                (f"u{i}.jpg", picture("red" if i % 2 else "blue", 7000 + i, 32), None)
                for i in range(UNLABELED)
            ],
        )
        task_id = tenant.aksk.post(tenant.v2(f"/datasets/{dataset_id}/tasks"), json={}).json()["task_id"]
        # Kill it once some features are cached but long before the end.
        deadline = time.monotonic() + 120
        while True:
            body = tenant.aksk.get(tenant.v2(f"/datasets/{dataset_id}/tasks/{task_id}")).json()
            assert body["status"] in (-1, 1), body
            if body["result"].get("encoded_feature_count", 0) >= 64:
                break
            assert time.monotonic() < deadline, body
            time.sleep(0.05)
        if killed == "worker":
            os.kill(worker_pid(database_url, task_id), signal.SIGKILL)
            check_after_kill(tenant, dataset_id, task_id, killed)
            return
        orphan = worker_pid(database_url, task_id)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # The worker notices its parent is gone and ends (the task stops at its next report).
        deadline = time.monotonic() + 30
        while alive(orphan):
            assert time.monotonic() < deadline, "the worker outlived its server"
            time.sleep(0.05)

    with server(data_dir, port, database_url, log):
        check_after_kill(
            _Tenant(base, json.loads((data_dir / "initial-credentials.json").read_text())),
            dataset_id,
            task_id,
            killed,
        )


def check_after_kill(tenant: _Tenant, dataset_id: str, task_id: str, killed: str) -> None:
    """The task ends (FAILED once its lease ran out, or STOPPED by an orphaned worker), no
    sample carries an auto label, and a re-run labels every unlabeled sample."""
    body = wait_for_task(tenant, dataset_id, task_id, timeout=60)
    if killed == "worker":
        assert body["status"] == 2, body
        assert body["error_code"] == "ModelArts.4392"
        assert "interrupted" in body["error_msg"]
    else:
        assert body["status"] in (2, 5), body
    auto = tenant.aksk.get(tenant.v2(f"/datasets/{dataset_id}/auto-annotations/samples")).json()
    assert auto["sample_count"] == 0
    # Nothing lost or duplicated: detail, statistics and the sample list agree.
    detail = tenant.aksk.get(tenant.v2(f"/datasets/{dataset_id}")).json()
    listed = tenant.aksk.get(tenant.v2(f"/datasets/{dataset_id}/data-annotations/samples?limit=1")).json()
    stats = tenant.aksk.get(tenant.v2(f"/datasets/{dataset_id}/data-annotations/stats")).json()
    assert detail["total_sample_count"] == listed["sample_count"] == stats["sample_stats"]["all"]
    assert listed["sample_count"] == 10 + UNLABELED

    rerun = tenant.aksk.post(tenant.v2(f"/datasets/{dataset_id}/tasks"), json={}).json()["task_id"]
    done = wait_for_task(tenant, dataset_id, rerun)
    assert done["status"] == 3, done
    assert done["result"]["cached_feature_count"] >= 64
    assert done["result"]["unconfirmed_sample_count"] == UNLABELED
