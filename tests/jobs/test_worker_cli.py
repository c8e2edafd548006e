"""``serve --workers 0`` with a ``labelarts worker`` started on its own (as on another machine),
and a dataset deleted while its import runs."""

from __future__ import annotations

import io
import logging
import signal
import time
from pathlib import Path

import pytest
from PIL import Image

from labelarts.storage.db.models import Task
from tests.cli import cli_env, free_port
from tests.conftest import LiveServer, Tenant, assert_error
from tests.jobs import wait_until
from tests.jobs.test_processes import Client, serving, wait_for
from tests.processes import running


def write_images(folder: Path, count: int) -> None:
    folder.mkdir(parents=True)
    for i in range(count):
        buffer = io.BytesIO()
        Image.new("RGB", (8, 8), (i % 256, i // 256, 3)).save(buffer, "PNG")
        (folder / f"{i:05d}.png").write_bytes(buffer.getvalue())


def test_a_separate_worker_runs_the_tasks_of_a_server_without_workers(
    tmp_path: Path, database_url: str
) -> None:
    data_dir, port, log = tmp_path / "data", free_port(), tmp_path / "serve.log"
    root = tmp_path / "imports"
    write_images(root / "pics", 3)
    with serving(data_dir, root, port, database_url, log, "--workers", "0"):
        client = Client(port, data_dir)
        created = client.post(
            "/datasets",
            {
                "dataset_name": "pics",
                "dataset_type": 0,
                "data_sources": [{"data_type": 0, "data_path": str(root / "pics")}],
                "work_path": "/w/",
                "work_path_type": 0,
            },
        )
        dataset_id, task_id = created["dataset_id"], created["import_task_id"]
        assert client.get(f"/datasets/{dataset_id}")["status"] == 8  # queued: importing
        worker_log = tmp_path / "worker.log"
        worker_args = [
            "worker",
            "--data-dir",
            str(data_dir),
            "--database-url",
            database_url,
            "--import-root",
            str(root),
            "--tasks",
            "1",
        ]
        with running(worker_args, cli_env(), worker_log) as worker:
            task = wait_for(
                client,
                f"/datasets/{dataset_id}/import-tasks/{task_id}",
                lambda body: body["status"] not in ("QUEUING", "RUNNING"),
                "the worker to run the import",
                timeout=60,
            )
            assert task["status"] == "COMPLETED" and task["imported_sample_count"] == 3, task
            detail = client.get(f"/datasets/{dataset_id}")
            assert detail["status"] == 1 and detail["total_sample_count"] == 3
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(30) == 0, worker_log.read_text()


def test_deleting_a_dataset_mid_import_stops_its_task_cleanly(
    live_server: LiveServer, tenant: Tenant, import_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_images(import_root / "many", 1500)
    body = {
        "dataset_name": "doomed",
        "dataset_type": 0,
        "data_sources": [{"data_type": 0, "data_path": str(import_root / "many")}],
        "work_path": "/w/",
        "work_path_type": 0,
    }
    created = tenant.aksk.post(tenant.v2("/datasets"), json=body)
    assert created.status_code == 201, created.text
    dataset_id, task_id = created.json()["dataset_id"], created.json()["import_task_id"]
    path = tenant.v2(f"/datasets/{dataset_id}/import-tasks/{task_id}")
    deadline = time.monotonic() + 60
    while (task := tenant.aksk.get(path).json())["finished_file_count"] == 0:
        assert task["status"] in ("QUEUING", "RUNNING"), task
        assert time.monotonic() < deadline, task
        time.sleep(0.02)
    with caplog.at_level(logging.WARNING, logger="labelarts"):
        assert tenant.aksk.delete(tenant.v2(f"/datasets/{dataset_id}")).status_code == 204
        services = live_server.services
        worker = services.worker
        assert worker is not None
        wait_until(lambda: task_id not in worker.running, "the worker let go of the task")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert_error(tenant.aksk.get(tenant.v2(f"/datasets/{dataset_id}")), 404)
    with services.db.session() as session:
        assert session.get(Task, task_id) is None  # gone with its dataset
    again = {**body, "data_sources": [{"data_type": 0}]}
    assert tenant.aksk.post(tenant.v2("/datasets"), json=again).status_code == 201  # the name is free
