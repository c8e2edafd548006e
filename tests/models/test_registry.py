"""The model registry through HTTP: import with every validation, list, show, delete, and
project scoping (another project's model is 404 everywhere, pre-labeling included)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api import World, shared_world, unique_name
from tests.conftest import Tenant, assert_error
from tests.models import colour_classifier, constant_detector


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with shared_world(tmp_path_factory.mktemp("models")) as built:
        yield built


def model_body(data: bytes, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model_name": unique_name("m"),
        "kind": "classifier",
        "labels": ["red", "blue"],
        "input_size": [16, 16],
        "model_data": base64.b64encode(data).decode(),
    }
    body.update(extra)
    return body


def import_model(tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    response = tenant.aksk.post(tenant.v2("/models"), json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_import_list_show_delete(world: World) -> None:
    alice = world.alice
    body = model_body(colour_classifier(), model_version="2.0", mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25])
    model = import_model(alice, body)
    assert model["model_name"] == body["model_name"] and model["model_version"] == "2.0"
    assert model["kind"] == "classifier" and model["labels"] == ["red", "blue"]
    assert model["input_size"] == [16, 16] and model["layout"] == "NCHW"
    assert model["mean"] == [0.5, 0.5, 0.5] and model["std"] == [0.25, 0.25, 0.25]
    assert model["scale"] == pytest.approx(1 / 255)
    assert model["input_name"] == "image" and model["output_name"] == "logits"
    assert model["model_size"] == len(colour_classifier()) and len(model["sha256"]) == 64
    model_id = model["model_id"]

    shown = alice.aksk.get(alice.v2(f"/models/{model_id}"))
    assert shown.status_code == 200 and shown.json() == model
    listed = alice.aksk.get(alice.v2("/models"), params={"model_name": body["model_name"]}).json()
    assert listed["total_count"] == 1 and [m["model_id"] for m in listed["models"]] == [model_id]
    # The same name and version again: refused; another version: fine.
    assert_error(alice.aksk.post(alice.v2("/models"), json=body), 400, "ModelArts.3037")
    other = import_model(alice, {**body, "model_version": "2.1"})
    listed = alice.aksk.get(alice.v2("/models"), params={"model_name": body["model_name"]}).json()
    assert listed["total_count"] == 2 and listed["models"][0]["model_id"] == other["model_id"]
    page = alice.aksk.get(
        alice.v2("/models"), params={"model_name": body["model_name"], "limit": 1, "offset": 1}
    )
    assert [m["model_id"] for m in page.json()["models"]] == [model_id]

    key = world.data_dir / "objects" / "models" / alice.project_id / f"{model_id}.onnx"
    stored = [p for p in world.data_dir.rglob(f"{model_id}.onnx")]
    assert stored and stored[0].read_bytes() == colour_classifier(), key
    response = alice.aksk.delete(alice.v2(f"/models/{model_id}"))
    assert response.status_code == 204, response.text
    assert not stored[0].exists()
    assert_error(alice.aksk.get(alice.v2(f"/models/{model_id}")), 404)
    assert_error(alice.aksk.delete(alice.v2(f"/models/{model_id}")), 404)


def test_detector_and_nhwc_models_import(world: World) -> None:
    detector = import_model(
        world.alice,
        model_body(
            constant_detector([[1, 1, 9, 9, 0.9, 0]]), kind="detector", labels=["cell"], input_size=[32, 32]
        ),
    )
    assert detector["kind"] == "detector"
    nhwc = import_model(world.alice, model_body(colour_classifier(layout="NHWC"), layout="NHWC"))
    assert nhwc["layout"] == "NHWC"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"model_data": base64.b64encode(b"this is not an onnx file").decode()}, "ModelArts.3037"),
        ({"model_data": "not base64 !"}, "ModelArts.0104"),
        ({"input_size": [32, 32]}, "ModelArts.3037"),  # the file says 16x16
        ({"model_data": base64.b64encode(colour_classifier(rank=2)).decode()}, "ModelArts.3037"),
        ({"model_data": base64.b64encode(colour_classifier(batch=4)).decode()}, "ModelArts.3037"),
        ({"layout": "NHWC"}, "ModelArts.3037"),  # channels are where NCHW puts them
        ({"labels": ["red", "blue", "green"]}, "ModelArts.3023"),
        ({"labels": ["red"]}, "ModelArts.3023"),
        ({"labels": []}, "ModelArts.0104"),
        ({"labels": None}, "ModelArts.0104"),
        ({"labels": ["red", "red"]}, "ModelArts.0104"),
        ({"labels": ["red", ""]}, "ModelArts.0104"),
        ({"kind": "detector"}, "ModelArts.3037"),  # a classifier's output is not (n, boxes, 6)
        ({"kind": "segmenter"}, "ModelArts.0104"),
        ({"layout": "CHW"}, "ModelArts.0104"),
        ({"input_size": [16]}, "ModelArts.0104"),
        ({"input_size": [0, 16]}, "ModelArts.0104"),
        ({"input_size": ["16", "16"]}, "ModelArts.0104"),
        ({"mean": [0.5, 0.5]}, "ModelArts.0104"),
        ({"std": [1, 0, 1]}, "ModelArts.0104"),
        ({"scale": 0}, "ModelArts.0104"),
        ({"model_name": "bad name/1"}, "ModelArts.0104"),
        ({"model_name": ""}, "ModelArts.0104"),
        ({"model_version": "x" * 40}, "ModelArts.0104"),
        ({"model_data": None}, "ModelArts.0104"),
        ({"description": "a\x00b"}, "ModelArts.0104"),
    ],
)
def test_invalid_models_are_refused(world: World, change: dict[str, Any], code: str) -> None:
    body = {k: v for k, v in {**model_body(colour_classifier()), **change}.items() if v is not None}
    assert_error(world.alice.aksk.post(world.alice.v2("/models"), json=body), 400, code)
    if "model_name" not in change:  # nothing was stored
        listed = world.alice.aksk.get(world.alice.v2("/models"), params={"model_name": body["model_name"]})
        assert listed.json()["total_count"] == 0


def test_bad_list_parameters(world: World) -> None:
    for params in ({"limit": 0}, {"limit": 101}, {"offset": -1}, {"model_name": "a/b"}):
        assert_error(world.alice.aksk.get(world.alice.v2("/models"), params=params), 400)


def test_another_project_never_sees_a_model(world: World) -> None:
    model = import_model(world.alice, model_body(colour_classifier()))
    mallory = world.mallory
    assert_error(mallory.aksk.get(mallory.v2(f"/models/{model['model_id']}")), 404)
    assert_error(mallory.aksk.delete(mallory.v2(f"/models/{model['model_id']}")), 404)
    assert model["model_id"] not in {
        m["model_id"] for m in mallory.aksk.get(mallory.v2("/models")).json()["models"]
    }
    # Nor can it pre-label with it.
    response = mallory.aksk.post(
        mallory.v2("/datasets"),
        json={
            "dataset_name": unique_name(),
            "dataset_type": 0,
            "data_sources": [{"data_type": 0}],
            "work_path": "/out/work/",
            "work_path_type": 0,
        },
    )
    dataset_id = response.json()["dataset_id"]
    task = mallory.aksk.post(
        mallory.v2(f"/datasets/{dataset_id}/tasks"),
        json={"task_type": "pre-label", "model_id": model["model_id"]},
    )
    assert_error(task, 404)
    assert world.alice.aksk.get(world.alice.v2(f"/models/{model['model_id']}")).status_code == 200
