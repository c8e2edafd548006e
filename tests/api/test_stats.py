"""Dataset statistics (GET .../data-annotations/stats) over samples inserted through storage."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from labelarts.storage.db.models import Sample
from tests.api import World, add_sample, shared_world, unique_name
from tests.conftest import Tenant, assert_error, create_dataset


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with shared_world(tmp_path_factory.mktemp("stats")) as w:
        yield w


def stats(tenant: Tenant, dataset_id: str) -> dict[str, Any]:
    response = tenant.aksk.get(tenant.v2(f"/datasets/{dataset_id}/data-annotations/stats"))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def label_counts(body: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """name -> (count, sample_count), checking both are JSON integers."""
    result = {}
    for entry in body["label_stats"]:
        assert type(entry["count"]) is int and type(entry["sample_count"]) is int, entry
        result[entry["name"]] = (entry["count"], entry["sample_count"])
    return result


def sample_stats(body: dict[str, Any]) -> dict[str, int]:
    figures = body["sample_stats"]
    assert all(type(v) is int for v in figures.values()), figures
    return {k: figures[k] for k in ("all", "un_annotation", "manual_annotation", "auto_annotation")}


def key_stats(body: dict[str, Any]) -> dict[str, int]:
    figures: dict[str, int] = body["key_sample_stats"]
    assert all(type(v) is int for v in figures.values()), figures
    return figures


@dataclass
class Scene:
    """A classification dataset: 3 Cat, 2 Dog, 1 Bird (hard), 2 unlabeled (one hard), 1 auto."""

    dataset_id: str
    cats: list[str]
    dogs: list[str]
    bird: str


def make_scene(world: World) -> Scene:
    dataset_id = create_dataset(
        world.alice.aksk,
        world.alice.project_id,
        unique_name("stats"),
        labels=[{"name": n} for n in ("Cat", "Dog", "Bird", "Unused", "Guess")],
    )
    services = world.services
    cats = [add_sample(services, dataset_id, ["Cat"]) for _ in range(3)]
    dogs = [add_sample(services, dataset_id, ["Dog"]) for _ in range(2)]
    bird = add_sample(services, dataset_id, ["Bird"], hard=True)
    add_sample(services, dataset_id, [])
    add_sample(services, dataset_id, [], hard=True)
    # An auto-labeled sample (not yet confirmed) carries "Guess" only, so that the manual
    # label counts above stay exact whatever a label count makes of unconfirmed labels.
    add_sample(services, dataset_id, ["Guess"], status="AUTO_ANNOTATION")
    return Scene(dataset_id, cats, dogs, bird)


@pytest.fixture
def scene(world: World) -> Scene:
    return make_scene(world)


def test_stats_count_every_sample_exactly(world: World, scene: Scene) -> None:
    for client in (world.alice.aksk, world.alice.token_client):
        response = client.get(world.alice.v2(f"/datasets/{scene.dataset_id}/data-annotations/stats"))
        assert response.status_code == 200, response.text
    body = stats(world.alice, scene.dataset_id)
    counts = label_counts(body)
    assert {k: counts[k] for k in ("Cat", "Dog", "Bird", "Unused")} == {
        "Cat": (3, 3),
        "Dog": (2, 2),
        "Bird": (1, 1),
        "Unused": (0, 0),
    }
    assert sample_stats(body) == {"all": 9, "un_annotation": 2, "manual_annotation": 6, "auto_annotation": 1}
    assert key_stats(body) == {"total": 9, "key_sample": 2, "non_key_sample": 7}
    # Grouped by label type: every label is an image-classification label (type 0).
    assert set(body["grouped_label_stats"]) == {"0"}
    assert body["grouped_label_stats"]["0"] == body["label_stats"]
    for entry in body["label_stats"]:
        assert entry["type"] == 0 and isinstance(entry["property"], dict)
    assert isinstance(body["data_spliting_enable"], bool)

    # The dataset detail agrees with the statistics.
    detail = world.alice.aksk.get(world.alice.v2(f"/datasets/{scene.dataset_id}")).json()
    assert (
        detail["total_sample_count"],
        detail["annotated_sample_count"],
        detail["unconfirmed_sample_count"],
    ) == (
        9,
        6,
        1,
    )


def test_stats_of_an_empty_dataset(world: World) -> None:
    dataset_id = create_dataset(
        world.alice.aksk, world.alice.project_id, unique_name("empty"), labels=[{"name": "Cat"}]
    )
    body = stats(world.alice, dataset_id)
    assert label_counts(body) == {"Cat": (0, 0)}
    assert sample_stats(body) == {"all": 0, "un_annotation": 0, "manual_annotation": 0, "auto_annotation": 0}
    assert key_stats(body) == {"total": 0, "key_sample": 0, "non_key_sample": 0}
    assert body["data_spliting_enable"] is False


def test_stats_ignore_other_datasets(world: World, scene: Scene) -> None:
    other = make_scene(world)
    add_sample(world.services, other.dataset_id, ["Cat"])
    assert label_counts(stats(world.alice, scene.dataset_id))["Cat"] == (3, 3)
    assert label_counts(stats(world.alice, other.dataset_id))["Cat"] == (4, 4)


def test_a_multi_label_sample_counts_once_per_label(world: World, scene: Scene) -> None:
    add_sample(world.services, scene.dataset_id, ["Cat", "Dog"])
    body = stats(world.alice, scene.dataset_id)
    assert label_counts(body)["Cat"] == (4, 4)
    assert label_counts(body)["Dog"] == (3, 3)
    assert sample_stats(body)["manual_annotation"] == 7


def labels_call(world: World, method: str, dataset_id: str, suffix: str = "", **kwargs: Any) -> None:
    path = world.alice.v2(f"/datasets/{dataset_id}/data-annotations/labels{suffix}")
    response = world.alice.aksk.request(method, path, **kwargs)
    assert response.status_code in (200, 204), response.text


@pytest.mark.parametrize(
    ("change", "labels", "samples"),
    [
        pytest.param(
            ("POST", "/delete", {"params": {"delete_policy": 0}, "json": {"labels": [{"name": "Dog"}]}}),
            {"Cat": (3, 3), "Bird": (1, 1), "Unused": (0, 0)},
            {"all": 9, "un_annotation": 4, "manual_annotation": 4, "auto_annotation": 1},
            id="delete-policy-0",
        ),
        pytest.param(
            ("POST", "/delete", {"params": {"delete_policy": 1}, "json": {"labels": [{"name": "Dog"}]}}),
            {"Cat": (3, 3), "Bird": (1, 1), "Unused": (0, 0)},
            {"all": 7, "un_annotation": 2, "manual_annotation": 4, "auto_annotation": 1},
            id="delete-policy-1",
        ),
        pytest.param(
            (
                "POST",
                "/delete",
                {"params": {"delete_policy": 2}, "json": {"labels": [{"name": "Dog"}, {"name": "Bird"}]}},
            ),
            {"Cat": (3, 3), "Unused": (0, 0)},
            {"all": 6, "un_annotation": 2, "manual_annotation": 3, "auto_annotation": 1},
            id="delete-policy-2-two-labels",
        ),
        pytest.param(
            ("DELETE", "/Cat", {}),
            {"Dog": (2, 2), "Bird": (1, 1), "Unused": (0, 0)},
            {"all": 6, "un_annotation": 2, "manual_annotation": 3, "auto_annotation": 1},
            id="delete-by-name",
        ),
        pytest.param(
            (
                "PUT",
                "",
                {"json": {"labels": [{"name": "Cat", "property": {"@modelarts:rename_to": "Kitty"}}]}},
            ),
            {"Kitty": (3, 3), "Dog": (2, 2), "Bird": (1, 1), "Unused": (0, 0)},
            {"all": 9, "un_annotation": 2, "manual_annotation": 6, "auto_annotation": 1},
            id="rename-batch",
        ),
        pytest.param(
            ("PUT", "/Dog", {"json": {"@modelarts:rename_to": "Hound"}}),
            {"Cat": (3, 3), "Hound": (2, 2), "Bird": (1, 1), "Unused": (0, 0)},
            {"all": 9, "un_annotation": 2, "manual_annotation": 6, "auto_annotation": 1},
            id="rename-by-name",
        ),
        pytest.param(
            ("POST", "", {"json": {"labels": [{"name": "New"}]}}),
            {"Cat": (3, 3), "Dog": (2, 2), "Bird": (1, 1), "Unused": (0, 0), "New": (0, 0)},
            {"all": 9, "un_annotation": 2, "manual_annotation": 6, "auto_annotation": 1},
            id="add-label",
        ),
    ],
)
def test_counts_stay_exact_after_label_changes(
    world: World,
    scene: Scene,
    change: tuple[str, str, dict[str, Any]],
    labels: dict[str, tuple[int, int]],
    samples: dict[str, int],
) -> None:
    method, suffix, kwargs = change
    labels_call(world, method, scene.dataset_id, suffix, **kwargs)
    body = stats(world.alice, scene.dataset_id)
    counts = label_counts(body)
    counts.pop("Guess")
    assert counts == labels
    assert sample_stats(body) == samples
    assert key_stats(body)["total"] == samples["all"]
    assert key_stats(body)["key_sample"] + key_stats(body)["non_key_sample"] == samples["all"]
    with world.services.db.session() as session:
        assert session.query(Sample).filter_by(dataset_id=scene.dataset_id).count() == samples["all"]


def test_hard_samples_removed_with_their_label_leave_key_stats(world: World, scene: Scene) -> None:
    labels_call(world, "DELETE", scene.dataset_id, "/Bird")
    assert key_stats(stats(world.alice, scene.dataset_id)) == {
        "total": 8,
        "key_sample": 1,
        "non_key_sample": 7,
    }


def test_stats_follow_dataset_modify_labels(world: World, scene: Scene) -> None:
    response = world.alice.aksk.put(
        world.alice.v2(f"/datasets/{scene.dataset_id}"), json={"delete_labels": [{"name": "Cat"}]}
    )
    assert response.status_code == 200, response.text
    body = stats(world.alice, scene.dataset_id)
    assert "Cat" not in label_counts(body)
    assert sample_stats(body) == {"all": 9, "un_annotation": 5, "manual_annotation": 3, "auto_annotation": 1}


def test_stats_of_unknown_or_foreign_dataset_are_404(world: World, scene: Scene) -> None:
    alice, mallory = world.alice, world.mallory
    assert_error(alice.aksk.get(alice.v2("/datasets/noSuchDataset000000/data-annotations/stats")), 404)
    response = mallory.aksk.get(mallory.v2(f"/datasets/{scene.dataset_id}/data-annotations/stats"))
    assert_error(response, 404)
    assert "Cat" not in response.text


@pytest.mark.parametrize(
    "params",
    [
        {"sample_state": "__ALL__"},
        {"sample_state": "草莓"},
        {"email": "x" * 300},
        {"locale": "a\x00b"},
        {"x": "y"},
    ],
    ids=["all", "unicode", "long-email", "nul-locale", "unknown"],
)
def test_odd_query_parameters_never_cause_5xx(world: World, params: dict[str, str]) -> None:
    dataset_id = create_dataset(world.alice.aksk, world.alice.project_id, unique_name())
    response = world.alice.aksk.get(
        world.alice.v2(f"/datasets/{dataset_id}/data-annotations/stats"), params=params
    )
    assert response.status_code < 500, response.text
    if response.status_code != 200:
        assert_error(response, 400)


def test_object_detection_counts_boxes_and_samples(world: World) -> None:
    """``count`` is the number of labels (boxes), ``sample_count`` the samples carrying them."""
    dataset_id = create_dataset(
        world.alice.aksk,
        world.alice.project_id,
        unique_name("boxes"),
        dataset_type=1,
        labels=[{"name": "Cat"}, {"name": "Dog"}],
    )
    crowd = add_sample(world.services, dataset_id, ["Cat", "Cat", "Cat", "Dog"], label_type=1)
    add_sample(world.services, dataset_id, ["Cat"], label_type=1)
    body = stats(world.alice, dataset_id)
    assert label_counts(body) == {"Cat": (4, 2), "Dog": (1, 1)}
    assert set(body["grouped_label_stats"]) == {"1"}

    # Deleting Dog with its samples keeps the crowd (it also carries Cats).
    labels_call(
        world, "POST", dataset_id, "/delete", params={"delete_policy": 1}, json={"labels": [{"name": "Dog"}]}
    )
    assert label_counts(stats(world.alice, dataset_id)) == {"Cat": (4, 2)}
    # Deleting Cat removes both samples, however many boxes they had.
    labels_call(world, "DELETE", dataset_id, "/Cat")
    body = stats(world.alice, dataset_id)
    assert label_counts(body) == {}
    assert sample_stats(body)["all"] == 0
    with world.services.db.session() as session:
        assert session.get(Sample, crowd) is None


def test_rename_through_dataset_modify_moves_counts(world: World, scene: Scene) -> None:
    response = world.alice.aksk.put(
        world.alice.v2(f"/datasets/{scene.dataset_id}"),
        json={"update_labels": [{"name": "Dog", "property": {"@modelarts:rename_to": "Hound"}}]},
    )
    assert response.status_code == 200, response.text
    counts = label_counts(stats(world.alice, scene.dataset_id))
    assert counts["Hound"] == (2, 2) and "Dog" not in counts
