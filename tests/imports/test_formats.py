"""Imports in the annotation formats read with Datumaro (COCO, Pascal VOC devkit, YOLO,
ImageNet, CVAT, LabelMe, Datumaro), written by hand here and checked sample by sample:
names, labels and boxes to the pixel; detection by layout; masks; bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.api import World, unique_name
from tests.conftest import assert_error
from tests.imports import create, jpeg, png, run_import, samples_of, voc_xml, world_fixture, write

world = world_fixture("formats")
W, H = 24, 16  # the size of jpeg() / png() images


def shapes(world: World, dataset_id: str) -> dict[str, list[tuple[str, str, Any]]]:
    """sample name -> sorted (label, shape, feature) of its labels."""
    return {
        name: sorted(
            (label.name, label.property.get("@modelarts:shape", ""), label.property.get("@modelarts:feature"))
            for label in row.labels
        )
        for name, row in samples_of(world, dataset_id).items()
    }


def coco_files(segmentation: bool = False) -> dict[str, bytes | str]:
    annotations: list[dict[str, Any]] = [
        {
            "id": 1,
            "image_id": 1,
            "category_id": 1,
            "bbox": [2, 3, 10, 5],
            "area": 50,
            "iscrowd": 0,
            "segmentation": [],
        },
        {
            "id": 2,
            "image_id": 1,
            "category_id": 2,
            "bbox": [0, 0, 4, 4],
            "area": 16,
            "iscrowd": 0,
            "segmentation": [[1, 1, 9, 1, 9, 7]],
        },
        {
            "id": 3,
            "image_id": 2,
            "category_id": 2,
            "bbox": [5, 6, 7, 8],
            "area": 56,
            "iscrowd": 0,
            "segmentation": [],
        },
    ]
    if segmentation:
        mask = np.zeros((H, W), dtype=np.uint8)
        mask[2:7, 3:9] = 1  # rows 2-6, columns 3-8
        from pycocotools import mask as mask_utils

        rle = mask_utils.encode(np.asfortranarray(mask))
        annotations.append(
            {
                "id": 4,
                "image_id": 2,
                "category_id": 1,
                "bbox": [3, 2, 6, 5],
                "area": 30,
                "iscrowd": 1,
                "segmentation": {"counts": rle["counts"].decode(), "size": [H, W]},
            }
        )
    body = {
        "images": [
            {"id": 1, "file_name": "a.jpg", "width": W, "height": H},
            {"id": 2, "file_name": "b.jpg", "width": W, "height": H},
            {"id": 3, "file_name": "c.jpg", "width": W, "height": H},
        ],
        "categories": [
            {"id": 1, "name": "cat", "supercategory": ""},
            {"id": 2, "name": "dog", "supercategory": ""},
        ],
        "annotations": annotations,
    }
    return {
        "annotations/instances_train.json": json.dumps(body),
        "images/train/a.jpg": jpeg(1),
        "images/train/b.jpg": jpeg(2),
        "images/train/c.jpg": jpeg(3),
    }


@pytest.mark.parametrize("import_type", ["coco", "dir"])  # "dir": the layout says COCO
def test_coco_boxes_to_the_pixel(world: World, import_type: str) -> None:
    root = write(world.imports / unique_name("coco"), coco_files())
    dataset_id = create(world, 1)
    task = run_import(world, dataset_id, root, import_type=import_type)
    assert task["imported_sample_count"] == 3 and task["failed_file_count"] == 0, task
    assert shapes(world, dataset_id) == {
        "a.jpg": sorted(
            [
                ("cat", "bndbox", [[2, 3], [12, 8]]),
                ("dog", "polygon", [[1, 1], [9, 1], [9, 7]]),  # its box is the polygon's: one object
            ]
        ),
        "b.jpg": [("dog", "bndbox", [[5, 6], [12, 14]])],
        "c.jpg": [],
    }
    rows = samples_of(world, dataset_id)
    assert rows["a.jpg"].sample.source_key == str((root / "images/train/a.jpg").resolve())
    assert all(label.type == 1 for row in rows.values() for label in row.labels)


def test_coco_masks_become_polygons_in_segmentation(world: World) -> None:
    root = write(world.imports / unique_name("cocoseg"), coco_files(segmentation=True))
    dataset_id = create(world, 3)
    run_import(world, dataset_id, root, import_type="coco")
    rows = samples_of(world, dataset_id)
    masks = [
        label.property["@modelarts:feature"]
        for label in rows["b.jpg"].labels
        if label.name == "cat" and label.property["@modelarts:shape"] == "polygon"
    ]
    assert len(masks) == 1
    xs = [x for x, _y in masks[0]]
    ys = [y for _x, y in masks[0]]
    assert (min(xs), max(xs), min(ys), max(ys)) == (3, 8, 2, 6)  # the mask's outline, pixel for pixel


def yolo_files() -> dict[str, bytes | str]:
    return {
        "obj.names": "cat\ndog\n",
        "obj.data": "classes = 2\nnames = obj.names\ntrain = train.txt\n",
        "train.txt": "obj_train_data/a.jpg\nobj_train_data/b.png\n/etc/passwd\n../outside.jpg\n",
        # centre (12, 8), 12 x 4 -> [[6, 6], [18, 10]]; centre (6, 4), 12 x 8 -> [[0, 0], [12, 8]]
        "obj_train_data/a.txt": "0 0.5 0.5 0.5 0.25\n1 0.25 0.25 0.5 0.5\n",
        "obj_train_data/a.jpg": jpeg(11),
        "obj_train_data/b.txt": "",
        "obj_train_data/b.png": png(12),
    }


@pytest.mark.parametrize("import_type", ["yolo", "dir"])
def test_yolo_boxes_to_the_pixel(world: World, import_type: str) -> None:
    root = write(world.imports / unique_name("yolo"), yolo_files())
    dataset_id = create(world, 1)
    run_import(world, dataset_id, root, import_type=import_type)
    assert shapes(world, dataset_id) == {
        "a.jpg": [("cat", "bndbox", [[6, 6], [18, 10]]), ("dog", "bndbox", [[0, 0], [12, 8]])],
        "b.png": [],
    }


def test_voc_devkit_layout(world: World) -> None:
    files: dict[str, bytes | str] = {
        "Annotations/a.xml": voc_xml("a.jpg", [{"name": "car", "bndbox": (1, 2, 11, 12), "difficult": 1}]),
        "Annotations/b.xml": voc_xml("b.jpg", [{"name": "bus", "bndbox": (3, 4, 20, 15)}]),
        "JPEGImages/a.jpg": jpeg(21),
        "JPEGImages/b.jpg": jpeg(22),
        "ImageSets/Main/train.txt": "a\nb\n",
    }
    root = write(world.imports / unique_name("voc"), files)
    dataset_id = create(world, 1)
    run_import(world, dataset_id, root)  # detected by its layout
    assert shapes(world, dataset_id) == {
        "a.jpg": [("car", "bndbox", [[1, 2], [11, 12]])],
        "b.jpg": [("bus", "bndbox", [[3, 4], [20, 15]])],
    }
    (label,) = samples_of(world, dataset_id)["a.jpg"].labels
    assert label.property["difficult"] == "1" and label.property["@modelarts:hard"] == "true"


def test_imagenet_class_folders(world: World) -> None:
    root = write(world.imports / unique_name("inet"), {"cat/1.jpg": jpeg(31), "dog/2.jpg": jpeg(32)})
    dataset_id = create(world, 0)
    run_import(world, dataset_id, root, import_type="imagenet")
    rows = samples_of(world, dataset_id)
    assert {name: row.names for name, row in rows.items()} == {"1.jpg": ["cat"], "2.jpg": ["dog"]}
    assert all(label.type == 0 and label.property == {} for row in rows.values() for label in row.labels)


CVAT_XML = """<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta><task><labels>
    <label><name>car</name><attributes></attributes></label>
    <label><name>tree</name><attributes></attributes></label>
  </labels></task></meta>
  <image id="0" name="a.jpg" width="24" height="16">
    <box label="car" occluded="1" xtl="1" ytl="2" xbr="11" ybr="12" z_order="0"></box>
    <polygon label="tree" occluded="0" points="2.0,2.0;8.0,2.0;5.0,9.0" z_order="0"></polygon>
  </image>
  <image id="1" name="b.jpg" width="24" height="16"></image>
</annotations>
"""


@pytest.mark.parametrize("import_type", ["cvat", "dir"])
def test_cvat_boxes_and_polygons(world: World, import_type: str) -> None:
    root = write(
        world.imports / unique_name("cvat"),
        {"annotations.xml": CVAT_XML, "images/a.jpg": jpeg(41), "images/b.jpg": jpeg(42)},
    )
    dataset_id = create(world, 1)
    run_import(world, dataset_id, root, import_type=import_type)
    assert shapes(world, dataset_id) == {
        "a.jpg": [("car", "bndbox", [[1, 2], [11, 12]]), ("tree", "polygon", [[2, 2], [8, 2], [5, 9]])],
        "b.jpg": [],
    }
    car = next(label for label in samples_of(world, dataset_id)["a.jpg"].labels if label.name == "car")
    assert car.property["occluded"] == "1"


def datumaro_written(tmp: Path, fmt: str) -> Path:
    """A small dataset written by Datumaro itself in ``fmt`` (LabelMe, Datumaro's own)."""
    from datumaro.components.annotation import AnnotationType, Bbox, LabelCategories, Polygon
    from datumaro.components.dataset import Dataset
    from datumaro.components.dataset_base import DatasetItem
    from datumaro.components.media import Image

    from labelarts.formats.datumaro_import import image_context

    image_context()

    pixels = np.zeros((H, W, 3), dtype=np.uint8)
    items = [
        DatasetItem(
            id="a",
            subset="train",
            media=Image.from_numpy(pixels),
            annotations=[Bbox(1, 2, 10, 10, label=0), Polygon([1, 1, 5, 1, 5, 5], label=1)],
        ),
        DatasetItem(id="b", subset="train", media=Image.from_numpy(pixels + 40), annotations=[]),
    ]
    dataset = Dataset.from_iterable(
        items, categories={AnnotationType.label: LabelCategories.from_iterable(["car", "tree"])}
    )
    dataset.export(str(tmp), fmt, save_media=True)
    return tmp


@pytest.mark.parametrize("import_type, fmt", [("labelme", "label_me"), ("datumaro", "datumaro")])
def test_datumaro_written_formats(world: World, import_type: str, fmt: str) -> None:
    root = datumaro_written(world.imports / unique_name(import_type), fmt)
    dataset_id = create(world, 1)
    run_import(world, dataset_id, root, import_type=import_type)
    result = shapes(world, dataset_id)
    assert {name.rsplit(".", 1)[0] for name in result} == {"a", "b"}
    a = next(v for k, v in result.items() if k.startswith("a."))
    assert a == [("car", "bndbox", [[1, 2], [11, 12]]), ("tree", "polygon", [[1, 1], [5, 1], [5, 5]])]


def test_format_refusals(world: World) -> None:
    alice = world.alice
    # A folder that is not COCO: the task fails with a readable reason, nothing is imported.
    root = write(world.imports / unique_name("notcoco"), {"x.jpg": jpeg(51)})
    dataset_id = create(world, 1)
    response = alice.aksk.post(
        alice.v2(f"/datasets/{dataset_id}/import-tasks"),
        json={"import_path": str(root), "import_type": "coco"},
    )
    assert response.status_code == 200
    from tests.api import wait_for_import

    task = wait_for_import(
        alice.aksk, alice.v2(f"/datasets/{dataset_id}/import-tasks/{response.json()['task_id']}")
    )
    assert task["status"] == "FAILED" and task["error_code"] == "ModelArts.4362", task
    assert samples_of(world, dataset_id) == {}
    # Unknown import types and formats for non-image datasets are 400.
    bad = alice.aksk.post(
        alice.v2(f"/datasets/{dataset_id}/import-tasks"),
        json={"import_path": str(root), "import_type": "pascal"},
    )
    assert_error(bad, 400)
    text = create(world, 100)
    refused = alice.aksk.post(
        alice.v2(f"/datasets/{text}/import-tasks"), json={"import_path": str(root), "import_type": "coco"}
    )
    assert_error(refused, 400, "ModelArts.4396")
    # Another project's dataset does not exist.
    other = world.mallory.aksk.post(
        world.mallory.v2(f"/datasets/{dataset_id}/import-tasks"),
        json={"import_path": str(root), "import_type": "coco"},
    )
    assert_error(other, 404, "ModelArts.4352")


def test_a_plain_folder_is_not_taken_for_a_format(world: World) -> None:
    # Class folders named like format folders, without the format's files: the ModelArts layout.
    root = write(
        world.imports / unique_name("plain"), {"annotations/1.jpg": jpeg(61), "images/2.jpg": jpeg(62)}
    )
    dataset_id = create(world, 0)
    run_import(world, dataset_id, root)
    rows = samples_of(world, dataset_id)
    assert {name: row.names for name, row in rows.items()} == {"1.jpg": ["annotations"], "2.jpg": ["images"]}


def test_voc_segmentation_keeps_mask_source(world: World) -> None:
    # ModelArts image segmentation 1.0: <mask_source> and <mask_color> in the VOC file.
    xml = voc_xml("s.jpg", [{"name": "bike", "polygon": [(1, 1), (10, 2), (6, 9)]}]).replace(
        "<segmented>0</segmented>",
        "<segmented>1</segmented><mask_source>obs://bucket/out/SegmentationClassRaw/s.png</mask_source>",
    )
    root = write(world.imports / unique_name("seg"), {"s.jpg": jpeg(71), "s.xml": xml})
    dataset_id = create(world, 3)
    run_import(world, dataset_id, root)
    (label,) = samples_of(world, dataset_id)["s.jpg"].labels
    assert label.property["mask_source"] == "obs://bucket/out/SegmentationClassRaw/s.png"
    assert label.property["@modelarts:feature"] == [[1, 1], [10, 2], [6, 9]]
