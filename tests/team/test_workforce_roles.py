"""Role and scope on the workforce routes: every route, called by each role and by a member of
another project, parametrized over the route table (a new workforce route without a row here
fails ``test_every_workforce_route_has_expectations``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import LiveServer, Tenant, assert_error
from tests.routes import PROJECT_ROUTES, Route
from tests.team.conftest import Member, make_member

# Who calls: a labeler, a reviewer and the administrator of team T; a member who is only in
# team U ("outsider"); a member of another project ("stranger"). The owner is checked too.
ROLES = ("labeler", "reviewer", "admin", "outsider", "stranger")

# route id -> expected status per role (T's workers as targets). 404: T is not theirs;
# 403: their role may not. The stranger's path names the owner's project: 403 ModelArts.4630.
EXPECTED: dict[str, dict[str, int]] = {
    "POST /v2/{project_id}/workforces": dict.fromkeys(ROLES[:4], 403),
    # The lists answer an administrator with the teams they administer: the outsider runs U,
    # so they get 200 with U only (checked below: T never appears in their answer).
    "GET /v2/{project_id}/workforces": {"labeler": 403, "reviewer": 403, "admin": 200, "outsider": 200},
    "GET /v2/{project_id}/workforces/workers": {
        "labeler": 403,
        "reviewer": 403,
        "admin": 200,
        "outsider": 200,
    },
    "GET /v2/{project_id}/workforces/{workforce_id}": {
        "labeler": 403,
        "reviewer": 403,
        "admin": 200,
        "outsider": 404,
    },
    "PUT /v2/{project_id}/workforces/{workforce_id}": dict.fromkeys(ROLES[:4], 403),
    "DELETE /v2/{project_id}/workforces/{workforce_id}": dict.fromkeys(ROLES[:4], 403),
    "POST /v2/{project_id}/workforces/{workforce_id}/workers": {
        "labeler": 403,
        "reviewer": 403,
        "admin": 201,
        "outsider": 404,
    },
    "GET /v2/{project_id}/workforces/{workforce_id}/workers": {
        "labeler": 403,
        "reviewer": 403,
        "admin": 200,
        "outsider": 404,
    },
    "POST /v2/{project_id}/workforces/{workforce_id}/workers/batch-delete": {
        "labeler": 403,
        "reviewer": 403,
        "admin": 200,
        "outsider": 404,
    },
    "GET /v2/{project_id}/workforces/{workforce_id}/workers/{worker_id}": {
        "labeler": 403,
        "reviewer": 403,
        "admin": 200,
        "outsider": 404,
    },
    "PUT /v2/{project_id}/workforces/{workforce_id}/workers/{worker_id}": {
        "labeler": 403,
        "reviewer": 403,
        "admin": 200,
        "outsider": 404,
    },
    "DELETE /v2/{project_id}/workforces/{workforce_id}/workers/{worker_id}": {
        "labeler": 403,
        "reviewer": 403,
        "admin": 204,
        "outsider": 404,
    },
}
for _row in EXPECTED.values():
    _row["stranger"] = 403

WORKFORCE_ROUTES = [r for r in PROJECT_ROUTES if r.path.startswith("/v2/{project_id}/workforces")]
# worker-tasks belongs to the task side (its own tests).
WORKFORCE_ROUTES = [r for r in WORKFORCE_ROUTES if not r.path.endswith("/worker-tasks")]


@dataclass
class Team:
    owner: Tenant
    workforce_id: str
    other_workforce_id: str
    members: dict[str, Member]


@pytest.fixture(scope="module")
def team(shared_server: LiveServer, shared_tenants: tuple[Tenant, Tenant]) -> Iterator[Team]:
    owner, other = shared_tenants
    client = owner.aksk
    t = client.post(owner.v2("/workforces"), json={"workforce_name": f"roles-{uuid.uuid4().hex[:6]}"}).json()
    u = client.post(owner.v2("/workforces"), json={"workforce_name": f"others-{uuid.uuid4().hex[:6]}"}).json()
    members = {
        role: make_member(shared_server, owner.project_id)
        for role in ("labeler", "reviewer", "admin", "outsider")
    }
    members["stranger"] = make_member(shared_server, other.project_id)
    for role, code in (("labeler", 0), ("reviewer", 1), ("admin", 2)):
        body = {"emails": members[role].email, "role": code}
        assert client.post(owner.v2(f"/workforces/{t['workforce_id']}/workers"), json=body).status_code == 201
    # The outsider is in U only; the stranger is listed in T by email but belongs to another project.
    client.post(
        owner.v2(f"/workforces/{u['workforce_id']}/workers"),
        json={"emails": members["outsider"].email, "role": 2},
    )
    client.post(
        owner.v2(f"/workforces/{t['workforce_id']}/workers"),
        json={"emails": members["stranger"].email, "role": 0},
    )
    yield Team(owner, t["workforce_id"], u["workforce_id"], members)
    for member in members.values():
        member.close()


@pytest.fixture
def target(team: Team) -> Iterator[str]:
    """A fresh labeler of T for each case (calls that succeed change or delete it). The owner
    removes it, and any worker the case added, afterwards: T stays far below the team limit
    however many cases run."""
    path = team.owner.v2(f"/workforces/{team.workforce_id}/workers")
    fixed = {m.email for m in team.members.values()}
    email = f"target-{uuid.uuid4().hex[:8]}@example.com"
    assert team.owner.aksk.post(path, json={"emails": email, "role": 0}).status_code == 201
    workers = team.owner.aksk.get(path, params={"limit": 100}).json()["workers"]
    worker_id: str = next(w["worker_id"] for w in workers if w["email"] == email)
    yield worker_id
    workers = team.owner.aksk.get(path, params={"limit": 100}).json()["workers"]
    added = [w["worker_id"] for w in workers if w["email"] not in fixed]
    if added:
        response = team.owner.aksk.post(f"{path}/batch-delete", json={"workers": added})
        assert response.json()["success"] is True, response.text


def _call(client: httpx.Client, method: str, path: str, worker_id: str) -> httpx.Response:
    bodies = {
        "POST /workforces": {"workforce_name": f"new-{uuid.uuid4().hex[:6]}"},
        "PUT /workforces/": {"description": "changed"},
        "POST /workers": {"emails": f"new-{uuid.uuid4().hex[:8]}@example.com", "role": 0},
        "POST /batch-delete": {"workers": [worker_id]},
        "PUT /workers/": {"description": "changed"},
    }
    body = None
    if method in ("POST", "PUT"):
        if path.endswith("/batch-delete"):
            body = bodies["POST /batch-delete"]
        elif path.endswith("/workers"):
            body = bodies["POST /workers"]
        elif "/workers/" in path:
            body = bodies["PUT /workers/"]
        elif path.endswith("/workforces"):
            body = bodies["POST /workforces"]
        else:
            body = bodies["PUT /workforces/"]
    return client.request(method, path, json=body)


def test_every_workforce_route_has_expectations() -> None:
    assert sorted(r.id for r in WORKFORCE_ROUTES) == sorted(EXPECTED)


@pytest.mark.parametrize("auth", ["aksk", "token"])
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", WORKFORCE_ROUTES, ids=lambda r: r.id)
def test_each_role_on_each_workforce_route(
    team: Team, target: str, route: Route, role: str, auth: str
) -> None:
    member = team.members[role]
    worker_id = target
    path = route.url(project_id=team.owner.project_id, workforce_id=team.workforce_id, worker_id=worker_id)
    client = member.aksk if auth == "aksk" else member.token_client
    response = _call(client, route.method, path, worker_id)
    expected = EXPECTED[route.id][role]
    if expected >= 400:
        code = {403: "ModelArts.4630" if role == "stranger" else "ModelArts.4600", 404: None}[expected]
        assert_error(response, expected, code)
        assert worker_id not in response.text
    else:
        assert response.status_code == expected, response.text
        if role == "outsider":  # their own team's answer, nothing of T
            assert team.workforce_id not in response.text and worker_id not in response.text


def test_an_administrator_sees_only_their_team(team: Team) -> None:
    admin = team.members["admin"].aksk
    project = team.owner.project_id
    listed = admin.get(f"/v2/{project}/workforces").json()
    assert [w["workforce_id"] for w in listed["workforces"]] == [team.workforce_id]
    workers = admin.get(f"/v2/{project}/workforces/workers", params={"limit": 100}).json()["workers"]
    assert {w["workforce_id"] for w in workers} == {team.workforce_id}
    # The outsider administers U: they see U, never T.
    outsider = team.members["outsider"].aksk
    listed = outsider.get(f"/v2/{project}/workforces").json()
    assert [w["workforce_id"] for w in listed["workforces"]] == [team.other_workforce_id]
    # An administrator may not appoint another administrator nor remove themself.
    path = f"/v2/{project}/workforces/{team.workforce_id}/workers"
    assert_error(admin.post(path, json={"emails": "boss@example.com", "role": 2}), 403, "ModelArts.4600")
    own = next(w for w in workers if w["email"] == team.members["admin"].email)
    assert_error(admin.delete(f"{path}/{own['worker_id']}"), 400, "ModelArts.4618")


def test_a_worker_reads_their_own_worker(team: Team) -> None:
    labeler = team.members["labeler"]
    owner_view = team.owner.aksk.get(
        team.owner.v2(f"/workforces/{team.workforce_id}/workers"), params={"limit": 100}
    ).json()["workers"]
    own = next(w for w in owner_view if w["email"] == labeler.email)
    response = labeler.token_client.get(
        labeler.v2(f"/workforces/{team.workforce_id}/workers/{own['worker_id']}")
    )
    assert response.status_code == 200 and response.json()["email"] == labeler.email
    # Signing in moved them to status 2.
    assert response.json()["status"] == 2
