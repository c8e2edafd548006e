"""Every route answers errors with the one ModelArts body, and no input makes it a 5xx."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.conftest import LiveServer, Tenant, assert_error, create_dataset
from tests.routes import PROJECT_ROUTES, ROUTES, Route

# Not a JSON object at all: every route with a body must refuse these.
NOT_AN_OBJECT: list[bytes] = [
    b"",
    b"null",
    b"[]",
    b"[{}]",
    b"42",
    b'"text"',
    b"{",
    b"\xff\xfe\x00garbage",
    b'{"a": ' * 2000 + b"1" + b"}" * 2000,  # deeply nested
]
# Objects with odd content: some routes may accept some of them, none may fail with a 5xx.
ODD_OBJECTS: list[bytes] = [
    b'{"labels": "not-a-list"}',
    b'{"labels": [{"name": 5}]}',
    b'{"labels": [{"name": null, "type": "0"}]}',
    b'{"dataset_name": ["x"], "data_sources": {}, "work_path": 7}',
    b'{"dataset_name": "' + b"x" * 200_000 + b'"}',
    '{"dataset_name": "数据集", "description": "ünïcödé \u0000"}'.encode(),
    b'{"description": 12, "dataset_name": {"nested": true}}',
]
GARBAGE_QUERIES = [
    "limit=abc",
    "limit=0",
    "limit=101",
    "offset=-1",
    "offset=99999999999999999999999",
    "order=sideways",
    "delete_policy=7",
    "label_type=x",
    "with_labels=maybe",
    "search_content=" + "x" * 5000,
    "limit=%FF%FE",
]


def test_unknown_route_uses_the_error_body(live_server: LiveServer) -> None:
    assert_error(httpx.get(f"{live_server.url}/no/such/route"), 404)
    assert_error(httpx.get(f"{live_server.url}/v2"), 404)


@pytest.mark.parametrize("path", sorted({r.path for r in ROUTES if "{" not in r.path}))
def test_wrong_method_uses_the_error_body(live_server: LiveServer, path: str) -> None:
    allowed = {r.method for r in ROUTES if r.path == path}
    method = next(m for m in ("PATCH", "PUT", "DELETE", "POST") if m not in allowed)
    assert_error(httpx.request(method, f"{live_server.url}{path}"), 405)


@pytest.fixture(scope="module")
def target(shared_server: LiveServer, shared_tenants: tuple[Tenant, Tenant]) -> tuple[Tenant, str]:
    tenant, _ = shared_tenants
    return tenant, create_dataset(tenant.aksk, tenant.project_id, f"target-{uuid.uuid4().hex[:6]}")


@pytest.mark.parametrize("route", [r for r in PROJECT_ROUTES if r.has_body], ids=lambda r: r.id)
def test_garbage_bodies_never_5xx(target: tuple[Tenant, str], route: Route) -> None:
    tenant, dataset_id = target
    url = route.url(project_id=tenant.project_id, dataset_id=dataset_id, label_name="x")
    for body in NOT_AN_OBJECT + ODD_OBJECTS:
        response = tenant.aksk.request(
            route.method, url, content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code < 500, (body[:60], response.status_code, response.text[:300])
        if body in NOT_AN_OBJECT or response.status_code >= 400:
            assert_error(response, 400 if response.status_code == 400 else response.status_code)
            assert 400 <= response.status_code < 500


@pytest.mark.parametrize("route", PROJECT_ROUTES, ids=lambda r: r.id)
def test_garbage_queries_never_5xx(target: tuple[Tenant, str], route: Route) -> None:
    tenant, dataset_id = target
    url = route.url(project_id=tenant.project_id, dataset_id=dataset_id, label_name="x")
    for query in GARBAGE_QUERIES:
        response = tenant.aksk.request(route.method, f"{url}?{query}", content=b"{}")
        assert response.status_code < 500, (query[:60], response.status_code, response.text[:300])
        if response.status_code >= 400:
            assert_error(response, response.status_code)


def test_oversized_body_is_413(target: tuple[Tenant, str], shared_server: LiveServer) -> None:
    tenant, _ = target
    big = b'{"dataset_name": "' + b"x" * (shared_server.settings.max_body_bytes + 10) + b'"}'
    response = tenant.token_client.post(tenant.v2("/datasets"), content=big)
    assert_error(response, 413)
