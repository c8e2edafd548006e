"""Round trips through the formats: import, export (Datumaro's writers, docs/export.md),
import the export into a new dataset with the format's import type, compare: the same sample
names and labels, boxes and polygons to the pixel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.api import unique_name
from tests.exports import ExportWorld, files_under, run_export, world_fixture
from tests.imports import create, jpeg, png, run_import, samples_of, voc_xml, write

world = world_fixture("format-round-trips")

BOXES = {
    "a.jpg": [("cat", (1, 2, 20, 15)), ("dog", (5, 6, 30, 28))],
    "b.png": [("dog", (0, 0, 39, 29))],
}
POLYGON = [[3, 4], [20, 4], [12, 25]]


def labels_of(world: ExportWorld, dataset_id: str) -> dict[str, list[tuple[str, str, Any]]]:
    return {
        name: sorted(
            (label.name, label.property.get("@modelarts:shape", ""), label.property.get("@modelarts:feature"))
            for label in row.labels
        )
        for name, row in samples_of(world, dataset_id).items()
    }


def detection_dataset(world: ExportWorld, with_polygon: bool) -> str:
    files: dict[str, bytes | str] = {
        "a.jpg": jpeg(1, 40, 30),
        "b.png": png(2, 40, 30),
        "c.jpg": jpeg(3, 40, 30),
    }
    for name, boxes in BOXES.items():
        objects: list[dict[str, Any]] = [{"name": n, "bndbox": box} for n, box in boxes]
        if with_polygon and name == "a.jpg":
            objects.append({"name": "tree", "polygon": POLYGON})
        files[f"{name.rsplit('.', 1)[0]}.xml"] = voc_xml(name, objects, size=(40, 30))
    root = write(world.imports / unique_name("det"), files)
    dataset_id = create(world, 1)
    run_import(world, dataset_id, root)
    return dataset_id


def back(world: ExportWorld, dest: Path) -> Path:
    """The export copied into the import root (exports and imports are apart)."""
    return write(
        world.imports / unique_name("back"), {rel: (dest / rel).read_bytes() for rel in files_under(dest)}
    )


@pytest.mark.parametrize(
    "fmt, import_type, polygons",
    [
        ("COCO", "coco", True),
        ("VOC", "voc", False),
        ("YOLO", "yolo", False),
        ("CVAT", "cvat", True),
        ("LABELME", "labelme", True),
    ],
)
def test_detection_round_trip(world: ExportWorld, fmt: str, import_type: str, polygons: bool) -> None:
    dataset_id = detection_dataset(world, polygons)
    dest = world.exports / unique_name("out")
    run_export(world, dataset_id, path=str(dest), annotation_format=fmt, export_type=2)
    again = create(world, 1)
    task = run_import(world, again, back(world, dest), import_type=import_type)
    assert task["failed_file_count"] == 0, task
    assert labels_of(world, again) == labels_of(world, dataset_id)


@pytest.mark.parametrize(
    # Not LabelMe: its XML has no image-level labels, so a classification export holds none.
    "fmt, import_type",
    [("IMAGENET", "imagenet"), ("COCO", "coco"), ("CVAT", "cvat")],
)
def test_classification_round_trip(world: ExportWorld, fmt: str, import_type: str) -> None:
    files: dict[str, bytes | str] = {
        "rabbits/1.jpg": jpeg(1),
        "rabbits/2.jpg": jpeg(2),
        "bees/3.png": png(3),
        "4.jpg": jpeg(4),
    }
    dataset_id = create(world, 0)
    run_import(world, dataset_id, write(world.imports / unique_name("cls"), files))
    dest = world.exports / unique_name("out")
    run_export(world, dataset_id, path=str(dest), annotation_format=fmt, export_type=2)
    again = create(world, 0)
    run_import(world, again, back(world, dest), import_type=import_type)
    before = {name: row.names for name, row in samples_of(world, dataset_id).items()}
    assert {name: row.names for name, row in samples_of(world, again).items()} == before
