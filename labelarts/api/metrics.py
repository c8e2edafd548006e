"""``GET /metrics`` (Prometheus text format) and the middleware that counts requests.

Request series, per process (each API instance is scraped on its own):

- ``labelarts_http_requests_total{method,route,status}`` (counter)
- ``labelarts_http_request_duration_seconds{method,route,status}`` (histogram)

``route`` is the route's template (``/v2/{project_id}/datasets/{dataset_id}``), never the
raw path, so ids cannot multiply the series; a path no route matches is ``<unmatched>`` and a
method outside the usual ones ``OTHER``. Task series come from the database
(:mod:`labelarts.services.metrics`). The registry belongs to the app, not to the process.

Access: open by default (the figures are aggregate counts: no project, dataset, user or
sample appears in them); with ``metrics_token`` set, a scraper must send
``Authorization: Bearer <token>``; with ``metrics_enabled`` false there is no route at all.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterable, Iterator, Sequence

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from labelarts.config import Settings
from labelarts.errors import UnauthorizedError
from labelarts.services.metrics import TaskMetricsCollector

METRICS_PATH = "/metrics"
UNMATCHED = "<unmatched>"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
REGISTRY_STATE_KEY = "metrics_registry"


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["method", "route", "status"]
        self.requests = Counter(
            "labelarts_http_requests", "HTTP requests answered.", labels, registry=registry
        )
        self.duration = Histogram(
            "labelarts_http_request_duration_seconds",
            "Time from the request's arrival to the end of its answer.",
            labels,
            registry=registry,
        )


class MetricsMiddleware:
    """Counts and times every HTTP request, by method, route template and status."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = list(_leaf_routes(routes))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless an answer starts: an exception reaches Starlette's 500 handler

        async def send_counting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_counting)
        finally:
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            labels = (method, self._route(scope), str(status))
            self.metrics.requests.labels(*labels).inc()
            self.metrics.duration.labels(*labels).observe(time.perf_counter() - started)

    def _route(self, scope: Scope) -> str:
        route = scope.get("route")  # set by the router once it matched
        if route is None:  # answered before routing (authentication, body size) or no match
            for candidate in self.routes:
                match, _ = candidate.matches(scope)
                if match is not Match.NONE:
                    route = candidate
                    break
        path = getattr(route, "path", None)
        return path if isinstance(path, str) else UNMATCHED


def _leaf_routes(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """The routes themselves: FastAPI wraps each included router (``original_router``)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _leaf_routes(inner.routes)
        else:
            yield route


def install_metrics(app: FastAPI, settings: Settings) -> None:
    """Mount ``GET /metrics`` and the request-counting middleware (unless disabled)."""
    if not settings.metrics_enabled:
        return
    registry = CollectorRegistry()
    registry.register(TaskMetricsCollector(lambda: app.state.services.db))
    setattr(app.state, REGISTRY_STATE_KEY, registry)
    router = APIRouter(tags=["operations"])
    token = settings.metrics_token

    @router.get(METRICS_PATH, include_in_schema=False)
    async def metrics(request: Request) -> Response:
        if token is not None:
            sent = request.headers.get("authorization", "")
            if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
                raise UnauthorizedError(
                    "Send Authorization: Bearer <metrics token>.", error_code="ModelArts.0201"
                )
        body = await run_in_threadpool(generate_latest, registry)  # the task queries block
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    app.include_router(router)
    app.add_middleware(MetricsMiddleware, metrics=HttpMetrics(registry), routes=app.router.routes)
