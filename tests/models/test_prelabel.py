"""Pre-labeling through HTTP with small ONNX models the tests build: a colour classifier on an
image classification dataset (labels checked sample by sample), a detector on an object
detection dataset (boxes scaled to each image), hard examples, stopping, and bad parameters."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from tests.api import World, shared_world, unique_name
from tests.autolabel import picture, upload, wait_for_task
from tests.conftest import Tenant, assert_error, create_dataset
from tests.models import colour_classifier, constant_detector


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with shared_world(tmp_path_factory.mktemp("prelabel")) as built:
        yield built


def register(tenant: Tenant, data: bytes, **extra: Any) -> str:
    body: dict[str, Any] = {
        "model_name": unique_name("m"),
        "kind": "classifier",
        "labels": ["red", "blue"],
        "input_size": [16, 16],
        "model_data": base64.b64encode(data).decode(),
        **extra,
    }
    response = tenant.aksk.post(tenant.v2("/models"), json=body)
    assert response.status_code == 200, response.text
    model_id: str = response.json()["model_id"]
    return model_id


def start(tenant: Tenant, dataset_id: str, body: dict[str, Any]) -> str:
    response = tenant.aksk.post(tenant.v2(f"/datasets/{dataset_id}/tasks"), json=body)
    assert response.status_code == 200, response.text
    task_id: str = response.json()["task_id"]
    return task_id


def sample(tenant: Tenant, dataset_id: str, sample_id: str) -> dict[str, Any]:
    response = tenant.aksk.get(tenant.v2(f"/datasets/{dataset_id}/data-annotations/samples/{sample_id}"))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_classifier_pre_labels_every_unlabeled_image(world: World) -> None:
    alice = world.alice
    dataset_id = create_dataset(alice.aksk, alice.project_id, unique_name())
    manual = upload(alice, dataset_id, [("m0.jpg", picture("blue", 1), "red")])  # a person's label, kept
    truth: dict[str, str] = {}
    for kind in ("red", "blue"):
        ids = upload(alice, dataset_id, [(f"u{kind}{i}.jpg", picture(kind, 10 + i), None) for i in range(4)])
        truth.update(dict.fromkeys(ids, kind))
    model_id = register(alice, colour_classifier())

    task_id = start(
        alice, dataset_id, {"task_type": "pre-label", "model_id": model_id, "collect_key_sample": True}
    )
    body = wait_for_task(alice, dataset_id, task_id)
    assert body["status"] == 3, body
    assert body["type"] == 1 and body["model_id"] == model_id and body["progress"] == 100.0
    result = body["result"]
    assert result["unconfirmed_sample_count"] == 8 and result["total_sample_count"] == 9
    assert result["annotated_sample_count"] == 1 and result["hard_sample_count"] == 0
    assert result["failed_sample_count"] == 0 and result["changed_during_task_count"] == 0
    for sample_id, kind in truth.items():
        got = sample(alice, dataset_id, sample_id)
        assert got["sample_status"] == "__AUTO_ANNOTATION__"
        assert [label["name"] for label in got["labels"]] == [kind]
        label = got["labels"][0]
        assert label["score"] > 0.99 and label["type"] == 0
        assert label["property"]["@modelarts:hard"] == "false"
        assert got["metadata"]["@modelarts:hard_reasons"] == []
    kept = sample(alice, dataset_id, manual[0])
    assert kept["sample_status"] == "__ALL__" and [label["name"] for label in kept["labels"]] == ["red"]
    labels = alice.aksk.get(alice.v2(f"/datasets/{dataset_id}/data-annotations/labels")).json()
    assert {label["name"] for label in labels["labels"]} >= {"red", "blue"}  # "blue" was added

    listing = alice.aksk.get(alice.v2(f"/datasets/{dataset_id}/tasks"), params={"type": "pre-label"}).json()
    assert [t["task_id"] for t in listing["tasks"]] == [task_id] and listing["tasks"][0]["type"] == 1
    none = alice.aksk.get(alice.v2(f"/datasets/{dataset_id}/tasks"), params={"type": "auto-label"}).json()
    assert none["total_count"] == 0

    # With a confidence range every prediction falls in, each one is a hard example (reason 1),
    # found by the hard filter; the unconfirmed auto labels are labeled again.
    again = wait_for_task(
        alice,
        dataset_id,
        start(
            alice,
            dataset_id,
            {"task_type": "pre-label", "model_id": model_id, "config": {"confidence_scope": "0.5-1.0"}},
        ),
    )
    assert again["status"] == 3 and again["result"]["hard_sample_count"] == 8, again
    hard = alice.aksk.get(
        alice.v2(f"/datasets/{dataset_id}/auto-annotations/samples"),
        params={"limit": 100, "search_conditions": json.dumps([{"hard": "1"}])},
    ).json()
    assert {s["sample_id"] for s in hard["samples"]} == set(truth)
    got = sample(alice, dataset_id, next(iter(truth)))
    assert got["metadata"]["@modelarts:hard_reasons"] == [1]
    assert got["hard_details"]["1"]["reason"]


def jpeg(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (90, 120, 200)).save(out, "JPEG")
    return out.getvalue()


def test_a_detector_pre_labels_boxes_scaled_to_each_image(world: World) -> None:
    alice = world.alice
    dataset_id = create_dataset(alice.aksk, alice.project_id, unique_name(), dataset_type=1)
    ids = upload(alice, dataset_id, [("a.jpg", jpeg(64, 48), None), ("b.jpg", jpeg(32, 32), None)])
    model_id = register(
        alice,
        constant_detector([[4, 8, 20, 24, 0.9, 1], [0, 0, 5, 5, 0.3, 0], [0, 0, 0, 0, 0, -1]]),
        kind="detector",
        labels=["cell", "nucleus"],
        input_size=[32, 32],
    )
    body = wait_for_task(
        alice, dataset_id, start(alice, dataset_id, {"task_type": "pre-label", "model_id": model_id})
    )
    assert body["status"] == 3, body
    expected = {
        ids[0]: ([[8.0, 12.0], [40.0, 36.0]], [64, 48, 3]),
        ids[1]: ([[4.0, 8.0], [20.0, 24.0]], [32, 32, 3]),
    }
    for sample_id, (points, size) in expected.items():
        got = sample(alice, dataset_id, sample_id)
        assert got["sample_status"] == "__AUTO_ANNOTATION__"
        assert len(got["labels"]) == 1, got["labels"]  # the 0.3 box is under score_threshold 0.5
        label = got["labels"][0]
        assert label["name"] == "nucleus" and label["type"] == 1
        assert label["property"]["@modelarts:shape"] == "bndbox"
        assert label["property"]["@modelarts:feature"] == points
        assert label["score"] == pytest.approx(0.9)
        assert got["metadata"]["@modelarts:size"] == size

    # A threshold above every box: nothing found, hard example reason 0.
    task = start(
        alice,
        dataset_id,
        {"task_type": "pre-label", "model_id": model_id, "config": {"score_threshold": 0.95}},
    )
    body = wait_for_task(alice, dataset_id, task)
    assert body["status"] == 3 and body["result"]["hard_sample_count"] == 2, body
    got = sample(alice, dataset_id, ids[0])
    assert got["labels"] == [] and got["metadata"]["@modelarts:hard_reasons"] == [0]


def test_stopping_a_pre_label_task_writes_all_or_nothing(world: World) -> None:
    alice = world.alice
    dataset_id = create_dataset(alice.aksk, alice.project_id, unique_name())
    ids = upload(alice, dataset_id, [(f"u{i}.jpg", picture("red", i, 32), None) for i in range(200)])
    model_id = register(alice, colour_classifier())
    task_id = start(alice, dataset_id, {"task_type": "pre-label", "model_id": model_id})
    response = alice.aksk.post(alice.v2(f"/datasets/{dataset_id}/tasks/{task_id}/stop"))
    assert response.status_code == 204, response.text
    body = wait_for_task(alice, dataset_id, task_id)
    auto = alice.aksk.get(
        alice.v2(f"/datasets/{dataset_id}/auto-annotations/samples"), params={"limit": 1}
    ).json()
    # A stop before the first result write leaves nothing; one after it is too late (the
    # task completes). Never a part.
    if body["status"] == 5:
        assert body["code"] == "ModelArts.4393" and auto["sample_count"] == 0
    else:
        assert body["status"] == 3 and auto["sample_count"] == len(ids), body


@pytest.mark.parametrize(
    ("dataset_type", "body", "status"),
    [
        (0, {"task_type": "pre-label"}, 400),
        (0, {"task_type": "pre-label", "model_id": "no-such-model"}, 404),
        (0, {"task_type": "pre-label", "model_id": "x" * 300}, 400),
        (0, {"task_type": "pre-label", "model_id": 7}, 400),
        (0, {"task_type": "pre-label", "model_id": "DETECTOR"}, 400),  # kind does not fit the dataset
        (1, {"task_type": "pre-label", "model_id": "MODEL"}, 400),
        (100, {"task_type": "pre-label", "model_id": "MODEL"}, 400),
        (0, {"task_type": "pre-label", "model_id": "MODEL", "config": {"score_threshold": 2}}, 400),
        (0, {"task_type": "pre-label", "model_id": "MODEL", "config": {"score_threshold": "high"}}, 400),
        (0, {"task_type": "pre-label", "model_id": "MODEL", "config": {"confidence_scope": "0.9-0.1"}}, 400),
        (0, {"task_type": "pre-label", "model_id": "MODEL", "config": {"inf_config_list": "cpu"}}, 400),
    ],
)
def test_bad_pre_label_requests(world: World, dataset_type: int, body: dict[str, Any], status: int) -> None:
    alice = world.alice
    dataset_id = create_dataset(alice.aksk, alice.project_id, unique_name(), dataset_type=dataset_type)
    if body.get("model_id") == "MODEL":
        body = {**body, "model_id": register(alice, colour_classifier())}
    elif body.get("model_id") == "DETECTOR":
        detector = constant_detector([[1, 1, 9, 9, 0.9, 0]])
        body = {
            **body,
            "model_id": register(alice, detector, kind="detector", labels=["c"], input_size=[32, 32]),
        }
    assert_error(alice.aksk.post(alice.v2(f"/datasets/{dataset_id}/tasks"), json=body), status)


def test_pre_label_needs_an_unlabeled_sample(world: World) -> None:
    alice = world.alice
    dataset_id = create_dataset(alice.aksk, alice.project_id, unique_name())
    upload(alice, dataset_id, [("l.jpg", picture("red", 1), "red")])
    body = {"task_type": "pre-label", "model_id": register(alice, colour_classifier())}
    assert_error(alice.aksk.post(alice.v2(f"/datasets/{dataset_id}/tasks"), json=body), 400, "ModelArts.4407")
