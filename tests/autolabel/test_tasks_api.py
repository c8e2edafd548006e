"""Auto labeling through HTTP on a real server: the whole flow for images, text and sound
(labels checked sample by sample), the confirm/correct/reject round trip, every precondition
error, bad parameters, and stopping a task mid-way."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from labelarts.clock import new_resource_id, now_ms
from labelarts.storage.db.models import Task
from tests.api import World, add_sample, shared_world, unique_name
from tests.autolabel import picture, sentence, start_task, tone, upload, wait_for_task
from tests.conftest import Tenant, assert_error, create_dataset


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with shared_world(tmp_path_factory.mktemp("autolabel")) as built:
        yield built


def new_dataset(tenant: Tenant, dataset_type: int = 0) -> str:
    return create_dataset(tenant.aksk, tenant.project_id, unique_name(), dataset_type=dataset_type)


def tasks_path(tenant: Tenant, dataset_id: str, suffix: str = "") -> str:
    return tenant.v2(f"/datasets/{dataset_id}/tasks{suffix}")


def auto_samples(tenant: Tenant, dataset_id: str, **params: Any) -> dict[str, Any]:
    response = tenant.aksk.get(
        tenant.v2(f"/datasets/{dataset_id}/auto-annotations/samples"), params={"limit": 100, **params}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def sample(tenant: Tenant, dataset_id: str, sample_id: str) -> dict[str, Any]:
    response = tenant.aksk.get(tenant.v2(f"/datasets/{dataset_id}/data-annotations/samples/{sample_id}"))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def check_auto_sample(body: dict[str, Any], expected: str) -> None:
    """One auto-labeled sample, field by field as the reference types them."""
    assert body["sample_status"] == "__AUTO_ANNOTATION__"
    assert [label["name"] for label in body["labels"]] == [expected]
    label = body["labels"][0]
    assert isinstance(label["score"], float) and 0.0 <= label["score"] <= 1.0
    assert label["property"]["@modelarts:hard"] in ("true", "false")
    assert 0.0 <= float(label["property"]["@modelarts:hard_coefficient"]) <= 1.0
    metadata = body["metadata"]
    assert isinstance(metadata["@modelarts:hard"], (int, float, bool))
    assert not isinstance(metadata["@modelarts:hard"], str)
    reasons = metadata["@modelarts:hard_reasons"]
    assert isinstance(reasons, list) and all(isinstance(r, int) and 0 <= r <= 30 for r in reasons)
    assert bool(metadata["@modelarts:hard"]) == bool(reasons)
    assert (label["property"]["@modelarts:hard"] == "true") == bool(reasons)
    if reasons:
        assert 0.0 <= metadata["@modelarts:hard_coefficient"] <= 1.0
        details = body["hard_details"]
        assert sorted(int(k) for k in details) == sorted(reasons)
        for code, detail in details.items():
            assert detail["id"] == int(code)
            assert detail["reason"] and detail["suggestion"] and detail["alo_name"]


# -- the whole flow ---------------------------------------------------------------------------


def test_image_auto_labeling_labels_every_unlabeled_sample_and_people_confirm_or_correct(
    world: World,
) -> None:
    alice = world.alice
    dataset_id = new_dataset(alice)
    labeled = upload(
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

    task_id = start_task(alice, dataset_id, algorithm_type="fast")
    body = wait_for_task(alice, dataset_id, task_id)
    assert body["status"] == 3, body
    assert body["progress"] == 100.0
    assert body["task_id"] == task_id and body["resource_id"] == dataset_id
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", body["create_time"])
    assert isinstance(body["elapsed_time"], int) and body["elapsed_time"] >= 0
    assert body["config"]["algorithm_type"] == "fast"
    result = body["result"]
    assert result["annotated_sample_count"] == 12
    assert result["unconfirmed_sample_count"] == 10
    assert result["total_sample_count"] == 22
    assert result["classes"] == ["blue", "red"]
    assert result["changed_during_task_count"] == 0
    assert body["unconfirmed_sample_count"] == 10

    for sample_id, kind in truth.items():
        check_auto_sample(sample(alice, dataset_id, sample_id), kind)
    for sample_id in labeled:  # people's labels are never touched
        assert sample(alice, dataset_id, sample_id)["sample_status"] == "__ALL__"

    listed = auto_samples(alice, dataset_id)
    assert {s["sample_id"] for s in listed["samples"]} == set(truth)
    hard = auto_samples(alice, dataset_id, search_conditions=json.dumps([{"hard": "1"}]))
    hard_ids = {s["sample_id"] for s in hard["samples"]}
    assert hard_ids == {s["sample_id"] for s in listed["samples"] if s["metadata"]["@modelarts:hard"]}
    stats = alice.aksk.get(alice.v2(f"/datasets/{dataset_id}/data-annotations/stats")).json()
    assert stats["sample_stats"]["auto_annotation"] == 10

    # Confirm one, correct one, reject one.
    confirm, correct, reject = list(truth)[:3]
    wrong = "blue" if truth[correct] == "red" else "red"
    response = alice.aksk.put(
        alice.v2(f"/datasets/{dataset_id}/data-annotations/samples"),
        json={
            "samples": [
                {"sample_id": confirm, "labels": [{"name": truth[confirm], "type": 0}]},
                {"sample_id": correct, "labels": [{"name": wrong, "type": 0}]},
                {"sample_id": reject, "labels": []},
            ]
        },
    )
    assert response.status_code == 200, response.text
    confirmed = sample(alice, dataset_id, confirm)
    assert confirmed["sample_status"] == "__ALL__"
    assert [label["name"] for label in confirmed["labels"]] == [truth[confirm]]
    corrected = sample(alice, dataset_id, correct)
    assert corrected["sample_status"] == "__ALL__"
    assert [label["name"] for label in corrected["labels"]] == [wrong]
    assert sample(alice, dataset_id, reject)["sample_status"] == "__NONE__"
    assert auto_samples(alice, dataset_id)["sample_count"] == 7
    assert alice.aksk.get(alice.v2(f"/auto-annotations/samples/{confirm}")).status_code == 404

    listing = alice.aksk.get(tasks_path(alice, dataset_id), params={"limit": 10, "offset": 0})
    assert listing.status_code == 200, listing.text
    assert listing.json()["total_count"] == 1
    assert [t["task_id"] for t in listing.json()["tasks"]] == [task_id]
    assert listing.json()["tasks"][0]["status"] == 3

    # A second task reuses the cached features and only labels what is unlabeled now.
    second = wait_for_task(alice, dataset_id, start_task(alice, dataset_id))
    assert second["status"] == 3, second
    assert second["result"]["encoded_feature_count"] == 0
    assert second["result"]["annotated_sample_count"] == 14


def test_text_auto_labeling_in_accurate_mode(world: World) -> None:
    alice = world.alice
    dataset_id = new_dataset(alice, 100)
    upload(
        alice,
        dataset_id,
        [(f"l{k}{i}.txt", sentence(k, i), k) for k in ("sport", "cooking") for i in range(6)],
    )
    truth: dict[str, str] = {}
    for kind in ("sport", "cooking"):
        ids = upload(alice, dataset_id, [(f"u{kind}{i}.txt", sentence(kind, 6 + i), None) for i in range(4)])
        truth.update(dict.fromkeys(ids, kind))
    body = wait_for_task(alice, dataset_id, start_task(alice, dataset_id, algorithm_type="accurate"))
    assert body["status"] == 3, body
    assert body["config"]["algorithm_type"] == "accurate"
    for sample_id, kind in truth.items():
        check_auto_sample(sample(alice, dataset_id, sample_id), kind)


def test_sound_auto_labeling(world: World) -> None:
    alice = world.alice
    dataset_id = new_dataset(alice, 200)
    upload(
        alice,
        dataset_id,
        [(f"l{k}{i}.wav", tone(k, i + 50 * (k == "low")), k) for k in ("low", "high") for i in range(5)],
    )
    truth: dict[str, str] = {}
    for kind in ("low", "high"):
        ids = upload(
            alice,
            dataset_id,
            [(f"u{kind}{i}.wav", tone(kind, 500 + i + 50 * (kind == "low")), None) for i in range(3)],
        )
        truth.update(dict.fromkeys(ids, kind))
    body = wait_for_task(alice, dataset_id, start_task(alice, dataset_id))
    assert body["status"] == 3, body
    for sample_id, kind in truth.items():
        check_auto_sample(sample(alice, dataset_id, sample_id), kind)


def test_stopping_a_running_task_leaves_the_dataset_as_it_was(world: World) -> None:
    alice = world.alice
    dataset_id = new_dataset(alice)
    upload(
        alice,
        dataset_id,
        [
            (f"l{k}{i}.jpg", picture(k, i + 100 * (k == "red"), 32), k)
            for k in ("red", "blue")
            for i in range(5)
        ],
    )
    unlabeled = upload(
        alice,
        dataset_id,
        [(f"u{i}.jpg", picture("red" if i % 2 else "blue", 5000 + i, 32), None) for i in range(250)],
    )
    task_id = start_task(alice, dataset_id)
    response = alice.aksk.post(tasks_path(alice, dataset_id, f"/{task_id}/stop"))
    assert response.status_code == 204, response.text
    assert response.content == b""
    body = wait_for_task(alice, dataset_id, task_id)
    assert body["status"] == 5, body
    assert body["code"] == "ModelArts.4393"
    assert auto_samples(alice, dataset_id)["sample_count"] == 0
    for sample_id in unlabeled[:20]:
        assert sample(alice, dataset_id, sample_id)["sample_status"] == "__NONE__"
    # Stopping again: the task has ended, which is an error, not a silent success.
    assert_error(alice.aksk.post(tasks_path(alice, dataset_id, f"/{task_id}/stop")), 400, "ModelArts.4396")


# -- preconditions ----------------------------------------------------------------------------


def storage_dataset(world: World, labeled: dict[str, int], unlabeled: int, dataset_type: int = 0) -> str:
    dataset_id = new_dataset(world.alice, dataset_type)
    for name, count in labeled.items():
        for _ in range(count):
            add_sample(world.services, dataset_id, [name])
    for _ in range(unlabeled):
        add_sample(world.services, dataset_id)
    return dataset_id


@pytest.mark.parametrize(
    ("labeled", "unlabeled", "code"),
    [
        ({}, 3, "ModelArts.4405"),
        ({"cat": 9}, 3, "ModelArts.4405"),
        ({"cat": 5, "dog": 4}, 3, "ModelArts.4406"),
        ({"cat": 5, "dog": 5}, 0, "ModelArts.4407"),
    ],
    ids=["no-labels", "one-label", "four-of-one", "nothing-unlabeled"],
)
def test_preconditions_are_refused_before_anything_runs(
    world: World, labeled: dict[str, int], unlabeled: int, code: str
) -> None:
    dataset_id = storage_dataset(world, labeled, unlabeled)
    response = world.alice.aksk.post(tasks_path(world.alice, dataset_id), json={"task_type": "auto-label"})
    assert_error(response, 400, code)
    assert world.alice.aksk.get(tasks_path(world.alice, dataset_id)).json()["total_count"] == 0


def test_one_auto_labeling_task_per_dataset_at_a_time(world: World) -> None:
    dataset_id = storage_dataset(world, {"cat": 5, "dog": 5}, 2)
    with world.services.db.session() as session:  # a task of another instance, still running
        session.add(
            Task(
                id=new_resource_id(),
                project_id=world.alice.project_id,
                dataset_id=dataset_id,
                kind="auto-label",
                status="RUNNING",
                progress=0.3,
                config={},
                result={},
                create_time=now_ms(),
                update_time=now_ms(),
                start_time=now_ms(),
            )
        )
    response = world.alice.aksk.post(tasks_path(world.alice, dataset_id), json={"task_type": "auto-label"})
    assert_error(response, 400, "ModelArts.4409")


@pytest.mark.parametrize(
    ("dataset_type", "body"),
    [
        (3, {"task_type": "auto-label"}),
        (0, {"task_type": "pre-label"}),
        (0, {"task_type": "auto-grouping"}),
        (0, {"task_type": "auto-label", "config": {"feature_model": "resnet-9000"}}),
    ],
    ids=["segmentation", "pre-label-without-model", "auto-grouping-without-n_clusters", "unknown-model"],
)
def test_what_is_not_supported_says_so(world: World, dataset_type: int, body: dict[str, Any]) -> None:
    dataset_id = storage_dataset(world, {"cat": 5, "dog": 5}, 2, dataset_type)
    response = world.alice.aksk.post(tasks_path(world.alice, dataset_id), json=body)
    assert_error(response, 400, "ModelArts.4396")


@pytest.mark.parametrize(
    "body",
    [
        {"task_type": "label-everything"},
        {"task_type": 3},
        {"config": {"algorithm_type": "slow"}},
        {"config": {"algorithm_type": 1}},
        {"config": {"target_precision": 2}},
        {"config": {"target_precision": 0.1}},
        {"config": {"target_precision": "high"}},
        {"config": {"confidence_scope": "abc"}},
        {"config": {"confidence_scope": "0.9-0.1"}},
        {"config": {"confidence_scope": "0.1-1.5"}},
        {"config": {"collect_rule": "some"}},
        {"config": "fast"},
        {"collect_key_sample": "yes"},
        [],
        "auto-label",
    ],
)
def test_bad_parameters_get_400(world: World, body: Any) -> None:
    dataset_id = storage_dataset(world, {"cat": 5, "dog": 5}, 1)
    response = world.alice.aksk.post(tasks_path(world.alice, dataset_id), json=body)
    assert_error(response, 400)


def test_bad_list_and_detail_parameters(world: World) -> None:
    alice = world.alice
    dataset_id = storage_dataset(world, {"cat": 5, "dog": 5}, 1)
    for params in (
        {"limit": 0},
        {"limit": 101},
        {"limit": "x"},
        {"offset": -1},
        {"type": "export"},
        {"task_name": "n" * 65},
    ):
        assert_error(alice.aksk.get(tasks_path(alice, dataset_id), params=params), 400)
    assert_error(alice.aksk.get(tasks_path(alice, dataset_id, "/nope")), 404, "ModelArts.4612")
    assert_error(alice.aksk.post(tasks_path(alice, dataset_id, "/nope/stop")), 404, "ModelArts.4612")
    assert alice.aksk.get(tasks_path(alice, dataset_id), params={"type": "pre-label"}).json()["tasks"] == []


def test_the_list_filters_by_task_name_and_pages(world: World) -> None:
    alice = world.alice
    dataset_id = storage_dataset(world, {"cat": 5, "dog": 5}, 1)
    with world.services.db.session() as session:
        for i, name in enumerate(["nightly", "nightly", "manual"]):
            session.add(
                Task(
                    id=new_resource_id(),
                    project_id=alice.project_id,
                    dataset_id=dataset_id,
                    kind="auto-label",
                    status="SUCCEEDED",
                    progress=1.0,
                    config={"task_name": name, "config": {"algorithm_type": "fast"}},
                    result={},
                    create_time=now_ms() + i,
                    update_time=now_ms(),
                )
            )
    nightly = alice.aksk.get(tasks_path(alice, dataset_id), params={"task_name": "nightly"}).json()
    assert nightly["total_count"] == 2
    assert {t["task_name"] for t in nightly["tasks"]} == {"nightly"}
    pages = [
        alice.aksk.get(tasks_path(alice, dataset_id), params={"limit": 2, "offset": page}).json()
        for page in (0, 1, 2)
    ]
    assert [len(p["tasks"]) for p in pages] == [2, 1, 0]
    assert all(p["total_count"] == 3 for p in pages)
    assert pages[0]["tasks"][0]["task_name"] == "manual"  # newest first


def test_another_project_cannot_see_or_stop_tasks(world: World) -> None:
    alice, mallory = world.alice, world.mallory
    dataset_id = storage_dataset(world, {"cat": 5, "dog": 5}, 1)
    with world.services.db.session() as session:
        task_id = new_resource_id()
        session.add(
            Task(
                id=task_id,
                project_id=alice.project_id,
                dataset_id=dataset_id,
                kind="auto-label",
                status="SUCCEEDED",
                progress=1.0,
                config={},
                result={},
                create_time=now_ms(),
                update_time=now_ms(),
            )
        )
    assert alice.aksk.get(tasks_path(alice, dataset_id, f"/{task_id}")).status_code == 200
    # Under mallory's own project path: 404, no hint the dataset exists.
    assert_error(mallory.aksk.get(tasks_path(mallory, dataset_id, f"/{task_id}")), 404)
    assert_error(mallory.aksk.post(tasks_path(mallory, dataset_id, f"/{task_id}/stop")), 404)
    assert_error(mallory.aksk.post(tasks_path(mallory, dataset_id), json={}), 404)
    # Under alice's path with mallory's credential: 403.
    assert_error(mallory.aksk.get(tasks_path(alice, dataset_id)), 403)
