"""Workforces and workers: the endpoints' contracts, field for field with the reference."""

from __future__ import annotations

import uuid

import httpx
import pytest

from labelarts.client import LabelArtsClient
from labelarts.client import LabelArtsError as ClientError
from tests.conftest import LiveServer, Tenant, assert_error

WORKFORCE_KEYS = {
    "workforce_id",
    "workforce_name",
    "description",
    "workspace_id",
    "worker_count",
    "create_time",
    "update_time",
}
WORKER_KEYS = {
    "worker_id",
    "workforce_id",
    "email",
    "role",
    "status",
    "description",
    "create_time",
    "update_time",
}


def _name() -> str:
    return f"team-{uuid.uuid4().hex[:8]}"


def _team(client: httpx.Client, tenant: Tenant, name: str | None = None, description: str = "") -> str:
    response = client.post(
        tenant.v2("/workforces"), json={"workforce_name": name or _name(), "description": description}
    )
    assert response.status_code == 201, response.text
    assert set(response.json()) == {"workforce_id"}
    workforce_id: str = response.json()["workforce_id"]
    return workforce_id


def _workers(client: httpx.Client, tenant: Tenant, workforce_id: str) -> list[dict[str, object]]:
    response = client.get(tenant.v2(f"/workforces/{workforce_id}/workers"), params={"limit": 100})
    assert response.status_code == 200, response.text
    workers: list[dict[str, object]] = response.json()["workers"]
    return workers


def test_workforce_lifecycle(shared_tenants: tuple[Tenant, Tenant]) -> None:
    owner, _ = shared_tenants
    client = owner.aksk
    name = _name()
    workforce_id = _team(client, owner, name, "my team")
    assert len(workforce_id) == 19 and workforce_id.isalnum()

    detail = client.get(owner.v2(f"/workforces/{workforce_id}")).json()
    assert set(detail) == WORKFORCE_KEYS
    assert (detail["workforce_name"], detail["description"], detail["worker_count"]) == (name, "my team", 0)
    assert detail["workspace_id"] == "0" and detail["create_time"] == detail["update_time"]

    # Same name again: 400 ModelArts.4602; bad names and descriptions: 400 ModelArts.0104.
    assert_error(client.post(owner.v2("/workforces"), json={"workforce_name": name}), 400, "ModelArts.4602")
    for body in (
        {"workforce_name": "has space"},
        {"workforce_name": "x" * 65},
        {"workforce_name": ""},
        {},
        {"workforce_name": _name(), "description": "a<b"},
        {"workforce_name": _name(), "description": "x" * 257},
    ):
        assert_error(client.post(owner.v2("/workforces"), json=body), 400, "ModelArts.0104")

    # Update: 200 {}; renaming onto another team's name is 4602.
    other = _team(client, owner)
    response = client.put(owner.v2(f"/workforces/{workforce_id}"), json={"description": "new"})
    assert response.status_code == 200 and response.json() == {}
    renamed = _name()
    assert (
        client.put(owner.v2(f"/workforces/{workforce_id}"), json={"workforce_name": renamed}).status_code
        == 200
    )
    detail = client.get(owner.v2(f"/workforces/{workforce_id}")).json()
    assert (detail["workforce_name"], detail["description"]) == (renamed, "new")
    assert detail["update_time"] >= detail["create_time"]
    other_name = client.get(owner.v2(f"/workforces/{other}")).json()["workforce_name"]
    assert_error(
        client.put(owner.v2(f"/workforces/{workforce_id}"), json={"workforce_name": other_name}),
        400,
        "ModelArts.4602",
    )

    # Delete: 204 with an empty body, then 404 ModelArts.4601 everywhere.
    response = client.delete(owner.v2(f"/workforces/{workforce_id}"))
    assert response.status_code == 204 and response.content == b""
    assert_error(client.get(owner.v2(f"/workforces/{workforce_id}")), 404, "ModelArts.4601")
    assert_error(client.put(owner.v2(f"/workforces/{workforce_id}"), json={}), 404, "ModelArts.4601")
    assert_error(client.delete(owner.v2(f"/workforces/{workforce_id}")), 404, "ModelArts.4601")
    assert_error(client.get(owner.v2(f"/workforces/{workforce_id}/workers")), 404, "ModelArts.4601")
    client.delete(owner.v2(f"/workforces/{other}"))


def test_workforce_list_pages_sorts_and_searches(shared_server: LiveServer) -> None:
    tenant_project = uuid.uuid4().hex
    from tests.conftest import make_tenant

    owner = make_tenant(shared_server, f"lister-{tenant_project[:6]}", tenant_project)
    try:
        client = owner.token_client
        names = ["b-team", "a-team", "c-squad"]
        ids = [_team(client, owner, n) for n in names]
        client.post(
            owner.v2(f"/workforces/{ids[0]}/workers"),
            json={"emails": "x@example.com,y@example.com", "role": 0},
        )

        page = client.get(owner.v2("/workforces")).json()
        assert set(page) == {"total_number", "workforces"} and page["total_number"] == 3
        assert [w["workforce_id"] for w in page["workforces"]] == ids[::-1]  # newest first
        assert all(set(w) == WORKFORCE_KEYS for w in page["workforces"])
        assert {w["workforce_name"]: w["worker_count"] for w in page["workforces"]}["b-team"] == 2

        by_name = client.get(
            owner.v2("/workforces"), params={"sort_by": "workforce_name", "order": "asc"}
        ).json()
        assert [w["workforce_name"] for w in by_name["workforces"]] == sorted(names)
        # offset is a page number.
        second = client.get(
            owner.v2("/workforces"),
            params={"sort_by": "workforce_name", "order": "asc", "limit": 2, "offset": 1},
        ).json()
        assert [w["workforce_name"] for w in second["workforces"]] == ["c-squad"] and second[
            "total_number"
        ] == 3
        found = client.get(owner.v2("/workforces"), params={"search_content": "TEAM"}).json()
        assert sorted(w["workforce_name"] for w in found["workforces"]) == ["a-team", "b-team"]
        assert client.get(owner.v2("/workforces"), params={"search_content": "%"}).json()["total_number"] == 0
        assert (
            client.get(owner.v2("/workforces"), params={"workforce_task_id": "none-such"}).json()[
                "total_number"
            ]
            == 0
        )
        for params in ({"limit": 0}, {"limit": 101}, {"offset": -1}, {"sort_by": "email"}, {"order": "up"}):
            assert_error(client.get(owner.v2("/workforces"), params=params), 400, "ModelArts.0104")
    finally:
        owner.aksk.close()
        owner.token_client.close()


def test_workers_are_added_listed_updated_and_deleted(shared_tenants: tuple[Tenant, Tenant]) -> None:
    owner, _ = shared_tenants
    client = owner.aksk
    workforce_id = _team(client, owner)
    path = owner.v2(f"/workforces/{workforce_id}/workers")

    # emails: one or several, comma separated; role as the example's digit string too.
    response = client.post(
        path, json={"emails": "Ann@Example.com, bob@example.com", "role": "0", "description": ""}
    )
    assert response.status_code == 201 and response.json() == {}
    assert client.post(path, json={"emails": "rev@example.com", "role": 1}).status_code == 201
    assert (
        client.post(path, json={"emails": "boss@example.com", "role": 2, "description": "lead"}).status_code
        == 201
    )

    workers = _workers(client, owner, workforce_id)
    assert all(set(w) == WORKER_KEYS for w in workers)
    by_email = {w["email"]: w for w in workers}
    assert set(by_email) == {"ann@example.com", "bob@example.com", "rev@example.com", "boss@example.com"}
    assert [by_email[e]["role"] for e in ("ann@example.com", "rev@example.com", "boss@example.com")] == [
        0,
        1,
        2,
    ]
    assert all(w["status"] == 0 and w["workforce_id"] == workforce_id for w in workers)
    assert all(len(str(w["worker_id"])) == 32 for w in workers)
    assert client.get(owner.v2(f"/workforces/{workforce_id}")).json()["worker_count"] == 4

    # All or nothing: one existing address fails the whole call (4605); a second admin is 4617.
    assert_error(
        client.post(path, json={"emails": "new@example.com,ann@example.com", "role": 0}),
        400,
        "ModelArts.4605",
    )
    assert "new@example.com" not in {w["email"] for w in _workers(client, owner, workforce_id)}
    assert_error(client.post(path, json={"emails": "boss2@example.com", "role": 2}), 400, "ModelArts.4617")
    for body in (
        {"emails": "not-an-address", "role": 0},
        {"emails": "", "role": 0},
        {"emails": "a@example.com", "role": 3},
        {"emails": "a@example.com", "role": "x"},
        {"emails": "a@example.com"},
        {"role": 0},
    ):
        assert_error(client.post(path, json=body), 400, "ModelArts.0104")

    # Sorted by email; the detail is the list's object.
    asc = client.get(path, params={"sort_by": "email", "order": "asc"}).json()
    assert [w["email"] for w in asc["workers"]] == sorted(by_email) and asc["total_number"] == 4
    ann = by_email["ann@example.com"]
    detail = client.get(f"{path}/{ann['worker_id']}").json()
    assert detail == ann

    # Update: description and role; role 3 (owner) and a second administrator are refused.
    response = client.put(f"{path}/{ann['worker_id']}", json={"description": "fast", "role": 1})
    assert response.status_code == 200 and response.json() == {}
    detail = client.get(f"{path}/{ann['worker_id']}").json()
    assert (detail["description"], detail["role"], detail["email"]) == ("fast", 1, "ann@example.com")
    assert_error(client.put(f"{path}/{ann['worker_id']}", json={"role": 3}), 400, "ModelArts.0104")
    assert_error(client.put(f"{path}/{ann['worker_id']}", json={"role": 2}), 400, "ModelArts.4617")
    assert_error(client.put(f"{path}/{'0' * 32}", json={"role": 0}), 404, "ModelArts.4604")

    # Delete one: 204, gone from lists and lookups; the address may join again (a new worker).
    response = client.delete(f"{path}/{ann['worker_id']}")
    assert response.status_code == 204 and response.content == b""
    assert_error(client.get(f"{path}/{ann['worker_id']}"), 404, "ModelArts.4604")
    assert_error(client.delete(f"{path}/{ann['worker_id']}"), 404, "ModelArts.4604")
    assert client.post(path, json={"emails": "ann@example.com", "role": 0}).status_code == 201
    again = {w["email"]: w for w in _workers(client, owner, workforce_id)}["ann@example.com"]
    assert again["worker_id"] != ann["worker_id"] and again["role"] == 0

    # Batch delete: each id on its own.
    bob, rev = by_email["bob@example.com"]["worker_id"], by_email["rev@example.com"]["worker_id"]
    response = client.post(f"{path}/batch-delete", json={"workers": [bob, "f" * 32, rev]})
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is False
    assert [r["success"] for r in body["results"]] == [True, False, True]
    assert body["results"][1]["error_code"] == "ModelArts.4604"
    assert {w["email"] for w in _workers(client, owner, workforce_id)} == {
        "boss@example.com",
        "ann@example.com",
    }
    response = client.post(f"{path}/batch-delete", json={"workers": [again["worker_id"]]})
    assert response.json() == {"success": True, "results": [{"success": True}]}
    for body in ({"workers": []}, {"workers": "x"}, {}):
        assert_error(client.post(f"{path}/batch-delete", json=body), 400, "ModelArts.0104")


def test_all_workers_lists_every_team_and_filters_by_role(shared_server: LiveServer) -> None:
    from tests.conftest import make_tenant

    project = uuid.uuid4().hex
    owner = make_tenant(shared_server, f"all-{project[:6]}", project)
    try:
        client = owner.aksk
        first, second = _team(client, owner), _team(client, owner)
        client.post(
            owner.v2(f"/workforces/{first}/workers"),
            json={"emails": "a@x.example.com,b@x.example.com", "role": 0},
        )
        client.post(owner.v2(f"/workforces/{first}/workers"), json={"emails": "m1@x.example.com", "role": 2})
        client.post(owner.v2(f"/workforces/{second}/workers"), json={"emails": "m2@x.example.com", "role": 2})
        client.post(owner.v2(f"/workforces/{second}/workers"), json={"emails": "r@x.example.com", "role": 1})

        everyone = client.get(owner.v2("/workforces/workers"), params={"limit": 100}).json()
        assert set(everyone) == {"total_number", "workers"}
        # A missing role means every role (the reference's default 0 would hide administrators).
        assert everyone["total_number"] == 5
        assert all(set(w) == WORKER_KEYS for w in everyone["workers"])
        admins = client.get(owner.v2("/workforces/workers"), params={"role": 2}).json()
        assert sorted(w["email"] for w in admins["workers"]) == ["m1@x.example.com", "m2@x.example.com"]
        assert {w["workforce_id"] for w in admins["workers"]} == {first, second}
        assert client.get(owner.v2("/workforces/workers"), params={"role": 0}).json()["total_number"] == 2
        # offset is a page number (COMPATIBILITY 2.3): a, b | m1, m2 | r.
        pages = [
            client.get(
                owner.v2("/workforces/workers"),
                params={"limit": 2, "offset": n, "sort_by": "email", "order": "asc"},
            ).json()
            for n in (1, 2)
        ]
        assert [w["email"] for w in pages[0]["workers"]] == ["m1@x.example.com", "m2@x.example.com"]
        assert [w["email"] for w in pages[1]["workers"]] == ["r@x.example.com"]
        assert pages[1]["total_number"] == 5
        for params in ({"role": 3}, {"limit": 101}, {"sort_by": "role"}):
            assert_error(client.get(owner.v2("/workforces/workers"), params=params), 400, "ModelArts.0104")
        # Deleting a team removes its members from every list.
        client.delete(owner.v2(f"/workforces/{second}"))
        assert client.get(owner.v2("/workforces/workers")).json()["total_number"] == 3
    finally:
        owner.aksk.close()
        owner.token_client.close()


def test_the_client_covers_the_workforce_routes(
    shared_server: LiveServer, shared_tenants: tuple[Tenant, Tenant]
) -> None:
    owner, _ = shared_tenants
    with LabelArtsClient(
        shared_server.url,
        project_id=owner.project_id,
        access_key=owner.creds.access_key,
        secret_key=owner.creds.secret_key,
    ) as client:
        name = _name()
        workforce_id = client.create_workforce(name, description="via client")
        client.update_workforce(workforce_id, description="changed")
        team = client.get_workforce(workforce_id)
        assert (team.workforce_name, team.description, team.worker_count) == (name, "changed", 0)
        assert workforce_id in {w.workforce_id for w in client.iter_workforces(search_content=name)}
        listed = client.list_workforces(limit=100, search_content=name)
        assert [w.workforce_id for w in listed.workforces] == [workforce_id] and listed.total_number == 1
        client.create_workers(workforce_id, ["c1@example.com", "c2@example.com"], 0)
        workers = client.list_workers(workforce_id, sort_by="email", order="asc")
        assert [w.email for w in workers.workers] == ["c1@example.com", "c2@example.com"]
        # Added together, so equal create_time: the iterator's order among them is the id's.
        walked = sorted(w.email for w in client.iter_workers(workforce_id))
        assert walked == ["c1@example.com", "c2@example.com"]
        first, second = (w.worker_id for w in workers.workers)
        client.update_worker(workforce_id, first, role=1, description="r")
        changed = client.get_worker(workforce_id, first)
        assert (changed.role, changed.description) == (1, "r")
        assert first in {w.worker_id for w in client.list_all_workers(role=1, limit=100).workers}
        assert first in {w.worker_id for w in client.iter_all_workers(role=1)}
        client.delete_worker(workforce_id, first)
        deleted = client.batch_delete_workers(workforce_id, [second, "f" * 32])
        assert deleted.success is False
        outcomes = [(r.success, r.error_code) for r in deleted.results]
        assert outcomes == [(True, None), (False, "ModelArts.4604")]
        assert client.get_workforce(workforce_id).worker_count == 0
        client.delete_workforce(workforce_id)
        with pytest.raises(ClientError) as caught:
            client.get_workforce(workforce_id)
        assert (caught.value.status, caught.value.error_code) == (404, "ModelArts.4601")
