"""The route table of the app, for tests that must cover every endpoint automatically."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from labelarts.app import create_app
from labelarts.config import Settings

_PARAM = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    # Query parameters the route requires (e.g. metrics' start_time/end_time), so that a
    # request reaches the route's own checks instead of stopping at validation.
    required_query: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def has_body(self) -> bool:
        return self.method in ("POST", "PUT", "PATCH")

    def url(self, **values: str) -> str:
        """Fill the path parameters (unnamed ones get a harmless placeholder) and give every
        required query parameter the value 0."""
        path = _PARAM.sub(lambda m: values.get(m.group(1), "placeholder"), self.path)
        if self.required_query:
            path += "?" + "&".join(f"{name}=0" for name in self.required_query)
        return path


def _member_route_ids() -> set[str]:
    """Routes that accept team members (they depend on ``member_principal``)."""
    from fastapi.routing import APIRoute

    from labelarts.api.deps import member_principal

    def calls(dependant: object) -> set[object]:
        found: set[object] = set()
        for dep in getattr(dependant, "dependencies", []):
            found.add(dep.call)
            found |= calls(dep)
        return found

    def api_routes(routes: list[Any]) -> Iterator[Any]:
        # FastAPI >= 0.16x keeps included routers whole (``_IncludedRouter``); their routes,
        # with the prefixes and dependencies they are served with, are its effective contexts.
        for route in routes:
            if isinstance(route, APIRoute):
                yield route
            elif hasattr(route, "effective_route_contexts"):
                yield from route.effective_route_contexts()

    ids = set()
    for route in api_routes(create_app(Settings()).routes):
        if member_principal in calls(route.dependant):
            ids |= {f"{method} {route.path}" for method in route.methods}
    return ids


def all_routes() -> list[Route]:
    spec = create_app(Settings()).openapi()  # builds no services: nothing touches the disk
    routes = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            required = tuple(
                p["name"]
                for p in operation.get("parameters", [])
                if p.get("in") == "query" and p.get("required")
            )
            routes.append(Route(method.upper(), path, required))
    return sorted(routes, key=lambda r: (r.path, r.method))


ROUTES = all_routes()
PROJECT_ROUTES = [r for r in ROUTES if r.path.startswith("/v2/{project_id}")]
DATASET_ROUTES = [r for r in PROJECT_ROUTES if "{dataset_id}" in r.path]
_MEMBER_IDS = _member_route_ids()
# Routes team members may call (each decides what they see) and the owner's routes (403 to members).
MEMBER_ROUTES = [r for r in PROJECT_ROUTES if r.id in _MEMBER_IDS]
OWNER_ROUTES = [r for r in PROJECT_ROUTES if r.id not in _MEMBER_IDS]
