"""Publishing a dataset version at 100k and 1M samples, on SQLite and PostgreSQL, through HTTP.

For each database and size: a fresh database, a user (CLI), ``labelarts serve`` as a
subprocess (its worker process runs the publish task), one dataset created over HTTP, the
samples inserted straight through the storage layer (``bench_sample_list.insert_samples``:
about 30% labeled with one of ten labels, 30% auto-labeled, 40% unlabeled); then
``POST .../versions`` (``train_evaluate_sample_ratio`` 0.8) and the version is polled every
0.2 s until it is normal. Reported: the wall time from the POST to status 1, the task's own
phases (freeze: the two ``INSERT ... SELECT``; statistics; writing the manifest), the
manifest's size, and how labeling fared meanwhile: a second client relabels one labeled
sample (``PUT .../data-annotations/samples``) every 0.1 s during the publish, and the
median and slowest of those requests are printed (PostgreSQL: the freeze blocks no writer;
SQLite: writers wait for the freeze's transaction).

    python -m benchmarks.bench_publish --sizes 100000,1000000 --json /tmp/publish.json
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, select

from benchmarks.bench_auth_latency import (
    DEFAULT_PG_ADMIN_URL,
    HOST,
    _base_env,
    _create_user,
    _free_port,
    _labelarts_command,
    _stop,
    _wait_healthy,
    postgres_database,
)
from benchmarks.bench_sample_list import insert_samples
from labelarts.client import SdkHmacAuth
from labelarts.storage.db.models import Sample, Task

FORMAT = "{:<11} {:>9} {:>10} {:>9} {:>8} {:>8} {:>10} {:>7} {:>9} {:>9}"


@dataclass(frozen=True)
class Row:
    database: str
    samples: int
    publish_s: float
    freeze_s: float
    statistics_s: float
    write_s: float
    manifest_mb: float
    label_requests: int
    label_p50_ms: float
    label_max_ms: float


class Relabeler(threading.Thread):
    """PUTs a label on one labeled sample every 0.1 s until stopped; keeps the latencies."""

    def __init__(self, base: str, auth: httpx.Auth, path: str, sample_ids: list[str]) -> None:
        super().__init__(daemon=True)
        self._client = httpx.Client(base_url=base, auth=auth, trust_env=False, timeout=120)
        self._path = path
        self._ids = sample_ids
        self.stop = threading.Event()
        self.latencies: list[float] = []
        self.failures = 0

    def run(self) -> None:
        turn = 0
        while not self.stop.is_set():
            sample_id = self._ids[turn % len(self._ids)]
            name = ("cat", "dog")[turn % 2]
            body = {"samples": [{"sample_id": sample_id, "labels": [{"name": name, "type": 0}]}]}
            started = time.perf_counter()
            response = self._client.put(self._path, json=body)
            self.latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                self.failures += 1
            turn += 1
            self.stop.wait(0.1)
        self._client.close()


def run_one(database: str, database_url: str | None, count: int) -> Row:
    with tempfile.TemporaryDirectory(prefix="labelarts-publish-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        env = _base_env(database_url)
        project_id = secrets.token_hex(16)
        creds = _create_user(data_dir, env, project_id, secrets.token_urlsafe(16))
        url = database_url or f"sqlite:///{data_dir / 'labelarts.db'}"
        port = _free_port()
        log_path = Path(tmp) / "server.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [
                    *_labelarts_command(),
                    "serve",
                    "--data-dir",
                    str(data_dir),
                    "--host",
                    HOST,
                    "--port",
                    str(port),
                ],
                env={**env, "LABELARTS_LOG_LEVEL": "warning"},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            base = f"http://{HOST}:{port}"
            _wait_healthy(base, proc, log_path)
            auth = SdkHmacAuth(creds["access_key"], creds["secret_key"], project_id)
            with httpx.Client(base_url=base, auth=auth, trust_env=False, timeout=120) as client:
                body = {
                    "dataset_name": "bench",
                    "data_sources": [],
                    "work_path": "/out/",
                    "work_path_type": 0,
                }
                response = client.post(f"/v2/{project_id}/datasets", json=body)
                response.raise_for_status()
                dataset_id = response.json()["dataset_id"]
                seconds = insert_samples(url, dataset_id, count)
                print(f"# {database} {count}: inserted in {seconds:.1f}s", flush=True)
                engine = create_engine(url)
                with engine.connect() as conn:
                    labeled = list(
                        conn.execute(
                            select(Sample.id)
                            .where(
                                Sample.dataset_id == dataset_id, Sample.sample_status == "MANUAL_ANNOTATION"
                            )
                            .limit(50)
                        ).scalars()
                    )
                versions = f"/v2/{project_id}/datasets/{dataset_id}/versions"
                relabel = Relabeler(
                    base, auth, f"/v2/{project_id}/datasets/{dataset_id}/data-annotations/samples", labeled
                )
                relabel.start()
                started = time.perf_counter()
                response = client.post(versions, json={"train_evaluate_sample_ratio": "0.8"})
                response.raise_for_status()
                version_id = response.json()["version_id"]
                while True:
                    version = client.get(f"{versions}/{version_id}").json()
                    if version["status"] != 0:
                        break
                    time.sleep(0.2)
                publish_s = time.perf_counter() - started
                relabel.stop.set()
                relabel.join()
                if version["status"] != 1:
                    raise RuntimeError(f"publishing failed: {version.get('message')}")
                assert version["total_sample_count"] == count, version["total_sample_count"]
                result: dict[str, Any] = {}
                while not result:  # the task's result is written just after the version is normal
                    with engine.connect() as conn:
                        result = conn.execute(
                            select(Task.result).where(Task.id == version["task_id"])
                        ).scalar_one()
                    time.sleep(0.1)
                engine.dispose()
                if relabel.failures:
                    print(f"# {relabel.failures} relabel requests failed", flush=True)
                latencies = sorted(relabel.latencies) or [0.0]
                return Row(
                    database,
                    count,
                    round(publish_s, 1),
                    float(result.get("freeze_seconds", 0)),
                    float(result.get("statistics_seconds", 0)),
                    float(result.get("write_seconds", 0)),
                    round(int(result.get("manifest_bytes", 0)) / 1e6, 1),
                    len(relabel.latencies),
                    round(statistics.median(latencies), 1),
                    round(latencies[-1], 1),
                )
        finally:
            _stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--pg-admin-url", default=DEFAULT_PG_ADMIN_URL)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows: list[Row] = []
    print(
        FORMAT.format(
            "database",
            "samples",
            "publish s",
            "freeze s",
            "stats s",
            "write s",
            "manifest MB",
            "PUTs",
            "PUT p50",
            "PUT max",
        )
    )
    for database in args.databases.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            if database == "postgresql":
                with postgres_database(args.pg_admin_url) as url:
                    row = run_one(database, url, size)
            else:
                row = run_one(database, None, size)
            print(FORMAT.format(*asdict(row).values()), flush=True)
            rows.append(row)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2))


if __name__ == "__main__":
    main()
