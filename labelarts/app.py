"""The application factory. Nothing happens at import time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI

from labelarts import __version__, web
from labelarts.api.authentication import AuthenticationMiddleware
from labelarts.api.errors import RequestContextMiddleware, install_error_handlers
from labelarts.api.metrics import install_metrics
from labelarts.api.routes import API_ROUTERS
from labelarts.config import Settings
from labelarts.container import Services, build_services
from labelarts.startup import settle_long_lived_objects
from labelarts.worker import WorkerProcesses

log = logging.getLogger("labelarts")


def create_app(settings: Settings, *, services: Services | None = None) -> FastAPI:
    """Build the ASGI app. Without ``services``, the lifespan builds them and starts
    ``worker_processes`` worker processes that run the tasks; given ``services`` (tests, an
    embedding program) run tasks however they were built to."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = services is None
        app.state.services = services or build_services(settings, run_tasks=False)
        if own:
            settle_long_lived_objects()
        workers = None
        if own and settings.worker_processes > 0:
            workers = WorkerProcesses(settings, settings.worker_processes).start()
            app.state.services.tasks.on_queued(workers.wake)  # a task starts at once, not at a poll
        try:
            yield
        finally:
            if workers is not None:
                workers.stop(settings.worker_shutdown_seconds)
            if own:
                app.state.services.close()

    app = FastAPI(
        title="LabelArts",
        version=__version__,
        description="Self-hosted data labeling with the ModelArts data-management API.",
        lifespan=lifespan,
    )
    if services is not None:
        app.state.services = services
    install_error_handlers(app)
    for router in API_ROUTERS:
        _add_routes(app, router)
    web.install(app)  # the pages under /ui (docs/web.md), after the API's (no path in common)
    app.add_middleware(
        AuthenticationMiddleware,
        routes=[route for router in API_ROUTERS for route in router.routes],
        max_body_bytes=settings.max_body_bytes,
        max_upload_body_bytes=settings.max_upload_body_bytes,
    )
    # Added last, so it runs first: the request id is on every answer, also the one above's.
    app.add_middleware(RequestContextMiddleware)
    # Outermost of all: counts every answer, those of the middlewares above included.
    install_metrics(app, settings)
    _build_route_contexts(app.router.routes)
    return app


def _add_routes(app: FastAPI, router: APIRouter) -> None:
    """``router``'s routes on the app's own router, in order, not as an included router.

    FastAPI 0.16x matches an included router's routes through a wrapper of its own that costs
    about four times their plain matching, and scans the chosen router twice: 90 µs of server CPU
    to reach the sample list from the top, against 22 µs for the routes themselves (issue 10,
    docs/benchmarks.md). The API's routers add nothing at inclusion: each route already carries
    its router's prefix and tags, and none has router-level dependencies (checked here); the
    OpenAPI document is the same either way.
    """
    if router.dependencies:
        raise ValueError("a router with dependencies of its own needs app.include_router()")
    app.router.routes.extend(router.routes)


def _build_route_contexts(routes: Sequence[Any]) -> None:
    """Build FastAPI's per-route contexts now, in one thread.

    FastAPI 0.16x builds them lazily on the first request; two first requests in parallel
    threads could race inside pydantic while doing so and answer 500 (seen once in CI).
    """
    for route in routes:
        candidates = getattr(route, "effective_candidates", None)
        if callable(candidates):
            _build_route_contexts(candidates())


def app_from_environment() -> FastAPI:
    """The app of one of ``serve --api-processes N``'s processes (a uvicorn factory): settings
    from the ``LABELARTS_*`` variables ``serve`` wrote for its children."""
    from labelarts.logs import configure_logging

    settings = Settings()
    configure_logging(settings.log_level)
    return create_app(settings)
