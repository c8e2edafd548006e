"""SIGKILL of the worker process in the middle of an object-detection auto-labeling task (the
server starts a new worker, and the task's lease runs out): the task ends failed, never left
running; no image carries a box of it; and running the task again writes every image to be
labeled once, with the statistics in step with the images (nothing written twice or lost)."""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.autolabel import wait_for_task
from tests.autolabel.boxes import box_image
from tests.autolabel.test_detection import LABELED, upload_boxes
from tests.autolabel.test_restart import _Tenant, server, worker_pid
from tests.cli import free_port

UNLABELED = 24


def samples_by_id(tenant: _Tenant, dataset_id: str, route: str) -> dict[str, dict[str, Any]]:
    """Every sample a listing route gives, page by page, with its labels."""
    found: dict[str, dict[str, Any]] = {}
    offset = 0
    while True:
        response = tenant.aksk.get(
            tenant.v2(f"/datasets/{dataset_id}/{route}"), params={"offset": offset, "limit": 100}
        )
        assert response.status_code == 200, response.text
        page = response.json()["samples"]
        found.update((s["sample_id"], s) for s in page)
        if len(page) < 100:
            return found
        offset += 1


def check_in_step(
    tenant: _Tenant, dataset_id: str, manual: dict[str, list[str]], targets: list[str]
) -> dict[str, dict[str, Any]]:
    """The images a person labeled are as they were; each target is either untouched
    (``__NONE__``, no labels) or auto-labeled; the statistics count exactly the labels the
    images carry. Returns the auto-labeled targets by id (their detail)."""
    auto: dict[str, dict[str, Any]] = {}
    for sample_id in targets:
        response = tenant.aksk.get(tenant.v2(f"/datasets/{dataset_id}/data-annotations/samples/{sample_id}"))
        assert response.status_code == 200, response.text
        body = response.json()
        if body["sample_status"] == "__NONE__":
            assert body["labels"] == [], body
        else:
            assert body["sample_status"] == "__AUTO_ANNOTATION__", body
            auto[sample_id] = body
    listed = samples_by_id(tenant, dataset_id, "auto-annotations/samples")
    assert set(listed) == set(auto)
    instances: Counter[str] = Counter()
    carriers: Counter[str] = Counter()
    for names in [*manual.values(), *([label["name"] for label in b["labels"]] for b in auto.values())]:
        instances.update(names)
        carriers.update(set(names))
    stats = tenant.aksk.get(tenant.v2(f"/datasets/{dataset_id}/data-annotations/stats")).json()
    assert stats["sample_stats"]["all"] == len(manual) + len(targets)
    assert stats["sample_stats"]["manual_annotation"] == len(manual)
    assert stats["sample_stats"]["auto_annotation"] == len(auto)
    assert stats["sample_stats"]["un_annotation"] == len(targets) - len(auto)
    stated = {e["name"]: (e["count"], e["sample_count"]) for e in stats["label_stats"] if e["sample_count"]}
    assert stated == {name: (instances[name], carriers[name]) for name in carriers}
    return auto


def test_a_killed_worker_fails_a_detection_task_and_a_rerun_writes_every_image_once(
    tmp_path: Path, database_url: str
) -> None:
    data_dir, port, log = tmp_path / "data", free_port(), tmp_path / "serve.log"
    base = f"http://127.0.0.1:{port}"
    with server(data_dir, port, database_url, log):
        tenant = _Tenant(base, json.loads((data_dir / "initial-credentials.json").read_text()))
        tenant.aksk.timeout = 60  # the task shares two busy cores with the server
        created = tenant.aksk.post(
            tenant.v2("/datasets"),
            json={
                "dataset_name": "restart-boxes",
                "dataset_type": 1,
                "data_sources": [{"data_type": 0}],
                "work_path": "/w/",
                "work_path_type": 0,
            },
        )
        assert created.status_code == 201, created.text
        dataset_id = created.json()["dataset_id"]
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
        deadline = time.monotonic() + 300
        while True:
            detail = tenant.aksk.get(tenant.v2(f"/datasets/{dataset_id}/tasks/{task_id}")).json()
            assert detail["status"] in (-1, 1), detail
            if detail["progress"] >= 30:
                break
            assert time.monotonic() < deadline, detail
            time.sleep(0.05)
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
