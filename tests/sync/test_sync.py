"""``POST .../sync-data`` and ``GET .../sync-data/status``: files added, removed, changed and
replaced between runs, checked sample by sample in the database; statistics stay exact; bad
input is a 4xx; another project sees nothing; ``labelarts sync`` as a subprocess."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from labelarts.services.samples.records import MANUAL
from tests.api import World, unique_name, wait_for_import
from tests.cli import run_cli
from tests.conftest import assert_error
from tests.imports import jpeg, png, samples_of, voc_xml, world_fixture, write

world = world_fixture("sync")
OLD_NS = 1_600_000_000_000_000_000
NEW_NS = 1_700_000_000_000_000_000


def _touch(root: Path, ns: int) -> None:
    for path in root.rglob("*"):
        os.utime(path, ns=(ns, ns))


def folder_dataset(world: World, files: dict[str, bytes | str], dataset_type: int = 0) -> tuple[str, Path]:
    """A dataset created over a new folder of ``files`` (all dated OLD_NS), its import done."""
    root = write(world.imports / unique_name("src"), files)
    _touch(root, OLD_NS)
    body: dict[str, Any] = {
        "dataset_name": unique_name(),
        "dataset_type": dataset_type,
        "data_sources": [{"data_type": 0, "data_path": str(root)}],
        "work_path": "/out/work/",
        "work_path_type": 0,
    }
    response = world.alice.aksk.post(world.alice.v2("/datasets"), json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    task = wait_for_import(
        world.alice.aksk,
        world.alice.v2(f"/datasets/{created['dataset_id']}/import-tasks/{created['import_task_id']}"),
    )
    assert task["status"] == "COMPLETED", task
    return created["dataset_id"], root.resolve()


def sync(world: World, dataset_id: str) -> dict[str, Any]:
    """POST sync-data, then poll the status until the sync ended; return the final status."""
    response = world.alice.aksk.post(world.alice.v2(f"/datasets/{dataset_id}/sync-data"))
    assert response.status_code == 200, response.text
    task_id = response.json()["task_id"]
    deadline = time.monotonic() + 30
    while True:
        status = world.alice.aksk.get(world.alice.v2(f"/datasets/{dataset_id}/sync-data/status"))
        assert status.status_code == 200, status.text
        body: dict[str, Any] = status.json()
        assert body["task_id"] == task_id
        if body["status"] in ("COMPLETED", "FAILED"):
            return body
        assert body["status"] in ("QUEUING", "RUNNING"), body
        assert time.monotonic() < deadline, body
        time.sleep(0.02)


def stats(world: World, dataset_id: str) -> dict[str, Any]:
    response = world.alice.aksk.get(world.alice.v2(f"/datasets/{dataset_id}/data-annotations/stats"))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_sync_adds_removes_and_rereads(world: World) -> None:
    dataset_id, root = folder_dataset(
        world,
        {
            "cat/keep.jpg": jpeg(1),
            "cat/gone.jpg": jpeg(2),
            "dog/grows.jpg": jpeg(3),
            "dog/swapped.png": png(4),
            "dog/gone-too.png": png(5),
        },
    )
    before = samples_of(world, dataset_id)
    assert set(before) == {"keep.jpg", "gone.jpg", "grows.jpg", "swapped.png", "gone-too.png"}
    status = world.alice.aksk.get(world.alice.v2(f"/datasets/{dataset_id}/sync-data/status"))
    assert status.json() == {"dataset_id": dataset_id, "status": "NOT_EXIST"}

    # Between the runs: two files removed, two added (one in a new class folder), one grown
    # to another size, and one replaced by a different picture of exactly the same size.
    (root / "cat/gone.jpg").unlink()
    (root / "dog/gone-too.png").unlink()
    write(root, {"cat/new.jpg": jpeg(6), "bird/fresh.png": png(7)})
    bigger = jpeg(8, width=48, height=32)
    (root / "dog/grows.jpg").write_bytes(bigger)
    same_size = png(9)
    assert len(same_size) == len(png(4)) and same_size != png(4)
    (root / "dog/swapped.png").write_bytes(same_size)
    _touch(root / "cat", OLD_NS)
    os.utime(root / "cat/new.jpg", ns=(NEW_NS, NEW_NS))
    os.utime(root / "dog/grows.jpg", ns=(NEW_NS, NEW_NS))
    os.utime(root / "dog/swapped.png", ns=(NEW_NS + 1_000_000, NEW_NS + 1_000_000))

    result = sync(world, dataset_id)
    assert result["status"] == "COMPLETED", result
    assert result["add_sample_count"] == 2
    assert result["deleted_sample_count"] == 2
    assert result["updated_sample_count"] == 2
    assert result["unchanged_sample_count"] == 1
    assert result["total_sample_count"] == 5
    assert result["failed_file_count"] == 0
    assert result["progress"] == 1.0
    assert result["create_time"] > 0 and result["duration_time"] >= 0

    after = samples_of(world, dataset_id)
    assert set(after) == {"keep.jpg", "grows.jpg", "swapped.png", "new.jpg", "fresh.png"}
    for name in ("keep.jpg", "grows.jpg", "swapped.png"):  # the same samples, labels kept
        assert after[name].sample.id == before[name].sample.id
        assert after[name].names == before[name].names
    assert after["new.jpg"].names == ["cat"] and after["fresh.png"].names == ["bird"]
    assert after["new.jpg"].sample.sample_status == MANUAL
    grown, swapped = after["grows.jpg"].sample, after["swapped.png"].sample
    assert grown.sample_size == len(bigger)
    assert grown.content_hash == hashlib.sha256(bigger).hexdigest()
    assert grown.metadata_["@modelarts:size"] == [48, 32, 3]
    assert grown.sample_time == NEW_NS // 1_000_000
    assert grown.revision == before["grows.jpg"].sample.revision + 1
    assert swapped.content_hash == hashlib.sha256(same_size).hexdigest()
    assert swapped.sample_size == len(same_size)
    assert after["keep.jpg"].sample.revision == before["keep.jpg"].sample.revision

    counts = stats(world, dataset_id)
    assert counts["sample_stats"]["total"] == 5
    assert counts["sample_stats"]["manual_annotation"] == 5
    per_label = {s["name"]: s["sample_count"] for s in counts["label_stats"]}
    assert per_label == {"cat": 2, "dog": 2, "bird": 1}

    # A second sync with nothing changed changes nothing.
    again = sync(world, dataset_id)
    assert (again["add_sample_count"], again["deleted_sample_count"], again["updated_sample_count"]) == (
        0,
        0,
        0,
    )
    assert again["unchanged_sample_count"] == 5
    assert {n: r.sample.id for n, r in samples_of(world, dataset_id).items()} == {
        n: r.sample.id for n, r in after.items()
    }


def test_sync_reads_annotations_of_new_files_and_leaves_uploads_alone(world: World) -> None:
    box = {"name": "car", "bndbox": (1, 2, 11, 12)}
    dataset_id, root = folder_dataset(world, {"a.jpg": jpeg(11), "a.xml": voc_xml("a.jpg", [box])}, 1)
    upload = world.alice.aksk.post(
        world.alice.v2(f"/datasets/{dataset_id}/data-annotations/samples"),
        json={"samples": [{"name": "up.jpg", "data": base64.b64encode(jpeg(12)).decode()}]},
    )
    assert upload.status_code == 200, upload.text
    (root / "a.jpg").unlink()
    (root / "a.xml").unlink()
    write(root, {"b.jpg": jpeg(13), "b.xml": voc_xml("b.jpg", [{"name": "bus", "bndbox": (0, 0, 5, 7)}])})

    result = sync(world, dataset_id)
    assert (result["add_sample_count"], result["deleted_sample_count"]) == (1, 1), result
    rows = samples_of(world, dataset_id)
    assert set(rows) == {"b.jpg", "up.jpg"}  # the uploaded sample is not the data source's
    (label,) = rows["b.jpg"].labels
    assert label.name == "bus"
    assert label.property["@modelarts:shape"] == "bndbox"
    assert label.property["@modelarts:feature"] == [[0, 0], [5, 7]]


def test_sync_of_an_object_store_prefix(world: World) -> None:
    prefix = f"sources/{unique_name('obj')}"
    objects = world.services.objects
    objects.put(f"{prefix}/cat/1.jpg", jpeg(21))
    objects.put(f"{prefix}/cat/2.jpg", jpeg(22))
    body = {
        "dataset_name": unique_name(),
        "dataset_type": 0,
        "data_sources": [{"data_type": 0, "data_path": f"obs://{prefix}/"}],
        "work_path": "/out/work/",
        "work_path_type": 0,
    }
    created = world.alice.aksk.post(world.alice.v2("/datasets"), json=body).json()
    dataset_id = created["dataset_id"]
    wait_for_import(
        world.alice.aksk, world.alice.v2(f"/datasets/{dataset_id}/import-tasks/{created['import_task_id']}")
    )
    objects.delete(f"{prefix}/cat/1.jpg")
    objects.put(f"{prefix}/dog/3.jpg", jpeg(23))
    result = sync(world, dataset_id)
    assert (result["add_sample_count"], result["deleted_sample_count"]) == (1, 1), result
    rows = samples_of(world, dataset_id)
    assert {name: row.names for name, row in rows.items()} == {"2.jpg": ["cat"], "3.jpg": ["dog"]}


def test_sync_refusals(world: World) -> None:
    alice, mallory = world.alice, world.mallory
    dataset_id, _root = folder_dataset(world, {"x.jpg": jpeg(31)})
    # Another project's dataset does not exist for mallory, whatever the route.
    assert_error(mallory.aksk.post(mallory.v2(f"/datasets/{dataset_id}/sync-data")), 404, "ModelArts.4352")
    assert_error(
        mallory.aksk.get(mallory.v2(f"/datasets/{dataset_id}/sync-data/status")), 404, "ModelArts.4352"
    )
    assert_error(alice.aksk.post(alice.v2("/datasets/nosuchdataset/sync-data")), 404, "ModelArts.4352")
    # No data source; a text dataset (the reference: text datasets cannot be synced).
    plain = {
        "dataset_name": unique_name(),
        "dataset_type": 0,
        "data_sources": [{"data_type": 0}],
        "work_path": "/out/work/",
        "work_path_type": 0,
    }
    no_source = alice.aksk.post(alice.v2("/datasets"), json=plain).json()["dataset_id"]
    assert_error(alice.aksk.post(alice.v2(f"/datasets/{no_source}/sync-data")), 400, "ModelArts.4396")
    text_root = write(world.imports / unique_name("txt"), {"a.txt": "hello\tpos\n"})
    text = alice.aksk.post(
        alice.v2("/datasets"),
        json=plain
        | {
            "dataset_name": unique_name(),
            "dataset_type": 100,
            "data_sources": [{"data_type": 0, "data_path": str(text_root)}],
        },
    ).json()["dataset_id"]
    assert_error(alice.aksk.post(alice.v2(f"/datasets/{text}/sync-data")), 400, "ModelArts.4396")
    # A data source that no longer exists is a 400, and nothing was queued.
    gone_id, gone_root = folder_dataset(world, {"y.jpg": jpeg(32)})
    for path in gone_root.rglob("*"):
        path.unlink()
    gone_root.rmdir()
    assert_error(alice.aksk.post(alice.v2(f"/datasets/{gone_id}/sync-data")), 400)
    status = alice.aksk.get(alice.v2(f"/datasets/{gone_id}/sync-data/status")).json()
    assert status["status"] == "NOT_EXIST"
    assert len(samples_of(world, gone_id)) == 1


def test_sync_cli(world: World) -> None:
    dataset_id, root = folder_dataset(world, {"c/1.jpg": jpeg(41), "c/2.jpg": jpeg(42)})
    (root / "c/1.jpg").unlink()
    write(root, {"d/3.jpg": jpeg(43)})
    alice = world.alice
    auth = [
        *("--endpoint", world.server.url),
        *("--project-id", alice.project_id),
        *("--ak", alice.creds.access_key),
        *("--sk", alice.creds.secret_key),
    ]
    done = run_cli("sync", dataset_id, *auth, "-o", "json")
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["status"] == "COMPLETED"
    assert (body["add_sample_count"], body["deleted_sample_count"]) == (1, 1)
    assert set(samples_of(world, dataset_id)) == {"2.jpg", "3.jpg"}
    shown = run_cli("sync", dataset_id, "--status", *auth)
    assert shown.returncode == 0 and "COMPLETED" in shown.stdout
    refused = run_cli("sync", "nosuchdataset", *auth)
    assert refused.returncode != 0 and "ModelArts.4352" in refused.stderr
