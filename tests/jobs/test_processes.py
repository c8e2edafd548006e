"""``labelarts serve`` with its worker process, stopped and killed in the middle of an import of
5,000 files: SIGTERM stops the task at its next progress report and serve exits; kill -9 of the
worker leaves a task that ends FAILED once its lease runs out (the server starts a new worker);
either way the dataset is not left importing, its counts are its sample list, and a re-run
imports every file exactly once."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from PIL import Image
from sqlalchemy import create_engine, func, select

from labelarts.client import SdkHmacAuth
from labelarts.storage.db.models import Sample, Task
from tests.cli import cli_env, free_port
from tests.processes import running
from tests.restarts import alive, descendants

FILES = 20000  # imports run at thousands of files a second: enough to be mid-import when signalled
LEASE_SECONDS = "3"
SHUTDOWN_SECONDS = 10


@contextmanager
def serving(
    data_dir: Path, root: Path, port: int, database_url: str, log: Path, *extra: str
) -> Iterator[subprocess.Popen[bytes]]:
    env = cli_env(
        LABELARTS_DATABASE_URL=database_url,
        LABELARTS_TASK_LEASE_SECONDS=LEASE_SECONDS,
        LABELARTS_WORKER_SHUTDOWN_SECONDS=str(SHUTDOWN_SECONDS),
    )
    args = ["serve", "--data-dir", str(data_dir), "--port", str(port), "--import-root", str(root), *extra]
    with running(args, env, log, health_url=f"http://127.0.0.1:{port}") as proc:
        yield proc


class Client:
    def __init__(self, port: int, data_dir: Path) -> None:
        creds = json.loads((data_dir / "initial-credentials.json").read_text())
        self.project_id = creds["project_id"]
        self.http = httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            auth=SdkHmacAuth(creds["access_key"], creds["secret_key"], creds["project_id"]),
            timeout=30,
        )

    def get(self, path: str) -> Any:
        response = self.http.get(f"/v2/{self.project_id}{path}")
        assert response.status_code == 200, response.text
        return response.json()

    def create_dataset(self, name: str, folder: Path) -> Any:
        """An image-classification dataset importing ``folder``: its id and import task id."""
        body = {
            "dataset_name": name,
            "dataset_type": 0,
            "data_sources": [{"data_type": 0, "data_path": str(folder)}],
            "work_path": "/w/",
            "work_path_type": 0,
        }
        return self.post("/datasets", body)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        response = self.http.post(f"/v2/{self.project_id}{path}", json=body)
        assert response.status_code in (200, 201), response.text
        return response.json()


def make_folder(root: Path) -> Path:
    folder = root / "many"
    folder.mkdir()
    for i in range(FILES):
        image = Image.new("RGB", (8, 8), (i % 256, (i // 256) % 256, 7))
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        (folder / f"img{i:05d}.png").write_bytes(buffer.getvalue())
    return folder


def wait_for(client: Client, path: str, done: Any, what: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = client.get(path)
        if done(body):
            return body
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {body}"
        time.sleep(0.02)


def mid_import(body: dict[str, Any]) -> bool:
    """Running, with some files done: the moment to interrupt."""
    assert body["status"] in ("QUEUING", "RUNNING"), f"the import ended before the interruption: {body}"
    return body["status"] == "RUNNING" and body["finished_file_count"] >= 300


def consistent_counts(client: Client, dataset_id: str) -> int:
    """Not importing; detail, statistics and the sample list agree. Returns the count."""
    detail = client.get(f"/datasets/{dataset_id}")
    assert detail["status"] == 1, detail["status"]
    listed = client.get(f"/datasets/{dataset_id}/data-annotations/samples?limit=1")["sample_count"]
    stats = client.get(f"/datasets/{dataset_id}/data-annotations/stats")["sample_stats"]["all"]
    assert detail["total_sample_count"] == listed == stats
    count: int = listed
    return count


def distinct_sources(database_url: str, dataset_id: str) -> tuple[int, int]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            row = connection.execute(
                select(func.count(), func.count(func.distinct(Sample.source_key))).where(
                    Sample.dataset_id == dataset_id
                )
            ).one()
            return int(row[0]), int(row[1])
    finally:
        engine.dispose()


def task_owner_pid(database_url: str, task_id: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            owner = connection.execute(select(Task.owner).where(Task.id == task_id)).scalar_one()
    finally:
        engine.dispose()
    return int(owner.split(":")[1])


def test_sigterm_and_kill_9_mid_import_lose_and_duplicate_nothing(tmp_path: Path, database_url: str) -> None:
    data_dir, port, log = tmp_path / "data", free_port(), tmp_path / "serve.log"
    root = tmp_path / "imports"
    root.mkdir()
    folder = make_folder(root)

    # 1. SIGTERM to serve mid-import: the task stops at its next report, serve exits.
    with serving(data_dir, root, port, database_url, log) as proc:
        client = Client(port, data_dir)
        created = client.create_dataset("many", folder)
        dataset_id, first_task = created["dataset_id"], created["import_task_id"]
        wait_for(client, f"/datasets/{dataset_id}/import-tasks/{first_task}", mid_import, "the first import")
        proc.send_signal(signal.SIGTERM)
        proc.wait(SHUTDOWN_SECONDS + 20)  # a bound: serve does not wait for the whole import
        assert "Application shutdown complete" in log.read_text()

    with serving(data_dir, root, port, database_url, log) as proc:
        client = Client(port, data_dir)
        path = f"/datasets/{dataset_id}/import-tasks"
        first = client.get(f"{path}/{first_task}")
        assert first["status"] == "FAILED", first  # STOPPED shows as FAILED on the import API
        assert first["error_code"] == "ModelArts.4393" and "shut down" in first["error_msg"]
        stopped_at = consistent_counts(client, dataset_id)
        assert 0 < stopped_at < FILES
        assert distinct_sources(database_url, dataset_id) == (stopped_at, stopped_at)

        # 2. kill -9 of the worker mid-import: recovered once its lease runs out.
        second_task = client.post(path, {"import_path": str(folder)})["task_id"]
        wait_for(client, f"{path}/{second_task}", mid_import, "the second import")
        owner = task_owner_pid(database_url, second_task)
        helpers = descendants(owner)  # its file-check processes, their fork server, ...
        assert helpers, "the import checks its files in processes of its own"
        os.kill(owner, signal.SIGKILL)
        second = wait_for(
            client,
            f"{path}/{second_task}",
            lambda body: body["status"] not in ("QUEUING", "RUNNING"),
            "recovery of the killed worker's task",
        )
        assert second["status"] == "FAILED" and second["error_code"] == "ModelArts.4392", second
        assert "interrupted" in second["error_msg"]
        killed_at = consistent_counts(client, dataset_id)
        assert stopped_at <= killed_at <= FILES
        assert distinct_sources(database_url, dataset_id) == (killed_at, killed_at)
        # Nothing the killed worker started is left running (they would idle until a reboot).
        deadline = time.monotonic() + 60
        while any(map(alive, helpers)) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = {pid for pid in helpers if alive(pid)}
        assert not left, f"outlived the killed worker: {left}"

        # 3. A re-run (on the worker the server started in place of the killed one) completes.
        third_task = client.post(path, {"import_path": str(folder)})["task_id"]
        third = wait_for(
            client,
            f"{path}/{third_task}",
            lambda body: body["status"] not in ("QUEUING", "RUNNING"),
            "the re-run",
            timeout=300,
        )
        assert third["status"] == "COMPLETED", third
        assert third["imported_sample_count"] == FILES - killed_at
        assert consistent_counts(client, dataset_id) == FILES
        assert distinct_sources(database_url, dataset_id) == (FILES, FILES)
