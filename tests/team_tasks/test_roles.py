"""Role and scope on the team-task routes: what each role may call, and that nobody sees
another project's (or another task's) work."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api import World, shared_world
from tests.conftest import assert_error
from tests.team_tasks.helpers import add_person, add_team, cat, make_dataset


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with shared_world(tmp_path_factory.mktemp("team-roles")) as w:
        yield w


@pytest.fixture(scope="module")
def setup(world: World) -> Iterator[dict[str, Any]]:
    team_id = add_team(world.alice)
    labeler = add_person(world.server, world.alice, team_id, 0)
    other_labeler = add_person(world.server, world.alice, team_id, 0)
    reviewer = add_person(world.server, world.alice, team_id, 1)
    admin = add_person(world.server, world.alice, team_id, 2)
    outsider_team = add_team(world.alice)
    outsider = add_person(world.server, world.alice, outsider_team, 0)
    stranger_team = add_team(world.mallory)
    stranger = add_person(world.server, world.mallory, stranger_team, 0)
    dataset_id, ids = make_dataset(world.alice, 4)
    base = world.alice.v2(f"/datasets/{dataset_id}/workforce-tasks")
    r = world.alice.aksk.post(
        base,
        json={"task_name": "roles", "workforces_config": {"workforces": [{"workforce_id": team_id}]}},
    )
    assert r.status_code == 200, r.text
    task_id = r.json()["task_id"]
    people = [labeler, other_labeler, reviewer, admin, outsider, stranger]
    yield {
        "dataset_id": dataset_id,
        "ids": ids,
        "task": f"{base}/{task_id}",
        "base": base,
        "labeler": labeler,
        "other": other_labeler,
        "reviewer": reviewer,
        "admin": admin,
        "outsider": outsider,
        "stranger": stranger,
    }
    for person in people:
        person.close()


def _client(world: World, setup: dict[str, Any], who: str) -> httpx.Client:
    return world.alice.aksk if who == "owner" else setup[who].client


OWNER_ONLY = [
    ("POST", "", {"task_name": "x"}),
    ("DELETE", "/{task}", None),
    ("POST", "/{task}/acceptance", {"sampling_num": 1}),
    ("POST", "/{task}/acceptance/batch-comment", {"comments": [{"sample_id": "x", "accept": True}]}),
    ("PUT", "/{task}/acceptance/status", {"action": 3}),
]


@pytest.mark.parametrize("who", ["labeler", "reviewer", "admin"])
@pytest.mark.parametrize(("method", "suffix", "body"), OWNER_ONLY)
def test_owner_only_calls_are_403_for_members(
    world: World, setup: dict[str, Any], who: str, method: str, suffix: str, body: Any
) -> None:
    path = setup["base"] + suffix.replace("/{task}", setup["task"][len(setup["base"]) :])
    response = _client(world, setup, who).request(method, path, json=body)
    assert_error(response, 403, "ModelArts.4600")


@pytest.mark.parametrize("who", ["outsider", "stranger"])
@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("GET", ""),
        ("GET", "/data-annotations/samples"),
        ("GET", "/data-annotations/stats"),
        ("GET", "/metrics"),
        ("PUT", "/data-annotations/samples"),
        ("POST", "/data-annotations/review"),
        ("GET", "/acceptance/report"),
    ],
)
def test_people_not_in_the_task_get_404(
    world: World, setup: dict[str, Any], who: str, method: str, suffix: str
) -> None:
    client = _client(world, setup, who)
    path = setup["task"] + suffix
    if who == "stranger":  # another project's member, calling with their own project in the path
        path = path.replace(world.alice.project_id, world.mallory.project_id)
    body = {"samples": [{"sample_id": "x"}], "comments": [{"sample_id": "x", "accept": True}]}
    response = client.request(method, path, json=body if method != "GET" else None)
    assert response.status_code in (403, 404), response.text
    assert response.status_code == 404 or who == "stranger"
    assert_error(response, response.status_code)


def test_labelers_see_and_edit_only_their_own_work(world: World, setup: dict[str, Any]) -> None:
    labeler, other = setup["labeler"], setup["other"]
    mine = labeler.client.get(setup["task"] + "/data-annotations/samples", params={"limit": 100}).json()
    theirs = other.client.get(setup["task"] + "/data-annotations/samples", params={"limit": 100}).json()
    mine_ids = {s["sample_id"] for s in mine["samples"]}
    their_ids = {s["sample_id"] for s in theirs["samples"]}
    assert mine_ids and their_ids and not (mine_ids & their_ids)
    assert mine_ids | their_ids == set(setup["ids"])
    assert all(s["worker_id"] == labeler.worker_id for s in mine["samples"])
    foreign = sorted(their_ids)[0]
    # Reading or writing someone else's sample is 404.
    assert_error(labeler.client.get(setup["task"] + f"/data-annotations/samples/{foreign}"), 404)
    answer = labeler.client.put(
        setup["task"] + "/data-annotations/samples",
        json={"samples": [{"sample_id": foreign, "labels": cat()}]},
    ).json()
    assert answer["success"] is False and answer["results"][0]["error_code"] == "ModelArts.4420"
    # A reviewer may not save labels.
    assert_error(
        setup["reviewer"].client.put(
            setup["task"] + "/data-annotations/samples",
            json={"samples": [{"sample_id": foreign, "labels": cat()}]},
        ),
        403,
        "ModelArts.4600",
    )
    # Everyone in the task lists it; the outsider does not.
    for who in ("labeler", "reviewer", "admin"):
        assert setup[who].client.get(setup["base"]).json()["count"] == 1
    assert setup["outsider"].client.get(setup["base"]).json()["count"] == 0
    # The member's own task list.
    rows = labeler.client.get(world.alice.v2("/workforces/worker-tasks")).json()
    assert rows["count"] == 1
    row = rows["worker_tasks"][0]
    assert row["worker_id"] == labeler.worker_id and row["role"] == 0
    assert row["sample_stats"]["total_sample_count"] == len(mine_ids)
