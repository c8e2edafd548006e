"""Authentication on a real server: AK/SK signatures and IAM tokens, and what they may reach."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import update

from labelarts.auth import signing
from labelarts.client import SdkHmacAuth, TokenAuth
from labelarts.storage.db.models import Token
from tests.conftest import PASSWORD, LiveServer, Tenant, assert_error, create_dataset, login
from tests.routes import DATASET_ROUTES, PROJECT_ROUTES, Route


def signed_request(
    server: LiveServer,
    tenant: Tenant,
    method: str,
    path: str,
    *,
    query: str = "",
    body: bytes = b"",
    when: datetime | None = None,
    skew: timedelta | None = None,
    secret_key: str | None = None,
    access_key: str | None = None,
    extra_headers: dict[str, str] | None = None,
    send_body: bytes | None = None,
    send_query: str | None = None,
) -> httpx.Response:
    """Sign like the Huawei SDK, then (optionally) send something other than what was signed."""
    host = server.url.removeprefix("http://")
    headers = {
        "Host": host,
        "Content-Type": "application/json",
        "User-Agent": "huaweicloud-usdk-python/3.0; test",
        "X-Project-Id": tenant.project_id,
        # ``skew`` is applied now, not when the test was collected: a suite that takes minutes
        # to reach a test must not move its date into (or out of) the allowed window.
        "X-Sdk-Date": signing.format_sdk_date((when or datetime.now(UTC)) + (skew or timedelta())),
        **(extra_headers or {}),
    }
    headers["Authorization"] = signing.sign_headers(
        access_key=access_key or tenant.creds.access_key,
        secret_key=secret_key or tenant.creds.secret_key,
        method=method,
        path=path,
        raw_query=query,
        headers=headers,
        body=body,
    )
    q = query if send_query is None else send_query
    url = f"{server.url}{path}" + (f"?{q}" if q else "")
    wire = {k: v.encode("utf-8") for k, v in headers.items()}
    return httpx.request(method, url, headers=wire, content=body if send_body is None else send_body)


def test_aksk_signed_request_is_accepted(live_server: LiveServer, tenant: Tenant) -> None:
    response = signed_request(live_server, tenant, "GET", tenant.v2("/datasets"), query="limit=5&offset=0")
    assert response.status_code == 200, response.text
    assert response.json() == {"datasets": [], "total_number": 0}


def test_signed_post_with_body(live_server: LiveServer, tenant: Tenant) -> None:
    body = b'{"dataset_name": "d1", "data_sources": [], "work_path": "/out/d1/", "work_path_type": 0}'
    response = signed_request(live_server, tenant, "POST", tenant.v2("/datasets"), body=body)
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("case", "kwargs", "code"),
    [
        (
            "tampered body",
            {"body": b'{"dataset_name": "a"}', "send_body": b'{"dataset_name": "b"}'},
            "ModelArts.0208",
        ),
        ("tampered query", {"query": "limit=5", "send_query": "limit=6"}, "ModelArts.0208"),
        ("added query", {"query": "", "send_query": "limit=6"}, "ModelArts.0208"),
        ("wrong secret", {"secret_key": "not-the-secret"}, "ModelArts.0208"),
        ("unknown access key", {"access_key": "NOSUCHACCESSKEY00000"}, "ModelArts.3801"),
        ("date 16 minutes old", {"skew": -timedelta(minutes=16)}, "ModelArts.0208"),
        ("date 16 minutes ahead", {"skew": timedelta(minutes=16)}, "ModelArts.0208"),
    ],
)
def test_bad_signatures_are_401(
    live_server: LiveServer, tenant: Tenant, case: str, kwargs: dict[str, object], code: str
) -> None:
    method = "POST" if "body" in kwargs else "GET"
    response = signed_request(live_server, tenant, method, tenant.v2("/datasets"), **kwargs)  # type: ignore[arg-type]
    assert_error(response, 401, code)


def test_five_minute_old_signature_still_passes(live_server: LiveServer, tenant: Tenant) -> None:
    when = datetime.now(UTC) - timedelta(minutes=5)
    response = signed_request(live_server, tenant, "GET", tenant.v2("/datasets"), when=when)
    assert response.status_code == 200, response.text


def test_non_ascii_header_values_are_signed_as_utf8(live_server: LiveServer, tenant: Tenant) -> None:
    extra = {"User-Agent": "huaweicloud-usdk-python/3.0; app/数据标注"}
    response = signed_request(live_server, tenant, "GET", tenant.v2("/datasets"), extra_headers=extra)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "authorization",
    [
        "SDK-HMAC-SHA256 Access=AK, SignedHeaders=x-sdk-date, Signature=00",  # host not signed
        "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature=00",  # date not signed
        "SDK-HMAC-SHA256 Credential=AK/20240102//modelarts/sdk_request, SignedHeaders=host, Signature=0",
        "Basic YWxpY2U6cHc=",
        "SDK-HMAC-SHA256",
    ],
)
def test_malformed_authorization_is_401(live_server: LiveServer, tenant: Tenant, authorization: str) -> None:
    headers = {"Authorization": authorization, "X-Sdk-Date": signing.format_sdk_date(datetime.now(UTC))}
    assert_error(httpx.get(f"{live_server.url}{tenant.v2('/datasets')}", headers=headers), 401)


def test_missing_sdk_date_is_401(live_server: LiveServer, tenant: Tenant) -> None:
    response = signed_request(live_server, tenant, "GET", tenant.v2("/datasets"))
    request_headers = dict(response.request.headers)
    request_headers.pop("x-sdk-date")
    assert_error(httpx.get(str(response.request.url), headers=request_headers), 401)


# --- tokens -----------------------------------------------------------------------------


def test_token_issue_response_matches_keystone(live_server: LiveServer, tenant: Tenant) -> None:
    # Connect through "localhost" to check the catalog is built from the request's origin.
    origin = live_server.url.replace("127.0.0.1", "localhost")
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": "alice", "password": PASSWORD, "domain": {"id": "default"}}},
            },
            "scope": {"project": {"id": tenant.project_id}},
        }
    }
    response = httpx.post(f"{origin}/v3/auth/tokens", json=body)
    assert response.status_code == 201, response.text
    assert response.headers["X-Subject-Token"]
    token = response.json()["token"]
    expires = datetime.strptime(token["expires_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert timedelta(hours=23, minutes=59) < expires - datetime.now(UTC) <= timedelta(hours=24)
    assert token["user"]["name"] == "alice"
    assert token["user"]["domain"] == {"id": "default", "name": "Default"}
    assert token["project"]["id"] == tenant.project_id
    catalog = {entry["type"]: entry for entry in token["catalog"]}
    assert set(catalog) >= {"modelarts", "modelartsv2"}
    for service, url in (("modelarts", origin), ("modelartsv2", f"{origin}/v2/{tenant.project_id}")):
        endpoint = catalog[service]["endpoints"][0]
        assert endpoint["interface"] == "public"
        assert endpoint["url"] == url


@pytest.mark.parametrize("domain", [{"name": "Default"}, {"id": "default"}, None])
def test_token_accepts_the_default_domain_in_every_form(
    live_server: LiveServer, tenant: Tenant, domain: dict[str, str] | None
) -> None:
    user: dict[str, object] = {"name": "alice", "password": PASSWORD}
    if domain is not None:
        user["domain"] = domain
    body = {
        "auth": {
            "identity": {"methods": ["password"], "password": {"user": user}},
            "scope": {"project": {"id": tenant.project_id}},
        }
    }
    assert httpx.post(f"{live_server.url}/v3/auth/tokens", json=body).status_code == 201


@pytest.mark.parametrize(
    ("user", "password", "project", "domain", "status"),
    [
        ("alice", "wrong-password", "a" * 32, {"name": "Default"}, 401),
        ("nobody", PASSWORD, "a" * 32, {"name": "Default"}, 401),
        ("alice", PASSWORD, "b" * 32, {"name": "Default"}, 401),  # not bound to that project
        ("alice", PASSWORD, "a" * 32, {"name": "OtherDomain"}, 401),
    ],
)
def test_token_refused(
    live_server: LiveServer,
    tenant: Tenant,
    other_tenant: Tenant,
    user: str,
    password: str,
    project: str,
    domain: dict[str, str],
    status: int,
) -> None:
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": user, "password": password, "domain": domain}},
            },
            "scope": {"project": {"id": project}},
        }
    }
    response = httpx.post(f"{live_server.url}/v3/auth/tokens", json=body)
    assert_error(response, status)
    assert "X-Subject-Token" not in response.headers


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not json",
        b"[]",
        b"{}",
        b'{"auth": 1}',
        b'{"auth": {"identity": {"methods": ["token"]}}}',
        b'{"auth": {"identity": {"methods": ["password"], '
        b'"password": {"user": {"name": 1, "password": 2}}}}}',
    ],
)
def test_malformed_token_requests_are_400(live_server: LiveServer, content: bytes) -> None:
    response = httpx.post(
        f"{live_server.url}/v3/auth/tokens", content=content, headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400)


def test_version_discovery(live_server: LiveServer) -> None:
    body = httpx.get(f"{live_server.url}/v3").json()
    assert body["version"]["id"] == "v3.0"
    assert body["version"]["links"][0]["href"] == f"{live_server.url}/v3/"


def test_token_is_accepted(live_server: LiveServer, tenant: Tenant) -> None:
    response = tenant.token_client.get(tenant.v2("/datasets"))
    assert response.status_code == 200, response.text


def test_unknown_token_is_401(live_server: LiveServer, tenant: Tenant) -> None:
    response = httpx.get(f"{live_server.url}{tenant.v2('/datasets')}", headers={"X-Auth-Token": "LA1.forged"})
    assert_error(response, 401, "ModelArts.0203")


def test_expired_token_is_401(live_server: LiveServer, tenant: Tenant) -> None:
    with live_server.services.db.session() as session:
        session.execute(update(Token).values(expires_at=1))
    response = tenant.token_client.get(tenant.v2("/datasets"))
    assert_error(response, 401, "ModelArts.0202")


def test_revoked_token_is_401(live_server: LiveServer, tenant: Tenant) -> None:
    spare = login(live_server.url, "alice", tenant.project_id)
    headers = {"X-Auth-Token": tenant.token, "X-Subject-Token": spare}
    assert httpx.get(f"{live_server.url}/v3/auth/tokens", headers=headers).status_code == 200
    assert httpx.delete(f"{live_server.url}/v3/auth/tokens", headers=headers).status_code == 204
    response = httpx.get(f"{live_server.url}{tenant.v2('/datasets')}", headers={"X-Auth-Token": spare})
    assert_error(response, 401)
    # The token used to revoke is untouched.
    assert tenant.token_client.get(tenant.v2("/datasets")).status_code == 200


def test_cannot_revoke_another_users_token(
    live_server: LiveServer, tenant: Tenant, other_tenant: Tenant
) -> None:
    headers = {"X-Auth-Token": tenant.token, "X-Subject-Token": other_tenant.token}
    assert_error(httpx.delete(f"{live_server.url}/v3/auth/tokens", headers=headers), 401)
    assert other_tenant.token_client.get(other_tenant.v2("/datasets")).status_code == 200


# --- every project route: 401 / 403 / 404 ------------------------------------------------


def _send(client: httpx.Client, route: Route, url: str) -> httpx.Response:
    if route.has_body:
        return client.request(route.method, url, json={})
    return client.request(route.method, url)


@pytest.mark.parametrize("route", PROJECT_ROUTES, ids=lambda r: r.id)
def test_every_project_route_needs_credentials(
    shared_server: LiveServer, shared_tenants: tuple[Tenant, Tenant], route: Route
) -> None:
    tenant, _ = shared_tenants
    url = shared_server.url + route.url(project_id=tenant.project_id, dataset_id="x")
    for response in (
        httpx.request(route.method, url, json={} if route.has_body else None),
        httpx.request(route.method, url, headers={"X-Auth-Token": ""}),
        httpx.request(route.method, url, headers={"Authorization": "SDK-HMAC-SHA256 nonsense"}),
    ):
        assert_error(response, 401)


@pytest.mark.parametrize("route", PROJECT_ROUTES, ids=lambda r: r.id)
@pytest.mark.parametrize("auth", ["aksk", "token"])
def test_every_project_route_refuses_other_projects(
    shared_server: LiveServer, shared_tenants: tuple[Tenant, Tenant], route: Route, auth: str
) -> None:
    tenant, other_tenant = shared_tenants
    secret_name = f"mallory-secret-{uuid.uuid4().hex[:8]}"
    other_dataset = create_dataset(other_tenant.aksk, other_tenant.project_id, secret_name)
    client = tenant.aksk if auth == "aksk" else tenant.token_client
    for project in (other_tenant.project_id, "f" * 32):  # existing and non-existent projects
        url = route.url(project_id=project, dataset_id=other_dataset)
        response = _send(client, route, url)
        assert_error(response, 403)
        assert secret_name not in response.text and other_dataset not in response.text


@pytest.mark.parametrize("route", PROJECT_ROUTES, ids=lambda r: r.id)
def test_claiming_another_project_in_x_project_id_is_403(
    shared_server: LiveServer, shared_tenants: tuple[Tenant, Tenant], route: Route
) -> None:
    tenant, other_tenant = shared_tenants
    # Valid AK/SK of alice, signed with X-Project-Id naming mallory's project.
    client = httpx.Client(
        base_url=shared_server.url,
        auth=SdkHmacAuth(tenant.creds.access_key, tenant.creds.secret_key, other_tenant.project_id),
    )
    with client:
        assert_error(_send(client, route, route.url(project_id=tenant.project_id)), 403)
    with httpx.Client(base_url=shared_server.url, auth=TokenAuth(tenant.token)) as client:
        client.headers["X-Project-Id"] = other_tenant.project_id
        assert_error(_send(client, route, route.url(project_id=tenant.project_id)), 403)


@pytest.mark.parametrize("route", DATASET_ROUTES, ids=lambda r: r.id)
def test_other_projects_dataset_ids_are_404_under_ones_own_project(
    shared_server: LiveServer, shared_tenants: tuple[Tenant, Tenant], route: Route
) -> None:
    tenant, other_tenant = shared_tenants
    secret_name = f"mallory-private-{uuid.uuid4().hex[:8]}"
    other_dataset = create_dataset(other_tenant.aksk, other_tenant.project_id, secret_name)
    body: dict[str, object] = {}
    if route.path.endswith("/labels") or route.path.endswith("/labels/delete"):
        body = {"labels": [{"name": "x"}]}
    url = route.url(project_id=tenant.project_id, dataset_id=other_dataset, label_name="x")
    response = tenant.aksk.request(route.method, url, json=body if route.has_body else None)
    assert_error(response, 404)
    assert secret_name not in response.text
    # ...and the other project's dataset is untouched.
    check = other_tenant.aksk.get(other_tenant.v2(f"/datasets/{other_dataset}"))
    assert check.status_code == 200 and check.json()["dataset_name"] == secret_name
