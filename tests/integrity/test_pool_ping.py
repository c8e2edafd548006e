"""The PostgreSQL pool's check of a connection as it is handed out (``dialect._ping_unless_quiet``):
a quiet idle connection goes out without a round trip, one the server closed is replaced before
anyone uses it, and a server that drops every connection (a restart) fails no request."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, create_engine, text

from labelarts.config import Settings
from labelarts.storage.db import Database
from tests.conftest import PG_ADMIN_URL, LiveServer, make_tenant, serving
from tests.conftest import test_database_kind as database_kind

pytestmark = pytest.mark.skipif(
    database_kind() != "postgresql", reason="the pool's ping is PostgreSQL's (SQLite has no server)"
)


@pytest.fixture()
def admin() -> Iterator[Engine]:
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


def backend_pids(admin: Engine, database_url: str) -> set[int]:
    name = database_url.rsplit("/", 1)[1]
    with admin.connect() as connection:
        rows = connection.execute(
            text("SELECT pid FROM pg_stat_activity WHERE datname = :name AND pid <> pg_backend_pid()"),
            {"name": name},
        )
        return {int(pid) for (pid,) in rows}


def drop_every_connection(admin: Engine, database_url: str) -> set[int]:
    """What a database restart does to the server's connections: each backend sends an error
    and closes its socket. Returns the pids it ended."""
    pids = backend_pids(admin, database_url)
    with admin.connect() as connection:
        for pid in pids:
            connection.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})
    return pids


class PingCount:
    """Counts the dialect's real pings (the ``SELECT 1`` round trip)."""

    def __init__(self, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = engine.dialect.do_ping

        def counted(dbapi_connection: Any) -> bool:
            self.count += 1
            return real(dbapi_connection)

        monkeypatch.setattr(engine.dialect, "do_ping", counted)


def server_pid(db: Database) -> int:
    with db.engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_quiet_pooled_connection_goes_out_without_a_round_trip(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(database_url)
    try:
        first = server_pid(db)
        pings = PingCount(db.engine, monkeypatch)
        for _ in range(20):
            with db.reading(snapshot=False) as connection:
                connection.execute(text("SELECT 1"))
            with db.session() as session:
                session.execute(text("SELECT 1"))
        assert pings.count == 0
        assert server_pid(db) == first  # the same connection, reused
    finally:
        db.dispose()


def test_a_connection_the_server_closed_is_replaced_before_use(
    database_url: str, admin: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(database_url)
    try:
        first = server_pid(db)
        pings = PingCount(db.engine, monkeypatch)
        assert drop_every_connection(admin, database_url) == {first}
        second = server_pid(db)  # would raise "terminating connection" without the check
        assert second != first
        assert pings.count == 1  # the dead connection's socket was readable: pinged, replaced
        assert server_pid(db) == second and pings.count == 1
    finally:
        db.dispose()


@pytest.fixture()
def quiet_server(settings: Settings) -> Iterator[LiveServer]:
    """A server with no task worker in its process: nothing but the requests below uses the
    database (the worker's poll would otherwise meet a dead connection first, and its error
    replace the pool before any request could)."""
    with serving(settings, run_tasks=False) as server:
        yield server


def test_no_request_fails_after_the_database_drops_every_connection(
    quiet_server: LiveServer, admin: Engine
) -> None:
    """A restart of PostgreSQL under a running server: every pooled connection dies at once.
    The next requests, one and then several connections' worth in parallel, all succeed."""
    tenant = make_tenant(quiet_server, "alice", "a" * 32)
    created = tenant.aksk.post(
        tenant.v2("/datasets"),
        json={"dataset_name": "ping", "data_sources": [], "work_path": "/out/ping/", "work_path_type": 0},
    )
    assert created.status_code == 201, created.text
    dataset_path = tenant.v2(f"/datasets/{created.json()['dataset_id']}")
    paths = [dataset_path, f"{dataset_path}/data-annotations/samples", tenant.v2("/datasets"), "/health"]

    def burst() -> list[int]:
        statuses: list[int] = []
        lock = threading.Lock()

        def run(path: str) -> None:
            with httpx.Client(base_url=quiet_server.url, auth=tenant.aksk.auth, timeout=60) as client:
                for _ in range(3):
                    status = client.get(path).status_code
                    with lock:
                        statuses.append(status)

        threads = [threading.Thread(target=run, args=(path,)) for path in paths for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return statuses

    assert set(burst()) == {200}  # the pool now holds several connections
    url = quiet_server.settings.database_url
    assert url is not None
    ended = drop_every_connection(admin, url)
    assert len(ended) >= 2
    assert tenant.aksk.get(dataset_path).status_code == 200
    assert set(burst()) == {200}
    assert not ended & backend_pids(admin, url)
    tenant.aksk.close()
    tenant.token_client.close()
