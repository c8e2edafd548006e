"""Add, delete and update samples in batches (UploadSamplesJson, DeleteSamples, UpdateSamples)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from labelarts.storage.db.models import Label, Sample, SampleLabel
from tests.api import World, add_sample, sample_labels, shared_world, unique_name
from tests.conftest import assert_error, create_dataset
from tests.samples import b64, bomb_png, edits_path, image_bytes, insert_sample, stats, upload

# The request of the reference page (a truncated JPEG: only its header is complete).
REFERENCE_JPEG = (
    "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwc"
    "KDcpLDAxNDQ0Hyc5PTgyPC4zNDL/2wBDAQkJCQwLDBgNDRgyIRwhMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIy"
    "MjIyMjIyMjIyMjIyMjIyMjIyMjL/wAARCAA1AJUDASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcI"
    "CQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRol"
    "JicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ip"
    "qrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAA"
    "AAECAwQFBgcICQoL"
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with shared_world(tmp_path_factory.mktemp("edits")) as w:
        yield w


def new_dataset(world: World, dataset_type: int = 0, labels: tuple[str, ...] = ()) -> str:
    extra: dict[str, Any] = {"dataset_type": dataset_type}
    if labels:
        extra["labels"] = [{"name": n} for n in labels]
    return create_dataset(world.alice.aksk, world.alice.project_id, unique_name("edit"), **extra)


def rows(world: World, dataset_id: str) -> dict[str, Sample]:
    with world.services.db.session() as session:
        found = session.execute(select(Sample).where(Sample.dataset_id == dataset_id)).scalars()
        return {s.id: s for s in found}


def dataset_labels(world: World, dataset_id: str) -> dict[str, int]:
    with world.services.db.session() as session:
        query = select(Label.name, Label.type).where(Label.dataset_id == dataset_id)
        return {name: label_type for name, label_type in session.execute(query)}


def put(world: World, dataset_id: str, samples: list[dict[str, Any]], **extra: Any) -> Any:
    return world.alice.aksk.put(edits_path(world.alice, dataset_id), json={"samples": samples, **extra})


def delete(world: World, dataset_id: str, ids: list[str], **extra: Any) -> Any:
    return world.alice.aksk.post(
        edits_path(world.alice, dataset_id, "/samples/delete"), json={"samples": ids, **extra}
    )


# -- add -------------------------------------------------------------------------------------------


def test_add_images_with_labels_and_metadata(world: World) -> None:
    dataset_id = new_dataset(world, labels=("Dog",))
    cat, plain = image_bytes(40, 30, seed=1), image_bytes(64, 48, "PNG", "RGBA", seed=2)
    response = upload(
        world.alice,
        dataset_id,
        [
            {
                "name": "cat.jpg",
                "sample_type": 0,
                "data": b64(cat),
                "labels": [{"name": "Cat", "score": 0.75}],
            },
            {"data": b64(plain), "metadata": {"@modelarts:hard": True, "@modelarts:hard_reasons": [1, 3]}},
        ],
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    assert [r["success"] for r in body["results"]] == [True, True]
    cat_id, plain_id = (r["info"] for r in body["results"])
    assert body["results"][0]["name"] == "cat.jpg"
    assert body["results"][1]["name"] == f"{plain_id}.png"  # no name: the id and the format's extension

    found = rows(world, dataset_id)
    assert set(found) == {cat_id, plain_id}
    first, second = found[cat_id], found[plain_id]
    assert (first.sample_status, second.sample_status) == ("MANUAL_ANNOTATION", "UN_ANNOTATION")
    assert first.metadata_["@modelarts:size"] == [40, 30, 3]
    assert second.metadata_["@modelarts:size"] == [64, 48, 4]
    assert first.content_hash == hashlib.sha256(cat).hexdigest() and first.sample_size == len(cat)
    assert first.source_kind == "object" and first.top_score == 0.75
    assert first.labeler == world.alice.creds.user and second.labeler is None
    assert second.hard is True and second.metadata_["@modelarts:hard_reasons"] == [1, 3]
    assert "@modelarts:hard" not in second.metadata_  # the column is the truth
    # The bytes are in the object store under datasets/{dataset_id}/samples/{sample_id}/{name}.
    assert first.source_key == f"datasets/{dataset_id}/samples/{cat_id}/cat.jpg"
    assert world.services.objects.get(first.source_key) == cat
    assert world.services.objects.get(second.source_key) == plain
    # The new label was created with the dataset's label type; the existing one is untouched.
    assert dataset_labels(world, dataset_id) == {"Dog": 0, "Cat": 0}
    assert sample_labels(world.services, dataset_id)[cat_id] == ("MANUAL_ANNOTATION", ["Cat"])
    assert stats(world.alice, dataset_id) == {
        "all": 2,
        "un_annotation": 1,
        "manual_annotation": 1,
        "auto_annotation": 0,
    }


def test_add_the_reference_example(world: World) -> None:
    """The page's own request: a JPEG cut short after its header is accepted (header checked only)."""
    dataset_id = new_dataset(world)
    response = upload(world.alice, dataset_id, [{"name": "2.jpg", "data": REFERENCE_JPEG}])
    assert response.status_code == 200, response.text
    sample = rows(world, dataset_id)[response.json()["results"][0]["info"]]
    assert sample.metadata_["@modelarts:size"] == [149, 53, 3]


def test_add_long_name_and_tolerated_base64_forms(world: World) -> None:
    dataset_id = new_dataset(world)
    data = image_bytes(seed=3)
    name = "n" * 1020 + ".jpg"  # 1024 characters: allowed; too long for a file name on disk
    encoded = b64(data)
    wrapped = "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))
    response = upload(
        world.alice,
        dataset_id,
        [
            {"name": name, "data": wrapped},
            {"name": "u.jpg", "data": "data:image/jpeg;base64," + encoded.rstrip("=")},
        ],
    )
    assert response.status_code == 200, response.text
    found = rows(world, dataset_id)
    assert {s.sample_name for s in found.values()} == {name, "u.jpg"}
    for sample in found.values():
        assert world.services.objects.get(sample.source_key) == data


def test_add_is_all_or_nothing(world: World) -> None:
    dataset_id = new_dataset(world)
    response = upload(
        world.alice,
        dataset_id,
        [
            {"name": "ok.jpg", "data": b64(image_bytes(seed=4)), "labels": [{"name": "Fresh"}]},
            {"name": "notes.txt", "data": b64(b"just some text")},
        ],
    )
    body = assert_error(response, 400, "ModelArts.4421")
    assert "samples[1]" in body["error_msg"] and "notes.txt" in body["error_msg"]
    assert rows(world, dataset_id) == {}
    assert dataset_labels(world, dataset_id) == {}
    assert list(world.services.objects.list(f"datasets/{dataset_id}/samples")) == []


def test_a_repeated_upload_updates_the_same_sample(world: World) -> None:
    dataset_id = new_dataset(world)
    data = image_bytes(seed=5)
    first = upload(world.alice, dataset_id, [{"name": "a.jpg", "data": b64(data)}])
    assert first.status_code == 200, first.text
    again = upload(
        world.alice,
        dataset_id,
        [
            {"name": "a.jpg", "data": b64(data), "labels": [{"name": "Cat"}]},
            {"name": "b.jpg", "data": b64(data)},  # same bytes, other name: another sample
        ],
    )
    assert again.status_code == 200, again.text
    sample_id = first.json()["results"][0]["info"]
    assert again.json()["results"][0]["info"] == sample_id
    labels = sample_labels(world.services, dataset_id)
    assert len(labels) == 2 and labels[sample_id] == ("MANUAL_ANNOTATION", ["Cat"])
    assert len(list(world.services.objects.list(f"datasets/{dataset_id}/samples"))) == 2


def test_add_to_be_confirmed_labels(world: World) -> None:
    dataset_id = new_dataset(world)
    response = upload(
        world.alice,
        dataset_id,
        [{"name": "a.jpg", "data": b64(image_bytes(seed=6)), "labels": [{"name": "Cat", "score": 0.4}]}],
        final_annotation=False,
    )
    assert response.status_code == 200, response.text
    assert stats(world.alice, dataset_id)["auto_annotation"] == 1
    with world.services.db.session() as session:
        label = session.execute(select(SampleLabel).where(SampleLabel.dataset_id == dataset_id)).scalar_one()
        assert (label.name, label.score, label.annotated_by) == ("Cat", 0.4, "auto")


def test_add_text_samples(world: World) -> None:
    dataset_id = new_dataset(world, dataset_type=100)
    text = "一条文本\tlabel".encode("gbk")
    response = upload(
        world.alice,
        dataset_id,
        [
            {"name": "a.txt", "data": b64(b"hello\tpositive"), "sample_type": 1},
            {"name": "b.txt", "data": b64(text), "encoding": "GBK"},
        ],
        label_format={"label_type": "1", "text_sample_separator": "\t"},
    )
    assert response.status_code == 200, response.text
    assert {s.sample_type for s in rows(world, dataset_id).values()} == {1}
    bad = upload(world.alice, dataset_id, [{"name": "c.txt", "data": b64(b"\xff\xfe\xfa")}])
    assert_error(bad, 400, "ModelArts.4421")
    unconfirmed = upload(
        world.alice,
        dataset_id,
        [{"name": "d.txt", "data": b64(b"x"), "labels": [{"name": "p"}]}],
        final_annotation=False,
    )
    assert_error(unconfirmed, 400)


def test_add_to_another_projects_dataset_is_404(world: World) -> None:
    theirs = create_dataset(world.mallory.aksk, world.mallory.project_id, unique_name("theirs"))
    response = upload(world.alice, theirs, [{"name": "a.jpg", "data": b64(image_bytes())}])
    assert_error(response, 404)
    assert rows(world, theirs) == {}


JPEG = b64(image_bytes(seed=9))


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param({"samples": []}, None, id="no-samples"),
        pytest.param({}, None, id="samples-absent"),
        pytest.param({"samples": "a.jpg"}, None, id="samples-string"),
        pytest.param({"samples": [{"name": "a.jpg"}]}, None, id="no-data"),
        pytest.param({"samples": [{"name": "a.jpg", "data": "not base64!!"}]}, None, id="bad-base64"),
        pytest.param({"samples": [{"name": "a.jpg", "data": "QUJD="}]}, None, id="bad-padding"),
        pytest.param({"samples": [{"name": "a.jpg", "data": 12345}]}, None, id="data-number"),
        pytest.param({"samples": [{"name": "a.jpg", "data": ""}]}, "ModelArts.4421", id="empty-data"),
        pytest.param({"samples": [{"name": "x" * 1025, "data": JPEG}]}, None, id="name-1025"),
        pytest.param({"samples": [{"name": "a<b.jpg", "data": JPEG}]}, None, id="name-special"),
        pytest.param({"samples": [{"name": "a/b.jpg", "data": JPEG}]}, None, id="name-slash"),
        pytest.param({"samples": [{"name": "..", "data": JPEG}]}, None, id="name-dotdot"),
        pytest.param({"samples": [{"name": 7, "data": JPEG}]}, None, id="name-number"),
        pytest.param({"samples": [{"name": "a.jpg", "data": JPEG, "sample_type": "0"}]}, None, id="type-str"),
        pytest.param(
            {"samples": [{"name": "a.jpg", "data": JPEG, "sample_type": 5}]}, None, id="type-unknown"
        ),
        pytest.param(
            {"samples": [{"name": "a.jpg", "data": JPEG, "sample_type": 1}]}, "ModelArts.4421", id="type-text"
        ),
        pytest.param({"samples": [{"name": "a.jpg", "data": JPEG, "labels": "Cat"}]}, None, id="labels-str"),
        pytest.param(
            {"samples": [{"name": "a.jpg", "data": JPEG, "labels": [{"name": "Cat", "score": 1.5}]}]},
            None,
            id="score-1.5",
        ),
        pytest.param(
            {"samples": [{"name": "a.jpg", "data": JPEG, "labels": [{"name": "Cat", "score": "0.5"}]}]},
            None,
            id="score-string",
        ),
        pytest.param(
            {"samples": [{"name": "a.jpg", "data": JPEG, "labels": [{"score": 0.5}]}]},
            None,
            id="label-no-name",
        ),
        pytest.param(
            {"samples": [{"name": "a.jpg", "data": JPEG, "labels": [{"name": "Cat", "type": 1}]}]},
            None,
            id="label-type-mismatch",
        ),
        pytest.param(
            {"samples": [{"data": JPEG, "labels": [{"name": "C", "property": {"@modelarts:hard": 1}}]}]},
            None,
            id="label-property-hard-number",
        ),
        pytest.param(
            {"samples": [{"data": JPEG, "metadata": {"@modelarts:hard": "true"}}]}, None, id="hard-string"
        ),
        pytest.param(
            {"samples": [{"data": JPEG, "metadata": {"@modelarts:hard_coefficient": 2}}]}, None, id="coef-2"
        ),
        pytest.param(
            {"samples": [{"data": JPEG, "metadata": {"@modelarts:hard_reasons": [31]}}]}, None, id="reason-31"
        ),
        pytest.param(
            {"samples": [{"data": JPEG, "metadata": {"@labelarts:hard_details": {}}}]}, None, id="reserved"
        ),
        pytest.param({"samples": [{"data": JPEG}], "final_annotation": "yes"}, None, id="final-string"),
        pytest.param({"samples": [{"data": JPEG}] * 101}, None, id="101-samples"),
        pytest.param({"samples": [{"data": b64(b"plain text")}]}, "ModelArts.4421", id="text-in-image-ds"),
        pytest.param({"samples": [{"data": b64(bomb_png())}]}, "ModelArts.4421", id="bomb"),
        pytest.param(
            {"samples": [{"data_source": {"data_path": "/etc"}}]}, "ModelArts.4421", id="data-source"
        ),
        pytest.param({"samples": [{"data": JPEG, "encoding": "latin-1"}]}, None, id="encoding"),
    ],
)
def test_add_refuses_bad_input(world: World, body: dict[str, Any], code: str | None) -> None:
    dataset_id = new_dataset(world, labels=("Cat",))
    response = world.alice.aksk.post(edits_path(world.alice, dataset_id), json=body)
    assert_error(response, 400, code)
    assert rows(world, dataset_id) == {}


@pytest.mark.parametrize("raw", [b"", b"[]", b"null", b"{", b'"x"', b"\xff\xfe"])
def test_garbage_bodies_are_400(world: World, raw: bytes) -> None:
    dataset_id = new_dataset(world)
    for method, suffix in (("POST", "/samples"), ("PUT", "/samples"), ("POST", "/samples/delete")):
        response = world.alice.aksk.request(
            method,
            edits_path(world.alice, dataset_id, suffix),
            content=raw,
            headers={"Content-Type": "application/json"},
        )
        assert_error(response, 400)


# -- delete ----------------------------------------------------------------------------------------


def uploaded(world: World, dataset_id: str, count: int, labels: tuple[str, ...] = ("Cat",)) -> list[str]:
    samples = [
        {"name": f"s{i}.jpg", "data": b64(image_bytes(seed=100 + i)), "labels": [{"name": n} for n in labels]}
        for i in range(count)
    ]
    response = upload(world.alice, dataset_id, samples)
    assert response.status_code == 200, response.text
    return [r["info"] for r in response.json()["results"]]


def test_delete_keeps_the_files_by_default(world: World) -> None:
    dataset_id = new_dataset(world)
    keep, gone = uploaded(world, dataset_id, 2)
    key = rows(world, dataset_id)[gone].source_key
    response = delete(world, dataset_id, [gone, gone])
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True}
    assert set(sample_labels(world.services, dataset_id)) == {keep}
    assert world.services.objects.exists(key)
    assert stats(world.alice, dataset_id)["all"] == 1


def test_delete_with_source_removes_the_object_and_thumbnails(world: World) -> None:
    dataset_id = new_dataset(world)
    (sample_id,) = uploaded(world, dataset_id, 1)
    key = rows(world, dataset_id)[sample_id].source_key
    thumb = f"thumbnails/{dataset_id}/{sample_id}/abc"
    world.services.objects.put(thumb, b"\xff\xd8cached\xff\xd9")
    response = delete(world, dataset_id, [sample_id], delete_source=True)
    assert response.status_code == 200, response.text
    assert not world.services.objects.exists(key)
    assert not world.services.objects.exists(thumb)
    assert rows(world, dataset_id) == {}


def test_delete_local_sources_only_under_an_import_root(world: World, tmp_path: Path) -> None:
    dataset_id, other_dataset = new_dataset(world), new_dataset(world)
    folder = world.imports / unique_name("local")
    folder.mkdir()
    inside, shared, outside = folder / "in.jpg", folder / "shared.jpg", tmp_path / "outside.jpg"
    for path in (inside, shared, outside):
        path.write_bytes(image_bytes())
    ids = [
        insert_sample(world.services, dataset_id, local_path=inside),
        insert_sample(world.services, dataset_id, local_path=shared),
        insert_sample(world.services, dataset_id, local_path=outside),
    ]
    insert_sample(world.services, other_dataset, local_path=shared)  # still uses shared.jpg
    response = delete(world, dataset_id, ids, delete_source=True)
    assert response.status_code == 200, response.text
    assert rows(world, dataset_id) == {}
    assert not inside.exists()
    assert shared.exists()  # another sample still uses it
    assert outside.exists()  # not under an import root: never deleted


def test_delete_unknown_or_foreign_ids_changes_nothing(world: World) -> None:
    dataset_id = new_dataset(world)
    (mine,) = uploaded(world, dataset_id, 1)
    theirs_dataset = create_dataset(world.mallory.aksk, world.mallory.project_id, unique_name("theirs"))
    theirs = add_sample(world.services, theirs_dataset, [])
    for ids in ([mine, "no-such-sample"], [mine, theirs]):
        body = assert_error(delete(world, dataset_id, ids, delete_source=True), 404, "ModelArts.4420")
        assert mine not in body["error_msg"]
        assert theirs_dataset not in body["error_msg"]
    assert set(rows(world, dataset_id)) == {mine}
    assert set(rows(world, theirs_dataset)) == {theirs}
    # Another project's dataset under one's own path: 404 like any unknown dataset.
    assert_error(delete(world, theirs_dataset, [theirs]), 404)
    assert set(rows(world, theirs_dataset)) == {theirs}


@pytest.mark.parametrize(
    "body",
    [
        {"samples": []},
        {},
        {"samples": "abc"},
        {"samples": [1, 2]},
        {"samples": ["a"], "delete_source": "yes"},
        {"samples": ["x" * 65]},
        {"samples": ["a\u0000b"]},
        {"samples": ["a"] * 10_001},
    ],
)
def test_delete_refuses_bad_input(world: World, body: dict[str, Any]) -> None:
    dataset_id = new_dataset(world)
    response = world.alice.aksk.post(edits_path(world.alice, dataset_id, "/samples/delete"), json=body)
    assert_error(response, 400)


# -- update ----------------------------------------------------------------------------------------


def test_update_confirms_corrects_and_clears_labels(world: World) -> None:
    dataset_id = new_dataset(world, labels=("Cat", "Dog", "Guess"))
    auto = add_sample(world.services, dataset_id, ["Guess"], status="AUTO_ANNOTATION")
    cat = add_sample(world.services, dataset_id, ["Cat"])
    cleared = add_sample(world.services, dataset_id, ["Dog"])
    absent = add_sample(world.services, dataset_id, ["Dog"])
    assert stats(world.alice, dataset_id) == {
        "all": 4,
        "un_annotation": 0,
        "manual_annotation": 3,
        "auto_annotation": 1,
    }
    response = put(
        world,
        dataset_id,
        [
            {"sample_id": auto, "labels": [{"name": "Guess", "score": 0.9}]},  # confirm
            {"sample_id": cat, "labels": [{"name": "Dog"}, {"name": "Bird"}]},  # correct (new label)
            {"sample_id": cleared, "labels": []},
            {"sample_id": absent},  # no labels: "the label of the sample is deleted"
        ],
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True}
    assert sample_labels(world.services, dataset_id) == {
        auto: ("MANUAL_ANNOTATION", ["Guess"]),
        cat: ("MANUAL_ANNOTATION", ["Bird", "Dog"]),
        cleared: ("UN_ANNOTATION", []),
        absent: ("UN_ANNOTATION", []),
    }
    assert dataset_labels(world, dataset_id)["Bird"] == 0
    assert stats(world.alice, dataset_id) == {
        "all": 4,
        "un_annotation": 2,
        "manual_annotation": 2,
        "auto_annotation": 0,
    }
    found = rows(world, dataset_id)
    assert found[auto].top_score == 0.9 and found[cleared].top_score is None
    assert found[auto].labeler and found[cleared].labeler is None


def test_update_sets_hard_example_metadata(world: World) -> None:
    dataset_id = new_dataset(world, labels=("Cat",))
    sample_id = add_sample(world.services, dataset_id, ["Cat"])
    metadata = {
        "@modelarts:hard": True,
        "@modelarts:hard_coefficient": 0.7,
        "@modelarts:hard_reasons": [1, 3],
    }
    response = put(
        world, dataset_id, [{"sample_id": sample_id, "labels": [{"name": "Cat"}], "metadata": metadata}]
    )
    assert response.status_code == 200, response.text
    sample = rows(world, dataset_id)[sample_id]
    assert (sample.hard, sample.hard_coefficient) == (True, 0.7)
    assert sample.metadata_["@modelarts:hard_reasons"] == [1, 3]
    key = world.alice.aksk.get(world.alice.v2(f"/datasets/{dataset_id}/data-annotations/stats")).json()
    assert key["key_sample_stats"]["key_sample"] == 1
    response = put(
        world,
        dataset_id,
        [{"sample_id": sample_id, "labels": [{"name": "Cat"}], "metadata": {"@modelarts:hard": 0}}],
    )
    assert response.status_code == 200, response.text
    sample = rows(world, dataset_id)[sample_id]
    assert sample.hard is False and sample.hard_coefficient == 0.7  # only what was sent changes


def test_update_is_all_or_nothing_and_never_touches_other_projects(world: World) -> None:
    dataset_id = new_dataset(world, labels=("Cat",))
    mine = add_sample(world.services, dataset_id, [])
    theirs_dataset = create_dataset(
        world.mallory.aksk, world.mallory.project_id, unique_name("theirs"), labels=[{"name": "Cat"}]
    )
    theirs = add_sample(world.services, theirs_dataset, ["Cat"])
    for foreign in (theirs, "no-such-sample"):
        response = put(
            world,
            dataset_id,
            [{"sample_id": mine, "labels": [{"name": "Cat"}]}, {"sample_id": foreign, "labels": []}],
        )
        body = assert_error(response, 404, "ModelArts.4420")
        assert theirs_dataset not in body["error_msg"]
    assert sample_labels(world.services, dataset_id) == {mine: ("UN_ANNOTATION", [])}
    assert sample_labels(world.services, theirs_dataset) == {theirs: ("MANUAL_ANNOTATION", ["Cat"])}
    assert_error(put(world, theirs_dataset, [{"sample_id": theirs, "labels": []}]), 404)
    assert sample_labels(world.services, theirs_dataset) == {theirs: ("MANUAL_ANNOTATION", ["Cat"])}


@pytest.mark.parametrize(
    "sample",
    [
        pytest.param({"labels": [{"name": "Cat"}]}, id="no-sample-id"),
        pytest.param({"sample_id": 5}, id="sample-id-number"),
        pytest.param({"SID": None, "labels": [{"name": "Cat", "score": 1.5}]}, id="score-1.5"),
        pytest.param({"SID": None, "labels": [{"name": "Cat", "score": -0.1}]}, id="score-negative"),
        pytest.param({"SID": None, "labels": [{"name": ""}]}, id="label-empty-name"),
        pytest.param({"SID": None, "labels": [{"name": "Cat", "type": "0"}]}, id="label-type-string"),
        pytest.param({"SID": None, "labels": [{"name": "Cat", "type": 1}]}, id="label-type-mismatch"),
        pytest.param({"SID": None, "metadata": {"@modelarts:hard": "1"}}, id="hard-string"),
        pytest.param({"SID": None, "metadata": {"@modelarts:hard": 2}}, id="hard-2"),
        pytest.param({"SID": None, "metadata": {"@modelarts:hard_coefficient": 1.5}}, id="coef-1.5"),
        pytest.param({"SID": None, "metadata": {"@modelarts:hard_coefficient": "0.5"}}, id="coef-string"),
        pytest.param({"SID": None, "metadata": {"@modelarts:hard_reasons": [0, 31]}}, id="reason-31"),
        pytest.param({"SID": None, "metadata": {"@modelarts:hard_reasons": "3-20"}}, id="reasons-string"),
        pytest.param({"SID": None, "metadata": {"@modelarts:size": [0, 10]}}, id="size-zero"),
        pytest.param({"SID": None, "metadata": "hard"}, id="metadata-string"),
        pytest.param({"SID": None, "sample_type": 1}, id="sample-type-changed"),
        pytest.param({"SID": None, "sample_usage": "PLAY"}, id="sample-usage"),
        pytest.param(
            {"SID": None, "labels": [{"name": "Cat", "property": {"@modelarts:shape": "blob"}}]}, id="shape"
        ),
    ],
)
def test_update_refuses_bad_input(world: World, sample: dict[str, Any]) -> None:
    dataset_id = new_dataset(world, labels=("Cat",))
    sample_id = add_sample(world.services, dataset_id, ["Cat"])
    if "SID" in sample:
        sample = {k: v for k, v in sample.items() if k != "SID"} | {"sample_id": sample_id}
    assert_error(put(world, dataset_id, [sample]), 400)
    assert sample_labels(world.services, dataset_id) == {sample_id: ("MANUAL_ANNOTATION", ["Cat"])}
    assert rows(world, dataset_id)[sample_id].hard is False


@pytest.mark.parametrize(
    "body",
    [
        {"samples": []},
        {},
        {"samples": {"sample_id": "x"}},
        {"samples": [{"sample_id": "a"}] * 2},
        {"email": 5},
    ],
)
def test_update_refuses_bad_bodies(world: World, body: dict[str, Any]) -> None:
    dataset_id = new_dataset(world)
    assert_error(world.alice.aksk.put(edits_path(world.alice, dataset_id), json=body), 400)


def test_concurrent_uploads_creating_one_label_all_succeed(world: World) -> None:
    dataset_id = new_dataset(world)

    def send(seed: int) -> int:
        sample = {"data": b64(image_bytes(seed=500 + seed)), "labels": [{"name": "Race"}]}
        return upload(world.alice, dataset_id, [sample]).status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = list(pool.map(send, range(8)))
    assert statuses == [200] * 8
    assert dataset_labels(world, dataset_id) == {"Race": 0}
    assert stats(world.alice, dataset_id)["manual_annotation"] == 8
