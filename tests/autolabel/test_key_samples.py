"""``collect_key_sample`` through HTTP: the samples to label first (before anything is labeled)
and next (after a round), listed in the task's ``result.key_samples``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.api import World, shared_world, unique_name
from tests.autolabel import sentence, upload, wait_for_task
from tests.conftest import Tenant, assert_error, create_dataset


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with shared_world(tmp_path_factory.mktemp("key-samples")) as built:
        yield built


def post_task(tenant: Tenant, dataset_id: str, body: dict[str, Any]) -> Any:
    return tenant.aksk.post(tenant.v2(f"/datasets/{dataset_id}/tasks"), json=body)


def status_of(tenant: Tenant, dataset_id: str, sample_id: str) -> str:
    response = tenant.aksk.get(tenant.v2(f"/datasets/{dataset_id}/data-annotations/samples/{sample_id}"))
    assert response.status_code == 200, response.text
    status: str = response.json()["sample_status"]
    return status


def test_before_any_label_the_task_proposes_one_typical_sample_per_topic(world: World) -> None:
    alice = world.alice
    dataset_id = create_dataset(alice.aksk, alice.project_id, unique_name(), dataset_type=100)
    topic: dict[str, str] = {}
    for kind in ("sport", "cooking"):
        ids = upload(alice, dataset_id, [(f"{kind}{i}.txt", sentence(kind, i), None) for i in range(8)])
        topic.update(dict.fromkeys(ids, kind))

    # Without collect_key_sample it is the reference's refusal: nothing to learn from.
    assert_error(post_task(alice, dataset_id, {"task_type": "auto-label"}), 400, "ModelArts.4405")

    response = post_task(
        alice,
        dataset_id,
        {"task_type": "auto-label", "collect_key_sample": True, "config": {"key_sample_count": 2}},
    )
    assert response.status_code == 200, response.text
    body = wait_for_task(alice, dataset_id, response.json()["task_id"])
    assert body["status"] == 3, body
    assert body["config"]["collect_key_sample"] is True
    result = body["result"]
    assert result["key_sample_rule"] == "typicality"
    proposed = result["key_samples"]
    assert len(proposed) == 2 and len(set(proposed)) == 2
    # Two clusters of sentences, one proposal from each.
    assert {topic[s] for s in proposed} == {"sport", "cooking"}
    assert "Proposed 2 samples" in body["message"]
    # Only proposed: no sample was labeled.
    assert result["unconfirmed_sample_count"] == 0
    assert all(status_of(alice, dataset_id, s) == "__NONE__" for s in topic)


def test_after_a_round_the_task_proposes_unlabeled_samples_to_label_next(world: World) -> None:
    alice = world.alice
    dataset_id = create_dataset(alice.aksk, alice.project_id, unique_name(), dataset_type=100)
    upload(
        alice,
        dataset_id,
        [(f"l{k}{i}.txt", sentence(k, i), k) for k in ("sport", "cooking") for i in range(5)],
    )
    targets: set[str] = set()
    for kind in ("sport", "cooking"):
        targets.update(
            upload(alice, dataset_id, [(f"u{kind}{i}.txt", sentence(kind, 5 + i), None) for i in range(5)])
        )
    response = post_task(
        alice,
        dataset_id,
        {"task_type": "auto-label", "collect_key_sample": True, "config": {"key_sample_count": 3}},
    )
    assert response.status_code == 200, response.text
    body = wait_for_task(alice, dataset_id, response.json()["task_id"])
    assert body["status"] == 3, body
    result = body["result"]
    assert result["key_sample_rule"] == "uncertainty-diversity"
    assert len(result["key_samples"]) == 3 and set(result["key_samples"]) <= targets
    assert result["unconfirmed_sample_count"] == 10  # it labeled as usual too

    # Without collect_key_sample there is no proposal.
    plain = post_task(alice, dataset_id, {"task_type": "auto-label"})
    assert plain.status_code == 200, plain.text
    again = wait_for_task(alice, dataset_id, plain.json()["task_id"])
    assert again["status"] == 3 and "key_samples" not in again["result"]


@pytest.mark.parametrize("count", [0, 1001, "ten"])
def test_bad_key_sample_count_is_400(world: World, count: Any) -> None:
    alice = world.alice
    dataset_id = create_dataset(alice.aksk, alice.project_id, unique_name(), dataset_type=100)
    response = post_task(
        alice,
        dataset_id,
        {"task_type": "auto-label", "collect_key_sample": True, "config": {"key_sample_count": count}},
    )
    assert_error(response, 400)


def test_nothing_to_propose_is_refused(world: World) -> None:
    alice = world.alice
    dataset_id = create_dataset(alice.aksk, alice.project_id, unique_name(), dataset_type=100)
    upload(alice, dataset_id, [("a.txt", sentence("sport", 0), "sport")])
    response = post_task(alice, dataset_id, {"task_type": "auto-label", "collect_key_sample": True})
    assert_error(response, 400, "ModelArts.4407")
