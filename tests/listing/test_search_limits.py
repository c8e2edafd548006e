"""search_conditions the database could not run are a 400, on both databases (never a 500)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from labelarts.services.samples.search import MAX_SEARCH_VALUES
from tests.api import World, shared_world, unique_name
from tests.conftest import assert_error, create_dataset
from tests.samples import b64, image_bytes, upload


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with shared_world(tmp_path_factory.mktemp("limits")) as w:
        yield w


@pytest.fixture(scope="module")
def dataset_id(world: World) -> str:
    created = create_dataset(world.alice.aksk, world.alice.project_id, unique_name("lim"))
    sample = {"name": "a.jpg", "data": b64(image_bytes(seed=41)), "metadata": {"k0": "1"}}
    assert upload(world.alice, created, [sample]).status_code == 200
    return created


def _search(world: World, dataset_id: str, conditions: list[dict[str, Any]]) -> Any:
    return world.alice.aksk.get(
        world.alice.v2(f"/datasets/{dataset_id}/data-annotations/samples"),
        params={"search_conditions": json.dumps(conditions, separators=(",", ":"))},
        timeout=60,  # 500 JSON comparisons compile and run in ~0.1 s, but CI machines are shared
    )


@pytest.mark.parametrize(
    "condition",
    [
        {"label_list": {"labels": [{"name": "cat", "type": 2**40}]}},
        {"label_list": {"labels": [{"type": "9" * 30}]}},
        {"label_list": {"labels": [{"type": 2**31}]}},
        {"coefficient": "1e400"},
        {"score": "nan"},
        {"score": "0.1-1e999"},
    ],
)
def test_out_of_range_numbers_are_400(world: World, dataset_id: str, condition: dict[str, Any]) -> None:
    assert_error(_search(world, dataset_id, [condition]), 400, "ModelArts.0104")


def _metadata_keys(count: int) -> dict[str, Any]:
    # Each key binds two values: its JSON path and the one value listed.
    return {"metadata": {"op": "OR", "props": {f"k{i}": ["1"] for i in range(count)}}}


def test_more_terms_than_allowed_are_400(world: World, dataset_id: str) -> None:
    at_limit = [_metadata_keys(MAX_SEARCH_VALUES // 2 - 10)] + [{"sample_dir": "/x/"}] * 10
    response = _search(world, dataset_id, at_limit)
    assert response.status_code == 200, response.text
    assert response.json()["sample_count"] == 0
    assert (
        _search(world, dataset_id, [_metadata_keys(MAX_SEARCH_VALUES // 2 - 10)]).json()["sample_count"] == 1
    )
    # Past the limit: the 1,000-term ORs SQLite cannot nest, the lists PostgreSQL cannot bind.
    for conditions in (
        [_metadata_keys(MAX_SEARCH_VALUES // 2 + 1)],
        [_metadata_keys(1000)],
        # An ORed label list binds the dataset once and each entry's values (name and type).
        [{"label_list": {"op": "OR", "labels": [{"name": f"n{i}", "type": 0} for i in range(60)]}}] * 5,
    ):
        response = _search(world, dataset_id, conditions)
        body = assert_error(response, 400, "ModelArts.0104")
        assert "too many terms" in body["error_msg"]
