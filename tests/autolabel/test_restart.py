"""A server killed in the middle of an auto-labeling task (SIGKILL, no shutdown at all): after
the restart the task is failed, never left running; no sample is half labeled; and running the
task again finishes, reusing the features the killed task had already cached."""

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

from labelarts.client import SdkHmacAuth
from tests.autolabel import picture, upload, wait_for_task
from tests.cli import cli_env, free_port, labelarts_executable


@contextmanager
def server(data_dir: Path, port: int, database_url: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = cli_env(
        LABELARTS_DATABASE_URL=database_url,
        LABELARTS_MODELS_DIR=os.environ["LABELARTS_MODELS_DIR"],
        # The perturbation checks are not what this test is about; they would triple its time.
        LABELARTS_AUTOLABEL_AUGMENT_BUDGET="0",
    )
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [labelarts_executable(), "serve", "--data-dir", str(data_dir), "--port", str(port)],
            env=env,
            stdout=out,
            stderr=out,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


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


def test_a_killed_server_fails_the_task_on_restart_and_a_rerun_reuses_cached_features(
    tmp_path: Path, database_url: str
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
        unlabeled = upload(
            tenant,
            dataset_id,
            [(f"u{i}.jpg", picture("red" if i % 2 else "blue", 7000 + i, 32), None) for i in range(160)],
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
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    with server(data_dir, port, database_url, log):
        tenant = _Tenant(base, json.loads((data_dir / "initial-credentials.json").read_text()))
        body = tenant.aksk.get(tenant.v2(f"/datasets/{dataset_id}/tasks/{task_id}")).json()
        assert body["status"] == 2, body
        assert body["error_code"] == "ModelArts.4392"
        assert "restart" in body["error_msg"]
        auto = tenant.aksk.get(tenant.v2(f"/datasets/{dataset_id}/auto-annotations/samples")).json()
        assert auto["sample_count"] == 0

        rerun = tenant.aksk.post(tenant.v2(f"/datasets/{dataset_id}/tasks"), json={}).json()["task_id"]
        done = wait_for_task(tenant, dataset_id, rerun)
        assert done["status"] == 3, done
        assert done["result"]["cached_feature_count"] >= 64
        assert done["result"]["unconfirmed_sample_count"] == len(unlabeled)
