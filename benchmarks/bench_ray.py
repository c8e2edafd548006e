"""Auto-labeling throughput: the local worker vs a two-node local Ray cluster (issue 16).

For each executor, ``labelarts serve`` (SQLite, one worker process; with ``--ray-address`` for
Ray) gets datasets of ``10 + N`` generated 32x32 JPEGs (10 labeled, N unlabeled; two
separable classes) for each N of ``--sizes``, and runs one auto-labeling task on each (the
perturbation checks off, so the task is features + head + write). Timed from the create
request to SUCCEEDED, polled every 0.1 s; the feature phase (progress 2 % -> 80 %) where a poll
saw it under way.

Equal CPUs: the local worker runs onnxruntime on ``--cpus`` threads; the Ray cluster has two
nodes of ``--cpus / 2`` CPUs each, one encoder actor (one thread) per CPU. Both on this one
machine, so the Ray figures are its overhead (job start, actors loading the model, shipping
files and features between processes), not a second machine's speed.

A line ``time = fixed + per_sample x N`` through the sizes gives each executor's fixed cost
(per task) and per-sample cost; the difference is what Ray adds.

    python -m benchmarks.bench_ray --sizes 200 800
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

from benchmarks.bench_auth_latency import _base_env, _free_port, _labelarts_command, _stop, _wait_healthy
from labelarts.client import SdkHmacAuth

MODELS_DIR = Path(
    os.environ.get("LABELARTS_MODELS_DIR") or Path.home() / ".cache" / "labelarts-bench" / "models"
)


def picture(kind: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:32, 0:32] / 32
    if kind == 0:
        base = np.stack([0.85 + 0 * xx, 0.25 + 0.2 * np.sin(9 * xx * yy), 0.15 + 0 * xx], axis=-1)
    else:
        base = np.stack([0.1 + 0 * xx, 0.35 + 0.25 * np.sin(14 * yy), 0.9 + 0 * xx], axis=-1)
    pixels = np.clip(base + rng.normal(0, 0.06, base.shape), 0, 1)
    out = io.BytesIO()
    Image.fromarray((pixels * 255).astype(np.uint8)).save(out, "JPEG", quality=90)
    return out.getvalue()


@contextmanager
def serve(data_dir: Path, cpus: int, ray_address: str | None) -> Iterator[httpx.Client]:
    port = _free_port()
    env = _base_env(None)
    env.update(
        LABELARTS_MODELS_DIR=str(MODELS_DIR),
        LABELARTS_AUTOLABEL_AUGMENT_BUDGET="0",
        LABELARTS_ML_THREADS=str(cpus if ray_address is None else 1),
    )
    command = [*_labelarts_command(), "serve", "--data-dir", str(data_dir), "--port", str(port)]
    if ray_address:
        command += ["--ray-address", ray_address]
    log = data_dir.with_suffix(".log")
    data_dir.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=out)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_healthy(base, proc, log)
        creds = json.loads((data_dir / "initial-credentials.json").read_text())
        auth = SdkHmacAuth(creds["access_key"], creds["secret_key"], creds["project_id"])
        with httpx.Client(base_url=f"{base}/v2/{creds['project_id']}", auth=auth, timeout=60) as client:
            yield client
    finally:
        _stop(proc)


def dataset(client: httpx.Client, unlabeled: int, seed: int) -> str:
    created = client.post(
        "/datasets",
        json={
            "dataset_name": f"bench{seed}",
            "dataset_type": 0,
            "data_sources": [{"data_type": 0}],
            "work_path": "/w/",
            "work_path_type": 0,
        },
    )
    created.raise_for_status()
    dataset_id: str = created.json()["dataset_id"]
    items: list[tuple[str, bytes, str | None]] = [
        (f"l{i}.jpg", picture(i % 2, seed + i), ("red", "blue")[i % 2]) for i in range(10)
    ]
    items += [(f"u{i}.jpg", picture(i % 2, seed + 1000 + i), None) for i in range(unlabeled)]
    for start in range(0, len(items), 100):
        samples = [
            {
                "name": name,
                "data": base64.b64encode(data).decode(),
                **({"labels": [{"name": label, "type": 0}]} if label else {}),
            }
            for name, data, label in items[start : start + 100]
        ]
        client.post(
            f"/datasets/{dataset_id}/data-annotations/samples", json={"samples": samples}
        ).raise_for_status()
    return dataset_id


def run_task(client: httpx.Client, dataset_id: str) -> dict[str, float]:
    started = time.monotonic()
    task_id = client.post(f"/datasets/{dataset_id}/tasks", json={}).json()["task_id"]
    features_from = features_to = None
    while True:
        body: dict[str, Any] = client.get(f"/datasets/{dataset_id}/tasks/{task_id}").json()
        now = time.monotonic() - started
        progress = float(body.get("progress") or 0) / (100 if float(body.get("progress") or 0) > 1 else 1)
        if features_from is None and progress > 0.02:
            features_from = now
        if features_to is None and progress >= 0.80:
            features_to = now
        if body["status"] in (2, 3, 5):
            if body["status"] != 3:
                raise RuntimeError(f"task ended {body['status']}: {body}")
            break
        time.sleep(0.1)
    total = time.monotonic() - started
    figures: dict[str, float] = {"seconds": round(total, 2)}
    # Only when a poll saw the phase under way (a short one may pass between two polls).
    if features_from is not None and features_to is not None and features_to > features_from:
        figures["feature_seconds"] = round(features_to - features_from, 2)
    return figures


def fit(sizes: list[int], seconds: list[float]) -> tuple[float, float]:
    """(fixed s, per-sample ms) of a least-squares line through (samples, seconds)."""
    slope, intercept = np.polyfit(np.array(sizes, dtype=float), np.array(seconds), 1)
    return float(intercept), float(slope) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 800])
    parser.add_argument("--cpus", type=int, default=2)
    args = parser.parse_args()
    os.environ["LABELARTS_MODELS_DIR"] = str(MODELS_DIR)  # the cluster's nodes too
    from tests.ray.cluster import local_cluster

    print(f"load average at start: {os.getloadavg()}", flush=True)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
        for executor in ("local", "ray"):
            if executor == "ray":
                cluster = local_cluster(cpus_per_node=max(1, args.cpus // 2), nodes=2)
                address: str | None = cluster.__enter__().address
            else:
                cluster, address = None, None
            try:
                with serve(Path(tmp) / executor, args.cpus, address) as client:
                    for n in args.sizes:
                        dataset_id = dataset(client, n, seed=n)
                        figures = run_task(client, dataset_id)
                        row = {"executor": executor, "samples": n + 10, **figures}
                        row["samples_per_s"] = round((n + 10) / figures["seconds"], 1)
                        row["load"] = round(os.getloadavg()[0], 2)
                        rows.append(row)
                        print(json.dumps(row), flush=True)
            finally:
                if cluster is not None:
                    cluster.__exit__(None, None, None)
    print(f"load average at end: {os.getloadavg()}")
    for executor in ("local", "ray"):
        mine = [r for r in rows if r["executor"] == executor]
        if len(mine) >= 2:
            fixed, per_sample = fit([r["samples"] for r in mine], [r["seconds"] for r in mine])
            print(
                json.dumps(
                    {
                        "executor": executor,
                        "task_fixed_s": round(fixed, 2),
                        "task_ms_per_sample": round(per_sample, 2),
                    }
                )
            )


if __name__ == "__main__":
    main()
