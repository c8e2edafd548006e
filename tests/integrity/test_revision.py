"""``samples.revision`` moves with every change to a sample's labels or status, whatever the
write path: auto labeling compares it to what it read and never overwrites a person's change."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.api import World, shared_world, unique_name
from tests.conftest import create_dataset
from tests.integrity import bulk_samples, stored_samples
from tests.samples import b64, edits_path, image_bytes, upload


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with shared_world(tmp_path_factory.mktemp("revision")) as w:
        yield w


def revisions(world: World, dataset_id: str) -> dict[str, int]:
    return {
        sample_id: revision for sample_id, (_s, revision, _l) in stored_samples(world, dataset_id).items()
    }


def put_labels(world: World, dataset_id: str, updates: dict[str, list[dict[str, Any]]]) -> None:
    body = {"samples": [{"sample_id": s, "labels": labels} for s, labels in updates.items()]}
    response = world.alice.aksk.put(edits_path(world.alice, dataset_id), json=body)
    assert response.status_code == 200, response.text


def test_batch_label_updates_and_confirming_auto_labels_bump_the_revision(world: World) -> None:
    dataset_id = create_dataset(world.alice.aksk, world.alice.project_id, unique_name("rev"))
    plain, auto, other = bulk_samples(
        world, dataset_id, 3, lambda i: ["cat"] if i == 1 else [], status="AUTO_ANNOTATION"
    )
    assert revisions(world, dataset_id) == {plain: 0, auto: 0, other: 0}

    put_labels(world, dataset_id, {plain: [{"name": "cat"}]})
    assert revisions(world, dataset_id) == {plain: 1, auto: 0, other: 0}
    put_labels(world, dataset_id, {plain: []})  # clearing is a change too
    # Confirming an auto label: the same label sent back; the status moves to manual.
    put_labels(world, dataset_id, {auto: [{"name": "cat"}]})
    stored = stored_samples(world, dataset_id)
    assert stored[plain] == ("UN_ANNOTATION", 2, [])
    assert stored[auto] == ("MANUAL_ANNOTATION", 1, ["cat"])
    assert stored[other] == ("UN_ANNOTATION", 0, [])


def test_label_rename_and_delete_bump_the_samples_that_carry_the_label(world: World) -> None:
    dataset_id = create_dataset(world.alice.aksk, world.alice.project_id, unique_name("rev"))
    carrier, both, bystander = bulk_samples(
        world, dataset_id, 3, lambda i: [["cat"], ["cat", "dog"], ["dog"]][i]
    )
    labels = world.alice.v2(f"/datasets/{dataset_id}/data-annotations/labels")

    renamed = world.alice.aksk.put(f"{labels}/cat", json={"@modelarts:rename_to": "kitty"})
    assert renamed.status_code == 204, renamed.text
    assert revisions(world, dataset_id) == {carrier: 1, both: 1, bystander: 0}

    deleted = world.alice.aksk.post(f"{labels}/delete", json={"labels": [{"name": "kitty"}]})
    assert deleted.status_code == 200, deleted.text
    stored = stored_samples(world, dataset_id)
    assert stored == {
        carrier: ("UN_ANNOTATION", 2, []),
        both: ("MANUAL_ANNOTATION", 2, ["dog"]),
        bystander: ("MANUAL_ANNOTATION", 0, ["dog"]),
    }


def test_uploading_the_same_sample_again_with_labels_bumps_its_revision(world: World) -> None:
    dataset_id = create_dataset(world.alice.aksk, world.alice.project_id, unique_name("rev"))
    data = b64(image_bytes(seed=7))
    first = upload(world.alice, dataset_id, [{"name": "a.jpg", "data": data}])
    assert first.status_code == 200, first.text
    sample_id = first.json()["results"][0]["info"]
    assert revisions(world, dataset_id) == {sample_id: 0}

    again = upload(world.alice, dataset_id, [{"name": "a.jpg", "data": data, "labels": [{"name": "cat"}]}])
    assert again.status_code == 200, again.text
    assert again.json()["results"][0]["info"] == sample_id
    assert stored_samples(world, dataset_id) == {sample_id: ("MANUAL_ANNOTATION", 1, ["cat"])}
