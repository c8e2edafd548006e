"""Read timeouts for uvicorn: a request head or body that does not arrive in time closes the connection.

uvicorn closes idle keep-alive connections, but it has no limit on how long a client may take
to send a request's head or body: a connection that sends nothing, or half a head, stays open
forever (slowloris). :func:`protocol_with_timeouts` makes an h11 protocol class that watches
the request side of each connection:

- while a request head is awaited (a new connection, or the next request on a kept-alive
  one), the head must be complete within ``head_timeout`` seconds;
- once the head is in, the whole body must arrive within ``body_timeout`` seconds.

When a deadline passes the connection is closed; an application waiting for the body gets
``http.disconnect``. ``labelarts serve`` passes the class as ``uvicorn.Config(http=...)``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("labelarts.http")

Waiting = Literal["head", "body"]


class TimedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with head and body read deadlines (class attributes)."""

    head_timeout: float = 10.0
    body_timeout: float = 60.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._waiting: Waiting | None = None

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
        """Arm the deadline for what the connection waits for now, keeping one already running."""
        state = self.conn.their_state
        waiting: Waiting | None = "head" if state is h11.IDLE else "body" if state is h11.SEND_BODY else None
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


def protocol_with_timeouts(*, head_timeout: float, body_timeout: float) -> type[TimedH11Protocol]:
    """A :class:`TimedH11Protocol` subclass with these deadlines, for ``uvicorn.Config(http=...)``."""
    return type(
        "LabelArtsH11Protocol",
        (TimedH11Protocol,),
        {"head_timeout": head_timeout, "body_timeout": body_timeout},
    )
