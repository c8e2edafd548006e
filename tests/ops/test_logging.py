"""Every log line of a request carries its request id: the one the client got in X-Request-Id."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest
from sqlalchemy.exc import DBAPIError

from labelarts.logs import configure_logging
from tests.cli import cli_env, free_port
from tests.cli.test_serve_cli import serving
from tests.conftest import LiveServer, Tenant, assert_error, create_dataset


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """Logging configured as at start-up, into a buffer; the root logger restored afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    stream = io.StringIO()
    configure_logging("info", stream=stream)
    try:
        yield stream
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved_handlers:
            root.addHandler(handler)
        root.setLevel(saved_level)


def test_a_500_is_logged_with_the_request_id(
    live_server: LiveServer, tenant: Tenant, log_stream: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset_id = create_dataset(tenant.aksk, tenant.project_id, "logged")

    def broken(*_args: Any, **_kwargs: Any) -> NoReturn:
        # Runs in the thread pool that serves sync routes: the id must follow it there.
        logging.getLogger("labelarts.services.test").warning("about to fail")
        raise RuntimeError("a bug")

    monkeypatch.setattr(live_server.services.sample_list, "list_samples", broken)
    response = tenant.aksk.get(tenant.v2(f"/datasets/{dataset_id}/data-annotations/samples"))
    assert_error(response, 500, "ModelArts.0001")
    request_id = response.headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)

    lines = log_stream.getvalue().splitlines()
    inside = [line for line in lines if "about to fail" in line]
    assert len(inside) == 1 and f"[{request_id}]" in inside[0]
    handler_lines = [line for line in lines if "unhandled error on GET" in line]
    assert len(handler_lines) == 1
    assert f"[{request_id}]" in handler_lines[0] and f"(request {request_id})" in handler_lines[0]
    assert "RuntimeError: a bug" in log_stream.getvalue()  # the traceback follows

    # A request that logs nothing of its own leaves no id behind for the next line.
    # (a new connection: uvicorn closes the one a 500 was answered on)
    assert httpx.get(f"{live_server.url}/health").status_code == 200
    logging.getLogger("labelarts.test").warning("between requests")
    (between,) = [line for line in log_stream.getvalue().splitlines() if "between requests" in line]
    assert "[-]" in between


@pytest.mark.parametrize(
    ("message", "status", "code"),
    [
        ("server closed the connection unexpectedly", 500, "ModelArts.0001"),
        ("PostgreSQL text fields cannot contain NUL (0x00) bytes", 400, "ModelArts.0104"),
    ],
)
def test_a_database_error_is_a_500_unless_it_refuses_the_input(
    live_server: LiveServer,
    tenant: Tenant,
    log_stream: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
    message: str,
    status: int,
    code: str,
) -> None:
    """A database error the request caused (NUL where PostgreSQL takes none) is a 400; any other
    is the 500 of every unexpected error: logged with its traceback, one X-Request-Id."""
    dataset_id = create_dataset(tenant.aksk, tenant.project_id, "db-error")

    def failing(*_args: Any, **_kwargs: Any) -> NoReturn:
        raise DBAPIError("SELECT 1", {}, Exception(message))

    monkeypatch.setattr(live_server.services.sample_list, "list_samples", failing)
    response = tenant.aksk.get(tenant.v2(f"/datasets/{dataset_id}/data-annotations/samples"))
    assert_error(response, status, code)
    assert len(response.headers.get_list("X-Request-Id")) == 1
    logged = log_stream.getvalue()
    assert ("unhandled error on GET" in logged) is (status == 500)
    assert (message in logged) is (status == 500)  # the traceback names the driver's error


def test_serve_access_log_lines_carry_the_request_id(tmp_path: Path, database_url: str) -> None:
    port = free_port()
    env = cli_env(LABELARTS_DATABASE_URL=database_url)
    with serving(["--data-dir", str(tmp_path / "data"), "--port", str(port)], env, tmp_path):
        response = httpx.get(f"http://127.0.0.1:{port}/v2/{'0' * 32}/datasets")
        assert response.status_code == 401
        request_id = response.headers["X-Request-Id"]
    stderr = (tmp_path / "serve.err").read_text()
    (access,) = [line for line in stderr.splitlines() if f"/v2/{'0' * 32}/datasets" in line]
    assert f"[{request_id}]" in access and " 401" in access and "uvicorn.access" in access
    # Start-up lines have the same format, without a request.
    assert re.search(r"INFO uvicorn.error \[-\] Application startup complete", stderr)
