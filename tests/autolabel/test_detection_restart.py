"""SIGKILL of the worker process in the middle of an object-detection auto-labeling task (the
server starts a new worker, and the task's lease runs out): the task ends failed, never left
running; no image carries a box of it; and running the task again writes every image to be
labeled once, with the statistics in step with the images (nothing written twice or lost)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from tests.autolabel import wait_for_task
from tests.autolabel.boxes import box_image
from tests.autolabel.test_detection import LABELED, upload_boxes
from tests.restarts import check_in_step, create_dataset, served, wait_while_running, worker_pid

UNLABELED = 24


def test_a_killed_worker_fails_a_detection_task_and_a_rerun_writes_every_image_once(
    tmp_path: Path, database_url: str
) -> None:
    with served(tmp_path, database_url) as serve:
        tenant = serve.tenant
        tenant.aksk.timeout = 60  # the task shares two busy cores with the server
        dataset_id = create_dataset(tenant, "restart-boxes", dataset_type=1)
        labeled = [(f"l{i}.png", *box_image(i, names)) for i, names in enumerate(LABELED)]
        manual_ids = upload_boxes(tenant, dataset_id, labeled)  # type: ignore[arg-type]
        manual = {
            sample_id: [name for name, _ in boxes]
            for sample_id, (_, _, boxes) in zip(manual_ids, labeled, strict=True)
        }
        targets = upload_boxes(
            tenant,
            dataset_id,
            [
                (f"u{i}.png", box_image(700 + i, ["red", "blue"] if i % 2 else ["green"])[0], None)
                for i in range(UNLABELED)
            ],
        )
        body = {"task_type": "auto-label"}
        path = tenant.v2(f"/datasets/{dataset_id}/tasks")
        task_id = tenant.aksk.post(path, json=body).json()["task_id"]
        # Kill it while the detector trains (the labeled images' maps are done, nothing is
        # written yet): the longest phase, so the kill lands in it.
        wait_while_running(tenant, dataset_id, task_id, lambda d: d["progress"] >= 30, timeout=300)
        os.kill(worker_pid(database_url, task_id), signal.SIGKILL)

        ended = wait_for_task(tenant, dataset_id, task_id, timeout=60)
        assert ended["status"] == 2 and ended["error_code"] == "ModelArts.4392", ended
        assert "interrupted" in ended["error_msg"]
        assert check_in_step(tenant, dataset_id, manual, targets) == {}

        rerun = tenant.aksk.post(path, json=body).json()["task_id"]
        done = wait_for_task(tenant, dataset_id, rerun, timeout=600)
        assert done["status"] == 3, done
        assert done["result"]["unconfirmed_sample_count"] == UNLABELED
        auto = check_in_step(tenant, dataset_id, manual, targets)
        assert set(auto) == set(targets)
        for sample in auto.values():
            boxes = [(b["name"], json.dumps(b["property"]["@modelarts:feature"])) for b in sample["labels"]]
            assert len(boxes) == len(set(boxes)), sample  # no box written twice
            assert all(b["annotated_by"] == "auto" for b in sample["labels"])
