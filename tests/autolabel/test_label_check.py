"""Wrong human labels through HTTP: ``config.check_labeled_samples`` marks the planted flips with
hard reason 31, the sample filters list them, a correction and a second run clear the flag,
and a dataset with nothing left to label can still be checked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api import World, shared_world, unique_name
from tests.autolabel import picture, sentence, start_task, upload, wait_for_task
from tests.conftest import Tenant, create_dataset


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with shared_world(tmp_path_factory.mktemp("labelcheck")) as built:
        yield built


def samples_where(tenant: Tenant, dataset_id: str, condition: dict[str, Any]) -> set[str]:
    response = tenant.aksk.get(
        tenant.v2(f"/datasets/{dataset_id}/data-annotations/samples"),
        params={"search_conditions": json.dumps([condition]), "limit": 100},
    )
    assert response.status_code == 200, response.text
    return {s["sample_id"] for s in response.json()["samples"]}


def one(tenant: Tenant, dataset_id: str, sample_id: str) -> dict[str, Any]:
    response = tenant.aksk.get(tenant.v2(f"/datasets/{dataset_id}/data-annotations/samples/{sample_id}"))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_flipped_image_labels_are_marked_listed_and_cleared_once_corrected(world: World) -> None:
    alice = world.alice
    dataset_id = create_dataset(alice.aksk, alice.project_id, unique_name(), dataset_type=0)
    clean = upload(
        alice,
        dataset_id,
        [(f"l{k}{i}.jpg", picture(k, 100 * (k == "red") + i), k) for k in ("red", "blue") for i in range(10)],
    )
    # Planted flips: a red picture labeled blue and a blue one labeled red.
    red_as_blue, blue_as_red = upload(
        alice, dataset_id, [("f1.jpg", picture("red", 700), "blue"), ("f2.jpg", picture("blue", 701), "red")]
    )
    upload(
        alice,
        dataset_id,
        [(f"u{i}.jpg", picture("red" if i % 2 else "blue", 900 + i), None) for i in range(4)],
    )

    body = wait_for_task(alice, dataset_id, start_task(alice, dataset_id, check_labeled_samples=True))
    assert body["status"] == 3, body
    assert body["config"]["check_labeled_samples"] is True
    result = body["result"]
    assert result["checked_labeled_sample_count"] == 22
    assert result["label_error_sample_count"] == 2
    assert result["unconfirmed_sample_count"] == 4
    assert "2 labels look wrong (hard reason 31)" in body["message"]

    flagged = samples_where(alice, dataset_id, {"hard_reason": 31})
    assert flagged == samples_where(alice, dataset_id, {"hard_reason": "31"}) == {red_as_blue, blue_as_red}
    for sample_id, given, suggested in ((red_as_blue, "blue", "red"), (blue_as_red, "red", "blue")):
        got = one(alice, dataset_id, sample_id)
        assert got["sample_status"] == "__ALL__"  # the person's label stays as it was
        assert [label["name"] for label in got["labels"]] == [given]
        assert got["metadata"]["@modelarts:hard"] == 1.0
        assert got["metadata"]["@modelarts:hard_reasons"] == [31]
        assert 0.5 < got["metadata"]["@modelarts:hard_coefficient"] <= 1.0
        detail = got["hard_details"]["31"]
        assert detail["id"] == 31 and detail["alo_name"] == "label_error"
        assert f"'{given}'" in detail["reason"] and f"'{suggested}'" in detail["suggestion"]
    for sample_id in clean[:5]:
        assert one(alice, dataset_id, sample_id)["metadata"]["@modelarts:hard"] == 0.0
    # The hard filter of the labeled samples finds the same two.
    hard_labeled = samples_where(alice, dataset_id, {"hard": "1"}) & samples_where(
        alice, dataset_id, {"hard_reason": 31}
    )
    assert hard_labeled == {red_as_blue, blue_as_red}

    # A person corrects one; the next check clears it and keeps the other.
    response = alice.aksk.put(
        alice.v2(f"/datasets/{dataset_id}/data-annotations/samples"),
        json={"samples": [{"sample_id": red_as_blue, "labels": [{"name": "red", "type": 0}]}]},
    )
    assert response.status_code == 200, response.text
    again = wait_for_task(alice, dataset_id, start_task(alice, dataset_id, check_labeled_samples=True))
    assert again["status"] == 3, again
    assert again["result"]["label_error_sample_count"] == 1
    assert samples_where(alice, dataset_id, {"hard_reason": 31}) == {blue_as_red}
    corrected = one(alice, dataset_id, red_as_blue)
    assert corrected["metadata"]["@modelarts:hard"] == 0.0
    assert corrected["metadata"]["@modelarts:hard_reasons"] == []
    assert "31" not in corrected.get("hard_details", {})

    # Without the option nothing about the labeled samples changes.
    plain = wait_for_task(alice, dataset_id, start_task(alice, dataset_id))
    assert plain["status"] == 3, plain
    assert "label_error_sample_count" not in plain["result"]
    assert samples_where(alice, dataset_id, {"hard_reason": 31}) == {blue_as_red}


def test_a_fully_labeled_text_dataset_can_be_checked(world: World) -> None:
    alice = world.alice
    dataset_id = create_dataset(alice.aksk, alice.project_id, unique_name(), dataset_type=100)
    upload(
        alice,
        dataset_id,
        [(f"l{k}{i}.txt", sentence(k, i), k) for k in ("sport", "cooking") for i in range(9)],
    )
    (flipped,) = upload(alice, dataset_id, [("f.txt", sentence("cooking", 9), "sport")])
    # Nothing to label: refused without the check, run with it.
    response = alice.aksk.post(
        alice.v2(f"/datasets/{dataset_id}/tasks"), json={"task_type": "auto-label", "config": {}}
    )
    assert response.status_code == 400 and response.json()["error_code"] == "ModelArts.4407"
    body = wait_for_task(alice, dataset_id, start_task(alice, dataset_id, check_labeled_samples=True))
    assert body["status"] == 3, body
    assert body["result"]["unconfirmed_sample_count"] == 0
    assert body["result"]["checked_labeled_sample_count"] == 19
    assert samples_where(alice, dataset_id, {"hard_reason": 31}) == {flipped}
    got = one(alice, dataset_id, flipped)
    assert [label["name"] for label in got["labels"]] == ["sport"]
    assert "'cooking'" in got["hard_details"]["31"]["suggestion"]


def test_check_labeled_samples_must_be_a_boolean(world: World) -> None:
    alice = world.alice
    dataset_id = create_dataset(alice.aksk, alice.project_id, unique_name(), dataset_type=0)
    response = alice.aksk.post(
        alice.v2(f"/datasets/{dataset_id}/tasks"),
        json={"task_type": "auto-label", "config": {"check_labeled_samples": "maybe"}},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "ModelArts.0104"
