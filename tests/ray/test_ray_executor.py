"""Auto labeling and processing on a two-node local Ray cluster, through `labelarts serve
--ray-address`: each task is a Ray job that takes the task over from the worker that claimed
it (auto labeling's features are computed on encoder actors, which read the sample files
themselves), and the API sees the same task as with the local worker.

* The Ray runs give the same predictions and hard flags, and the same processing results and
  output files, as the local worker on the same data.
* SIGKILL of the encoder actor's process in the middle of a batch, then SIGKILL of the API
  instance (and so of its worker) that submitted the task: the task still succeeds, every
  sample is labeled exactly once, none is lost. This one keeps its files on the S3-protocol
  server (moto's, on loopback), which the encoder actors read from with the S3 secret of
  their nodes' environment (the job does not carry it).
"""

from __future__ import annotations

import hashlib
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

import pytest
from PIL import Image
from sqlalchemy import create_engine, text

from tests.autolabel import picture, upload, wait_for_task
from tests.cli import cli_env, free_port
from tests.processes import running
from tests.ray.cluster import Cluster
from tests.restarts import RestartTenant
from tests.s3server import shared_s3

pytestmark = pytest.mark.ray


@contextmanager
def server(
    data_dir: Path,
    database_url: str,
    log: Path,
    ray: Cluster | None,
    import_root: Path | None = None,
    store: dict[str, str] | None = None,
) -> Iterator[tuple[RestartTenant, subprocess.Popen[bytes]]]:
    port = free_port()
    env = cli_env(
        **(store or {}),
        LABELARTS_DATABASE_URL=database_url,
        LABELARTS_MODELS_DIR=os.environ["LABELARTS_MODELS_DIR"],
        LABELARTS_AUTOLABEL_AUGMENT_BUDGET="0",  # the perturbation checks triple the time
        LABELARTS_TASK_LEASE_SECONDS="10",
        LABELARTS_ML_THREADS="1",  # as the encoder actors (one CPU each)
    )
    args = ["serve", "--data-dir", str(data_dir), "--port", str(port)]
    if import_root is not None:
        args += ["--import-root", str(import_root)]
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


def make_folder(root: Path) -> Path:
    """Pictures of two classes and three sizes to process (a folder input)."""
    folder = root / "pictures"
    for i in range(12):
        kind = ("red", "blue")[i % 2]
        (folder / kind).mkdir(parents=True, exist_ok=True)
        image = Image.new("RGB", (24 + 8 * (i % 3), 16), (40 * i % 256, 255 - 20 * i, 30))
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        (folder / kind / f"p{i:02d}.png").write_bytes(buffer.getvalue())
    return folder


def start_processing(tenant: RestartTenant, name: str, folder: Path) -> tuple[str, str]:
    """A flip of every picture (a deterministic operator: the random ones draw from the run's
    own id); the processing task's id and its run's version id."""
    created = tenant.aksk.post(
        tenant.v2("/processor-tasks"),
        json={
            "name": name,
            "inputs": [{"type": "OBS", "source": str(folder)}],
            "template": {
                "id": "sys_data_augmentation",
                "operator_params": [
                    {
                        "name": "Flip",
                        "params": {
                            "task_type": "image_classification",
                            "lr_ud": "lr",
                            "do_validation": "False",
                        },
                    }
                ],
            },
            "create_version": True,
        },
    )
    assert created.status_code in (200, 201), created.text
    task_id: str = created.json()["task_id"]
    versions = tenant.aksk.get(tenant.v2(f"/processor-tasks/{task_id}/versions"))
    assert versions.status_code == 200, versions.text
    return task_id, versions.json()["versions"][0]["task_version_id"]


def wait_for_processing(tenant: RestartTenant, task_id: str, version_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 240
    while True:
        body: dict[str, Any] = tenant.aksk.get(
            tenant.v2(f"/processor-tasks/{task_id}/versions/{version_id}")
        ).json()
        if body["status"] in (2, 3, 4):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.5)


def processed(tenant: RestartTenant, data_dir: Path, task_id: str, version_id: str) -> dict[str, Any]:
    """A run's results (property and new file, by input name) and output files (digest by
    path), with the run's own ids left out."""
    results = tenant.aksk.get(
        tenant.v2(f"/processor-tasks/{task_id}/versions/{version_id}/results"),
        params={"result_property": "-1", "limit": 100, "offset": 0},
    ).json()
    assert not results["has_more"]
    base = data_dir / "objects" / "processing" / task_id / version_id
    files = {
        str(path.relative_to(base)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in base.rglob("*")
        if path.is_file() and path.name != "output.manifest"
    }
    # The manifest's sample ids hash the output paths, which hold the run's ids.
    manifest = [json.loads(line) for line in (base / "output.manifest").read_text().splitlines()]
    return {
        "results": sorted(
            (r["result_property"], r["new_source"].rsplit("/", 1)[-1]) for r in results["results"]
        ),
        "files": files,
        "manifest": sorted(
            (line["source"].rsplit("/", 1)[-1], json.dumps(line.get("annotation"), sort_keys=True))
            for line in manifest
        ),
    }


def test_auto_labeling_and_processing_run_on_ray_over_http_with_the_local_workers_results(
    tmp_path: Path, database_url: str, ray_cluster: Cluster
) -> None:
    unlabeled = 40
    data_dir, root = tmp_path / "local", tmp_path / "imports"
    folder = make_folder(root)
    runs: dict[str, dict[str, Any]] = {}
    with server(data_dir, database_url, tmp_path / "local.log", None, root) as (tenant, _):
        local_dataset = make_dataset(tenant, "local", unlabeled)
        local_processing = start_processing(tenant, "local", folder)
        done = wait_for_task(tenant, local_dataset, start(tenant, local_dataset))
        assert done["status"] == 3, done
        run = wait_for_processing(tenant, *local_processing)
        assert run["status"] == 2, run
        runs["local"] = processed(tenant, data_dir, *local_processing)
    with server(data_dir, database_url, tmp_path / "ray.log", ray_cluster, root) as (tenant, _):
        ray_dataset = make_dataset(tenant, "on-ray", unlabeled)
        task_id = start(tenant, ray_dataset)
        ray_processing = start_processing(tenant, "on-ray", folder)
        body = wait_for_task(tenant, ray_dataset, task_id)
        assert body["status"] == 3, (body, ray_cluster.logs("job-driver-*"))
        assert body["result"]["unconfirmed_sample_count"] == unlabeled
        assert body["result"]["encoded_feature_count"] == unlabeled + 10
        run = wait_for_processing(tenant, *ray_processing)
        assert run["status"] == 2, (run, ray_cluster.logs("job-driver-*"))
        assert run["origin_sample_count"] == 12 and run["add_sample_count"] == 12, run
        runs["ray"] = processed(tenant, data_dir, *ray_processing)
        # Both ran in a Ray job's driver, not in the worker that claimed them; the model was
        # loaded by the encoder actors only, never by the driver.
        assert owner(database_url, task_id).startswith("ray:")
        # (The driver logs it right after it ended the task.)
        deadline = time.monotonic() + 60
        while f"task {task_id}: models loaded by this driver: none" not in (
            drivers := ray_cluster.logs("job-driver-*")
        ):
            assert time.monotonic() < deadline, drivers
            time.sleep(0.5)
        (job,) = query(
            database_url,
            "SELECT job_id FROM processor_task_versions WHERE id = :v",
            v=ray_processing[1],
        )[0]
        assert owner(database_url, job).startswith("ray:")
    local, on_ray = outcome(database_url, local_dataset), outcome(database_url, ray_dataset)
    assert sorted(local) == sorted(on_ray)
    assert on_ray == local
    assert sum(1 for status, *_ in on_ray.values() if status == "AUTO_ANNOTATION") == unlabeled
    assert len(runs["ray"]["files"]) == 12
    assert runs["ray"] == runs["local"]


def s3_store() -> dict[str, str]:
    """The settings of a fresh bucket on the tests' S3-protocol server, as variables."""
    s3 = shared_s3()
    return {f"LABELARTS_{name.upper()}": str(value) for name, value in s3.settings(s3.new_bucket()).items()}


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
    data_dir, store = tmp_path / "data", s3_store()
    with server(data_dir, database_url, tmp_path / "serve.log", ray_cluster, store=store) as (tenant, proc):
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
    with server(data_dir, database_url, tmp_path / "serve2.log", None, store=store) as (tenant, _):
        body = wait_for_task(tenant, dataset_id, task_id)
    assert body["status"] == 3, (body, ray_cluster.logs("job-driver-*"))
    assert body["result"]["unconfirmed_sample_count"] == unlabeled
    assert killed not in encoder_processes()
    assert not list(data_dir.rglob("*.jpg"))  # the files were in the bucket only
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
