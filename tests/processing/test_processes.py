"""A processing run under ``labelarts serve`` with the shipped MetaValidation, over a folder
of 2,000 images that it all resizes (every sample writes a file): stopped mid-run, it ends
stopped (4) with whole batches of results, one file per modified result and no
``output.manifest``; its worker killed with SIGKILL mid-run, it ends failed (3) once its lease
runs out (docs/processing.md, "Stop, restart, delete"); a rerun then writes the full output,
each sample once."""

from __future__ import annotations

import io
import json
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy import create_engine, select

from labelarts.storage.db.models import ProcessorTaskVersion, Task
from tests.cli import cli_env, free_port
from tests.jobs.test_processes import LEASE_SECONDS, SHUTDOWN_SECONDS, Client, wait_for
from tests.processes import running, wait_for_health

FILES = 2000
BATCH = 200  # ProcessingService.batch_size: results are committed a batch at a time
# serve runs its migrations and starts its worker before it answers: at nice 10 on two cores
# shared by a dozen test runs that takes more than tests.processes' 60 s.
START_SECONDS = 240


@contextmanager
def serving(data_dir: Path, root: Path, port: int, database_url: str, log: Path) -> Iterator[None]:
    env = cli_env(
        LABELARTS_DATABASE_URL=database_url,
        LABELARTS_TASK_LEASE_SECONDS=LEASE_SECONDS,
        LABELARTS_WORKER_SHUTDOWN_SECONDS=str(SHUTDOWN_SECONDS),
    )
    args = ["serve", "--data-dir", str(data_dir), "--port", str(port), "--import-root", str(root)]
    with running(args, env, log) as proc:
        wait_for_health(f"http://127.0.0.1:{port}", proc, log, timeout=START_SECONDS)
        yield


def make_folder(root: Path) -> Path:
    folder = root / "pictures"
    for i in range(FILES):
        sub = folder / f"class{i % 3}"
        sub.mkdir(parents=True, exist_ok=True)
        image = Image.new("RGB", (16, 8), (i % 256, (i // 256) % 256, 7))
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        (sub / f"img{i:05d}.png").write_bytes(buffer.getvalue())
    return folder


def job_of(database_url: str, version_id: str) -> tuple[str, str | None]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            job_id = connection.execute(
                select(ProcessorTaskVersion.job_id).where(ProcessorTaskVersion.id == version_id)
            ).scalar_one()
            owner = connection.execute(select(Task.owner).where(Task.id == job_id)).scalar_one()
    finally:
        engine.dispose()
    return job_id, owner


def results(client: Client, task_id: str, version_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    page = 0
    while True:
        body = client.get(
            f"/processor-tasks/{task_id}/versions/{version_id}/results?result_property=-1&limit=100&offset={page}"
        )
        found += body["results"]
        if not body["has_more"]:
            return found
        page += 1


def output_files(data_dir: Path, task_id: str, version_id: str) -> list[str]:
    base = data_dir / "objects" / "processing" / task_id / version_id
    return sorted(str(p.relative_to(base)) for p in base.rglob("*") if p.is_file()) if base.exists() else []


def mid_run(body: dict[str, Any]) -> bool:
    assert body["status"] in (0, 1), f"the run ended before the interruption: {body}"
    return body["status"] == 1 and body.get("progress", 0) >= 25


def ended(body: dict[str, Any]) -> bool:
    return body["status"] in (2, 3, 4)


def test_stop_and_kill_mid_run_then_a_full_rerun(tmp_path: Path, database_url: str) -> None:
    data_dir, port, log = tmp_path / "data", free_port(), tmp_path / "serve.log"
    root = tmp_path / "imports"
    folder = make_folder(root)
    with serving(data_dir, root, port, database_url, log):
        client = Client(port, data_dir)
        task_id = client.post(
            "/processor-tasks",
            {
                "name": "resize-all",
                "inputs": [{"type": "OBS", "source": str(folder)}],
                "template": {
                    "id": "sys_data_validation",
                    "operator_params": [
                        {
                            "name": "MetaValidation",
                            "params": {"task_type": "image_classification", "image_max_width": "8"},
                        }
                    ],
                },
                "create_version": True,
            },
        )["task_id"]
        versions = f"/processor-tasks/{task_id}/versions"

        # 1. Stopped mid-run: whole batches, a file per modified result, no manifest.
        first = client.get(versions)["versions"][0]["task_version_id"]
        wait_for(client, f"{versions}/{first}", mid_run, "the first run")
        client.post(f"{versions}/{first}/stop", {})
        stopped = wait_for(client, f"{versions}/{first}", ended, "the stop")
        assert stopped["status"] == 4, stopped
        kept = results(client, task_id, first)
        assert 0 < len(kept) < FILES and len(kept) % BATCH == 0
        assert all(r["result_property"] == 1 for r in kept)
        written = output_files(data_dir, task_id, first)
        assert written == sorted("Data/" + r["new_source"].rsplit("/", 1)[1] for r in kept)
        assert "output.manifest" not in written

        # 2. The worker killed mid-run: the run ends failed once its lease runs out.
        second = client.post(versions, {})["version_id"]
        wait_for(client, f"{versions}/{second}", mid_run, "the second run")
        _job, owner = job_of(database_url, second)
        assert owner is not None
        os.kill(int(owner.split(":")[1]), signal.SIGKILL)
        failed = wait_for(client, f"{versions}/{second}", ended, "recovery of the killed run")
        assert failed["status"] == 3 and "interrupted" in failed["error_msg"].lower(), failed
        assert "output.manifest" not in output_files(data_dir, task_id, second)
        assert len(results(client, task_id, second)) % BATCH == 0

        # 3. A rerun (on the worker the server started in place of the killed one): all of it, once.
        third = client.post(versions, {})["version_id"]
        done = wait_for(client, f"{versions}/{third}", ended, "the rerun", timeout=300)
        assert done["status"] == 2, done
        assert done["origin_sample_count"] == done["modified_sample_count"] == FILES
        everything = results(client, task_id, third)
        assert len(everything) == FILES
        assert len({r["sample_id"] for r in everything}) == FILES
        files = output_files(data_dir, task_id, third)
        assert len(files) == FILES + 1 and "output.manifest" in files
        lines = [
            json.loads(line)
            for line in (data_dir / "objects" / "processing" / task_id / third / "output.manifest")
            .read_text()
            .splitlines()
        ]
        assert len(lines) == FILES and len({line["source"] for line in lines}) == FILES
        assert {line["annotation"][0]["name"] for line in lines} == {"class0", "class1", "class2"}
        # The input was never changed.
        assert sum(1 for _ in folder.rglob("*.png")) == FILES
