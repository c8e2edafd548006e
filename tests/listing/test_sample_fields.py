"""Fields of the sample list and detail that follow the reference's wording: ``annotated_by``
("human" or "auto") and a text sample's ``sample_data``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from labelarts.services.samples.records import SAMPLE_DATA_MAX_CHARS
from tests.api import World, shared_world, unique_name
from tests.conftest import assert_error, create_dataset
from tests.samples import b64, edits_path, image_bytes, upload


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with shared_world(tmp_path_factory.mktemp("fields")) as w:
        yield w


def _dataset(world: World, dataset_type: int) -> str:
    return create_dataset(
        world.alice.aksk, world.alice.project_id, unique_name("f"), dataset_type=dataset_type
    )


def _samples(world: World, dataset_id: str, path: str = "data-annotations") -> list[dict[str, Any]]:
    response = world.alice.aksk.get(
        world.alice.v2(f"/datasets/{dataset_id}/{path}/samples"), params={"limit": 50}
    )
    assert response.status_code == 200, response.text
    samples: list[dict[str, Any]] = response.json()["samples"]
    return samples


def test_uploaded_labels_answer_human_or_auto(world: World) -> None:
    dataset_id = _dataset(world, 0)
    person = {"name": "p.jpg", "data": b64(image_bytes(seed=31)), "labels": [{"name": "cat"}]}
    assert upload(world.alice, dataset_id, [person]).status_code == 200
    machine = {"name": "m.jpg", "data": b64(image_bytes(seed=32)), "labels": [{"name": "cat", "score": 0.6}]}
    assert upload(world.alice, dataset_id, [machine], final_annotation=False).status_code == 200
    by_name = {
        s["sample_name"]: [label["annotated_by"] for label in s["labels"]]
        for s in _samples(world, dataset_id)
    }
    assert by_name == {"p.jpg": ["human"], "m.jpg": ["auto"]}
    (pending,) = _samples(world, dataset_id, "auto-annotations")
    assert [label["annotated_by"] for label in pending["labels"]] == ["auto"]
    # What the list answers can be sent back as is; other values are refused.
    sample_id = pending["sample_id"]
    labels = [{"name": "cat", "annotated_by": "auto", "score": 0.6}]
    response = world.alice.aksk.put(
        edits_path(world.alice, dataset_id), json={"samples": [{"sample_id": sample_id, "labels": labels}]}
    )
    assert response.status_code == 200, response.text
    for old in ("human/manual", "modelarts/active-learning"):
        bad = [{"name": "cat", "annotated_by": old}]
        response = world.alice.aksk.put(
            edits_path(world.alice, dataset_id), json={"samples": [{"sample_id": sample_id, "labels": bad}]}
        )
        assert_error(response, 400, "ModelArts.0104")


def test_uploaded_text_samples_carry_sample_data(world: World) -> None:
    dataset_id = _dataset(world, 100)
    long_text = "长" * (SAMPLE_DATA_MAX_CHARS + 1)
    samples = [
        {"name": "a.txt", "data": b64("一条文本".encode("gbk")), "encoding": "GBK"},
        {"name": "b.txt", "data": b64(long_text.encode())},
    ]
    response = upload(world.alice, dataset_id, samples)
    assert response.status_code == 200, response.text
    found = {s["sample_name"]: s for s in _samples(world, dataset_id)}
    assert found["a.txt"]["sample_data"] == ["一条文本"]
    assert found["b.txt"]["sample_data"] == ["长" * SAMPLE_DATA_MAX_CHARS]
    assert found["b.txt"]["sample_size"] == len(long_text.encode())
    detail = world.alice.aksk.get(
        world.alice.v2(f"/datasets/{dataset_id}/data-annotations/samples/{found['a.txt']['sample_id']}")
    )
    assert detail.json()["sample_data"] == ["一条文本"]
