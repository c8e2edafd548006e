"""Shared fixtures: a real LabelArts server on loopback, on SQLite or PostgreSQL.

Set ``LABELARTS_TEST_DATABASE=postgresql`` to run the whole suite on PostgreSQL
(``LABELARTS_TEST_PG_URL``, default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``,
is the admin connection used to create one throw-away database per test).

Set ``LABELARTS_TEST_OBJECT_STORE=s3`` to put every test server's object store in a fresh
bucket of a real S3-protocol server on loopback (moto's, :mod:`tests.s3server`) instead of
a local folder (.ci/run runs the import, export, sync and sample-file tests so).
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import create_engine, text

from labelarts.app import create_app
from labelarts.client import SdkHmacAuth, TokenAuth
from labelarts.config import Settings
from labelarts.container import Services, build_services
from labelarts.services.users import Credentials

PG_ADMIN_URL = os.environ.get(
    "LABELARTS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
PASSWORD = "correct-horse-battery"
# Every test server shares one models folder: EfficientNet-Lite is exported to ONNX once per
# machine (tens of seconds), not once per server.
os.environ.setdefault("LABELARTS_MODELS_DIR", str(Path(tempfile.gettempdir()) / "labelarts-test-models"))


def test_database_kind() -> str:
    return os.environ.get("LABELARTS_TEST_DATABASE", "sqlite")


def test_object_store_kind() -> str:
    return os.environ.get("LABELARTS_TEST_OBJECT_STORE", "file")


def store_settings() -> dict[str, Any]:
    """Extra ``Settings`` for the test object store: none (a folder in the data dir), or a
    fresh bucket on the loopback S3 server when ``LABELARTS_TEST_OBJECT_STORE=s3``."""
    if test_object_store_kind() != "s3":
        return {}
    from tests.s3server import shared_s3

    server = shared_s3()
    return server.settings(server.new_bucket())


@contextmanager
def fresh_database_url(tmp_dir: Path) -> Iterator[str]:
    """A fresh, empty database (SQLite file, or a throw-away PostgreSQL database)."""
    if test_database_kind() != "postgresql":
        yield f"sqlite:///{tmp_dir / 'labelarts.db'}"
        return
    name = f"labelarts_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database for one test."""
    with fresh_database_url(tmp_path) as url:
        yield url


@pytest.fixture
def import_root(tmp_path: Path) -> Path:
    root = tmp_path / "imports"
    root.mkdir()
    return root


def make_settings(tmp_dir: Path, database_url: str, import_root: Path) -> Settings:
    return Settings(
        data_dir=tmp_dir / "data",
        database_url=database_url,
        import_roots=[f"{import_root}=*"],
        object_prefixes=["/=*"],
        secret_key="test-server-secret-0123456789",
        **store_settings(),
    )


@pytest.fixture
def settings(tmp_path: Path, database_url: str, import_root: Path) -> Settings:
    return make_settings(tmp_path, database_url, import_root)


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    built = build_services(settings)
    try:
        yield built
    finally:
        built.close()


@dataclass
class LiveServer:
    url: str
    services: Services
    settings: Settings
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(settings: Settings, services: Services) -> LiveServer:
    """Run uvicorn in a thread on a free loopback port and wait until /health answers."""
    port = _free_port()
    app = create_app(settings, services=services)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return LiveServer(url, services, settings, server, thread)
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("test server did not start")


@contextmanager
def serving(settings: Settings, *, run_tasks: bool = True) -> Iterator[LiveServer]:
    """Services of its own (``run_tasks``: with a worker in this process) and a server on
    loopback over them; both stopped and closed at the end."""
    services = build_services(settings, run_tasks=run_tasks)
    server = start_server(settings, services)
    try:
        yield server
    finally:
        server.stop()
        services.close()


@pytest.fixture
def live_server(settings: Settings, services: Services) -> Iterator[LiveServer]:
    server = start_server(settings, services)
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Tenant:
    """A user of one project, with ready-made HTTP clients for both auth methods."""

    creds: Credentials
    aksk: httpx.Client
    token_client: httpx.Client
    token: str

    @property
    def project_id(self) -> str:
        return self.creds.project_id

    def v2(self, path: str = "") -> str:
        return f"/v2/{self.project_id}{path}"


def login(url: str, user: str, project_id: str, password: str = PASSWORD) -> str:
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": user, "password": password, "domain": {"name": "Default"}}},
            },
            "scope": {"project": {"id": project_id}},
        }
    }
    # Password hashing (argon2) on a loaded machine can take longer than httpx's 5 s default.
    response = httpx.post(f"{url}/v3/auth/tokens", json=body, timeout=60)
    assert response.status_code == 201, response.text
    return response.headers["X-Subject-Token"]


def make_tenant(server: LiveServer, name: str, project_id: str) -> Tenant:
    creds = server.services.users.create_user(name, project_id=project_id, password=PASSWORD)
    token = login(server.url, name, project_id)
    return Tenant(
        creds=creds,
        aksk=httpx.Client(
            base_url=server.url,
            auth=SdkHmacAuth(creds.access_key, creds.secret_key, creds.project_id),
        ),
        token_client=httpx.Client(base_url=server.url, auth=TokenAuth(token)),
        token=token,
    )


@pytest.fixture
def tenant(live_server: LiveServer) -> Iterator[Tenant]:
    t = make_tenant(live_server, "alice", "a" * 32)
    yield t
    t.aksk.close()
    t.token_client.close()


@pytest.fixture
def other_tenant(live_server: LiveServer) -> Iterator[Tenant]:
    t = make_tenant(live_server, "mallory", "b" * 32)
    yield t
    t.aksk.close()
    t.token_client.close()


@pytest.fixture(params=["aksk", "token"])
def client(request: pytest.FixtureRequest, tenant: Tenant) -> httpx.Client:
    """The tenant's client, once signed with AK/SK and once with a token."""
    return tenant.aksk if request.param == "aksk" else tenant.token_client


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, str]:
    """The response is a ModelArts error body with the given status (and code)."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error_code", "error_msg"}, body
    assert body["error_code"].startswith("ModelArts."), body
    assert isinstance(body["error_msg"], str) and body["error_msg"]
    assert response.headers.get("X-Request-Id")
    if code is not None:
        assert body["error_code"] == code, body
    result: dict[str, str] = body
    return result


def create_dataset(client: httpx.Client, project_id: str, name: str = "ds-1", **extra: object) -> str:
    body: dict[str, object] = {
        "dataset_name": name,
        "dataset_type": 0,
        "data_sources": [{"data_type": 0}],
        "work_path": "/out/work/",
        "work_path_type": 0,
    }
    body.update(extra)
    response = client.post(f"/v2/{project_id}/datasets", json=body)
    assert response.status_code == 201, response.text
    dataset_id: str = response.json()["dataset_id"]
    return dataset_id


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for a whole module, for tests that only need isolation by project.

    Tests using it must not depend on global state (use unique names).
    """
    tmp_dir = tmp_path_factory.mktemp("shared")
    root = tmp_dir / "imports"
    root.mkdir()
    with fresh_database_url(tmp_dir) as url, serving(make_settings(tmp_dir, url, root)) as server:
        yield server


@pytest.fixture(scope="module")
def shared_tenants(shared_server: LiveServer) -> Iterator[tuple[Tenant, Tenant]]:
    """Two users in two projects on the shared server."""
    alice = make_tenant(shared_server, "alice", "a" * 32)
    mallory = make_tenant(shared_server, "mallory", "b" * 32)
    yield alice, mallory
    for t in (alice, mallory):
        t.aksk.close()
        t.token_client.close()
