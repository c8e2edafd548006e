"""SIGKILL of the worker process in the middle of a pre-labeling task (the server starts a new
worker, and the task's lease runs out): the task ends failed, never left running; no image
carries a label of it; and running it again labels every unlabeled image once, with the
statistics in step with the images (nothing written twice or lost)."""

from __future__ import annotations

import base64
import os
import signal
from pathlib import Path

from tests.autolabel import picture, upload, wait_for_task
from tests.models import slow_colour_classifier
from tests.restarts import check_in_step, create_dataset, served, wait_while_running, worker_pid

UNLABELED = 160


def test_a_killed_worker_fails_a_pre_label_task_and_a_rerun_labels_every_image_once(
    tmp_path: Path, database_url: str
) -> None:
    with served(tmp_path, database_url) as serve:
        tenant = serve.tenant
        dataset_id = create_dataset(tenant, "restart-prelabel")
        manual_ids = upload(tenant, dataset_id, [("m.jpg", picture("blue", 1, 32), "red")])
        kinds = ["red" if i % 2 else "blue" for i in range(UNLABELED)]
        targets = upload(
            tenant, dataset_id, [(f"u{i}.jpg", picture(k, 9000 + i, 32), None) for i, k in enumerate(kinds)]
        )
        registered = tenant.aksk.post(
            tenant.v2("/models"),
            json={
                "model_name": "slow",
                "kind": "classifier",
                "labels": ["red", "blue"],
                "input_size": [192, 192],
                "model_data": base64.b64encode(slow_colour_classifier(192, channels=64)).decode(),
            },
        )
        assert registered.status_code == 200, registered.text
        body = {"task_type": "pre-label", "model_id": registered.json()["model_id"]}
        path = tenant.v2(f"/datasets/{dataset_id}/tasks")
        task_id = tenant.aksk.post(path, json=body).json()["task_id"]
        # Kill it once the model has labeled its first batch (reported at once), long before
        # the write: four more batches of a model that costs real work remain.
        detail = wait_while_running(
            tenant, dataset_id, task_id, lambda d: d["result"].get("predicted_sample_count", 0) >= 1
        )
        assert detail["result"]["predicted_sample_count"] < UNLABELED, detail
        os.kill(worker_pid(database_url, task_id), signal.SIGKILL)

        ended = wait_for_task(tenant, dataset_id, task_id, timeout=60)
        assert ended["status"] == 2 and ended["error_code"] == "ModelArts.4392", ended
        assert "interrupted" in ended["error_msg"]
        manual = {manual_ids[0]: ["red"]}
        assert check_in_step(tenant, dataset_id, manual, targets) == {}

        rerun = tenant.aksk.post(path, json=body).json()["task_id"]
        done = wait_for_task(tenant, dataset_id, rerun)
        assert done["status"] == 3, done
        assert done["result"]["unconfirmed_sample_count"] == UNLABELED
        auto = check_in_step(tenant, dataset_id, manual, targets)
        for sample_id, kind in zip(targets, kinds, strict=True):
            assert [label["name"] for label in auto[sample_id]["labels"]] == [kind]
