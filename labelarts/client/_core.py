"""What the sync and async clients share and that does no I/O: the endpoint table, the retry
policy, error decoding, request-body building, page walking and batching."""

from __future__ import annotations

import email.utils
import json
import math
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

# Intelligent task statuses: -1 queued, 1 running, 2 failed, 3 succeeded, 4 stopping, 5 stopped.
TASK_FAILED, TASK_SUCCEEDED, TASK_STOPPED = 2, 3, 5
FINAL_TASK_STATUSES = frozenset({TASK_FAILED, TASK_SUCCEEDED, TASK_STOPPED})
# Dataset version statuses: 0 creating, 1 normal, 4 error.
VERSION_CREATING, VERSION_NORMAL, VERSION_ERROR = 0, 1, 4
FINAL_IMPORT_STATUSES = frozenset({"COMPLETED", "FAILED"})
FINAL_EXPORT_STATUSES = frozenset({"SUCCESSED", "FAILED"})
FINAL_SYNC_STATUSES = frozenset({"COMPLETED", "FAILED", "NOT_EXIST"})

# The largest batches the server accepts (labelarts/schemas/samples.py); bulk helpers split by them.
UPLOAD_BATCH = 100
UPDATE_BATCH = 100
DELETE_BATCH = 100
PAGE_SIZE = 100  # the largest ``limit`` of the page-numbered lists

F = TypeVar("F", bound=Callable[..., Any])
M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

ENDPOINT_ATTR = "__labelarts_endpoint__"


def endpoint(method: str, route: str) -> Callable[[F], F]:
    """Mark a client method as the one that calls ``method route`` (the app's path template,
    e.g. ``/v2/{project_id}/datasets/{dataset_id}``). tests/client walks the app's routes and
    fails for any route no method is marked with."""

    def mark(fn: F) -> F:
        routes: list[tuple[str, str]] = [*getattr(fn, ENDPOINT_ATTR, ()), (method.upper(), route)]
        setattr(fn, ENDPOINT_ATTR, tuple(routes))
        return fn

    return mark


def endpoints_of(cls: type) -> dict[tuple[str, str], str]:
    """``(METHOD, route)`` -> the name of the method of ``cls`` that calls it."""
    table: dict[tuple[str, str], str] = {}
    for name in dir(cls):
        for route in getattr(getattr(cls, name), ENDPOINT_ATTR, ()):
            table[route] = name
    return table


# --- errors ----------------------------------------------------------------------------------
class LabelArtsError(Exception):
    """Every failure the client raises: an error answer from the server (``status`` is its HTTP
    status, ``error_code``/``error_msg`` its ModelArts error body, ``request_id`` its
    ``X-Request-Id``), or, with ``status`` 0, a connection failure or timeout (the underlying
    httpx exception is ``__cause__``; ``error_code`` is ``LabelArts.Timeout`` or
    ``LabelArts.Connection``)."""

    def __init__(self, status: int, error_code: str, error_msg: str, request_id: str = "") -> None:
        super().__init__(
            f"{status} {error_code}: {error_msg}" + (f" (request {request_id})" * bool(request_id))
        )
        self.status = status
        self.error_code = error_code
        self.error_msg = error_msg
        self.request_id = request_id

    @property
    def status_code(self) -> int:
        """``status``, by its httpx name."""
        return self.status


def error_from_response(response: httpx.Response) -> LabelArtsError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "error_code" in body:
        code, msg = str(body["error_code"]), str(body.get("error_msg", ""))
    else:
        # Not a ModelArts error body (a proxy's page, say): keep the start of the text.
        code, msg = "", response.text[:200]
    return LabelArtsError(response.status_code, code, msg, response.headers.get("X-Request-Id", ""))


def error_from_transport(exc: httpx.TransportError, request: httpx.Request) -> LabelArtsError:
    code = "LabelArts.Timeout" if isinstance(exc, httpx.TimeoutException) else "LabelArts.Connection"
    return LabelArtsError(0, code, f"{request.method} {request.url.path}: {exc!r}")


# --- retries ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Retry:
    """When and how long to wait before sending a request again.

    Only ``429 Too Many Requests`` and ``503 Service Unavailable`` are retried (the server did
    not act on the request, so every method is safe to resend); never any other answer, and
    never a timeout or a broken connection (the server may have acted). ``attempts`` counts
    every send, the first included. The wait is the answer's ``Retry-After`` (seconds or an
    HTTP date) when it has one, else ``backoff * 2**n`` with up to 10 % jitter; either way at
    most ``max_wait`` seconds. ``Retry(attempts=1)`` turns retries off.
    """

    attempts: int = 5
    backoff: float = 0.5
    max_wait: float = 60.0
    statuses: frozenset[int] = field(default_factory=lambda: frozenset({429, 503}))

    def wait(self, response: httpx.Response, sent: int) -> float | None:
        """Seconds to wait before the next send after ``sent`` sends ended in ``response``;
        None: do not retry."""
        if response.status_code not in self.statuses or sent >= self.attempts:
            return None
        after = retry_after(response.headers.get("Retry-After"))
        if after is None:
            after = self.backoff * 2 ** (sent - 1) * (1 + random.random() / 10)
        return max(0.0, min(after, self.max_wait))


def retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return seconds if math.isfinite(seconds) else None


# --- requests --------------------------------------------------------------------------------
def q(segment: str) -> str:
    """A path segment, percent-encoded (label names may hold ``/``, ``?``, ``#``...)."""
    return quote(segment, safe="")


def wire(value: Any) -> Any:
    """``value`` as JSON-ready data: models dumped by their wire names (unset fields left out)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_unset=True)
    if isinstance(value, Mapping):
        return {str(k): wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [wire(v) for v in value]
    return value


def body(**fields: Any) -> dict[str, Any]:
    """A JSON body of the fields that are not None."""
    return {name: wire(value) for name, value in fields.items() if value is not None}


def query(**params: Any) -> dict[str, Any]:
    """Query parameters that are not None; booleans as ``true``/``false``, search conditions
    (a list) as JSON."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[name] = str(value).lower()
        elif isinstance(value, list | tuple | Mapping):
            out[name] = json.dumps(wire(value), ensure_ascii=False)
        else:
            out[name] = value
    return out


def parse(model: type[M], response: httpx.Response) -> M:
    return model.model_validate(response.json())


def batches(items: Sequence[T] | Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of at most ``size``."""
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


# --- page walking ----------------------------------------------------------------------------
class PageWalk:
    """The cursor of an iterator over a page-numbered list (``offset`` is a page number).

    What an iterator guarantees while the list changes under it:

    - No item is yielded twice (items are told apart by their id).
    - An item present for the whole walk is yielded, whether items are removed (on either side
      of the cursor: labeled out of an ``UN_ANNOTATION`` walk, confirmed out of the auto-label
      list, deleted) or added (anywhere). When a page shows the list shorter than the page
      before it did, the walk steps back by the number of items gone and reads again the items
      that moved up onto pages already read (skipping the ones already yielded).
    - Not covered: items removed and others added between the same two page reads. The walk
      sees only the net change of the list's length, so up to that many items may be missed;
      walk again (nothing is yielded twice within one walk, not across walks) if a script does
      both at once.
    - Items added during the walk are yielded when they sort after the cursor: samples and
      datasets are walked oldest first, so new ones are reached; with a score range
      (``low_score``/``high_score``) samples are ordered by score instead.
    """

    def __init__(self, limit: int = PAGE_SIZE) -> None:
        self.limit = limit
        self.page = 0
        self._total: int | None = None
        self._seen: set[str] = set()
        self.done = False

    def take(self, items: Sequence[T], total: int, key: Callable[[T], str]) -> list[T]:
        """Record one page (``items`` of the page ``self.page``, ``total`` the list's length
        as that page saw it); the items not yielded before. Sets ``done`` at the end."""
        fresh = []
        for item in items:
            k = key(item)
            if k not in self._seen:
                self._seen.add(k)
                fresh.append(item)
        gone = 0 if self._total is None else max(0, self._total - total)
        self._total = total
        if gone:
            # Up to ``gone`` items before this page went away before it was read: the items
            # that then moved up onto the pages before it were not seen. Read again from there.
            self.page = max(0, (self.page * self.limit - gone) // self.limit)
        elif len(items) < self.limit:
            self.done = True
        else:
            self.page += 1
        return fresh


# --- polling ---------------------------------------------------------------------------------
class Poll:
    """The clock of a ``wait_for_*`` loop: how long to sleep next, and when to give up."""

    def __init__(self, what: str, timeout: float | None, interval: float) -> None:
        self.what = what
        self.timeout = timeout
        self.interval = interval
        self._deadline = None if timeout is None else time.monotonic() + timeout

    def next_sleep(self) -> float:
        """Seconds to sleep before the next look; TimeoutError once the deadline has passed.
        The last sleep is cut short so the deadline itself gets a look."""
        if self._deadline is None:
            return self.interval
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"{self.what} has not ended after {self.timeout} s")
        return min(self.interval, remaining)
