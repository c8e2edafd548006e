"""GET .../data-annotations/search-condition (ListSearch)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.api import World, add_sample, shared_world, unique_name
from tests.conftest import Tenant, assert_error, create_dataset
from tests.samples import edits_path, insert_sample


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with shared_world(tmp_path_factory.mktemp("search")) as w:
        yield w


def search_condition(tenant: Tenant, dataset_id: str) -> dict[str, Any]:
    response = tenant.aksk.get(edits_path(tenant, dataset_id, "/search-condition"))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_an_empty_dataset(world: World) -> None:
    dataset_id = create_dataset(
        world.alice.aksk,
        world.alice.project_id,
        unique_name("sc"),
        labels=[{"name": "Rabbits", "property": {"@modelarts:color": "#3399ff"}}, {"name": "Bees"}],
    )
    body = search_condition(world.alice, dataset_id)
    assert body["labelers"] == [] and body["metadata"] == {}
    assert [(x["name"], x["type"], x["property"]) for x in body["labels"]] == [
        ("Rabbits", 0, {"@modelarts:color": "#3399ff"}),
        ("Bees", 0, {}),
    ]
    # The token client gets the same answer.
    response = world.alice.token_client.get(edits_path(world.alice, dataset_id, "/search-condition"))
    assert response.json() == body


def test_values_present_in_the_dataset(world: World) -> None:
    dataset_id = create_dataset(
        world.alice.aksk, world.alice.project_id, unique_name("sc"), labels=[{"name": "Cat"}]
    )
    services = world.services
    add_sample(services, dataset_id, [])
    labeled = add_sample(services, dataset_id, [])
    folder = f"{world.imports}/"  # under the import root: the project may see it
    insert_sample(services, dataset_id, b"x", sample_dir=f"{folder}a/", import_origin="17")
    insert_sample(services, dataset_id, b"y", sample_dir=f"{folder}b/")
    insert_sample(services, dataset_id, b"z", sample_dir="/elsewhere/c/")  # not granted: not shown
    body = search_condition(world.alice, dataset_id)
    assert body["metadata"] == {
        "@modelarts:hard": ["0"],
        "import_origin": ["17"],
        "sample_dir": [f"{folder}a/", f"{folder}b/"],
    }
    response = world.alice.aksk.put(
        edits_path(world.alice, dataset_id),
        json={
            "email": "alice@example.com",
            "samples": [
                {"sample_id": labeled, "labels": [{"name": "Dog"}], "metadata": {"@modelarts:hard": 1}}
            ],
        },
    )
    assert response.status_code == 200, response.text
    body = search_condition(world.alice, dataset_id)
    assert body["labelers"] == ["alice@example.com"]
    assert body["metadata"]["@modelarts:hard"] == ["0", "1"]
    assert [x["name"] for x in body["labels"]] == ["Cat", "Dog"]  # Dog created by the update


def test_other_projects_are_not_visible(world: World) -> None:
    theirs = create_dataset(
        world.mallory.aksk, world.mallory.project_id, unique_name("sc"), labels=[{"name": "Secret"}]
    )
    response = world.alice.aksk.get(edits_path(world.alice, theirs, "/search-condition"))
    body = assert_error(response, 404)
    assert "Secret" not in body["error_msg"]
    foreign_path = f"/v2/{world.mallory.project_id}/datasets/{theirs}/data-annotations/search-condition"
    body = assert_error(world.alice.aksk.get(foreign_path), 403)
    assert "Secret" not in body["error_msg"]
