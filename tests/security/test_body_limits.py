"""Authentication before any body is read, and small bodies except where uploads go (issue 9 §4).

Before: a JSON body was read and parsed before the credentials were looked at, up to 64 MiB
on every route; one anonymous 63 MB body grew the server by 1.6 GB.
"""

from __future__ import annotations

import select
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil
import pytest

from labelarts.api.authentication import LARGE_BODY_ROUTES
from labelarts.auth import signing
from tests.conftest import LiveServer, Tenant, assert_error
from tests.routes import ROUTES
from tests.security.served import Served, serve

MiB = 1024 * 1024
BIG = 48 * MiB  # under the upload limit (64 MiB), far over the default one (1 MiB)
UPLOAD_PATH = "/v2/{pid}/datasets/ds/data-annotations/samples"


def test_every_large_body_route_exists() -> None:
    assert {(r.method, r.path) for r in ROUTES} >= LARGE_BODY_ROUTES


def test_a_body_over_the_default_limit_is_413(live_server: LiveServer, tenant: Tenant) -> None:
    limit = live_server.settings.max_body_bytes
    big = b'{"dataset_name": "' + b"x" * limit + b'"}'
    for client in (tenant.aksk, tenant.token_client):
        assert_error(client.post(tenant.v2("/datasets"), content=big), 413)

    # Without Content-Length (chunked), the limit holds while streaming.
    def chunks() -> Iterator[bytes]:
        yield big

    response = tenant.token_client.post(tenant.v2("/datasets"), content=chunks())
    assert "content-length" not in response.request.headers
    assert_error(response, 413)


def test_upload_routes_take_larger_bodies(live_server: LiveServer, tenant: Tenant) -> None:
    limit = live_server.settings.max_body_bytes
    # A body over the default limit gets through to validation on the upload route.
    body = b'{"samples": [{"name": "a.jpg", "data": "' + b"A" * (2 * limit) + b'"}], "x": 1'
    for client in (tenant.aksk, tenant.token_client):
        response = client.post(tenant.v2("/datasets/nope/data-annotations/samples"), content=body)
        assert response.status_code == 400, response.text  # bad JSON, not 413
    over = b"A" * (live_server.settings.max_upload_body_bytes + 1)
    response = tenant.token_client.post(tenant.v2("/datasets/nope/data-annotations/samples"), content=over)
    assert_error(response, 413)


# --- against `labelarts serve`, watching the server process ------------------------------


def _send_until_answered(port: int, head: bytes, body: Iterator[bytes]) -> tuple[int, int]:
    """Send ``head``, then ``body`` piece by piece until the server answers; (status, bytes sent).

    Stops sending as soon as an answer can be read, or the server closes the connection.
    """
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head)
        for piece in body:
            if select.select([sock], [], [], 0)[0]:
                break
            try:
                sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                break
            sent += len(piece)
        answer = b""
        while b"\r\n" not in answer:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            answer += data
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer.split()[1]), sent


def _json_array(size: int, piece: int = MiB) -> Iterator[bytes]:
    """``[0,0,...,0]`` of ``size`` bytes: cheap to send, costly to parse."""
    yield b"["
    left = size - 2
    while left > 0:
        n = min(piece, left)
        yield (b"0," * (n // 2 + 1))[:n].rstrip(b",").ljust(n, b" ")
        left -= n
    yield b"]"


def _chunked(pieces: Iterator[bytes]) -> Iterator[bytes]:
    for piece in pieces:
        yield f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    yield b"0\r\n\r\n"


def _head(method: str, path: str, port: int, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Content-Type: application/json"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _signature(served: Served, path: str) -> dict[str, str]:
    """A valid admin signature for ``POST path`` over an empty body (the body sent differs)."""
    creds = served.initial_credentials()
    headers = {
        "Host": f"127.0.0.1:{served.port}",
        "X-Sdk-Date": signing.format_sdk_date(datetime.now(UTC)),
    }
    headers["Authorization"] = signing.sign_headers(
        access_key=creds["access_key"],
        secret_key=creds["secret_key"],
        method="POST",
        path=path,
        raw_query="",
        headers=headers,
        body=b"",
    )
    del headers["Host"]
    return headers


@pytest.fixture
def served(tmp_path: Path, database_url: str) -> Iterator[Served]:
    with serve(tmp_path, database_url) as running:
        yield running


def test_large_bodies_are_refused_before_they_are_read(served: Served) -> None:
    pid = served.initial_credentials()["project_id"]
    upload, datasets = UPLOAD_PATH.format(pid=pid), f"/v2/{pid}/datasets"
    forged_ak = {
        "Authorization": "SDK-HMAC-SHA256 Access=NOSUCHKEY0000000000, "
        "SignedHeaders=host;x-sdk-date, Signature=" + "0" * 64,
        "X-Sdk-Date": signing.format_sdk_date(datetime.now(UTC)),
    }
    cases = [
        # (what, method, path, headers, chunked, expected status)
        ("no credentials, upload route", "POST", upload, {}, False, 401),
        ("no credentials, chunked", "POST", datasets, {}, True, 401),
        ("unknown access key, upload route", "POST", upload, forged_ak, False, 401),
        ("signed, over the route's limit", "POST", datasets, _signature(served, datasets), False, 413),
    ]
    process = psutil.Process(served.process.pid)
    # Warm every code path with small bodies first, so what follows measures only the big ones.
    for _, method, path, headers, chunked, _status in cases:
        small = _json_array(1024)
        head_headers = dict(headers)
        if not chunked:
            head_headers["Content-Length"] = "1024"
        else:
            head_headers["Transfer-Encoding"] = "chunked"
        got, _ = _send_until_answered(
            served.port, _head(method, path, served.port, head_headers), _chunked(small) if chunked else small
        )
        assert 400 <= got < 500, got
    before = process.memory_info().rss

    for what, method, path, headers, chunked, status in cases:
        head_headers = dict(headers)
        if chunked:
            head_headers["Transfer-Encoding"] = "chunked"
        else:
            head_headers["Content-Length"] = str(BIG)
        body = _chunked(_json_array(BIG)) if chunked else _json_array(BIG)
        got, sent = _send_until_answered(served.port, _head(method, path, served.port, head_headers), body)
        # The answer came while most of the body was still unsent: the server did not wait for it.
        assert sent < BIG // 2, (what, sent)
        assert got == status, what

    grown = process.memory_info().rss - before
    assert grown < 16 * MiB, f"the server grew by {grown / MiB:.1f} MiB"
    assert httpx.get(f"{served.url}/health").status_code == 200
