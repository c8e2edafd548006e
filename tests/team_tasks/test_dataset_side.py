"""The dataset side of team tasks: ShowDataset and ListDatasets say whether a dataset has team
tasks (``exist_workforce_task``, ``workforce_task_count``) and describe the current one
(``workforce_descriptor``); the dataset metrics' ``workforce_task_id`` gives that task's
sample counts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.api import World, shared_world
from tests.conftest import assert_error
from tests.team_tasks.helpers import add_person, add_team, cat, make_dataset

FAR = 2**41


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with shared_world(tmp_path_factory.mktemp("team-dataset-side")) as w:
        yield w


def _listed(world: World, dataset_id: str) -> dict[str, Any]:
    r = world.alice.aksk.get(world.alice.v2("/datasets"), params={"limit": 100})
    assert r.status_code == 200, r.text
    return next(d for d in r.json()["datasets"] if d["dataset_id"] == dataset_id)


def test_dataset_answers_describe_the_current_team_task(world: World) -> None:
    team_id = add_team(world.alice, "side-team")
    labeler = add_person(world.server, world.alice, team_id, 0)
    reviewer = add_person(world.server, world.alice, team_id, 1)
    try:
        dataset_id, ids = make_dataset(world.alice, 4)
        detail_url = world.alice.v2(f"/datasets/{dataset_id}")
        for body in (world.alice.aksk.get(detail_url).json(), _listed(world, dataset_id)):
            assert body["exist_workforce_task"] is False and body["workforce_task_count"] == 0
            assert "workforce_descriptor" not in body
        base = world.alice.v2(f"/datasets/{dataset_id}/workforce-tasks")
        config = {"workforces": [{"workforce_id": team_id}]}
        task_id = world.alice.aksk.post(
            base, json={"task_name": "side", "synchronize_data": True, "workforces_config": config}
        ).json()["task_id"]
        # The labeler hands in two; the owner rejects one of them at review.
        path = f"{base}/{task_id}/data-annotations"
        saved = labeler.client.put(
            f"{path}/samples", json={"samples": [{"sample_id": s, "labels": cat()} for s in ids[:2]]}
        )
        assert saved.json()["success"] is True
        review = {"comments": [{"sample_id": ids[0], "accept": False, "comment": "no"}]}
        assert world.alice.aksk.post(f"{path}/review", json=review).status_code == 200
        for body in (world.alice.aksk.get(detail_url).json(), _listed(world, dataset_id)):
            assert body["exist_workforce_task"] is True and body["workforce_task_count"] == 1
            descriptor = body["workforce_descriptor"]
            workers = descriptor.pop("workers")
            assert descriptor == {
                "current_task_id": task_id,
                "current_task_name": "side",
                "reject_num": 1,
                "repetition": 1,
                "is_synchronize_auto_labeling_data": False,
                "is_synchronize_data": True,
                "workforce_id": team_id,
                "workforce_name": "side-team",
            }
            assert [(w["email"], w["role"], w["workforce_id"]) for w in workers] == [
                (labeler.email, 0, team_id),
                (reviewer.email, 1, team_id),
            ]
            assert set(workers[0]) == {
                "worker_id",
                "workforce_id",
                "email",
                "role",
                "status",
                "description",
                "create_time",
                "update_time",
            }
        # The metrics of that task: 4 samples, 2 handed in (one since rejected), 2 untouched.
        metrics_url = world.alice.v2(f"/datasets/{dataset_id}/metrics")
        r = world.alice.aksk.get(
            metrics_url, params={"start_time": 0, "end_time": FAR, "workforce_task_id": task_id}
        )
        assert r.status_code == 200, r.text
        series = r.json()["metrics"]
        latest = {name: list(points.values()) for name, points in series.items() if points}
        assert latest == {
            "total": [4],
            "un_annotation": [2],
            "auto_annotation": [0],
            "manual_annotation": [2],
        }
        # An unknown task, or one of another dataset: 404 ModelArts.4619.
        other_id, _ = make_dataset(world.alice, 1)
        for url, task in (
            (metrics_url, "none-such"),
            (world.alice.v2(f"/datasets/{other_id}/metrics"), task_id),
        ):
            params = {"start_time": 0, "end_time": FAR, "workforce_task_id": task}
            assert_error(world.alice.aksk.get(url, params=params), 404, "ModelArts.4619")
        # A second task, created and not started, becomes the current one; deleting both
        # leaves the dataset without team tasks.
        later = world.alice.aksk.post(base, json={"task_name": "later"}).json()["task_id"]
        body = world.alice.aksk.get(detail_url).json()
        assert body["workforce_task_count"] == 2
        assert body["workforce_descriptor"]["current_task_id"] == later
        assert body["workforce_descriptor"]["workers"] == []
        for task in (later, task_id):
            assert world.alice.aksk.delete(f"{base}/{task}").status_code == 204
        body = world.alice.aksk.get(detail_url).json()
        assert body["exist_workforce_task"] is False and "workforce_descriptor" not in body
    finally:
        labeler.close()
        reviewer.close()
