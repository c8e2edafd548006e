"""The route table of the app, for tests that must cover every endpoint automatically."""

from __future__ import annotations

import re
from dataclasses import dataclass

from labelarts.app import create_app
from labelarts.config import Settings

_PARAM = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Route:
    method: str
    path: str

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def has_body(self) -> bool:
        return self.method in ("POST", "PUT", "PATCH")

    def url(self, **values: str) -> str:
        """Fill the path parameters; unnamed ones get a harmless placeholder."""
        return _PARAM.sub(lambda m: values.get(m.group(1), "placeholder"), self.path)


def all_routes() -> list[Route]:
    spec = create_app(Settings()).openapi()  # builds no services: nothing touches the disk
    routes = []
    for path, operations in spec["paths"].items():
        for method in operations:
            routes.append(Route(method.upper(), path))
    return sorted(routes, key=lambda r: (r.path, r.method))


ROUTES = all_routes()
PROJECT_ROUTES = [r for r in ROUTES if r.path.startswith("/v2/{project_id}")]
DATASET_ROUTES = [r for r in PROJECT_ROUTES if "{dataset_id}" in r.path]
