"""SIGKILL of the worker process in the middle of an auto-grouping task: the task ends failed
once its lease runs out, no sample carries a group, and running it again finishes, reusing
the features the killed task had already cached."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from tests.autolabel import picture, upload, wait_for_task
from tests.restarts import create_dataset, served, wait_while_running, worker_pid

UNLABELED = 160
CONFIG = {"n_clusters": 2, "result_type": 1, "property": "grp"}


def test_a_killed_worker_fails_the_task_and_a_rerun_reuses_cached_features(
    tmp_path: Path, database_url: str
) -> None:
    with served(tmp_path, database_url) as serve:
        tenant = serve.tenant
        dataset_id = create_dataset(tenant, "restart")
        upload(
            tenant,
            dataset_id,
            [
                (f"u{i}.jpg", picture("red" if i % 2 else "blue", 7000 + i, 32), None)
                for i in range(UNLABELED)
            ],
        )
        body = {"task_type": "auto-grouping", "config": CONFIG}
        task_id = tenant.aksk.post(tenant.v2(f"/datasets/{dataset_id}/tasks"), json=body).json()["task_id"]
        # Kill it once some features are cached but long before the end.
        wait_while_running(
            tenant, dataset_id, task_id, lambda d: d["result"].get("encoded_feature_count", 0) >= 64
        )
        os.kill(worker_pid(database_url, task_id), signal.SIGKILL)

        ended = wait_for_task(tenant, dataset_id, task_id, timeout=60)
        assert ended["status"] == 2 and ended["error_code"] == "ModelArts.4392", ended
        assert "interrupted" in ended["error_msg"]
        search = json.dumps([{"metadata": {"props": {"grp": ["0", "1"]}}}])
        path = tenant.v2(f"/datasets/{dataset_id}/data-annotations/samples")
        assert tenant.aksk.get(path, params={"search_conditions": search}).json()["sample_count"] == 0

        rerun = tenant.aksk.post(tenant.v2(f"/datasets/{dataset_id}/tasks"), json=body).json()["task_id"]
        done = wait_for_task(tenant, dataset_id, rerun)
        assert done["status"] == 3, done
        assert done["result"]["cached_feature_count"] >= 64
        assert done["result"]["grouped_sample_count"] == UNLABELED
        assert tenant.aksk.get(path, params={"search_conditions": search}).json()["sample_count"] == UNLABELED
