"""The review workload on the sample lists, at 10k, 100k and 1M samples, SQLite and PostgreSQL.

For each database and size: a fresh database, a user (CLI), ``labelarts serve --workers 0``
as a subprocess, one dataset; then ``n`` machine-labeled images (auto labels with scores,
10% hard) are inserted straight through the storage layer (bulk Core inserts).

Then, for each list (``auto``: ``GET .../auto-annotations/samples``, ``data``:
``GET .../data-annotations/samples``) and each filter below, a reviewer works through the
pages: it lists a 50-sample page, confirms 15 of its samples and corrects 5 (one
``PUT .../data-annotations/samples`` of 20), and lists the next page, ``--rounds`` times.
Every page after the first is therefore the first request after a change.

Reported per list and filter (requests signed with AK/SK, sequential, one connection):

* ``cold ms``: the first page of the filter (nothing cached yet);
* ``cpu ms``: server CPU per page request after a change, read around each request from
  ``/proc/<pid>/task/<tid>/schedstat`` of every thread of the server process (nanoseconds,
  summed over the threads; until 2026-12-04 it was user + system time from
  ``/proc/<pid>/stat``, in 10 ms ticks, which only the mean over many rounds could use);
* ``p50 ms`` / ``p95 ms``: wall time of those page requests, client included;
* ``put ms``: median wall time of the PUTs; ``put cpu``: mean server CPU per PUT of 20 (read
  as ``cpu ms`` is); ``count``: the total the first page answered.

The machine may be shared: the CPU figures are the reliable ones, wall times move with load.

    python -m benchmarks.bench_sample_list --sizes 10000,100000,1000000 --json /tmp/list.json
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, insert, update

from benchmarks.bench_auth_latency import DEFAULT_PG_ADMIN_URL, _percentile, postgres_database
from benchmarks.review_setup import CHUNK, LABELS, ReviewServer, cpu_delta_seconds, review_server
from labelarts.storage.db import counters
from labelarts.storage.db.models import Dataset, Sample, SampleLabel

LIMIT = 50
CONFIRM = 15
CORRECT = 5
FORMAT = "{:<10} {:>8} {:<4} {:<15} {:>8} {:>7} {:>7} {:>7} {:>7} {:>7} {:>8}"


@dataclass(frozen=True)
class Row:
    database: str
    samples: int
    list: str
    filter: str
    cold_ms: float
    cpu_ms: float
    median_ms: float
    p95_ms: float
    put_ms: float
    put_cpu_ms: float
    count: int
    pages: int


# Kept for benchmarks/bench_dataset_detail.py: a mixed dataset (40% unlabelled, 30% labelled,
# 30% auto-labelled), bulk-inserted.
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
                            "sample_top_score": score,  # the copy writers give (migration 0020)
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


def filters(count: int) -> dict[str, dict[str, Any]]:
    """The documented filters, each with the page the reviewer starts at."""
    deep = int(0.9 * count / LIMIT)
    return {
        "plain": {},
        "asc": {"order": "asc"},
        "deep 90%": {"offset": deep},
        "deep 90% asc": {"offset": deep, "order": "asc"},
        "label": {"label_name": "cat"},
        "score range": {"low_score": "0.2", "high_score": "0.6"},
        "label+score": {"label_name": "cat", "low_score": "0", "high_score": "0.5"},
        "hard": {"search_conditions": json.dumps([{"hard": "1"}])},
        "hard coeff": {"search_conditions": json.dumps([{"coefficient": "0.5-1"}])},
        "label_list": {
            "search_conditions": json.dumps(
                [{"label_list": {"op": "OR", "labels": [{"name": "dog"}, {"name": "bird"}]}}]
            )
        },
        "metadata": {
            "search_conditions": json.dumps([{"metadata": {"op": "OR", "props": {"@modelarts:hard": ["1"]}}}])
        },
    }


def review(
    server: ReviewServer, client: httpx.Client, list_name: str, params: dict[str, Any], rounds: int
) -> dict[str, Any]:
    base = f"/v2/{server.project_id}/datasets/{server.dataset_id}"
    path = f"{base}/auto-annotations/samples" if list_name == "auto" else f"{base}/data-annotations/samples"
    page = int(params.get("offset", 0))
    extra = {k: v for k, v in params.items() if k != "offset"}
    wall: list[float] = []
    cpu: list[float] = []
    puts: list[float] = []
    put_cpu: list[float] = []
    cold = 0.0
    count = 0
    pages = 0
    for i in range(rounds + 1):
        c0, t0 = server.cpu_threads(), time.perf_counter()
        response = client.get(path, params={**extra, "limit": LIMIT, "offset": page})
        t1, c1 = time.perf_counter(), server.cpu_threads()
        response.raise_for_status()
        body = response.json()
        if i == 0:
            cold, count = (t1 - t0) * 1000, body["sample_count"]
        else:
            wall.append((t1 - t0) * 1000)
            cpu.append(cpu_delta_seconds(c0, c1) * 1000)
        pages += 1
        samples = body["samples"]
        if not samples:
            page = 0
            continue
        changes = []
        for j, sample in enumerate(samples[: CONFIRM + CORRECT]):
            name = sample["labels"][0]["name"] if sample["labels"] else LABELS[0]
            if j >= CONFIRM:
                name = LABELS[(LABELS.index(name) + 1) % len(LABELS)] if name in LABELS else LABELS[0]
            changes.append({"sample_id": sample["sample_id"], "labels": [{"name": name, "type": 0}]})
        c2, t2 = server.cpu_threads(), time.perf_counter()
        client.put(f"{base}/data-annotations/samples", json={"samples": changes}).raise_for_status()
        t3, c3 = time.perf_counter(), server.cpu_threads()
        puts.append((t3 - t2) * 1000)
        put_cpu.append(cpu_delta_seconds(c2, c3) * 1000)
        page += 1
    wall.sort()
    return {
        "cold_ms": round(cold, 1),
        "cpu_ms": round(sum(cpu) / len(cpu), 2),
        "median_ms": round(statistics.median(wall), 1),
        "p95_ms": round(_percentile(wall, 0.95), 1),
        "put_ms": round(statistics.median(puts), 1) if puts else 0.0,
        "put_cpu_ms": round(statistics.fmean(put_cpu), 2) if put_cpu else 0.0,
        "count": count,
        "pages": pages,
    }


def run_one(database: str, database_url: str | None, count: int, rounds: int, lists: list[str]) -> list[Row]:
    rows = []
    with review_server(database_url, count) as server:
        print(f"# {database} {count}: inserted in {server.insert_seconds:.1f}s", flush=True)
        with httpx.Client(
            base_url=server.base_url, auth=server.signing, trust_env=False, timeout=300
        ) as client:
            for list_name in lists:
                for name, params in filters(count).items():
                    result = review(server, client, list_name, params, rounds)
                    row = Row(database, count, list_name, name, **result)
                    cells = (
                        database,
                        count,
                        list_name,
                        name,
                        row.cold_ms,
                        row.cpu_ms,
                        row.median_ms,
                        row.p95_ms,
                        row.put_ms,
                        row.put_cpu_ms,
                        row.count,
                    )
                    print(FORMAT.format(*cells), flush=True)
                    rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--lists", default="auto,data")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--pg-admin-url", default=DEFAULT_PG_ADMIN_URL)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results: list[Row] = []
    print(
        FORMAT.format(
            "database",
            "samples",
            "list",
            "filter",
            "cold ms",
            "cpu ms",
            "p50 ms",
            "p95 ms",
            "put ms",
            "put cpu",
            "count",
        )
    )
    lists = args.lists.split(",")
    for database in args.databases.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            if database == "postgresql":
                with postgres_database(args.pg_admin_url) as url:
                    results.extend(run_one(database, url, size, args.rounds, lists))
            else:
                results.extend(run_one(database, None, size, args.rounds, lists))
    if results:  # the figure to compare between runs: one cell alone is a mean of few readings
        mean = statistics.fmean(row.cpu_ms for row in results)
        print(f"# mean cpu ms over {len(results)} cells: {mean:.2f}")
        with_puts = [row.put_cpu_ms for row in results if row.put_cpu_ms]
        if with_puts:
            print(f"# mean put cpu ms over {len(with_puts)} cells: {statistics.fmean(with_puts):.2f}")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))


if __name__ == "__main__":
    main()
