"""Connections that never finish their request are closed (issue 9 §4).

Before: 300 connections that never finished their headers stayed open indefinitely.
Each test bounds its wait; none asserts how fast anything was.
"""

from __future__ import annotations

import selectors
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.security.served import Served, serve

HEAD_TIMEOUT, BODY_TIMEOUT = 1, 4
WAIT_AT_MOST = 30  # seconds: far over both timeouts, so only a server that never closes fails


# Both HTTP parsers `serve` can run (LABELARTS_HTTP_PARSER) enforce the deadlines.
@pytest.fixture(params=["httptools", "h11"])
def served(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Iterator[Served]:
    with serve(
        tmp_path,
        database_url,
        header_timeout_seconds=str(HEAD_TIMEOUT),
        body_timeout_seconds=str(BODY_TIMEOUT),
        http_parser=request.param,
        event_loop="uvloop" if request.param == "httptools" else "asyncio",
    ) as running:
        yield running


def _open(served: Served, first_bytes: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", served.port), timeout=10)
    if first_bytes:
        sock.sendall(first_bytes)
    sock.setblocking(False)
    return sock


def _wait_until_closed(socks: list[socket.socket]) -> list[socket.socket]:
    """Read from every socket until the server closes it or WAIT_AT_MOST passes; the still open."""
    open_ = set(socks)
    with selectors.DefaultSelector() as selector:
        for sock in socks:
            selector.register(sock, selectors.EVENT_READ)
        deadline = time.monotonic() + WAIT_AT_MOST
        while open_ and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=0.5):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    data = sock.recv(65536)
                except ConnectionResetError:
                    data = b""
                if not data:  # end of stream: the server closed it
                    selector.unregister(sock)
                    open_.discard(sock)
    return list(open_)


def test_connections_that_never_finish_their_request_are_closed(served: Served) -> None:
    host = f"Host: 127.0.0.1:{served.port}\r\n".encode()
    half_head = b"GET /health HTTP/1.1\r\n" + host + b"X-Slow: "
    head_of_unfinished_body = (
        b"POST /v3/auth/tokens HTTP/1.1\r\n" + host + b"Content-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n" + b'{"auth": '
    )
    socks = (
        [_open(served, b"") for _ in range(100)]  # never send a byte
        + [_open(served, half_head) for _ in range(100)]  # half a head
        + [_open(served, head_of_unfinished_body) for _ in range(100)]  # a head, then a tenth of the body
    )
    try:
        still_open = _wait_until_closed(socks)
        assert not still_open, f"{len(still_open)} of {len(socks)} connections are still open"
    finally:
        for sock in socks:
            sock.close()
    # The server still serves, and a request sent in time is answered.
    assert httpx.get(f"{served.url}/health").status_code == 200


def test_a_kept_alive_connection_serves_requests_sent_in_time(served: Served) -> None:
    with httpx.Client(base_url=served.url) as client:
        for _ in range(3):
            assert client.get("/health").status_code == 200


def test_a_body_may_take_longer_than_the_head_timeout(served: Served) -> None:
    """The head deadline stops once the head is in: a body sent after it (within the body
    deadline) is answered, so the two deadlines are told apart."""
    body = b'{"auth": {}}'
    head = (
        b"POST /v3/auth/tokens HTTP/1.1\r\n"
        + f"Host: 127.0.0.1:{served.port}\r\n".encode()
        + b"Content-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
    )
    with socket.create_connection(("127.0.0.1", served.port), timeout=WAIT_AT_MOST) as sock:
        sock.sendall(head)
        time.sleep(HEAD_TIMEOUT + 0.5)  # past the head deadline, well inside the body's
        sock.sendall(body)
        answer = sock.recv(65536)
    # An empty auth body is refused by the application (4xx), which shows it arrived whole.
    assert answer.startswith(b"HTTP/1.1 4"), answer[:200]
