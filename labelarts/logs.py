"""Logging set-up for every LabelArts process, and the request id on each line.

:func:`configure_logging` is called once at start-up (``labelarts serve``, the worker): one
handler on the root logger, so LabelArts', SQLAlchemy's and uvicorn's loggers (its access log
included) share one format::

    2026-12-03 10:00:00,123 INFO labelarts.api [5f0c...] message

The bracket holds the id of the HTTP request being handled (``-`` outside a request). The
API's request middleware sets :data:`request_id` (a context variable, so it follows the request
into the thread pool that runs sync routes); :class:`RequestIdFilter` copies it onto every
record that passes the handler.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from typing import TextIO

request_id: ContextVar[str | None] = ContextVar("labelarts_request_id", default=None)
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
NO_REQUEST = "-"


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id``: the request being handled, or ``-``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get() or NO_REQUEST
        return True


def configure_logging(level: str = "info", *, stream: TextIO | None = None) -> logging.Handler:
    """Send every logger's records, with the request id, to ``stream`` (stderr by default).

    Replaces the root logger's handlers (calling it again re-configures, it does not add a
    second handler) and returns the handler. uvicorn must be run with ``log_config=None`` so
    its loggers propagate here instead of installing their own handlers.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(_level(level))
    return handler


def _level(name: str) -> int:
    value = logging.getLevelName(name.strip().upper())
    if not isinstance(value, int):
        raise ValueError(f"unknown log level {name!r}: debug, info, warning, error or critical")
    return value
