"""``labelarts serve`` wakes its worker process as each task is queued: with the worker's poll
of the database an hour apart (and its heartbeat, which also looks, 20 minutes apart), tasks
queued through the API still run, one after another and after the worker was restarted."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from PIL import Image

from tests.cli import cli_env, free_port
from tests.jobs.test_processes import Client, task_owner_pid, wait_for
from tests.processes import running


def ended(body: dict[str, Any]) -> bool:
    return body["status"] not in ("QUEUING", "RUNNING")


def test_tasks_queued_through_the_api_start_without_waiting_for_a_poll(
    tmp_path: Path, database_url: str
) -> None:
    data_dir, port, log = tmp_path / "data", free_port(), tmp_path / "serve.log"
    folder = tmp_path / "imports" / "few"
    folder.mkdir(parents=True)
    for i in range(3):
        Image.new("RGB", (8, 8), (i, 2, 3)).save(folder / f"img{i}.png")
    env = cli_env(
        LABELARTS_DATABASE_URL=database_url,
        LABELARTS_WORKER_POLL_SECONDS="3600",
        LABELARTS_TASK_LEASE_SECONDS="3600",  # heartbeats (which also look for tasks) 20 min apart
    )
    args = ["serve", "--data-dir", str(data_dir), "--port", str(port)]
    args += ["--import-root", str(tmp_path / "imports")]
    with running(args, env, log, health_url=f"http://127.0.0.1:{port}"):
        client = Client(port, data_dir)
        created = client.create_dataset("few", folder)
        dataset_id = created["dataset_id"]
        path = f"/datasets/{dataset_id}/import-tasks"
        # A worker that only polled would leave these queued for the test's whole wait (60 s).
        first = wait_for(client, f"{path}/{created['import_task_id']}", ended, "the first import", timeout=60)
        assert first["status"] == "COMPLETED" and first["imported_sample_count"] == 3, first

        (folder / "img3.png").write_bytes((folder / "img0.png").read_bytes())  # a duplicate by content
        Image.new("RGB", (8, 8), (9, 9, 9)).save(folder / "img4.png")
        second_id = client.post(path, {"import_path": str(folder)})["task_id"]
        second = wait_for(client, f"{path}/{second_id}", ended, "the second import", timeout=60)
        assert second["status"] == "COMPLETED" and second["imported_sample_count"] == 1, second

        # The worker serve starts in place of a dead one looks at the queue as it starts (the
        # third task), and is then woken the same way (the fourth).
        os.kill(task_owner_pid(database_url, second_id), signal.SIGKILL)
        for n, name in enumerate(("third", "fourth"), start=5):
            Image.new("RGB", (8, 8), (n, n, n)).save(folder / f"img{n}.png")
            task_id = client.post(path, {"import_path": str(folder)})["task_id"]
            body = wait_for(client, f"{path}/{task_id}", ended, f"the {name} import", timeout=90)
            assert body["status"] == "COMPLETED" and body["imported_sample_count"] == 1, body
        assert task_owner_pid(database_url, task_id) != task_owner_pid(database_url, second_id)
