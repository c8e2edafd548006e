"""Read timeouts for uvicorn: a request head or body that does not arrive in time closes the connection.

uvicorn closes idle keep-alive connections, but it has no limit on how long a client may take
to send a request's head or body: a connection that sends nothing, or half a head, stays open
forever (slowloris). :func:`protocol_with_timeouts` makes a protocol class that watches the
request side of each connection:

- while a request head is awaited (a new connection, or the next request on a kept-alive
  one), the head must be complete within ``head_timeout`` seconds;
- once the head is in, the whole body must arrive within ``body_timeout`` seconds.

When a deadline passes the connection is closed; an application waiting for the body gets
``http.disconnect``. ``labelarts serve`` passes the class as ``uvicorn.Config(http=...)``.

Two parsers are supported: httptools (C, the default when installed: a third of h11's CPU per
request, docs/benchmarks.md) and h11 (pure Python, the fallback). Both share the deadline
logic in :class:`_ReadDeadlines`; they differ only in how they tell what is awaited.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("labelarts.http")

Waiting = Literal["head", "body"]


class _ReadDeadlines:
    """The deadline bookkeeping: one timer for what the connection waits for now."""

    head_timeout: float = 10.0
    body_timeout: float = 60.0
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    client: Any

    def _init_deadlines(self) -> None:
        self._deadline: asyncio.TimerHandle | None = None
        self._waiting: Waiting | None = None

    def _await(self, waiting: Waiting | None) -> None:
        """Arm the deadline for ``waiting`` (None: nothing awaited), keeping one already running."""
        if waiting == self._waiting:
            return
        self._cancel()
        if waiting is not None and not self.transport.is_closing():
            timeout = self.head_timeout if waiting == "head" else self.body_timeout
            self._deadline = self.loop.call_later(timeout, self._expire)
            self._waiting = waiting

    def _cancel(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = None
        self._waiting = None

    def _expire(self) -> None:
        waiting = self._waiting
        self._deadline = None
        self._waiting = None
        if not self.transport.is_closing():
            log.debug("closing %s: the request %s did not arrive in time", self.client, waiting)
            self.transport.close()


class TimedH11Protocol(_ReadDeadlines, H11Protocol):
    """uvicorn's h11 protocol with head and body read deadlines (class attributes)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._init_deadlines()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        super().connection_lost(exc)

    def _watch(self) -> None:
        state = self.conn.their_state
        self._await("head" if state is h11.IDLE else "body" if state is h11.SEND_BODY else None)


def _httptools_protocol() -> type[Any] | None:
    """:class:`TimedHttpToolsProtocol`, or None when httptools is not installed."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return None

    class TimedHttpToolsProtocol(_ReadDeadlines, HttpToolsProtocol):
        """uvicorn's httptools protocol with head and body read deadlines.

        httptools reports the request's parts as callbacks: a head is awaited from the
        connection's start and after each response until the head is complete, then the body
        until the message is complete; while the application runs nothing is awaited."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._init_deadlines()

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._await("head")

        def on_headers_complete(self) -> None:
            super().on_headers_complete()
            self._await("body")

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._await(None)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._await("head")

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel()
            super().connection_lost(exc)

    return TimedHttpToolsProtocol


def protocol_with_timeouts(*, head_timeout: float, body_timeout: float, parser: str = "auto") -> type[Any]:
    """A protocol class with these deadlines, for ``uvicorn.Config(http=...)``.

    ``parser``: ``httptools``, ``h11``, or ``auto`` (httptools when installed)."""
    base: type[Any] | None = None
    if parser in ("auto", "httptools"):
        base = _httptools_protocol()
        if base is None and parser == "httptools":
            raise RuntimeError("httptools is not installed (pip install httptools)")
    if base is None:
        base = TimedH11Protocol
    return type(
        f"LabelArts{base.__name__}",
        (base,),
        {"head_timeout": head_timeout, "body_timeout": body_timeout},
    )


def __getattr__(name: str) -> type[Any]:
    """``EnvironmentProtocol``: the protocol class for the settings in the environment, which
    ``serve --api-processes`` names to uvicorn by import path (its processes cannot be handed a
    class made at run time)."""
    if name == "EnvironmentProtocol":
        from labelarts.config import Settings

        settings = Settings()
        return protocol_with_timeouts(
            head_timeout=settings.header_timeout_seconds,
            body_timeout=settings.body_timeout_seconds,
            parser=settings.http_parser,
        )
    raise AttributeError(name)
