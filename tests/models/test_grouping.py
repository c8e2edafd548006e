"""Auto grouping through HTTP on generated images with known groups: by content (adjusted Rand
index against the truth), by brightness, the two ways of keeping the result (files under the
work path, or an attribute searched with search_conditions), and bad parameters."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import adjusted_rand_score

from tests.api import World, add_sample, shared_world, unique_name
from tests.autolabel import picture, upload, wait_for_task
from tests.conftest import Tenant, assert_error, create_dataset


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with shared_world(tmp_path_factory.mktemp("grouping")) as built:
        yield built


def checkers(seed: int, size: int = 64) -> bytes:
    """Grey checkerboards with noise: a third kind of picture, unlike picture()'s two."""
    rng = np.random.default_rng(seed)
    cell = int(rng.integers(6, 10))
    yy, xx = np.mgrid[0:size, 0:size]
    board = (((yy // cell) + (xx // cell)) % 2).astype(np.float64)
    grey = np.clip(0.15 + 0.7 * board + rng.normal(0, 0.05, board.shape), 0, 1)
    out = io.BytesIO()
    Image.fromarray((np.stack([grey] * 3, axis=-1) * 255).astype(np.uint8)).save(out, "JPEG", quality=90)
    return out.getvalue()


def darker(data: bytes, factor: float) -> bytes:
    image = Image.open(io.BytesIO(data)).convert("RGB")
    out = io.BytesIO()
    Image.fromarray((np.asarray(image, dtype=np.float64) * factor).astype(np.uint8)).save(out, "JPEG")
    return out.getvalue()


def start(tenant: Tenant, dataset_id: str, config: dict[str, Any]) -> dict[str, Any]:
    response = tenant.aksk.post(
        tenant.v2(f"/datasets/{dataset_id}/tasks"), json={"task_type": "auto-grouping", "config": config}
    )
    assert response.status_code == 200, response.text
    return wait_for_task(tenant, dataset_id, response.json()["task_id"])


def test_groups_by_content_written_to_an_attribute_and_searchable(world: World) -> None:
    alice = world.alice
    dataset_id = create_dataset(alice.aksk, alice.project_id, unique_name())
    truth: dict[str, int] = {}
    makers = [lambda i: picture("red", 100 + i), lambda i: picture("blue", 200 + i), checkers]
    for group, make in enumerate(makers):
        ids = upload(alice, dataset_id, [(f"g{group}-{i}.jpg", make(i), None) for i in range(8)])
        truth.update(dict.fromkeys(ids, group))
    labeled = upload(alice, dataset_id, [("l.jpg", picture("red", 1), "red")])  # not grouped

    body = start(alice, dataset_id, {"n_clusters": "3", "result_type": 1, "property": "group"})
    assert body["status"] == 3, body
    assert body["type"] == 2 and body["progress"] == 100.0
    result = body["result"]
    assert result["grouped_sample_count"] == 24 and result["n_clusters"] == 3
    assert sum(result["group_sizes"].values()) == 24 and result["property"] == "group"

    found: dict[str, int] = {}
    for group in range(3):
        listed = alice.aksk.get(
            alice.v2(f"/datasets/{dataset_id}/data-annotations/samples"),
            params={
                "limit": 100,
                "search_conditions": json.dumps([{"metadata": {"props": {"group": [str(group)]}}}]),
            },
        )
        assert listed.status_code == 200, listed.text
        samples = listed.json()["samples"]
        assert len(samples) == result["group_sizes"][str(group)]
        found.update((s["sample_id"], group) for s in samples)
    assert set(found) == set(truth)
    ari = adjusted_rand_score([truth[s] for s in truth], [found[s] for s in truth])
    assert ari > 0.9, ari
    # Grouping leaves labels and status alone; the labeled sample is not grouped.
    detail = alice.aksk.get(alice.v2(f"/datasets/{dataset_id}/data-annotations/samples/{labeled[0]}")).json()
    assert "group" not in detail["metadata"] and detail["sample_status"] == "__ALL__"
    one = alice.aksk.get(
        alice.v2(f"/datasets/{dataset_id}/data-annotations/samples/{next(iter(truth))}")
    ).json()
    assert one["sample_status"] == "__NONE__" and one["labels"] == []

    # Label a whole group at once (what the attribute is for).
    members = [s for s, g in found.items() if g == found[next(iter(truth))]]
    response = alice.aksk.put(
        alice.v2(f"/datasets/{dataset_id}/data-annotations/samples"),
        json={"samples": [{"sample_id": s, "labels": [{"name": "first", "type": 0}]} for s in members]},
    )
    assert response.status_code == 200, response.text


def test_brightness_splits_the_same_pictures_and_groups_go_to_the_work_path(world: World) -> None:
    alice = world.alice
    dataset_id = create_dataset(alice.aksk, alice.project_id, unique_name())
    truth: dict[str, int] = {}
    for group, factor in enumerate((1.0, 0.25)):
        ids = upload(
            alice,
            dataset_id,
            [(f"b{group}-{i}.jpg", darker(picture("blue", 300 + i), factor), None) for i in range(6)],
        )
        truth.update(dict.fromkeys(ids, group))
    body = start(alice, dataset_id, {"n_clusters": 2, "image_brightness": True, "result_type": 0})
    assert body["status"] == 3, body
    output = body["result"]["output_path"]
    assert output.startswith(f"/datasets/{dataset_id}/annotation/auto-grouping/{body['task_id']}/")
    files = list(world.data_dir.rglob(f"auto-grouping/{body['task_id']}/groups.jsonl"))
    assert len(files) == 1
    lines = [json.loads(line) for line in files[0].read_text().splitlines()]
    assert {line["sample_id"] for line in lines} == set(truth)
    assert all(line["sample_name"].startswith("b") for line in lines)
    got = {line["sample_id"]: line["group"] for line in lines}
    assert adjusted_rand_score([truth[s] for s in truth], [got[s] for s in truth]) == 1.0
    # result_type 0 writes nothing into the samples.
    one = alice.aksk.get(
        alice.v2(f"/datasets/{dataset_id}/data-annotations/samples/{next(iter(truth))}")
    ).json()
    assert not any(not key.startswith("@") for key in one["metadata"])


@pytest.mark.parametrize(
    ("dataset_type", "config", "unlabeled"),
    [
        (0, {}, 3),
        (0, {"n_clusters": 1}, 3),
        (0, {"n_clusters": 201}, 3),
        (0, {"n_clusters": "abc"}, 3),
        (0, {"n_clusters": 2.5}, 3),
        (0, {"n_clusters": 5}, 3),  # more groups than unlabeled images
        (0, {"n_clusters": 2, "result_type": 2}, 3),
        (0, {"n_clusters": 2, "result_type": "1"}, 3),
        (0, {"n_clusters": 2, "result_type": 1}, 3),  # no property
        (0, {"n_clusters": 2, "result_type": 1, "property": ""}, 3),
        (0, {"n_clusters": 2, "result_type": 1, "property": "@modelarts:hard"}, 3),
        (0, {"n_clusters": 2, "result_type": 1, "property": "a<b"}, 3),
        (0, {"n_clusters": 2, "result_type": 1, "property": "x" * 65}, 3),
        (0, {"n_clusters": 2, "image_brightness": "yes"}, 3),
        (0, {"n_clusters": 2, "image_colorfulness": 1}, 3),
        (0, {"n_clusters": 2, "ambiguity": "true"}, 3),
        (100, {"n_clusters": 2}, 3),
        (200, {"n_clusters": 2}, 3),
    ],
)
def test_bad_grouping_requests(
    world: World, dataset_type: int, config: dict[str, Any], unlabeled: int
) -> None:
    alice = world.alice
    dataset_id = create_dataset(alice.aksk, alice.project_id, unique_name(), dataset_type=dataset_type)
    for _ in range(unlabeled):
        add_sample(world.services, dataset_id)
    response = alice.aksk.post(
        alice.v2(f"/datasets/{dataset_id}/tasks"), json={"task_type": "auto-grouping", "config": config}
    )
    assert_error(response, 400)


def test_another_project_cannot_group_a_dataset(world: World) -> None:
    dataset_id = create_dataset(world.alice.aksk, world.alice.project_id, unique_name())
    mallory = world.mallory
    response = mallory.aksk.post(
        mallory.v2(f"/datasets/{dataset_id}/tasks"),
        json={"task_type": "auto-grouping", "config": {"n_clusters": 2}},
    )
    assert_error(response, 404)
