"""ModelArts manifest imports: write a manifest, import it, check every sample's labels."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from labelarts.services.samples.records import AUTO, MANUAL, SAMPLE_DATA_MAX_CHARS, UNLABELED
from tests.api import World, unique_name
from tests.imports import (
    create,
    jpeg,
    labels_by_name,
    manifest_text,
    png,
    run_import,
    samples_of,
    voc_xml,
    wav_bytes,
    world_fixture,
    write,
)

world = world_fixture("manifest")


def label_view(row: Any) -> list[tuple[str, int, float | None, str, dict[str, Any]]]:
    return sorted(
        (label.name, label.type, label.score, label.annotated_by, label.property) for label in row.labels
    )


def test_image_classification_manifest_round_trip(world: World) -> None:
    root = world.imports / unique_name("mf")
    write(root, {"images/cat.jpg": jpeg(1), "images/dog.png": png(2), "plain.jpg": jpeg(3)})
    world.services.objects.put(f"bucket/{root.name}/bird.jpg", jpeg(4))
    lines = [
        {
            "source": str(root / "images" / "cat.jpg"),
            "usage": "TRAIN",
            "hard": "true",
            "hard-coefficient": 0.8,
            "id": "0162005993f8065ef47eefb59d1e4970",
            "annotation": [
                {
                    "type": "modelarts/image_classification",
                    "name": "cat",
                    "property": {"color": "white", "kind": "Persian cat"},
                    "hard": "true",
                    "hard-coefficient": 0.8,
                    "annotated-by": "human",
                    "creation-time": "2019-01-23 11:30:30",
                },
                {
                    "type": "modelarts/image_classification",
                    "name": "animal",
                    "annotated-by": "modelarts/active-learning",
                    "confidence": 0.8,
                    "creation-time": "2019-01-23 11:30:30",
                },
            ],
            "inference-loc": "/path/to/inference-output",
        },
        {"source": "images/dog.png", "annotation": [{"type": "image_classification", "name": " dog "}]},
        {"source": "plain.jpg"},
        {
            "source": f"s3://bucket/{root.name}/bird.jpg",
            "annotation": [{"type": "image_classification", "name": "bird"}],
        },
        # An annotation of another dataset type is ignored, the sample still imported.
        "",
        {
            "source": "plain.jpg",  # listed twice: imported once
            "annotation": [{"type": "object_detection", "annotation-loc": "x.xml"}],
        },
    ]
    write(root, {"V001.manifest": manifest_text(lines)})
    dataset_id = create(world, 0)
    task = run_import(world, dataset_id, root / "V001.manifest", import_type="manifest")

    rows = samples_of(world, dataset_id)
    assert sorted(rows) == ["bird.jpg", "cat.jpg", "dog.png", "plain.jpg"]
    cat = rows["cat.jpg"]
    assert label_view(cat) == [
        ("animal", 0, 0.8, "auto", {"@labelarts:creation_time": "2019-01-23 11:30:30"}),
        (
            "cat",
            0,
            None,
            "human",
            {
                "color": "white",
                "kind": "Persian cat",
                "@modelarts:hard": "true",
                "@modelarts:hard_coefficient": "0.8",
                "@labelarts:creation_time": "2019-01-23 11:30:30",
            },
        ),
    ]
    assert cat.sample.hard is True and cat.sample.hard_coefficient == 0.8
    assert cat.sample.sample_status == MANUAL
    assert cat.sample.top_score == 0.8
    assert cat.sample.metadata_["@labelarts:usage"] == "TRAIN"
    assert cat.sample.metadata_["@labelarts:inference_loc"] == "/path/to/inference-output"
    assert cat.sample.metadata_["@modelarts:import_origin"] == 1
    assert cat.sample.metadata_["@modelarts:size"] == [24, 16, 3]
    assert cat.sample.source_key == str((root / "images" / "cat.jpg").resolve())
    assert label_view(rows["dog.png"]) == [("dog", 0, None, "human", {})]
    assert rows["plain.jpg"].labels == [] and rows["plain.jpg"].sample.sample_status == UNLABELED
    assert rows["plain.jpg"].sample.hard is False
    bird = rows["bird.jpg"].sample
    assert (bird.source_kind, bird.source_key) == ("object", f"bucket/{root.name}/bird.jpg")
    assert labels_by_name(world, dataset_id) == {"cat": 0, "animal": 0, "dog": 0, "bird": 0}

    assert task["import_type"] == 1
    assert task["total_file_count"] == 5 and task["imported_sample_count"] == 4
    assert task["annotated_sample_count"] == 3
    assert task["ignored_annotation_count"] == 1
    assert task["skipped_reasons"] == {"duplicate": 1}
    assert task["failed_files"] == []


def test_object_detection_manifest_reads_annotation_loc(world: World) -> None:
    root = world.imports / unique_name("det")
    objects = [{"name": "bag", "bndbox": (108, 101, 251, 238), "difficult": 0}]
    write(
        root,
        {
            "img/1.jpg": jpeg(1),
            "ann/1.xml": voc_xml("1.jpg", objects),
            "img/2.jpg": jpeg(2),
        },
    )
    lines = [
        {
            "source": "img/1.jpg",
            "annotation": [
                {
                    "type": "modelarts/object_detection",
                    "annotation-loc": str(root / "ann" / "1.xml"),
                    "annotation-format": "PASCAL VOC",
                    "annotated-by": "human",
                }
            ],
        },
        {
            "source": "img/2.jpg",
            "annotation": [{"type": "object_detection", "annotation-loc": "/etc/passwd"}],
        },
    ]
    write(root, {"d.manifest": manifest_text(lines)})
    dataset_id = create(world, 1)
    task = run_import(world, dataset_id, root / "d.manifest", import_type="manifest")
    rows = samples_of(world, dataset_id)
    assert sorted(rows) == ["1.jpg"]
    (label,) = rows["1.jpg"].labels
    assert (label.name, label.type) == ("bag", 1)
    assert label.property["@modelarts:feature"] == [[108, 101], [251, 238]]
    assert label.property["@modelarts:shape"] == "bndbox"
    assert [f["path"] for f in task["failed_files"]] == ["d.manifest:2"]
    assert "outside the import roots granted to this project" in task["failed_files"][0]["reason"]


def test_text_manifests_classification_entities_and_triplets(world: World) -> None:
    root = world.imports / unique_name("txt")
    classification = [
        {
            "source": "content://I like this product ",
            "id": "XGDVGS",
            "annotation": [
                {"type": "modelarts/text_classification", "name": " positive", "annotated-by": "human"}
            ],
        },
        {"source": "content://No opinion"},
    ]
    entities = [
        {
            "source": "content://Michael Jordan is the most famous basketball player in the world.",
            "usage": "TRAIN",
            "annotation": [
                {
                    "type": "modelarts/text_entity",
                    "name": "Person",
                    "property": {"@modelarts:start_index": 0, "@modelarts:end_index": 14},
                },
                {
                    "type": "modelarts/text_entity",
                    "name": "Category",
                    "property": {"@modelarts:start_index": 34, "@modelarts:end_index": 44},
                },
            ],
        }
    ]
    triplets = [
        {
            "source": "content://Three Body is a novel by Liu Cixin.",
            "annotation": [
                {
                    "type": "modelarts/text_entity",
                    "name": "Book",
                    "id": "E1",
                    "property": {"@modelarts:start_index": 0, "@modelarts:end_index": 10},
                },
                {
                    "type": "modelarts/text_entity",
                    "name": "Person",
                    "id": "E2",
                    "property": {"@modelarts:start_index": 34, "@modelarts:end_index": 43},
                },
                {
                    "type": "modelarts/text_triplet",
                    "name": "Author",
                    "id": "R1",
                    "property": {"@modelarts:from": "E2", "@modelarts:to": "E1"},
                },
            ],
        }
    ]
    write(
        root,
        {
            "c.manifest": manifest_text(classification),
            "e.manifest": manifest_text(entities),
            "t.manifest": manifest_text(triplets),
        },
    )
    text_ds = create(world, 100)
    run_import(world, text_ds, root / "c.manifest", import_type="manifest")
    rows = samples_of(world, text_ds, key="text")
    assert {text: row.names for text, row in rows.items()} == {
        "I like this product": ["positive"],
        "No opinion": [],
    }
    assert rows["I like this product"].sample.sample_type == 1

    ner = create(world, 101)
    run_import(world, ner, root / "e.manifest", import_type="manifest")
    (row,) = samples_of(world, ner, key="text").values()
    assert label_view(row) == [
        ("Category", 101, None, "human", {"@modelarts:start_index": 34, "@modelarts:end_index": 44}),
        ("Person", 101, None, "human", {"@modelarts:start_index": 0, "@modelarts:end_index": 14}),
    ]

    triplet = create(world, 102)
    run_import(world, triplet, root / "t.manifest", import_type="manifest")
    (row,) = samples_of(world, triplet, key="text").values()
    got = {label.name: (label.type, label.property) for label in row.labels}
    assert got["Book"] == (
        103,
        {"@modelarts:start_index": 0, "@modelarts:end_index": 10, "@labelarts:id": "E1"},
    )
    assert got["Author"] == (102, {"@modelarts:from": "E2", "@modelarts:to": "E1", "@labelarts:id": "R1"})
    assert labels_by_name(world, triplet) == {"Book": 103, "Person": 103, "Author": 102}


def test_audio_manifest_and_speech_content(world: World) -> None:
    root = world.imports / unique_name("audio")
    write(root, {"pets.wav": wav_bytes(1), "talk.wav": wav_bytes(2)})
    write(
        root,
        {
            "a.manifest": manifest_text(
                [
                    {
                        "source": "pets.wav",
                        "annotation": [{"type": "modelarts/audio_classification", "name": "cat"}],
                    }
                ]
            ),
            "s.manifest": manifest_text(
                [
                    {
                        "source": "talk.wav",
                        "annotation": [
                            {
                                "type": "modelarts/audio_content",
                                "property": {"@modelarts:content": "Today is a good day."},
                            }
                        ],
                    }
                ]
            ),
        },
    )
    sound = create(world, 200)
    run_import(world, sound, root / "a.manifest", import_type="manifest")
    assert samples_of(world, sound)["pets.wav"].names == ["cat"]
    speech = create(world, 201)
    run_import(world, speech, root / "s.manifest", import_type="manifest")
    (label,) = samples_of(world, speech)["talk.wav"].labels
    assert label.type == 201 and label.property == {"@modelarts:content": "Today is a good day."}


def test_filters_and_unconfirmed_import(world: World) -> None:
    root = world.imports / unique_name("filter")
    write(root, {f"{i}.jpg": jpeg(10 + i) for i in range(4)})
    lines = [
        {"source": "0.jpg", "annotation": [{"type": "image_classification", "name": "Rabbits"}]},
        {"source": "1.jpg", "hard": True, "annotation": [{"type": "image_classification", "name": "Bees"}]},
        {"source": "2.jpg", "annotation": [{"type": "image_classification", "name": "Wasps"}]},
        {"source": "3.jpg"},
    ]
    write(root, {"f.manifest": manifest_text(lines)})
    included = create(world, 0)
    task = run_import(
        world,
        included,
        root / "f.manifest",
        import_type="manifest",
        included_labels=["Rabbits", {"name": "Bees"}],
    )
    assert sorted(samples_of(world, included)) == ["0.jpg", "1.jpg"]
    assert task["skipped_reasons"] == {"filtered": 2}

    excluded = create(world, 0)
    run_import(
        world, excluded, root / "f.manifest", import_type="manifest", excluded_labels=[{"name": "Wasps"}]
    )
    assert sorted(samples_of(world, excluded)) == ["0.jpg", "1.jpg", "3.jpg"]

    hard = create(world, 0)
    run_import(world, hard, root / "f.manifest", import_type="manifest", difficult_only=True)
    assert sorted(samples_of(world, hard)) == ["1.jpg"]

    unconfirmed = create(world, 0)
    task = run_import(world, unconfirmed, root / "f.manifest", import_type="manifest", final_annotation=False)
    statuses = {name: row.sample.sample_status for name, row in samples_of(world, unconfirmed).items()}
    assert statuses == {"0.jpg": AUTO, "1.jpg": AUTO, "2.jpg": AUTO, "3.jpg": UNLABELED}
    assert task["unconfirmed_sample_count"] == 3


def _api_samples(world: World, dataset_id: str, **params: Any) -> list[dict[str, Any]]:
    response = world.alice.aksk.get(
        world.alice.v2(f"/datasets/{dataset_id}/data-annotations/samples"), params={"limit": 100, **params}
    )
    assert response.status_code == 200, response.text
    samples: list[dict[str, Any]] = response.json()["samples"]
    return samples


def test_annotated_by_is_human_or_auto_in_the_api(world: World) -> None:
    root = world.imports / unique_name("by")
    write(root, {"a.jpg": jpeg(11), "b.jpg": jpeg(12), "c.jpg": jpeg(13)})
    lines = [
        {"source": "a.jpg", "annotation": [{"type": "image_classification", "name": "cat"}]},
        {
            "source": "b.jpg",
            "annotation": [
                {"type": "image_classification", "name": "cat", "annotated-by": "modelarts/active-learning"},
                {
                    "type": "image_classification",
                    "name": "pet",
                    "annotated-by": "modelarts/hard_example_algo",
                },
            ],
        },
        {
            "source": "c.jpg",
            "annotation": [{"type": "image_classification", "name": "dog", "annotated-by": "human"}],
        },
    ]
    write(root, {"by.manifest": manifest_text(lines)})
    dataset_id = create(world, 0)
    run_import(world, dataset_id, root / "by.manifest", import_type="manifest")
    by_name = {
        s["sample_name"]: sorted((label["name"], label["annotated_by"]) for label in s["labels"])
        for s in _api_samples(world, dataset_id)
    }
    assert by_name == {
        "a.jpg": [("cat", "human")],
        "b.jpg": [("cat", "auto"), ("pet", "auto")],
        "c.jpg": [("dog", "human")],
    }
    auto_id = next(s["sample_id"] for s in _api_samples(world, dataset_id) if s["sample_name"] == "b.jpg")
    path = f"/datasets/{dataset_id}/data-annotations/samples/{auto_id}"
    detail = world.alice.aksk.get(world.alice.v2(path))
    assert {label["annotated_by"] for label in detail.json()["labels"]} == {"auto"}


def test_text_samples_carry_their_text_and_the_line_id(world: World) -> None:
    root = world.imports / unique_name("sd")
    long_text = "x" * (SAMPLE_DATA_MAX_CHARS + 50)
    lines = [
        {"source": "content://I like this product", "id": "XGDVGS"},
        {"source": "content://An id that is no name", "id": "a/b"},
        {"source": "content://No id at all"},
        {"source": f"content://{long_text}", "id": "long"},
    ]
    write(root, {"sd.manifest": manifest_text(lines)})
    dataset_id = create(world, 100)
    run_import(world, dataset_id, root / "sd.manifest", import_type="manifest")
    samples = {s["sample_data"][0][:30]: s for s in _api_samples(world, dataset_id)}
    assert set(samples) == {"I like this product", "An id that is no name", "No id at all", "x" * 30}
    liked = samples["I like this product"]
    assert liked["sample_name"] == "XGDVGS" and liked["sample_data"] == ["I like this product"]
    assert liked["metadata"]["@labelarts:manifest_id"] == "XGDVGS"
    # An id that cannot be a file name is kept in the metadata; the name is the text's hash.
    odd = samples["An id that is no name"]
    assert odd["sample_name"].endswith(".txt") and odd["metadata"]["@labelarts:manifest_id"] == "a/b"
    assert samples["No id at all"]["sample_name"].endswith(".txt")
    cut = samples["x" * 30]
    assert cut["sample_data"] == ["x" * SAMPLE_DATA_MAX_CHARS]
    assert cut["sample_size"] == len(long_text)
    detail = world.alice.aksk.get(
        world.alice.v2(f"/datasets/{dataset_id}/data-annotations/samples/{liked['sample_id']}")
    ).json()
    assert detail["sample_data"] == ["I like this product"]
    # The whole text is behind the source URL.
    assert httpx.get(cut["source"]).text == long_text
    # Image samples have no sample_data.
    image_ds = create(world, 0)
    write(root, {"img.manifest": manifest_text([{"source": "i.jpg"}]), "i.jpg": jpeg(21)})
    run_import(world, image_ds, root / "img.manifest", import_type="manifest")
    (image,) = _api_samples(world, image_ds)
    assert "sample_data" not in image


DEEP = "[" * 5000 + "1" + "]" * 5000


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        ('{"source": "content://big", "property": {"size": 1e400}}', "finite"),
        ('{"source": "content://big int", "property": {"n": 1' + "0" * 30 + "}}", "64 bits"),
        ('{"source": "content://deep", "property": {"v": ' + DEEP + "}}", "nested"),
        ('{"source": "content://deep9", "property": {"v": [[[[[[[[[[1]]]]]]]]]]}}', "nested"),
        ('{"source": "content://hard", "property": {"@modelarts:hard": "yes"}}', "@modelarts:hard"),
        ('{"source": "content://mine", "property": {"@labelarts:usage": "TRAIN"}}', "reserved"),
        ('{"source": "content://notdict", "property": [1]}', "object"),
        (
            '{"source": "content://label", "annotation": [{"type": "text_classification", "name": "p", '
            '"property": {"w": 1e400}}]}',
            "finite",
        ),
        (
            '{"source": "content://shape", "annotation": [{"type": "text_classification", "name": "p", '
            '"property": {"@modelarts:start_index": "0"}}]}',
            "@modelarts:start_index",
        ),
        (
            '{"source": "content://lid", "annotation": [{"type": "text_classification", "name": "p", '
            '"property": {"@labelarts:id": 5}}]}',
            "@labelarts:id",
        ),
    ],
)
def test_bad_property_values_fail_their_line_alone(world: World, bad_line: str, reason: str) -> None:
    root = world.imports / unique_name("prop")
    good = {"source": "content://a fine line", "property": {"camera": "x100", "@modelarts:hard": 1}}
    write(root, {"p.manifest": manifest_text([good, bad_line, {"source": "content://another"}])})
    dataset_id = create(world, 100)
    task = run_import(world, dataset_id, root / "p.manifest", import_type="manifest")
    assert task["imported_sample_count"] == 2
    assert [f["path"] for f in task["failed_files"]] == ["p.manifest:2"]
    assert reason in task["failed_files"][0]["reason"]
    samples = {s["sample_data"][0]: s for s in _api_samples(world, dataset_id)}
    assert set(samples) == {"a fine line", "another"}
    # @modelarts:hard in a line's property sets the hard flag, as in an upload's metadata.
    assert samples["a fine line"]["metadata"]["@modelarts:hard"] == 1.0
    # Metadata search keeps working on the dataset.
    conditions = json.dumps([{"metadata": {"op": "AND", "props": {"camera": ["x100"]}}}])
    found = _api_samples(world, dataset_id, search_conditions=conditions)
    assert [s["sample_data"] for s in found] == [["a fine line"]]
