"""Processing inputs and outputs without a dataset, over HTTP with the shipped operators: a
granted local folder or object-store prefix as the input (``type: OBS``), read in place and
never changed; and output to an object-store prefix or a folder under an export root."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labelarts.ml.processing import get_operator
from tests.api import World, shared_world
from tests.conftest import assert_error
from tests.imports import create, jpeg, run_import, write
from tests.processing import (
    all_results,
    create_task,
    fetch,
    get,
    size_of,
    task_name,
    template,
    versions_of,
    wait_task,
    wait_version,
)
from tests.versions import all_samples, published


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("processing-folders")
    (tmp / "exports").mkdir()
    with shared_world(tmp, export_roots=[f"{tmp / 'exports'}=*"]) as w:
        w.services.processing.operators = get_operator
        yield w


def exports(world: World) -> Path:
    return world.root.parent / "exports"


def voc(name: str, boxes: list[tuple[str, int, int, int, int]], width: int, height: int) -> str:
    objects = "".join(
        f"<object><name>{label}</name><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin>"
        f"<xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>"
        for label, x1, y1, x2, y2 in boxes
    )
    return (
        f"<annotation><filename>{name}</filename><size><width>{width}</width>"
        f"<height>{height}</height><depth>3</depth></size>{objects}</annotation>"
    )


def validation(task_type: str, source: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": task_name("folder"),
        "inputs": [{"type": "OBS", "source": source}],
        "template": template(
            "sys_data_validation",
            ("MetaValidation", {"task_type": task_type, "image_max_width": "32"}),
        ),
        "create_version": True,
    }
    body.update(extra)
    return body


def snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def manifest_at(world: World, key: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in world.services.objects.get(key).decode().splitlines()]


def test_a_class_folder_is_processed_in_place_into_a_new_dataset_version(world: World) -> None:
    folder = write(
        world.imports / task_name("in"),
        {
            "cat/a.jpg": jpeg(1, 48, 32),
            "cat/b.jpg": jpeg(2, 24, 16),
            "dog/c.jpg": jpeg(3, 48, 32),
            "top.jpg": jpeg(4, 24, 16),
            "notes.txt": "not an image",
        },
    )
    before = snapshot(folder)
    target = create(world, 0)
    task_id = create_task(
        world,
        validation(
            "image_classification",
            str(folder),
            work_path={"type": "DATASET", "path": target, "version_name": "fromfolder"},
        ),
    )
    task = get(world, f"/processor-tasks/{task_id}")
    assert task["inputs"] == [{"type": "OBS", "source": str(folder)}]
    assert "version_id" not in task
    listed = get(world, "/processor-tasks", source_type="OBS")
    assert task_id in [t["task_id"] for t in listed["tasks"]]
    run = wait_version(world, task_id, versions_of(world, task_id)[0]["task_version_id"])
    assert run["status"] == 2, run
    assert run["origin_sample_count"] == 4
    assert (run["unmodified_sample_count"], run["modified_sample_count"]) == (2, 2)
    results = all_results(world, task_id, run["task_version_id"])
    by_name = {r["origin_source"].rsplit("/", 1)[1]: r for r in results}
    assert set(by_name) == {"a.jpg", "b.jpg", "c.jpg", "top.jpg"}
    a = by_name["a.jpg"]
    assert a["origin_source"] == str((folder / "cat" / "a.jpg").resolve())
    # No sample row exists: the id is the MD5 of the path (the reference's "md5 of the OBS path").
    assert a["sample_id"] == hashlib.md5(a["origin_source"].encode()).hexdigest()
    assert a["result_property"] == 1 and size_of(fetch(a["signed_new_source"])) == (32, 21)
    assert size_of(fetch(a["signed_origin_source"])) == (48, 32)
    # The new version: the class folders are the labels; the top-level image is unlabeled.
    frozen = all_samples(world, target, version_id=run["work_path"]["version_id"])
    labels = {s["sample_name"]: [x["name"] for x in s.get("labels") or []] for s in frozen}
    assert labels == {"a_checked.jpg": ["cat"], "b.jpg": ["cat"], "c_checked.jpg": ["dog"], "top.jpg": []}
    # The input is never changed.
    assert snapshot(folder) == before


def test_an_object_prefix_of_jpg_xml_pairs_keeps_its_boxes(world: World) -> None:
    prefix = f"incoming/{task_name('voc')}"
    objects = world.services.objects
    objects.put(f"{prefix}/one.jpg", jpeg(5, 48, 32))
    objects.put(f"{prefix}/one.xml", voc("one.jpg", [("car", 4, 4, 40, 28)], 48, 32).encode())
    objects.put(f"{prefix}/two.jpg", jpeg(6, 24, 16))
    objects.put(f"{prefix}/sub/three.jpg", jpeg(7, 24, 16))
    task_id = create_task(world, validation("object_detection", f"obs://{prefix}/"))
    run = wait_version(world, task_id, versions_of(world, task_id)[0]["task_version_id"])
    assert run["status"] == 2, run
    assert run["origin_sample_count"] == 3 and run["modified_sample_count"] == 1
    output = run["work_path"]["output_path"].removeprefix("obs://")
    lines = {
        line["source"].rsplit("/", 1)[1]: line for line in manifest_at(world, output + "output.manifest")
    }
    assert set(lines) == {"one_checked.jpg", "two.jpg", "three.jpg"}
    (box,) = lines["one_checked.jpg"]["annotation"]
    assert box["name"] == "car"
    # 48x32 scaled to 32 wide (x 2/3): the box follows the image.
    (x1, y1), (x2, y2) = box["property"]["@modelarts:feature"]
    assert [x1, y1, x2, y2] == pytest.approx([4 * 2 / 3, 4 * 2 / 3, 40 * 2 / 3, 28 * 2 / 3], abs=1)
    assert "annotation" not in lines["two.jpg"] or lines["two.jpg"]["annotation"] == []
    assert objects.get(f"{prefix}/one.jpg") == jpeg(5, 48, 32)
    # A TASK input over it chains without any dataset.
    chained = create_task(
        world,
        {
            "name": task_name("chain"),
            "inputs": [{"type": "TASK", "source": task_id}],
            "template": template(
                "sys_data_augmentation",
                ("Flip", {"task_type": "object_detection", "lr_ud": "lr", "do_validation": "False"}),
            ),
            "create_version": True,
        },
    )
    second = wait_version(world, chained, versions_of(world, chained)[0]["task_version_id"])
    assert second["status"] == 2, second
    assert second["origin_sample_count"] == 3 and second["add_sample_count"] == 3


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"source": "/etc"}, 400, None),
        ({"params": {"image_max_width": "32"}}, 400, "ModelArts.0104"),
        ({"params": {"task_type": "speech", "image_max_width": "32"}}, 400, "ModelArts.4399"),
        ({"template": "sys_data_analyse"}, 400, "ModelArts.4701"),
    ],
)
def test_bad_folder_inputs_are_400(
    world: World, change: dict[str, Any], status: int, code: str | None
) -> None:
    folder = write(world.imports / task_name("bad"), {"cat/a.jpg": jpeg(8)})
    body = validation("image_classification", change.get("source", str(folder)))
    if "params" in change:
        body["template"]["operator_params"][0]["params"] = change["params"]
    if "template" in change:
        body["template"] = template(change["template"], ("op", {"task_type": "image_classification"}))
    response = world.alice.aksk.post(world.alice.v2("/processor-tasks"), json=body)
    assert_error(response, status, code)


def test_a_missing_folder_or_prefix_is_refused(world: World) -> None:
    folder = write(world.imports / task_name("mine"), {"cat/a.jpg": jpeg(9)})
    body = validation("image_classification", "obs://nowhere-at-all/")
    assert_error(world.alice.aksk.post(world.alice.v2("/processor-tasks"), json=body), 400)
    body = validation("image_classification", str(folder / "missing"))
    assert_error(world.alice.aksk.post(world.alice.v2("/processor-tasks"), json=body), 400)


def test_output_to_an_export_root_folder_is_delivered_whole(world: World) -> None:
    folder = write(world.imports / task_name("in"), {"cat/a.jpg": jpeg(10, 48, 32), "dog/b.jpg": jpeg(11)})
    before = snapshot(folder)
    out = exports(world) / task_name("out")
    body = validation("image_classification", str(folder), work_path={"type": "OBS", "path": str(out)})
    task_id = create_task(world, body)
    assert get(world, f"/processor-tasks/{task_id}")["work_path"] == {"type": "OBS", "path": str(out)}
    run = wait_version(world, task_id, versions_of(world, task_id)[0]["task_version_id"])
    assert run["status"] == 2, run
    delivered = out / run["task_version_id"]
    assert sorted(p.name for p in out.iterdir()) == [run["task_version_id"]]  # no staging folder left
    assert sorted(str(p.relative_to(delivered)) for p in delivered.rglob("*") if p.is_file()) == [
        "Data/a_checked.jpg",
        "output.manifest",
    ]
    lines = [json.loads(line) for line in (delivered / "output.manifest").read_text().splitlines()]
    sources = sorted(line["source"] for line in lines)
    assert sources == sorted(
        [str(delivered / "Data" / "a_checked.jpg"), str((folder / "dog" / "b.jpg").resolve())]
    )
    assert size_of((delivered / "Data" / "a_checked.jpg").read_bytes()) == (32, 21)
    # The store keeps the run's files too: results and signed URLs read them there.
    (changed,) = all_results(world, task_id, run["task_version_id"], result_property="1")
    assert size_of(fetch(changed["signed_new_source"])) == (32, 21)
    assert snapshot(folder) == before


def test_output_to_an_object_prefix(world: World) -> None:
    folder = write(world.imports / task_name("in"), {"cat/a.jpg": jpeg(12, 48, 32)})
    prefix = f"delivered/{task_name('p')}"
    body = validation(
        "image_classification", str(folder), work_path={"type": "OBS", "path": f"obs://{prefix}/"}
    )
    task_id = create_task(world, body)
    run = wait_version(world, task_id, versions_of(world, task_id)[0]["task_version_id"])
    assert run["status"] == 2, run
    assert run["work_path"]["output_path"] == f"obs://{prefix}/{run['task_version_id']}/"
    keys = sorted(world.services.objects.list(prefix + "/"))
    assert keys == [
        f"{prefix}/{run['task_version_id']}/Data/a_checked.jpg",
        f"{prefix}/{run['task_version_id']}/output.manifest",
    ]


@pytest.mark.parametrize("where", ["inside", "same", "export root itself", "outside export roots"])
def test_bad_outputs_are_400(world: World, where: str) -> None:
    prefix = f"incoming/{task_name('in')}"
    world.services.objects.put(f"{prefix}/a.jpg", jpeg(13))
    path = {
        "inside": f"obs://{prefix}/out/",
        "same": f"obs://{prefix}",
        "export root itself": str(exports(world)),
        "outside export roots": str(world.imports / "elsewhere"),
    }[where]
    body = validation("image_classification", f"obs://{prefix}/", work_path={"type": "OBS", "path": path})
    assert_error(world.alice.aksk.post(world.alice.v2("/processor-tasks"), json=body), 400)


def test_feature_analysis_of_a_detection_version_has_box_metrics(world: World) -> None:
    folder = write(
        world.imports / task_name("det"),
        {
            "a.jpg": jpeg(20, 48, 32),
            "a.xml": voc("a.jpg", [("car", 0, 0, 24, 16), ("car", 12, 8, 36, 24)], 48, 32),
            "b.jpg": jpeg(21, 48, 32),
            "b.xml": voc("b.jpg", [("person", 20, 10, 28, 22)], 48, 32),
        },
    )
    dataset_id = create(world, 1)
    run_import(world, dataset_id, folder)
    version_id = published(world, dataset_id)["version_id"]
    task_id = create_task(
        world,
        {
            "name": task_name("an"),
            "data_source": {"type": "DATASET", "source": dataset_id, "version_id": version_id},
            "template": {
                "id": "sys_data_analyse",
                "operator_params": [{"id": "sys_data_analyse", "params": {"task_type": "object_detection"}}],
            },
        },
    )
    task = wait_task(world, task_id)
    assert task["status"] == 2, task
    result = task["result"]
    assert result["box_count"] == 3
    # A version without an eval share puts every sample in train.
    assert result["boxes_per_label"] == {"all": {"car": 2, "person": 1}, "train": {"car": 2, "person": 1}}
    metrics = result["metrics"]
    for name in (
        "box_count",
        "box_area_std",
        "box_marginalization",
        "box_overlap",
        "box_brightness",
        "box_blur",
    ):
        assert name in metrics, name
    assert sum(metrics["box_count"]["all"]["counts"]) == 2  # per image
    assert sum(metrics["box_area_std"]["all"]["counts"]) == 2
    for per_box in (
        "box_aspect_ratio",
        "box_area_ratio",
        "box_marginalization",
        "box_overlap",
        "box_brightness",
    ):
        assert sum(metrics[per_box]["all"]["counts"]) == 3, per_box
    # The two cars overlap: IoU (12 x 8) / (2 x 384 - 96) = 1/7; the person touches none.
    overlap = metrics["box_overlap"]["all"]
    assert overlap["bins"][0] == 0.0 and overlap["bins"][-1] == pytest.approx(1 / 7, abs=1e-3)
    assert overlap["counts"][0] == 1 and overlap["counts"][-1] == 2
    version = get(world, f"/datasets/{dataset_id}/versions/{version_id}")
    assert version["data_analysis"] == result and version["analysis_status"] == 2


def test_links_in_a_folder_input_are_never_followed(world: World, tmp_path: Path) -> None:
    """A file (or a folder) under the import root swapped for a symbolic link to something
    outside the grant is not read: the run processes only the real files."""
    secret = write(tmp_path / "outside", {"secret.jpg": jpeg(9, 48, 32), "more/deep.jpg": jpeg(10, 48, 32)})
    folder = write(world.imports / task_name("links"), {"cat/real.jpg": jpeg(8, 48, 32)})
    (folder / "cat" / "swapped.jpg").symlink_to(secret / "secret.jpg")
    (folder / "dog").symlink_to(secret / "more", target_is_directory=True)
    task_id = create_task(world, validation("image_classification", str(folder)))
    run = wait_version(world, task_id, versions_of(world, task_id)[0]["task_version_id"])
    assert run["status"] == 2, run
    assert run["origin_sample_count"] == 1
    results = all_results(world, task_id, run["task_version_id"])
    assert [r["origin_source"].rsplit("/", 1)[1] for r in results] == ["real.jpg"]
