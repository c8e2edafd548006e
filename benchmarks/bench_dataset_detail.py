"""Dataset detail, dataset list and statistics: server CPU and latency at 10 vs 1M samples.

Issue 10, goal 3: ``GET /v2/{project_id}/datasets/{id}`` and the dataset list cost the same at
1M samples as at 10. For each database and size: a fresh database, a user (CLI),
``labelarts serve --workers 0`` as a subprocess, one dataset created over HTTP, its samples
inserted straight through the storage layer (``bench_sample_list.insert_samples``: labels,
scores, hard flags; its counters rebuilt from a recount), then each request is sent
``--repeat`` times (after 3 warm-up requests), sequentially, AK/SK-signed, to 127.0.0.1:

* ``detail``: ``GET /v2/{project_id}/datasets/{id}``
* ``list``: ``GET /v2/{project_id}/datasets`` (the dataset among those listed)
* ``statistics``: ``GET .../data-annotations/stats`` (sample and per-label counts)

Reported per request: the server's CPU (user + system time of the API process, read from
``/proc/<pid>/stat`` before and after the repeats, divided by their number) and the median
and p95 latency over HTTP.

    python -m benchmarks.bench_dataset_detail --sizes 10,1000000 --databases sqlite,postgresql
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

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
from benchmarks.bench_sample_list import insert_samples
from labelarts.client import SdkHmacAuth

FORMAT = "{:<20} {:>9} {:<11} {:>12} {:>8} {:>8}"
WARMUP = 3
STARTUP_TRIES = 5
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Row:
    database: str
    samples: int
    request: str
    cpu_ms_per_request: float
    median_ms: float
    p95_ms: float


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (``/proc/<pid>/stat`` fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _serve(data_dir: Path, env: dict[str, str], log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    command = [*_labelarts_command(), "serve", "--data-dir", str(data_dir), "--host", HOST]
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [*command, "--port", str(port), "--workers", "0"],
            env={**env, "LABELARTS_LOG_LEVEL": "warning"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://{HOST}:{port}"
    try:
        # Several tries of the shared 60 s wait: an upgrade that backfills the counters of 1M
        # samples, on a busy machine, may take longer.
        for attempt in range(STARTUP_TRIES):
            try:
                _wait_healthy(base, proc, log_path)
                break
            except RuntimeError:
                if proc.poll() is not None or attempt == STARTUP_TRIES - 1:
                    raise
    except BaseException:
        _stop(proc)
        raise
    return proc, base


def _measure(
    label: str,
    proc: subprocess.Popen[bytes],
    client: httpx.Client,
    paths: dict[str, str],
    count: int,
    repeat: int,
) -> list[Row]:
    rows = []
    for name, path in paths.items():
        for _ in range(WARMUP):
            client.get(path).raise_for_status()
        timings = []
        cpu_before = cpu_seconds(proc.pid)
        for _ in range(repeat):
            started = time.perf_counter()
            response = client.get(path)
            timings.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
        cpu = (cpu_seconds(proc.pid) - cpu_before) * 1000 / repeat
        timings.sort()
        rows.append(
            Row(
                label,
                count,
                name,
                round(cpu, 2),
                round(statistics.median(timings), 2),
                round(_percentile(timings, 0.95), 2),
            )
        )
    return rows


def run_one(
    database: str, database_url: str | None, count: int, repeat: int, before: Path | None
) -> list[Row]:
    """Measure one database and size. With ``before`` (a checkout of the code to compare with),
    that code creates the database, the user and the dataset and answers first; the samples
    are inserted once; then this code's server upgrades the same database (migrations,
    counters backfilled) and answers."""
    with tempfile.TemporaryDirectory(prefix="labelarts-detail-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        env = _base_env(database_url)
        first_env = {**env, "PYTHONPATH": str(before)} if before else env
        project_id = secrets.token_hex(16)
        creds = _create_user(data_dir, first_env, project_id, secrets.token_urlsafe(16))
        url = database_url or f"sqlite:///{data_dir / 'labelarts.db'}"
        log_path = Path(tmp) / "server.log"
        auth = SdkHmacAuth(creds["access_key"], creds["secret_key"], project_id)
        rows: list[Row] = []
        proc, base = _serve(data_dir, first_env, log_path)
        try:
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
                insert_samples(url, dataset_id, count, rebuild_counters=before is None)
                paths = {
                    "detail": f"/v2/{project_id}/datasets/{dataset_id}",
                    "list": f"/v2/{project_id}/datasets",
                    "statistics": f"/v2/{project_id}/datasets/{dataset_id}/data-annotations/stats",
                }
                label = f"{database} (before)" if before else database
                rows.extend(_measure(label, proc, client, paths, count, repeat))
        finally:
            _stop(proc)
        if before is None:
            return rows
        started = time.perf_counter()
        proc, base = _serve(data_dir, env, log_path)  # upgrades the schema: counters backfilled
        print(f"# {database} {count}: upgraded and started in {time.perf_counter() - started:.1f}s")
        try:
            with httpx.Client(base_url=base, auth=auth, trust_env=False, timeout=120) as client:
                rows.extend(_measure(database, proc, client, paths, count, repeat))
        finally:
            _stop(proc)
        return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10,1000000")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--pg-admin-url", default=DEFAULT_PG_ADMIN_URL)
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--before",
        type=Path,
        help="a checkout of the code to compare with (e.g. a git worktree of an older commit): "
        "it answers first, then this code upgrades the same database and answers",
    )
    args = parser.parse_args()
    results: list[Row] = []
    print(FORMAT.format("database", "samples", "request", "cpu ms/req", "p50 ms", "p95 ms"))
    for database in args.databases.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            if database == "postgresql":
                with postgres_database(args.pg_admin_url) as url:
                    rows = run_one(database, url, size, args.repeat, args.before)
            else:
                rows = run_one(database, None, size, args.repeat, args.before)
            for r in rows:
                cells = (r.database, r.samples, r.request, r.cpu_ms_per_request, r.median_ms, r.p95_ms)
                print(FORMAT.format(*cells), flush=True)
            results.extend(rows)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))


if __name__ == "__main__":
    main()
