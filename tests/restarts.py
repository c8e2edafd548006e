"""What the kill-mid-task tests share: a ``labelarts serve`` subprocess (with its worker
process) on loopback, a tenant signed with its initial keys, a dataset, waiting for a running
task to reach a point, and the pid of the worker process that runs it (to SIGKILL it)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from labelarts.client import SdkHmacAuth
from tests.cli import cli_env, free_port
from tests.processes import running


class RestartTenant:
    """Just enough of tests.conftest.Tenant for the autolabel helpers."""

    def __init__(self, base: str, creds: dict[str, str]) -> None:
        self.project_id = creds["project_id"]
        self.base = base
        self.aksk = httpx.Client(
            base_url=base,
            auth=SdkHmacAuth(creds["access_key"], creds["secret_key"], creds["project_id"]),
            timeout=30,
        )

    def v2(self, path: str = "") -> str:
        return f"/v2/{self.project_id}{path}"


@contextmanager
def server(data_dir: Path, port: int, database_url: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = cli_env(
        LABELARTS_DATABASE_URL=database_url,
        LABELARTS_MODELS_DIR=os.environ["LABELARTS_MODELS_DIR"],
        # The perturbation checks are not what these tests are about; they would triple their time.
        LABELARTS_AUTOLABEL_AUGMENT_BUDGET="0",
        # A killed worker's task is recovered this long after its last heartbeat.
        LABELARTS_TASK_LEASE_SECONDS="3",
    )
    args = ["serve", "--data-dir", str(data_dir), "--port", str(port)]
    with running(args, env, log, health_url=f"http://127.0.0.1:{port}") as proc:
        yield proc


@dataclass
class Served:
    """A running ``serve`` and what a test needs to talk to it or start it again."""

    proc: subprocess.Popen[bytes]
    tenant: RestartTenant
    data_dir: Path
    port: int
    log: Path

    def tenant_again(self) -> RestartTenant:
        """A tenant for a server started again on the same data dir and port."""
        return tenant_of(self.data_dir, self.port)


def tenant_of(data_dir: Path, port: int) -> RestartTenant:
    creds = json.loads((data_dir / "initial-credentials.json").read_text())
    return RestartTenant(f"http://127.0.0.1:{port}", creds)


@contextmanager
def served(tmp_path: Path, database_url: str) -> Iterator[Served]:
    """``serve`` on a fresh data dir under ``tmp_path`` and a free port."""
    data_dir, port, log = tmp_path / "data", free_port(), tmp_path / "serve.log"
    with server(data_dir, port, database_url, log) as proc:
        yield Served(proc, tenant_of(data_dir, port), data_dir, port, log)


def create_dataset(tenant: RestartTenant, name: str, dataset_type: int = 0) -> str:
    created = tenant.aksk.post(
        tenant.v2("/datasets"),
        json={
            "dataset_name": name,
            "dataset_type": dataset_type,
            "data_sources": [{"data_type": 0}],
            "work_path": "/w/",
            "work_path_type": 0,
        },
    )
    assert created.status_code == 201, created.text
    dataset_id: str = created.json()["dataset_id"]
    return dataset_id


def wait_while_running(
    tenant: RestartTenant,
    dataset_id: str,
    task_id: str,
    reached: Callable[[dict[str, Any]], bool],
    timeout: float = 120,
) -> dict[str, Any]:
    """Poll the task until ``reached(detail)``; it must stay queued or running meanwhile (a
    task that ends first means the test's kill would come too late)."""
    deadline = time.monotonic() + timeout
    while True:
        detail: dict[str, Any] = tenant.aksk.get(tenant.v2(f"/datasets/{dataset_id}/tasks/{task_id}")).json()
        assert detail["status"] in (-1, 1), detail
        if reached(detail):
            return detail
        assert time.monotonic() < deadline, detail
        time.sleep(0.05)


def worker_pid(database_url: str, task_id: str) -> int:
    """The process id of the worker that runs the task (``tasks.owner`` is host:pid:random)."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            owner = connection.execute(
                text("SELECT owner FROM tasks WHERE id = :id"), {"id": task_id}
            ).scalar()
    finally:
        engine.dispose()
    assert owner, "the task has no worker"
    return int(owner.split(":")[1])


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` now (children, theirs, ...), from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_bytes().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    """Whether the process runs (a zombie nobody reaped yet counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def samples_by_id(tenant: RestartTenant, dataset_id: str, route: str) -> dict[str, dict[str, Any]]:
    """Every sample a listing route gives, page by page, with its labels."""
    found: dict[str, dict[str, Any]] = {}
    offset = 0
    while True:
        response = tenant.aksk.get(
            tenant.v2(f"/datasets/{dataset_id}/{route}"), params={"offset": offset, "limit": 100}
        )
        assert response.status_code == 200, response.text
        page = response.json()["samples"]
        found.update((s["sample_id"], s) for s in page)
        if len(page) < 100:
            return found
        offset += 1


def check_in_step(
    tenant: RestartTenant, dataset_id: str, manual: dict[str, list[str]], targets: list[str]
) -> dict[str, dict[str, Any]]:
    """The images a person labeled are as they were; each target is either untouched
    (``__NONE__``, no labels) or auto-labeled; the statistics count exactly the labels the
    images carry. Returns the auto-labeled targets by id (their detail)."""
    auto: dict[str, dict[str, Any]] = {}
    for sample_id in targets:
        response = tenant.aksk.get(tenant.v2(f"/datasets/{dataset_id}/data-annotations/samples/{sample_id}"))
        assert response.status_code == 200, response.text
        body = response.json()
        if body["sample_status"] == "__NONE__":
            assert body["labels"] == [], body
        else:
            assert body["sample_status"] == "__AUTO_ANNOTATION__", body
            auto[sample_id] = body
    listed = samples_by_id(tenant, dataset_id, "auto-annotations/samples")
    assert set(listed) == set(auto)
    instances: Counter[str] = Counter()
    carriers: Counter[str] = Counter()
    for names in [*manual.values(), *([label["name"] for label in b["labels"]] for b in auto.values())]:
        instances.update(names)
        carriers.update(set(names))
    stats = tenant.aksk.get(tenant.v2(f"/datasets/{dataset_id}/data-annotations/stats")).json()
    assert stats["sample_stats"]["all"] == len(manual) + len(targets)
    assert stats["sample_stats"]["manual_annotation"] == len(manual)
    assert stats["sample_stats"]["auto_annotation"] == len(auto)
    assert stats["sample_stats"]["un_annotation"] == len(targets) - len(auto)
    stated = {e["name"]: (e["count"], e["sample_count"]) for e in stats["label_stats"] if e["sample_count"]}
    assert stated == {name: (instances[name], carriers[name]) for name in carriers}
    return auto
