"""Folder imports, one test per annotation layout, checked sample by sample."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

from labelarts.services.importing.sources import LocalTree
from labelarts.services.paths import LocalPath
from labelarts.services.samples.records import MANUAL, UNLABELED
from labelarts.storage.localfs import LocalRoot
from tests.api import World, unique_name, wait_for_import
from tests.imports import (
    create,
    jpeg,
    labels_by_name,
    png,
    run_import,
    samples_of,
    voc_xml,
    wav_bytes,
    world_fixture,
    write,
)

world = world_fixture("folders")
MTIME_NS = 1_600_000_000_123_456_789  # a fixed modification time, set on every file
MTIME_MS = 1_600_000_000_123


def folder(world: World, files: dict[str, bytes | str]) -> Path:
    root = write(world.imports / unique_name("src"), files)
    for path in root.rglob("*"):
        os.utime(path, ns=(MTIME_NS, MTIME_NS))
    return root


def test_image_classification_from_class_folders(world: World) -> None:
    files: dict[str, bytes | str] = {
        "root.jpg": jpeg(1),
        "Rabbit/10.jpg": jpeg(2),
        "Rabbit/11.png": png(3),
        "Panda/deep/1.jpg": jpeg(4),  # several levels: the last one is the label
        "pairs/x.jpg": jpeg(5),  # "ModelArts image classification 1.0": labels in x.txt
        "pairs/x.txt": "Rabbit\n\nPanda\n",
    }
    root = folder(world, files)
    dataset_id = create(world, 0)
    task = run_import(world, dataset_id, root)

    expected = {
        "root.jpg": [],
        "10.jpg": ["Rabbit"],
        "11.png": ["Rabbit"],
        "1.jpg": ["deep"],
        "x.jpg": ["Panda", "Rabbit"],
    }
    rows = samples_of(world, dataset_id)
    assert {name: row.names for name, row in rows.items()} == expected
    rel = {
        "root.jpg": "root.jpg",
        "10.jpg": "Rabbit/10.jpg",
        "11.png": "Rabbit/11.png",
        "1.jpg": "Panda/deep/1.jpg",
    }
    rel["x.jpg"] = "pairs/x.jpg"
    for name, row in rows.items():
        sample, path = row.sample, root.resolve() / rel[name]
        data = path.read_bytes()
        assert sample.sample_status == (MANUAL if expected[name] else UNLABELED)
        assert sample.source_kind == "local" and sample.source_key == str(path)
        assert sample.sample_dir == f"{path.parent}/"
        assert sample.sample_size == len(data)
        assert sample.content_hash == hashlib.sha256(data).hexdigest()
        assert sample.sample_time == MTIME_MS
        assert sample.sample_type == 0
        assert sample.metadata_["@modelarts:size"] == [24, 16, 3]
        assert sample.metadata_["@modelarts:import_origin"] == 0
        assert sample.import_origin == task["task_id"]
        assert all(label.type == 0 and label.property == {} for label in row.labels)
    assert labels_by_name(world, dataset_id) == {"Rabbit": 0, "deep": 0, "Panda": 0}

    assert task["total_file_count"] == 6 and task["finished_file_count"] == 6
    assert task["total_file_size"] == sum(
        len(c if isinstance(c, bytes) else c.encode()) for c in files.values()
    )
    assert task["imported_sample_count"] == 5 and task["total_sample_count"] == 5
    assert task["annotated_sample_count"] == 4
    assert task["annotation_file_count"] == 1
    assert task["failed_file_count"] == 0 and task["skipped_file_count"] == 0
    assert task["failed_files"] == []
    assert task["import_type"] == 0 and task["import_path"] == str(root.resolve())

    ds = world.alice.aksk.get(world.alice.v2(f"/datasets/{dataset_id}")).json()
    assert ds["status"] == 1 and ds["total_sample_count"] == 5 and ds["annotated_sample_count"] == 4


def test_import_annotations_false_imports_every_file_unlabeled(world: World) -> None:
    root = folder(world, {"a.jpg": jpeg(1), "Cat/b.jpg": jpeg(2), "Dog/c.png": png(3)})
    dataset_id = create(world, 0)
    task = run_import(world, dataset_id, root, import_annotations=False)
    rows = samples_of(world, dataset_id)
    assert sorted(rows) == ["a.jpg", "b.jpg", "c.png"]
    assert all(not row.labels and row.sample.sample_status == UNLABELED for row in rows.values())
    assert labels_by_name(world, dataset_id) == {}
    assert task["annotated_sample_count"] == 0


def test_object_detection_from_pascal_voc_beside_each_image(world: World) -> None:
    objects = [
        {"name": "Rabbit", "bndbox": (1, 2, 10, 12), "truncated": 0, "difficult": 1, "occluded": 0},
        {"name": "Cat", "bndbox": (3.5, 4, 20, 15), "confidence": 0.75},
    ]
    root = folder(
        world,
        {
            "a.jpg": jpeg(1),
            "a.xml": voc_xml("a.jpg", objects),
            "b.png": png(2),  # no annotation: unlabeled
            "sub/c.jpg": jpeg(3),
            "sub/c.xml": voc_xml("c.jpg", [{"name": "Cat", "bndbox": (0, 0, 5, 5)}]),
            "orphan.xml": voc_xml("gone.jpg", []),
        },
    )
    dataset_id = create(world, 1)
    task = run_import(world, dataset_id, root)
    rows = samples_of(world, dataset_id)
    assert {name: row.names for name, row in rows.items()} == {
        "a.jpg": ["Cat", "Rabbit"],
        "b.png": [],
        "c.jpg": ["Cat"],
    }
    a = {label.name: label for label in rows["a.jpg"].labels}
    assert a["Rabbit"].type == 1 and a["Rabbit"].score is None
    assert a["Rabbit"].property == {
        "@modelarts:shape": "bndbox",
        "@modelarts:feature": [[1, 2], [10, 12]],
        "truncated": "0",
        "difficult": "1",
        "occluded": "0",
        "pose": "Unspecified",
        "@modelarts:hard": "true",
    }
    assert a["Cat"].property["@modelarts:feature"] == [[3.5, 4], [20, 15]]
    assert a["Cat"].score == 0.75
    assert rows["c.jpg"].labels[0].property["@modelarts:feature"] == [[0, 0], [5, 5]]
    assert rows["a.jpg"].sample.sample_status == MANUAL and rows["b.png"].sample.sample_status == UNLABELED
    assert labels_by_name(world, dataset_id) == {"Rabbit": 1, "Cat": 1}
    assert task["annotation_file_count"] == 3 and task["imported_sample_count"] == 3


def test_image_segmentation_polygons(world: World) -> None:
    polygon = [(1, 1), (10, 2), (6, 9)]
    root = folder(
        world, {"s.jpg": jpeg(1), "s.xml": voc_xml("s.jpg", [{"name": "bike", "polygon": polygon}])}
    )
    dataset_id = create(world, 3)
    run_import(world, dataset_id, root)
    (label,) = samples_of(world, dataset_id)["s.jpg"].labels
    assert (label.name, label.type) == ("bike", 3)
    assert label.property["@modelarts:shape"] == "polygon"
    assert label.property["@modelarts:feature"] == [[1, 1], [10, 2], [6, 9]]


def test_text_classification_combined_lines(world: World) -> None:
    root = folder(
        world,
        {
            "comments.txt": "good phone\tpositive\nbad battery\tnegative,angry\n\nno label here\n",
            "more/data.csv": "\ufeffwith\ttab inside\tneutral\n",
        },
    )
    dataset_id = create(world, 100)
    task = run_import(world, dataset_id, root)
    rows = samples_of(world, dataset_id, key="text")
    assert {text: row.names for text, row in rows.items()} == {
        "good phone": ["positive"],
        "bad battery": ["angry", "negative"],
        "no label here": [],
        "with\ttab inside": ["neutral"],  # the text ends at the last separator
    }
    good = rows["good phone"].sample
    assert good.sample_type == 1 and good.source_kind == "object"
    assert good.sample_size == len(b"good phone")
    assert good.content_hash == hashlib.sha256(b"good phone").hexdigest()
    assert good.sample_name == "comments_1.txt"
    assert good.sample_dir == f"{root.resolve()}/"
    assert good.metadata_["@labelarts:source_file"] == str(root.resolve() / "comments.txt")
    assert good.metadata_["@labelarts:source_line"] == 1
    assert good.sample_time == MTIME_MS
    assert rows["bad battery"].sample.sample_name == "comments_2.txt"
    assert all(label.type == 100 for row in rows.values() for label in row.labels)
    assert task["total_file_count"] == 2 and task["imported_sample_count"] == 4
    assert task["annotated_sample_count"] == 3


def test_text_classification_custom_separators(world: World) -> None:
    root = folder(world, {"t.txt": "first;a|b\nsecond;c\n"})
    dataset_id = create(world, 100)
    fmt = {"label_type": "1", "text_sample_separator": ";", "text_label_separator": "|"}
    run_import(world, dataset_id, root, label_format=fmt)
    rows = samples_of(world, dataset_id, key="text")
    assert {text: row.names for text, row in rows.items()} == {"first": ["a", "b"], "second": ["c"]}


def test_text_classification_result_files(world: World) -> None:
    root = folder(
        world,
        {
            "COMMENTS_1.txt": "It touches good.\nThe phone heats up.\nA gift for Father's Day.\n",
            "COMMENTS_1_result.txt": "positive\nnegative\npositive,gift\n",
            "alone.txt": "nobody labelled me\n",
        },
    )
    # label_format from the dataset row, as the initial import reads it.
    dataset_id = create(world, 100, label_format={"label_type": "0"})
    task = run_import(world, dataset_id, root)
    rows = samples_of(world, dataset_id, key="text")
    assert {text: row.names for text, row in rows.items()} == {
        "It touches good.": ["positive"],
        "The phone heats up.": ["negative"],
        "A gift for Father's Day.": ["gift", "positive"],
        "nobody labelled me": [],
    }
    assert task["annotation_file_count"] == 1


def test_sound_classification_and_unlabeled_speech(world: World) -> None:
    mp3 = b"ID3\x03\x00\x00\x00\x00\x00\x00" + bytes(200)
    flac = b"fLaC\x00\x00\x00\x22" + bytes(100)
    root = folder(world, {"Rabbit/10.wav": wav_bytes(1), "Panda/1.mp3": mp3, "2.flac": flac})
    dataset_id = create(world, 200)
    run_import(world, dataset_id, root)
    rows = samples_of(world, dataset_id)
    assert {name: row.names for name, row in rows.items()} == {
        "10.wav": ["Rabbit"],
        "1.mp3": ["Panda"],
        "2.flac": [],
    }
    assert all(
        row.sample.sample_type == 2 and "@modelarts:size" not in row.sample.metadata_ for row in rows.values()
    )
    assert labels_by_name(world, dataset_id) == {"Rabbit": 200, "Panda": 200}

    speech = create(world, 201)
    run_import(world, speech, root)
    assert all(not row.labels for row in samples_of(world, speech).values())


def test_object_store_prefix(world: World) -> None:
    store = world.services.objects
    prefix = f"uploads/{unique_name()}"
    store.put(f"{prefix}/cats/1.jpg", jpeg(1))
    store.put(f"{prefix}/2.png", png(2))
    store.put(f"{prefix}/.hidden/3.jpg", jpeg(3))
    dataset_id = create(world, 0)
    task = run_import(world, dataset_id, f"obs://{prefix}/")
    rows = samples_of(world, dataset_id)
    assert {name: row.names for name, row in rows.items()} == {"1.jpg": ["cats"], "2.png": []}
    one = rows["1.jpg"].sample
    assert (one.source_kind, one.source_key) == ("object", f"{prefix}/cats/1.jpg")
    assert one.sample_dir == f"obs://{prefix}/cats/"
    assert one.metadata_["@modelarts:size"] == [24, 16, 3]
    assert task["import_path"] == f"obs://{prefix}/"
    # s3:// names the same store; nothing new to add.
    again = run_import(world, dataset_id, f"s3://{prefix}")
    assert again["imported_sample_count"] == 0 and again["skipped_reasons"] == {"duplicate": 2}


def test_dataset_creation_imports_with_the_dataset_settings(world: World) -> None:
    root = folder(world, {"Cat/a.jpg": jpeg(1), "b.jpg": jpeg(2)})
    body = {
        "dataset_name": unique_name(),
        "dataset_type": 0,
        "data_sources": [{"data_type": 0, "data_path": str(root)}],
        "work_path": "/out/",
        "import_annotations": False,
    }
    response = world.alice.aksk.post(world.alice.v2("/datasets"), json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    path = world.alice.v2(f"/datasets/{created['dataset_id']}/import-tasks/{created['import_task_id']}")
    task = wait_for_import(world.alice.aksk, path)
    assert task["status"] == "COMPLETED" and task["imported_sample_count"] == 2
    assert all(not row.labels for row in samples_of(world, created["dataset_id"]).values())


def test_free_format_takes_any_non_empty_file(world: World) -> None:
    broken = jpeg(1)[:40]
    root = folder(
        world, {"data.bin": b"\x00\x01\x02", "notes.md": "# hi\n", "broken.jpg": broken, "e.dat": b""}
    )
    dataset_id = create(world, 900)
    task = run_import(world, dataset_id, root)
    rows = samples_of(world, dataset_id)
    assert sorted(rows) == ["broken.jpg", "data.bin", "notes.md"]
    assert all(row.sample.sample_type == 9 and not row.labels for row in rows.values())
    assert "@modelarts:size" not in rows["broken.jpg"].sample.metadata_
    assert task["failed_files"] == [{"path": "e.dat", "reason": "empty file"}]


def test_dataset_created_over_an_object_store_prefix_imports_it(world: World) -> None:
    prefix = f"uploads-{uuid.uuid4().hex[:8]}"
    world.services.objects.put(f"{prefix}/cat/a.jpg", jpeg(1))
    world.services.objects.put(f"{prefix}/dog/b.jpg", jpeg(2))
    world.services.objects.put(f"{prefix}/c.jpg", jpeg(3))
    dataset_id = create(world, data_sources=[{"data_type": 0, "data_path": f"obs://{prefix}/"}])
    rows = samples_of(world, dataset_id)
    assert {name: row.names for name, row in rows.items()} == {
        "a.jpg": ["cat"],
        "b.jpg": ["dog"],
        "c.jpg": [],
    }
    assert all(row.sample.source_kind == "object" for row in rows.values())
    detail = world.alice.aksk.get(world.alice.v2(f"/datasets/{dataset_id}")).json()
    assert detail["data_sources"][0]["data_path"] == f"obs://{prefix}/"


def test_a_folder_is_walked_in_name_order(world: World, tmp_path: Path) -> None:
    """Its files are read (and its failures reported) in name order, whatever order the file
    system lists them in; a folder larger than a sorting run comes in sorted runs."""
    names = [f"{uuid.uuid4().hex[:12]}.jpg" for _ in range(60)]
    root = folder(world, {name: b"" for name in names})  # empty: each fails, in walk order
    dataset_id = create(world, 0)
    task = run_import(world, dataset_id, root)
    assert [entry["path"] for entry in task["failed_files"]] == sorted(names)
    assert {entry["reason"] for entry in task["failed_files"]} == {"empty file"}

    local = tmp_path / "run"
    write(local, {name: b"x" for name in names})
    scope = LocalRoot(local)
    walked = [item.name for item in LocalTree(LocalPath(scope, "", False), run=16).walk()]
    runs = [walked[start : start + 16] for start in range(0, len(walked), 16)]
    assert sorted(walked) == sorted(names) and all(run == sorted(run) for run in runs)
