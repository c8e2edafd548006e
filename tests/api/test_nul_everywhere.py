"""NUL in any query parameter or path id of any route is the request's fault: a 4xx with the
error body, or a 2xx that found nothing, never a 5xx, on both databases (PostgreSQL's driver
refuses NUL in every text parameter, so a value that reaches a statement would be a 500).

The routes are read from the API's routers, so a route added later is probed too."""

from __future__ import annotations

import re
from collections.abc import Iterator

from fastapi.routing import APIRoute

from labelarts.api.routes import API_ROUTERS
from tests.conftest import Tenant, create_dataset

NUL = "a\x00b"
PARAM = re.compile(r"\{[^}]+\}")


def probes(project_id: str, dataset_id: str) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(method, path, query) for each route: every query parameter of a GET with NUL, and each
    path id in turn NUL (the others a plain id that exists nowhere)."""
    for router in API_ROUTERS:
        for route in router.routes:
            if not isinstance(route, APIRoute):
                continue
            method = "GET" if "GET" in route.methods else sorted(route.methods)[0]
            known = route.path.replace("{project_id}", project_id).replace("{dataset_id}", dataset_id)
            if method == "GET":
                plain = PARAM.sub("x1", known)
                for param in route.dependant.query_params:
                    yield method, plain, {param.alias or param.name: NUL}
            names = PARAM.findall(route.path)
            for index, name in enumerate(names):
                if name == "{project_id}":
                    continue
                path = route.path.replace("{project_id}", project_id)
                for other, other_name in enumerate(names):
                    if other_name == "{project_id}":
                        continue
                    value = (
                        "a%00b" if other == index else (dataset_id if other_name == "{dataset_id}" else "x1")
                    )
                    path = path.replace(other_name, value, 1)
                yield method, path, {}


def test_nul_in_any_parameter_or_path_id_is_never_a_5xx(tenant: Tenant) -> None:
    dataset_id = create_dataset(tenant.aksk, tenant.project_id, "nul-everywhere")
    failures = []
    seen = 0
    for method, path, query in probes(tenant.project_id, dataset_id):
        response = tenant.aksk.request(method, path, params=query, json=None if method == "GET" else {})
        seen += 1
        if response.status_code >= 500:
            failures.append((method, path, query, response.status_code, response.text[:200]))
        elif response.status_code >= 400 and response.headers.get("content-type", "").startswith(
            "application/json"
        ):
            assert set(response.json()) >= {"error_code", "error_msg"}, (method, path, query)
    assert seen > 150  # every router was read
    assert not failures, failures
