"""Export tests over a real server on loopback: a world whose export root is granted to
alice's project only, helpers to run an export task and to read what it wrote."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from labelarts.clock import new_hex_id
from labelarts.config import Settings
from labelarts.container import build_services
from tests.api import World
from tests.conftest import Tenant, fresh_database_url, make_tenant, start_server, store_settings

TERMINAL = ("SUCCESSED", "FAILED")


@dataclass
class ExportWorld(World):
    @property
    def exports(self) -> Path:
        """The export root granted to alice's project only."""
        return self.root / "exports"


@contextmanager
def export_world(tmp: Path) -> Iterator[ExportWorld]:
    root = tmp / "root"
    (root / "imports").mkdir(parents=True)
    (root / "exports").mkdir()
    alice_project, mallory_project = new_hex_id(), new_hex_id()
    with fresh_database_url(tmp) as url:
        settings = Settings(
            data_dir=tmp / "data",
            database_url=url,
            import_roots=[f"{root / 'imports'}=*"],
            export_roots=[f"{root / 'exports'}={alice_project}"],
            object_prefixes=["/=*"],
            secret_key="test-server-secret-0123456789",
            **store_settings(),
        )
        services = build_services(settings)
        server = start_server(settings, services)
        tenants: list[Tenant] = []
        try:
            tenants.append(make_tenant(server, "alice", alice_project))
            tenants.append(make_tenant(server, "mallory", mallory_project))
            yield ExportWorld(server, tenants[0], tenants[1], root)
        finally:
            for tenant in tenants:
                tenant.aksk.close()
                tenant.token_client.close()
            server.stop()
            services.close()


def world_fixture(name: str) -> Any:
    @pytest.fixture(scope="module")
    def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExportWorld]:
        with export_world(tmp_path_factory.mktemp(name)) as w:
            yield w

    return world


def start_export(client: httpx.Client, project_id: str, dataset_id: str, **body: Any) -> httpx.Response:
    return client.post(f"/v2/{project_id}/datasets/{dataset_id}/export-tasks", json=body)


def wait_export(
    client: httpx.Client, project_id: str, dataset_id: str, task_id: str, timeout: float = 60.0
) -> tuple[dict[str, Any], list[float]]:
    """Poll the task until it ends; return its last body and every progress seen."""
    deadline = time.monotonic() + timeout
    seen: list[float] = []
    while True:
        response = client.get(f"/v2/{project_id}/datasets/{dataset_id}/export-tasks/{task_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        seen.append(body["progress"])
        if body["status"] in TERMINAL:
            return body, seen
        assert body["status"] in ("INIT", "RUNNING"), body
        assert time.monotonic() < deadline, f"export still {body['status']}"
        time.sleep(0.02)


def run_export(world: World, dataset_id: str, **body: Any) -> dict[str, Any]:
    """POST an export task as alice and wait for it; it must succeed."""
    response = start_export(world.alice.aksk, world.alice.project_id, dataset_id, **body)
    assert response.status_code == 200, response.text
    task, _ = wait_export(world.alice.aksk, world.alice.project_id, dataset_id, response.json()["task_id"])
    assert task["status"] == "SUCCESSED", task
    return task


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
