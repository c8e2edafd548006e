"""Auto labeling on a two-node local Ray cluster, through `labelarts serve --ray-address`: the
task is a Ray job that takes the task over from the worker that claimed it, its features are
computed on encoder actors, and the API sees the same task as with the local worker.

* The Ray run gives the same predictions and hard flags as the local worker on the same data.
* SIGKILL of the encoder actor's process in the middle of a batch, then SIGKILL of the API
  instance (and so of its worker) that submitted the task: the task still succeeds, every
  sample is labeled exactly once, none is lost.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.autolabel import picture, upload, wait_for_task
from tests.cli import cli_env, free_port
from tests.processes import running
from tests.ray.cluster import Cluster
from tests.restarts import RestartTenant

pytestmark = pytest.mark.ray


@contextmanager
def server(
    data_dir: Path, database_url: str, log: Path, ray: Cluster | None
) -> Iterator[tuple[RestartTenant, subprocess.Popen[bytes]]]:
    port = free_port()
    env = cli_env(
        LABELARTS_DATABASE_URL=database_url,
        LABELARTS_MODELS_DIR=os.environ["LABELARTS_MODELS_DIR"],
        LABELARTS_AUTOLABEL_AUGMENT_BUDGET="0",  # the perturbation checks triple the time
        LABELARTS_TASK_LEASE_SECONDS="10",
        LABELARTS_ML_THREADS="1",  # as the encoder actors (one CPU each)
    )
    args = ["serve", "--data-dir", str(data_dir), "--port", str(port)]
    if ray is not None:
        args += ["--ray-address", ray.address]
    with running(args, env, log, health_url=f"http://127.0.0.1:{port}") as proc:
        creds = json.loads((data_dir / "initial-credentials.json").read_text())
        yield RestartTenant(f"http://127.0.0.1:{port}", creds), proc


def make_dataset(tenant: RestartTenant, name: str, unlabeled: int) -> str:
    """10 labeled pictures and ``unlabeled`` more, the same bytes whenever it is called."""
    created = tenant.aksk.post(
        tenant.v2("/datasets"),
        json={
            "dataset_name": name,
            "dataset_type": 0,
            "data_sources": [{"data_type": 0}],
            "work_path": "/w/",
            "work_path_type": 0,
        },
    )
    assert created.status_code == 201, created.text
    dataset_id: str = created.json()["dataset_id"]
    labeled = [
        (f"l{k}{i}.jpg", picture(k, i + 100 * (k == "red"), 32), k) for k in ("red", "blue") for i in range(5)
    ]
    upload(tenant, dataset_id, labeled)
    kinds = ("blue", "red")
    upload(
        tenant,
        dataset_id,
        [(f"u{i:04d}.jpg", picture(kinds[i % 2], 7000 + i, 32), None) for i in range(unlabeled)],
    )
    return dataset_id


def start(tenant: RestartTenant, dataset_id: str) -> str:
    response = tenant.aksk.post(tenant.v2(f"/datasets/{dataset_id}/tasks"), json={})
    assert response.status_code == 200, response.text
    task_id: str = response.json()["task_id"]
    return task_id


def query(database_url: str, sql: str, **params: Any) -> list[Any]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(text(sql), params).all())
    finally:
        engine.dispose()


def outcome(database_url: str, dataset_id: str) -> dict[str, tuple[Any, ...]]:
    """Each sample's status, labels, hard flag and hard reasons, by name."""
    labels: dict[str, list[str]] = {}
    for sample_id, name in query(
        database_url, "SELECT sample_id, name FROM sample_labels WHERE dataset_id = :d", d=dataset_id
    ):
        labels.setdefault(sample_id, []).append(name)
    result = {}
    for sample_id, name, status, hard, metadata in query(
        database_url,
        "SELECT id, sample_name, sample_status, hard, metadata FROM samples WHERE dataset_id = :d",
        d=dataset_id,
    ):
        meta = metadata if isinstance(metadata, dict) else json.loads(metadata or "{}")
        reasons = tuple(meta.get("@modelarts:hard_reasons") or ())
        result[name] = (status, tuple(sorted(labels.get(sample_id, []))), bool(hard), reasons)
    return result


def owner(database_url: str, task_id: str) -> str:
    rows = query(database_url, "SELECT owner FROM tasks WHERE id = :t", t=task_id)
    return str(rows[0][0] or "")


def test_a_task_runs_on_ray_over_http_with_the_local_workers_results(
    tmp_path: Path, database_url: str, ray_cluster: Cluster
) -> None:
    unlabeled = 40
    with server(tmp_path / "local", database_url, tmp_path / "local.log", None) as (tenant, _):
        local_dataset = make_dataset(tenant, "local", unlabeled)
        done = wait_for_task(tenant, local_dataset, start(tenant, local_dataset))
        assert done["status"] == 3, done
    with server(tmp_path / "local", database_url, tmp_path / "ray.log", ray_cluster) as (tenant, _):
        ray_dataset = make_dataset(tenant, "on-ray", unlabeled)
        task_id = start(tenant, ray_dataset)
        body = wait_for_task(tenant, ray_dataset, task_id)
        assert body["status"] == 3, (body, ray_cluster.logs("job-driver-*"))
        assert body["result"]["unconfirmed_sample_count"] == unlabeled
        assert body["result"]["encoded_feature_count"] == unlabeled + 10
        # It ran in a Ray job's driver, not in the worker that claimed it.
        assert owner(database_url, task_id).startswith("ray:")
    local, on_ray = outcome(database_url, local_dataset), outcome(database_url, ray_dataset)
    assert sorted(local) == sorted(on_ray)
    assert on_ray == local
    assert sum(1 for status, *_ in on_ray.values() if status == "AUTO_ANNOTATION") == unlabeled


def encoder_processes() -> dict[int, str]:
    """pid -> title of this machine's encoder actor processes (``ray::_Encoder`` idle,
    ``ray::_Encoder.encode`` while it runs a batch)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            except OSError:
                continue
            if title.startswith("ray::_Encoder"):
                found[int(entry.name)] = title
    return found


def test_killing_an_encoder_mid_batch_and_the_api_leaves_every_sample_labeled_once(
    tmp_path: Path, database_url: str, ray_cluster: Cluster
) -> None:
    unlabeled = 300
    data_dir = tmp_path / "data"
    with server(data_dir, database_url, tmp_path / "serve.log", ray_cluster) as (tenant, proc):
        dataset_id = make_dataset(tenant, "killed", unlabeled)
        revisions = dict(
            query(database_url, "SELECT id, revision FROM samples WHERE dataset_id = :d", d=dataset_id)
        )
        task_id = start(tenant, dataset_id)
        deadline = time.monotonic() + 240
        killed: int | None = None
        while killed is None:
            busy = [pid for pid, title in encoder_processes().items() if ".encode" in title]
            if busy:
                os.kill(busy[0], signal.SIGKILL)
                killed = busy[0]
            assert time.monotonic() < deadline, tenant.aksk.get(
                tenant.v2(f"/datasets/{dataset_id}/tasks/{task_id}")
            ).json()
            time.sleep(0.02)
        assert owner(database_url, task_id).startswith("ray:")  # the Ray job's by now
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    # Another API instance on the same database answers for the task.
    with server(data_dir, database_url, tmp_path / "serve2.log", None) as (tenant, _):
        body = wait_for_task(tenant, dataset_id, task_id)
    assert body["status"] == 3, (body, ray_cluster.logs("job-driver-*"))
    assert body["result"]["unconfirmed_sample_count"] == unlabeled
    assert killed not in encoder_processes()
    # Every unlabeled sample written once (one revision step, one label); the labeled ones
    # untouched.
    after = query(
        database_url,
        "SELECT s.id, s.sample_status, s.revision, COUNT(l.id) FROM samples s "
        "LEFT JOIN sample_labels l ON l.sample_id = s.id WHERE s.dataset_id = :d "
        "GROUP BY s.id, s.sample_status, s.revision",
        d=dataset_id,
    )
    assert len(after) == unlabeled + 10
    auto = [row for row in after if row[1] == "AUTO_ANNOTATION"]
    assert len(auto) == unlabeled
    assert all(row[2] == revisions[row[0]] + 1 and row[3] == 1 for row in auto), auto[:5]
    assert all(row[2] == revisions[row[0]] for row in after if row[1] != "AUTO_ANNOTATION")
