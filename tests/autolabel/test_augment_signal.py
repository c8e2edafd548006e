"""Auto labeling through HTTP with ``autolabel_augment_signal`` on: the labeled images are perturbed
too (mirror, crop, shift) so that the estimated probability that an auto label is wrong can use
the disagreement under augmentation; the task still labels every sample right and writes hard
reasons of the ModelArts table only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api import World, shared_world, unique_name
from tests.autolabel import picture, start_task, upload, wait_for_task
from tests.conftest import create_dataset


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with shared_world(
        tmp_path_factory.mktemp("augment-signal"), autolabel_augment_signal=True, autolabel_augment_budget=8
    ) as built:
        yield built


def test_image_auto_labeling_with_copies_of_the_labeled_samples(world: World) -> None:
    alice = world.alice
    dataset_id = create_dataset(alice.aksk, alice.project_id, unique_name(), dataset_type=0)
    upload(
        alice,
        dataset_id,
        [
            (f"l{kind}{i}.jpg", picture(kind, 100 * (kind == "red") + i), kind)
            for kind in ("red", "blue")
            for i in range(6)
        ],
    )
    truth: dict[str, str] = {}
    for kind in ("red", "blue"):
        ids = upload(
            alice,
            dataset_id,
            [(f"u{kind}{i}.jpg", picture(kind, 1000 + 100 * (kind == "red") + i), None) for i in range(5)],
        )
        truth.update(dict.fromkeys(ids, kind))

    body = wait_for_task(alice, dataset_id, start_task(alice, dataset_id, algorithm_type="fast"))
    assert body["status"] == 3, body
    assert body["result"]["unconfirmed_sample_count"] == 10
    for sample_id, kind in truth.items():
        response = alice.aksk.get(alice.v2(f"/datasets/{dataset_id}/data-annotations/samples/{sample_id}"))
        assert response.status_code == 200, response.text
        found = response.json()
        assert [label["name"] for label in found["labels"]] == [kind]
        reasons = found["metadata"]["@modelarts:hard_reasons"]
        assert all(isinstance(r, int) and 0 <= r <= 30 for r in reasons)
        assert bool(found["metadata"]["@modelarts:hard"]) == bool(reasons)
