"""Role and scope on every team-task route, parametrized over the route table (a new route
without a row here fails ``test_every_team_task_route_has_expectations``): a labeler, a
reviewer and the administrator of the task's team, a member of the project who is not in the
task ("outsider"), and a member of another project ("stranger")."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.api import World, shared_world
from tests.conftest import assert_error
from tests.routes import PROJECT_ROUTES, Route
from tests.team_tasks.helpers import Person, add_person, add_team, cat, make_dataset

ROLES = ("labeler", "reviewer", "admin", "outsider")
TASK = "/v2/{project_id}/datasets/{dataset_id}/workforce-tasks/{workforce_task_id}"
TASKS = "/v2/{project_id}/datasets/{dataset_id}/workforce-tasks"


def _row(labeler: int, reviewer: int, admin: int, outsider: int) -> dict[str, int]:
    return {"labeler": labeler, "reviewer": reviewer, "admin": admin, "outsider": outsider}


OWNER_ONLY = _row(403, 403, 403, 403)
MEMBERS_READ = _row(200, 200, 200, 404)  # anyone in the task; the outsider gets the task's 404
# Start and update: the owner, or the task's ``agency`` (this task has none: its administrator
# may not either).
AGENCY_ONLY = _row(403, 403, 403, 404)

EXPECTED: dict[str, dict[str, int]] = {
    f"POST {TASKS}": OWNER_ONLY,
    f"GET {TASKS}": _row(200, 200, 200, 200),  # the outsider's list is empty (checked below)
    f"GET {TASK}": MEMBERS_READ,
    f"POST {TASK}": AGENCY_ONLY,
    f"PUT {TASK}": AGENCY_ONLY,
    f"DELETE {TASK}": OWNER_ONLY,
    f"GET {TASK}/data-annotations/samples": MEMBERS_READ,
    f"GET {TASK}/data-annotations/samples/{{sample_id}}": MEMBERS_READ,
    f"PUT {TASK}/data-annotations/samples": _row(200, 403, 403, 404),
    f"POST {TASK}/data-annotations/review": _row(403, 200, 200, 404),
    f"POST {TASK}/acceptance": OWNER_ONLY,
    f"POST {TASK}/acceptance/batch-comment": OWNER_ONLY,
    # The administrator may read the report; no acceptance was started: 404 ModelArts.4612.
    f"GET {TASK}/acceptance/report": _row(403, 403, 404, 404),
    f"PUT {TASK}/acceptance/status": OWNER_ONLY,
    f"GET {TASK}/data-annotations/stats": MEMBERS_READ,
    f"GET {TASK}/metrics": MEMBERS_READ,
    f"POST {TASK}/notify": AGENCY_ONLY,
    "GET /v2/{project_id}/workforces/worker-tasks": _row(200, 200, 200, 200),
    # LabelArts extensions: the agreement report (owner and team administrators), gold samples.
    f"GET {TASK}/agreement": _row(403, 403, 200, 404),
    f"PUT {TASK}/gold-samples": OWNER_ONLY,
    f"GET {TASK}/gold-samples": OWNER_ONLY,
}
TEAM_TASK_ROUTES = [
    r for r in PROJECT_ROUTES if "/workforce-tasks" in r.path or r.path.endswith("/worker-tasks")
]


@dataclass
class Setup:
    world: World
    dataset_id: str
    task_id: str
    sample_id: str  # the labeler's, labeled and waiting for review
    people: dict[str, Person]
    stranger: Person


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    with shared_world(tmp_path_factory.mktemp("team-route-roles")) as world:
        team = add_team(world.alice)
        people = {
            role: add_person(world.server, world.alice, team, code)
            for role, code in (("labeler", 0), ("reviewer", 1), ("admin", 2))
        }
        people["outsider"] = add_person(world.server, world.alice, add_team(world.alice), 0)
        stranger = add_person(world.server, world.mallory, add_team(world.mallory), 0)
        try:
            dataset_id, _ = make_dataset(world.alice, 3)
            base = world.alice.v2(f"/datasets/{dataset_id}/workforce-tasks")
            config = {"workforces": [{"workforce_id": team}]}
            task_id = world.alice.aksk.post(
                base, json={"task_name": "r", "workforces_config": config}
            ).json()["task_id"]
            mine = people["labeler"].client.get(f"{base}/{task_id}/data-annotations/samples").json()
            sample_id = mine["samples"][0]["sample_id"]
            body = {"samples": [{"sample_id": sample_id, "labels": cat()}]}
            assert (
                people["labeler"]
                .client.put(f"{base}/{task_id}/data-annotations/samples", json=body)
                .json()["success"]
            )
            yield Setup(world, dataset_id, task_id, sample_id, people, stranger)
        finally:
            for person in [*people.values(), stranger]:
                person.close()


def _body(route: Route, setup: Setup) -> Any:
    if not route.has_body:
        return None
    if route.path.endswith("/data-annotations/samples"):
        return {"samples": [{"sample_id": setup.sample_id, "labels": cat()}]}
    if route.path.endswith(("/review", "/batch-comment")):
        return {"comments": [{"sample_id": setup.sample_id, "accept": True}]}
    if route.path.endswith("/acceptance"):
        return {"sampling_num": 1}
    if route.path.endswith("/status"):
        return {"action": 3}
    if route.path.endswith("/notify"):
        return {"emails": [setup.people["labeler"].email]}
    if route.path.endswith("/workforce-tasks"):
        return {"task_name": "by-member"}
    if route.path.endswith("/gold-samples"):
        return {"samples": [{"sample_id": setup.sample_id, "labels": cat()}]}
    return {"description": "changed"}


def _url(route: Route, setup: Setup, project_id: str) -> str:
    return route.url(
        project_id=project_id,
        dataset_id=setup.dataset_id,
        workforce_task_id=setup.task_id,
        sample_id=setup.sample_id,
    )


def test_every_team_task_route_has_expectations() -> None:
    assert sorted(r.id for r in TEAM_TASK_ROUTES) == sorted(EXPECTED)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", TEAM_TASK_ROUTES, ids=lambda r: r.id)
def test_each_role_on_each_team_task_route(setup: Setup, route: Route, role: str) -> None:
    person = setup.people[role]
    response = person.client.request(
        route.method, _url(route, setup, setup.world.alice.project_id), json=_body(route, setup)
    )
    expected = EXPECTED[route.id][role]
    if expected == 403:
        assert_error(response, 403, "ModelArts.4600")
    elif expected == 404:
        code = "ModelArts.4612" if role == "admin" else "ModelArts.4619"
        assert_error(response, 404, code)
    else:
        assert response.status_code == expected, response.text
    if role == "outsider":  # nothing of the task reaches someone not in it
        assert setup.task_id not in response.text and setup.sample_id not in response.text
        if response.status_code == 200:
            assert response.json().get("count") == 0


@pytest.mark.parametrize("route", TEAM_TASK_ROUTES, ids=lambda r: r.id)
def test_a_member_of_another_project(setup: Setup, route: Route) -> None:
    """With the owner's project in the path: 403 ModelArts.4630; with their own: the task is
    not there (404), or an owner-only call (403 ModelArts.4600)."""
    client = setup.stranger.client
    theirs = client.request(
        route.method, _url(route, setup, setup.world.alice.project_id), json=_body(route, setup)
    )
    assert_error(theirs, 403, "ModelArts.4630")
    own = client.request(
        route.method, _url(route, setup, setup.world.mallory.project_id), json=_body(route, setup)
    )
    if route.path.endswith("/worker-tasks"):
        assert own.status_code == 200 and own.json()["count"] == 0
    else:
        assert own.status_code in (403, 404), own.text
        assert_error(own, own.status_code)
    assert setup.task_id not in own.text and setup.sample_id not in own.text
