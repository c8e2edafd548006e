"""Helpers of the processing tests: tasks and versions over HTTP, waiting for runs, reading
results and fetching their signed files."""

from __future__ import annotations

import io
import time
from typing import Any

import httpx
from PIL import Image

from tests.api import World, unique_name

TIMEOUT = 60.0
FINAL = (2, 3, 4)


def task_name(prefix: str = "p") -> str:
    return unique_name(prefix)


def dataset_input(dataset_id: str, version_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "DATASET", "source": dataset_id}
    if version_id is not None:
        body["version_id"] = version_id
    return body


def template(template_id: str, *operators: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": template_id,
        "operator_params": [
            {"name": name, "advanced_params_switch": False, "params": params} for name, params in operators
        ],
    }


def create_task(world: World, body: dict[str, Any]) -> str:
    response = world.alice.aksk.post(world.alice.v2("/processor-tasks"), json=body)
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"task_id"}
    task_id: str = response.json()["task_id"]
    return task_id


def get(world: World, path: str, **params: Any) -> dict[str, Any]:
    response = world.alice.aksk.get(world.alice.v2(path), params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def versions_of(world: World, task_id: str) -> list[dict[str, Any]]:
    versions: list[dict[str, Any]] = get(world, f"/processor-tasks/{task_id}/versions")["versions"]
    return versions


def wait_version(world: World, task_id: str, version_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + TIMEOUT
    while True:
        body = get(world, f"/processor-tasks/{task_id}/versions/{version_id}")
        if body["status"] in FINAL:
            return body
        assert time.monotonic() < deadline, f"version still running: {body}"
        time.sleep(0.05)


def wait_task(world: World, task_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + TIMEOUT
    while True:
        body = get(world, f"/processor-tasks/{task_id}")
        if body["status"] in FINAL:
            return body
        assert time.monotonic() < deadline, f"task still running: {body}"
        time.sleep(0.05)


def all_results(world: World, task_id: str, version_id: str, **params: Any) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    page = 0
    while True:
        body = get(
            world,
            f"/processor-tasks/{task_id}/versions/{version_id}/results",
            limit=100,
            offset=page,
            **params,
        )
        results += body["results"]
        if not body["has_more"]:
            return results
        page += 1


def fetch(url: str) -> bytes:
    """A signed URL's bytes, with no credential but the URL."""
    response = httpx.get(url)
    assert response.status_code == 200, response.text
    return response.content


def size_of(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size
