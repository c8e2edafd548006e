"""SIGKILL in the middle of an auto-labeling task, of the server (its worker process notices its
parent is gone and stops the task) or of the worker process that runs the task (the server
starts a new worker, and the task's lease runs out): the task ends failed or stopped, never
left running; no sample is half labeled; and running the task again finishes, reusing the
features the killed task had already cached."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.autolabel import picture, upload, wait_for_task
from tests.restarts import (
    RestartTenant,
    alive,
    create_dataset,
    served,
    server,
    wait_while_running,
    worker_pid,
)

UNLABELED = 160


@pytest.mark.parametrize("killed", ["server", "worker"])
def test_a_kill_mid_task_ends_the_task_and_a_rerun_reuses_cached_features(
    tmp_path: Path, database_url: str, killed: str
) -> None:
    with served(tmp_path, database_url) as serve:
        tenant = serve.tenant
        dataset_id = create_dataset(tenant, "restart")
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
        wait_while_running(
            tenant, dataset_id, task_id, lambda d: d["result"].get("encoded_feature_count", 0) >= 64
        )
        if killed == "worker":
            os.kill(worker_pid(database_url, task_id), signal.SIGKILL)
            check_after_kill(tenant, dataset_id, task_id, killed)
            return
        orphan = worker_pid(database_url, task_id)
        serve.proc.send_signal(signal.SIGKILL)
        serve.proc.wait()
        # The worker notices its parent is gone and ends (the task stops at its next report).
        deadline = time.monotonic() + 30
        while alive(orphan):
            assert time.monotonic() < deadline, "the worker outlived its server"
            time.sleep(0.05)

    with server(serve.data_dir, serve.port, database_url, serve.log):
        check_after_kill(serve.tenant_again(), dataset_id, task_id, killed)


def check_after_kill(tenant: RestartTenant, dataset_id: str, task_id: str, killed: str) -> None:
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
