"""Sample-list latency at 10k, 100k and 1M samples, on SQLite and PostgreSQL, through HTTP.

For each database and size: a fresh database, a user (CLI), ``labelarts serve`` as a
subprocess, one dataset created over HTTP; then the samples (with labels, scores, hard
flags) are inserted straight through the storage layer (bulk Core inserts, as the issue
allows), and these list requests are timed over HTTP (AK/SK-signed, sequential):

* ``first page``: ``limit=20&offset=0``
* ``page 90% deep``: ``offset = 0.9 * n / 20``
* ``score range``: ``low_score=0.2&high_score=0.4`` (sorted by score)
* ``label by score``: ``label_name=cat&low_score=0&high_score=1`` (sorted by score)
* ``hard condition``: ``search_conditions=[{"hard": "1"}]``

Each query is sent once cold (the first request pays for the count and, for deep pages,
the skip index) and then ``--repeat`` times; median and p95 of the repeats are reported,
with the cold time beside them. Requests go to 127.0.0.1 only.

    python -m benchmarks.bench_sample_list --sizes 10000,100000,1000000 --json /tmp/list.json
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import statistics
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, insert, update

from benchmarks.bench_auth_latency import (
    DEFAULT_PG_ADMIN_URL,
    HOST,
    _base_env,
    _create_user,
    _free_port,
    _labelarts_command,
    _percentile,
    _stop,
    _wait_healthy,
    postgres_database,
)
from labelarts.client import SdkHmacAuth
from labelarts.storage.db import counters
from labelarts.storage.db.models import Dataset, Sample, SampleLabel

LABELS = ["cat", "dog", "bird", "fish", "horse", "frog", "ship", "truck", "car", "plane"]
LIMIT = 20
CHUNK = 20_000
FORMAT = "{:<11} {:>9} {:<16} {:>8} {:>7} {:>7} {:>5} {:>8}"


@dataclass(frozen=True)
class Row:
    database: str
    samples: int
    query: str
    cold_ms: float
    median_ms: float
    p95_ms: float
    returned: int
    sample_count: int


def insert_samples(
    database_url: str, dataset_id: str, count: int, seed: int = 1, *, rebuild_counters: bool = True
) -> float:
    """Bulk-insert ``count`` samples (about 60% labelled); return seconds taken.
    ``rebuild_counters=False``: leave the counters alone (a schema older than them)."""
    rng = random.Random(seed)
    engine = create_engine(database_url)
    started = time.perf_counter()
    base_time = 1_700_000_000_000
    with engine.begin() as conn:
        for first in range(0, count, CHUNK):
            samples: list[dict[str, Any]] = []
            labels: list[dict[str, Any]] = []
            for i in range(first, min(count, first + CHUNK)):
                sample_id = f"{i:09d}{secrets.token_hex(5)}"
                roll = rng.random()
                status = (
                    "UN_ANNOTATION"
                    if roll < 0.4
                    else ("MANUAL_ANNOTATION" if roll < 0.7 else "AUTO_ANNOTATION")
                )
                hard = rng.random() < 0.1
                score = None
                if status != "UN_ANNOTATION":
                    name = LABELS[rng.randrange(len(LABELS))]
                    score = rng.random() if status == "AUTO_ANNOTATION" else None
                    labels.append(
                        {
                            "sample_id": sample_id,
                            "dataset_id": dataset_id,
                            "name": name,
                            "type": 0,
                            "score": score,
                            "property": {},
                            "annotated_by": "human",
                        }
                    )
                samples.append(
                    {
                        "id": sample_id,
                        "dataset_id": dataset_id,
                        "sample_type": 0,
                        "sample_status": status,
                        "sample_name": f"img_{i}.jpg",
                        "sample_dir": "/bench/",
                        "source_kind": "object",
                        "source_key": f"bench/{i}.jpg",
                        "sample_size": 1000,
                        "sample_time": base_time + i * 1000,
                        "metadata": {"@modelarts:size": [32, 32, 3]},
                        "hard": hard,
                        "hard_coefficient": rng.random() if hard else None,
                        "top_score": score,
                    }
                )
            conn.execute(insert(Sample.__table__), samples)
            if labels:
                conn.execute(insert(SampleLabel.__table__), labels)
        conn.execute(
            update(Dataset).where(Dataset.id == dataset_id).values(data_version=Dataset.data_version + 1)
        )
        if rebuild_counters:  # rows inserted directly: the counters from a recount
            counters.rebuild(conn, dataset_id)
    if database_url.startswith("postgresql"):
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    else:
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    return time.perf_counter() - started


def queries(count: int) -> dict[str, dict[str, Any]]:
    deep = int(0.9 * count / LIMIT)
    return {
        "first page": {"limit": LIMIT, "offset": 0},
        "page 90% deep": {"limit": LIMIT, "offset": deep},
        "score range": {"limit": LIMIT, "offset": 0, "low_score": "0.2", "high_score": "0.4"},
        "label by score": {
            "limit": LIMIT,
            "offset": 0,
            "label_name": "cat",
            "low_score": "0",
            "high_score": "1",
        },
        "hard condition": {"limit": LIMIT, "offset": 0, "search_conditions": json.dumps([{"hard": "1"}])},
    }


def run_one(database: str, database_url: str | None, count: int, repeat: int) -> tuple[list[Row], float]:
    with tempfile.TemporaryDirectory(prefix="labelarts-list-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        env = _base_env(database_url)
        project_id = secrets.token_hex(16)
        password = secrets.token_urlsafe(16)
        creds = _create_user(data_dir, env, project_id, password)
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
                    "work_path": "/out/bench/",
                    "work_path_type": 0,
                }
                response = client.post(f"/v2/{project_id}/datasets", json=body)
                response.raise_for_status()
                dataset_id = response.json()["dataset_id"]
                insert_seconds = insert_samples(url, dataset_id, count)
                path = f"/v2/{project_id}/datasets/{dataset_id}/data-annotations/samples"
                rows = []
                for name, params in queries(count).items():
                    started = time.perf_counter()
                    first = client.get(path, params=params)
                    cold = (time.perf_counter() - started) * 1000
                    first.raise_for_status()
                    timings = []
                    for _ in range(repeat):
                        started = time.perf_counter()
                        response = client.get(path, params=params)
                        timings.append((time.perf_counter() - started) * 1000)
                        response.raise_for_status()
                    timings.sort()
                    result = first.json()
                    rows.append(
                        Row(
                            database,
                            count,
                            name,
                            round(cold, 1),
                            round(statistics.median(timings), 1),
                            round(_percentile(timings, 0.95), 1),
                            len(result["samples"]),
                            result["sample_count"],
                        )
                    )
                return rows, insert_seconds
        finally:
            _stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--pg-admin-url", default=DEFAULT_PG_ADMIN_URL)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results: list[Row] = []
    print(FORMAT.format("database", "samples", "query", "cold ms", "p50 ms", "p95 ms", "rows", "count"))
    for database in args.databases.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            if database == "postgresql":
                with postgres_database(args.pg_admin_url) as url:
                    rows, seconds = run_one(database, url, size, args.repeat)
            else:
                rows, seconds = run_one(database, None, size, args.repeat)
            print(f"# {database} {size}: inserted in {seconds:.1f}s")
            for r in rows:
                cells = (
                    r.database,
                    r.samples,
                    r.query,
                    r.cold_ms,
                    r.median_ms,
                    r.p95_ms,
                    r.returned,
                    r.sample_count,
                )
                print(FORMAT.format(*cells), flush=True)
            results.extend(rows)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))


if __name__ == "__main__":
    main()
