"""Export tasks over HTTP: every format on the dataset types it applies to, tree and tile,
filters, destinations and grants, new datasets, round trips through the folder importer,
progress and stopping."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from pycocotools.coco import COCO

from tests.api import unique_name
from tests.exports import ExportWorld, files_under, run_export, start_export, wait_export, world_fixture
from tests.imports import create, jpeg, png, run_import, samples_of, voc_xml, write

world = world_fixture("exports")

BOXES = {
    "a.jpg": [("cat", (1, 2, 20, 15)), ("dog", (5, 6, 30, 28))],
    "b.png": [("dog", (0, 0, 39, 29))],
}


def detection_dataset(world: ExportWorld) -> str:
    files: dict[str, bytes | str] = {
        "a.jpg": jpeg(1, 40, 30),
        "b.png": png(2, 40, 30),
        "c.jpg": jpeg(3, 40, 30),
    }
    for name, boxes in BOXES.items():
        stem = name.rsplit(".", 1)[0]
        files[f"{stem}.xml"] = voc_xml(name, [{"name": n, "bndbox": box} for n, box in boxes], size=(40, 30))
    root = write(world.imports / unique_name("det"), files)
    dataset_id = create(world, 1)
    run_import(world, dataset_id, root)
    return dataset_id


def classification_dataset(world: ExportWorld) -> str:
    files: dict[str, bytes | str] = {
        "rabbits/1.jpg": jpeg(1),
        "rabbits/2.jpg": jpeg(2),
        "bees/3.png": png(3),
        "4.jpg": jpeg(4),  # unlabeled
    }
    root = write(world.imports / unique_name("cls"), files)
    dataset_id = create(world, 0)
    run_import(world, dataset_id, root)
    return dataset_id


def out(world: ExportWorld) -> Path:
    return world.exports / unique_name("out")


def boxes_of(world: ExportWorld, dataset_id: str) -> dict[str, list[tuple[str, tuple[float, ...]]]]:
    result = {}
    for name, row in samples_of(world, dataset_id).items():
        boxes = []
        for label in row.labels:
            (x1, y1), (x2, y2) = label.property["@modelarts:feature"]
            boxes.append((label.name, (x1, y1, x2, y2)))
        result[name] = sorted(boxes)
    return result


# --- formats ----------------------------------------------------------------------------


def test_coco_boxes_are_pixel_exact_and_load_in_pycocotools(world: ExportWorld) -> None:
    dataset_id = detection_dataset(world)
    dest = out(world)
    task = run_export(world, dataset_id, path=str(dest), annotation_format="COCO")
    assert task["total_sample_count"] == 3 and task["finished_sample_count"] == 3
    assert task["progress"] == 100.0 and task["path"] == str(dest)
    coco = COCO(str(dest / "annotations" / "instances_default.json"))
    names = {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())}
    found: dict[str, list[tuple[str, tuple[float, ...]]]] = {}
    for image in coco.loadImgs(coco.getImgIds()):
        assert (image["width"], image["height"]) == (40, 30)
        assert (dest / "images" / "default" / image["file_name"]).is_file()
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[image["id"]]))
        found[image["file_name"]] = sorted(
            (
                names[a["category_id"]],
                (a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]),
            )
            for a in anns
        )
    expected = {name: sorted((n, tuple(map(float, b))) for n, b in boxes) for name, boxes in BOXES.items()}
    expected["c.jpg"] = []
    assert found == expected
    # the media are the source files, byte for byte
    source = {row.sample.sample_name: row.sample for row in samples_of(world, dataset_id).values()}
    assert (dest / "images" / "default" / "a.jpg").read_bytes() == Path(
        source["a.jpg"].source_key
    ).read_bytes()


def test_voc_yolo_cvat_labelme_write_the_same_boxes(world: ExportWorld) -> None:
    dataset_id = detection_dataset(world)
    # Pascal VOC: corners
    voc = out(world)
    run_export(world, dataset_id, path=str(voc), annotation_format="VOC")
    tree = ET.parse(voc / "Annotations" / "a.xml")
    got = sorted(
        (
            o.findtext("name"),
            tuple(float(o.findtext(f"bndbox/{k}") or "nan") for k in ("xmin", "ymin", "xmax", "ymax")),
        )
        for o in tree.iter("object")
    )
    assert got == sorted((n, tuple(map(float, b))) for n, b in BOXES["a.jpg"])
    assert (voc / "JPEGImages" / "b.png").is_file()
    # YOLO: centre and size, normalised by the image size
    yolo = out(world)
    run_export(world, dataset_id, path=str(yolo), annotation_format="yolo")
    names = (yolo / "obj.names").read_text().split()
    lines = sorted((yolo / "obj_train_data" / "a.txt").read_text().split("\n"))
    decoded = []
    for line in filter(None, lines):
        cls, cx, cy, w, h = line.split()
        x1, y1 = float(cx) * 40 - float(w) * 20, float(cy) * 30 - float(h) * 15
        decoded.append(
            (names[int(cls)], tuple(round(v) for v in (x1, y1, x1 + float(w) * 40, y1 + float(h) * 30)))
        )
    assert sorted(decoded) == sorted(BOXES["a.jpg"])
    assert (yolo / "obj_train_data" / "c.jpg").is_file()
    # CVAT: one XML with every image's boxes
    cvat = out(world)
    run_export(world, dataset_id, path=str(cvat), annotation_format="CVAT")
    root = ET.parse(cvat / "default.xml").getroot()
    image = next(i for i in root.iter("image") if i.get("name") == "a.jpg")
    got = sorted(
        (b.get("label"), tuple(float(b.get(k) or "nan") for k in ("xtl", "ytl", "xbr", "ybr")))
        for b in image.iter("box")
    )
    assert got == sorted((n, tuple(map(float, b))) for n, b in BOXES["a.jpg"])
    # LabelMe: one XML per image
    labelme = out(world)
    run_export(world, dataset_id, path=str(labelme), annotation_format="LabelMe")
    assert "Annotations/default/a.xml" in files_under(labelme)
    assert "Images/default/b.png" in files_under(labelme)


def test_classification_formats_and_layouts(world: ExportWorld) -> None:
    dataset_id = classification_dataset(world)
    tree = out(world)
    run_export(world, dataset_id, path=str(tree), export_format=1)
    assert files_under(tree) == ["4.jpg", "bees/3.png", "rabbits/1.jpg", "rabbits/2.jpg"]
    tile = out(world)
    run_export(world, dataset_id, path=str(tile), export_format=2)
    assert files_under(tile) == ["1.jpg", "1.txt", "2.jpg", "2.txt", "3.png", "3.txt", "4.jpg"]
    assert (tile / "3.txt").read_text() == "bees\n"
    imagenet = out(world)
    run_export(world, dataset_id, path=str(imagenet), annotation_format="IMAGENET")
    assert {"rabbits/1.jpg", "rabbits/2.jpg", "bees/3.png"} <= set(files_under(imagenet))
    table = out(world)
    run_export(world, dataset_id, path=str(table), annotation_format="CSV")
    rows = (table / "labels.csv").read_text().splitlines()
    assert rows[0] == "sample,label" and sorted(rows[1:]) == [
        "1.jpg,rabbits",
        "2.jpg,rabbits",
        "3.png,bees",
        "4.jpg,",
    ]
    coco = out(world)
    run_export(world, dataset_id, path=str(coco), annotation_format="COCO")
    labels = json.loads((coco / "annotations" / "labels_default.json").read_text())
    cats = {c["id"]: c["name"] for c in labels["categories"]}
    by_image = {i["id"]: i["file_name"] for i in labels["images"]}
    got = sorted((by_image[a["image_id"]], cats[a["category_id"]]) for a in labels["annotations"])
    assert got == [("1.jpg", "rabbits"), ("2.jpg", "rabbits"), ("3.png", "bees")]


def test_text_labels_as_csv_and_json_lines(world: ExportWorld) -> None:
    lines = "good food\tpositive\nbad, very bad\tnegative\nno label here\n"
    root = write(world.imports / unique_name("txt"), {"reviews.txt": lines})
    dataset_id = create(world, 100)
    run_import(world, dataset_id, root)
    table = out(world)
    run_export(world, dataset_id, path=str(table), annotation_format="CSV")
    import csv

    with open(table / "labels.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["sample", "text", "label"]
    assert sorted((r[1], r[2]) for r in rows[1:]) == [
        ("bad, very bad", "negative"),
        ("good food", "positive"),
        ("no label here", ""),
    ]
    jsonl = out(world)
    run_export(world, dataset_id, path=str(jsonl), annotation_format="jsonl")
    objects = [json.loads(line) for line in (jsonl / "labels.jsonl").read_text().splitlines()]
    assert sorted((o["text"], [lab["name"] for lab in o["labels"]]) for o in objects) == [
        ("bad, very bad", ["negative"]),
        ("good food", ["positive"]),
        ("no label here", []),
    ]


# --- round trips through the folder importer ---------------------------------------------


def test_round_trip_tree_and_tile(world: ExportWorld) -> None:
    dataset_id = classification_dataset(world)
    before = {name: row.names for name, row in samples_of(world, dataset_id).items()}
    for layout in (1, 2):
        dest = out(world)
        run_export(world, dataset_id, path=str(dest), export_format=layout)
        copy = write(
            world.imports / unique_name("back"), {rel: (dest / rel).read_bytes() for rel in files_under(dest)}
        )
        again = create(world, 0)
        run_import(world, again, copy)
        assert {name: row.names for name, row in samples_of(world, again).items()} == before


def test_round_trip_boxes_through_tile_xml(world: ExportWorld) -> None:
    dataset_id = detection_dataset(world)
    dest = out(world)
    run_export(world, dataset_id, path=str(dest), export_format=2)
    assert files_under(dest) == ["a.jpg", "a.xml", "b.png", "b.xml", "c.jpg"]
    copy = write(
        world.imports / unique_name("back"), {rel: (dest / rel).read_bytes() for rel in files_under(dest)}
    )
    again = create(world, 1)
    run_import(world, again, copy)
    assert boxes_of(world, again) == boxes_of(world, dataset_id)


# --- selection, split, hard properties ------------------------------------------------------


def test_filters_select_samples(world: ExportWorld) -> None:
    dataset_id = classification_dataset(world)
    ids = {row.sample.sample_name: row.sample.id for row in samples_of(world, dataset_id).values()}

    def exported(**body: Any) -> list[str]:
        dest = out(world)
        run_export(world, dataset_id, path=str(dest), annotation_format="CSV", **body)
        return sorted(line.split(",")[0] for line in (dest / "labels.csv").read_text().splitlines()[1:])

    assert exported(export_type=0) == ["1.jpg", "2.jpg", "3.png"]
    assert exported(export_type=1) == ["4.jpg"]
    assert exported(export_params={"sample_state": "__NONE__"}) == ["4.jpg"]
    assert exported(export_params={"samples": [ids["2.jpg"], ids["4.jpg"], "nope"]}) == ["2.jpg", "4.jpg"]
    conditions = [
        {"label_list": {"labels": [{"name": "bees"}]}},
        {"sample_name": "1.jpg"},
    ]  # ORed
    assert exported(export_params={"search_conditions": conditions}) == ["1.jpg", "3.png"]


def test_ratio_sample_usage_splits_reproducibly(world: ExportWorld) -> None:
    dataset_id = classification_dataset(world)
    dest = out(world)
    body = {"ratio_sample_usage": True, "train_sample_ratio": "0.5"}
    task = run_export(world, dataset_id, path=str(dest), annotation_format="CSV", export_params=body)
    assert task["export_params"]["ratio_sample_usage"] is True
    assert task["export_params"]["train_sample_ratio"] == 0.5
    rows = (dest / "labels.csv").read_text().splitlines()
    assert rows[0] == "sample,label,usage"
    assert {row.rsplit(",", 1)[1] for row in rows[1:]} <= {"TRAIN", "EVAL"} and len(rows) == 5


# --- destinations -----------------------------------------------------------------------


def test_destinations_outside_grants_are_refused(world: ExportWorld, tmp_path: Path) -> None:
    dataset_id = classification_dataset(world)
    alice, mallory = world.alice, world.mallory

    def refused(client: Any, project: str, ds: str, path: str, status: int = 400) -> None:
        response = start_export(client, project, ds, path=path)
        assert response.status_code == status, response.text
        assert set(response.json()) == {"error_code", "error_msg"}

    refused(alice.aksk, alice.project_id, dataset_id, str(tmp_path / "elsewhere"))
    refused(alice.aksk, alice.project_id, dataset_id, str(world.imports / "x"))  # an import root
    refused(alice.aksk, alice.project_id, dataset_id, str(world.exports))  # the root itself
    refused(alice.aksk, alice.project_id, dataset_id, str(world.exports / ".." / "x"))
    refused(alice.aksk, alice.project_id, dataset_id, "relative/path")
    refused(alice.aksk, alice.project_id, dataset_id, str(world.exports / "no" / "parent"))
    full = world.exports / unique_name("full")
    (full / "x").mkdir(parents=True)
    refused(alice.aksk, alice.project_id, dataset_id, str(full))  # not empty
    refused(alice.aksk, alice.project_id, dataset_id, "obs://datasets/x/")  # LabelArts' own prefix
    # mallory's project has no export root, and alice's dataset does not exist for her
    mine = create_for(world, mallory)
    refused(mallory.aksk, mallory.project_id, mine, str(world.exports / "m"))
    refused(mallory.aksk, mallory.project_id, dataset_id, str(world.exports / "m"), status=404)
    refused(alice.aksk, alice.project_id, dataset_id, "")  # path is required for DIR
    response = start_export(
        alice.aksk, alice.project_id, dataset_id, path=str(out(world)), annotation_format="PDF"
    )
    assert response.status_code == 400
    for shapes_only in ("YOLO", "LABELME"):  # no boxes in a classification dataset
        response = start_export(
            alice.aksk, alice.project_id, dataset_id, path=str(out(world)), annotation_format=shapes_only
        )
        assert response.status_code == 400, shapes_only


def create_for(world: ExportWorld, tenant: Any) -> str:
    body = {
        "dataset_name": unique_name(),
        "dataset_type": 0,
        "data_sources": [{"data_type": 0}],
        "work_path": "/w/",
    }
    response = tenant.aksk.post(tenant.v2("/datasets"), json=body)
    assert response.status_code == 201, response.text
    dataset_id: str = response.json()["dataset_id"]
    return dataset_id


def test_export_to_an_object_store_prefix(world: ExportWorld) -> None:
    dataset_id = classification_dataset(world)
    prefix = unique_name("bucket")
    run_export(world, dataset_id, path=f"obs://{prefix}/out/", export_format=1)
    keys = sorted(world.services.objects.list(f"{prefix}/out"))
    assert keys == [
        f"{prefix}/out/{rel}" for rel in ["4.jpg", "bees/3.png", "rabbits/1.jpg", "rabbits/2.jpg"]
    ]


def test_new_dataset_gets_the_samples_and_labels(world: ExportWorld) -> None:
    dataset_id = detection_dataset(world)
    name = unique_name("copy")
    task = run_export(
        world,
        dataset_id,
        export_type=0,
        export_params={"export_dest": "NEW_DATASET", "export_new_dataset_name": name},
    )
    new_id = task["export_new_dataset_id"]
    assert task["export_params"]["export_dest"] == "NEW_DATASET"
    response = world.alice.aksk.get(world.alice.v2(f"/datasets/{new_id}"))
    assert response.status_code == 200 and response.json()["dataset_name"] == name
    assert boxes_of(world, new_id) == {k: v for k, v in boxes_of(world, dataset_id).items() if v}
    again = start_export(
        world.alice.aksk,
        world.alice.project_id,
        dataset_id,
        export_params={"export_dest": "NEW_DATASET", "export_new_dataset_name": name},
    )
    assert again.status_code == 400  # the name is taken


def test_list_and_detail_answer_the_reference_fields(world: ExportWorld) -> None:
    dataset_id = classification_dataset(world)
    first = run_export(world, dataset_id, path=str(out(world)), export_type=0)
    run_export(world, dataset_id, path=str(out(world)), export_type=2)
    listing = world.alice.aksk.get(world.alice.v2(f"/datasets/{dataset_id}/export-tasks"))
    assert listing.status_code == 200
    body = listing.json()
    assert body["total_count"] == 2 and len(body["export_tasks"]) == 2
    keys = {
        "task_id", "path", "export_type", "version_format", "export_format", "export_params", "status",
        "progress", "total_sample_count", "finished_sample_count", "create_time", "update_time",
    }  # fmt: skip
    assert all(keys <= set(t) for t in body["export_tasks"])
    only = world.alice.aksk.get(
        world.alice.v2(f"/datasets/{dataset_id}/export-tasks"), params={"export_type": 0}
    )
    assert [t["task_id"] for t in only.json()["export_tasks"]] == [first["task_id"]]
    assert only.json()["total_count"] == 1
    missing = world.alice.aksk.get(world.alice.v2(f"/datasets/{dataset_id}/export-tasks/nope"))
    assert missing.status_code == 404
    other = world.mallory.aksk.get(
        world.mallory.v2(f"/datasets/{dataset_id}/export-tasks/{first['task_id']}")
    )
    assert other.status_code == 404


@pytest.mark.parametrize("dest_kind", ["local"])
def test_stop_leaves_nothing_that_looks_complete(world: ExportWorld, dest_kind: str) -> None:
    dataset_id = classification_dataset(world)
    dest = out(world)
    response = start_export(world.alice.aksk, world.alice.project_id, dataset_id, path=str(dest))
    task_id = response.json()["task_id"]
    stop = world.alice.aksk.post(world.alice.v2(f"/datasets/{dataset_id}/export-tasks/{task_id}/stop"))
    assert stop.status_code in (204, 400), stop.text  # 400: it had already ended
    task, _ = wait_export(world.alice.aksk, world.alice.project_id, dataset_id, task_id)
    leftovers = [p.name for p in world.exports.iterdir() if p.name.startswith(f".{dest.name}.partial")]
    assert leftovers == []
    if task["status"] == "FAILED":
        assert not dest.exists()
    else:  # the stop came after the last sample: the export is complete
        assert files_under(dest) == ["1.jpg", "1.txt", "2.jpg", "2.txt", "3.png", "3.txt", "4.jpg"]


def test_manifest_round_trip_keeps_boxes(world: ExportWorld) -> None:
    dataset_id = detection_dataset(world)
    dest = out(world)
    run_export(world, dataset_id, path=str(dest), annotation_format="MANIFEST")
    assert files_under(dest) == ["dataset.manifest"]
    lines = [json.loads(line) for line in (dest / "dataset.manifest").read_text().splitlines()]
    assert sorted(Path(line["source"]).name for line in lines) == ["a.jpg", "b.png", "c.jpg"]
    manifest = write(
        world.imports / unique_name("mf"), {"in.manifest": (dest / "dataset.manifest").read_text()}
    )
    again = create(world, 1)
    run_import(world, again, manifest / "in.manifest", import_type="manifest")
    assert boxes_of(world, again) == boxes_of(world, dataset_id)


def test_text_manifest_carries_the_text(world: ExportWorld) -> None:
    root = write(world.imports / unique_name("txt"), {"r.txt": "good\tpositive\nbad\tnegative\n"})
    dataset_id = create(world, 100)
    run_import(world, dataset_id, root)
    dest = out(world)
    run_export(world, dataset_id, path=str(dest), annotation_format="manifest")
    lines = [json.loads(line) for line in (dest / "dataset.manifest").read_text().splitlines()]
    got = sorted((line["source"], [a["name"] for a in line["annotation"]]) for line in lines)
    assert got == [("content://bad", ["negative"]), ("content://good", ["positive"])]


def test_a_version_exports_its_frozen_labels_and_split(world: ExportWorld) -> None:
    from tests.versions import published

    dataset_id = classification_dataset(world)
    version = published(world, dataset_id, version_name="V001", train_evaluate_sample_ratio="0.5")
    ids = {row.sample.sample_name: row.sample.id for row in samples_of(world, dataset_id).values()}
    # the live dataset changes after publishing: 1.jpg becomes a bee
    change = {"samples": [{"sample_id": ids["1.jpg"], "labels": [{"name": "bees", "type": 0}]}]}
    response = world.alice.aksk.put(
        world.alice.v2(f"/datasets/{dataset_id}/data-annotations/samples"), json=change
    )
    assert response.status_code == 200, response.text
    dest = out(world)
    task = run_export(
        world, dataset_id, path=str(dest), annotation_format="JSONL", version_id=version["version_id"]
    )
    assert task["version_id"] == version["version_id"]
    objects = [json.loads(line) for line in (dest / "labels.jsonl").read_text().splitlines()]
    got = {o["sample"]: ([label["name"] for label in o["labels"]], o["usage"]) for o in objects}
    assert {name: names for name, (names, _) in got.items()} == {
        "1.jpg": ["rabbits"],
        "2.jpg": ["rabbits"],
        "3.png": ["bees"],
        "4.jpg": [],
    }
    assert {usage for _, usage in got.values()} <= {"TRAIN", "EVAL"}
    bad = start_export(
        world.alice.aksk, world.alice.project_id, dataset_id, path=str(out(world)), version_id="nope"
    )
    assert bad.status_code == 400
