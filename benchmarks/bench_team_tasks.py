"""Team labeling at scale (issue 14, "Benchmark"): starting a task on ``--samples`` unlabeled
samples among ``--labelers`` labelers, then those labelers working at once.

A real ``labelarts serve --workers 0`` over SQLite (or PostgreSQL). The samples are inserted
straight through the storage layer (benchmarks/review_setup.py, then made unlabeled); the
labelers are member accounts (``labelarts member create``) in one team, each signing with
their own AK/SK.

1. **Start**: ``POST .../workforce-tasks`` naming the team, so the task is dealt in the
   request (``repetition`` ``--repetition``). Reported: the request's wall time and the
   server's CPU time over it (on a loaded machine the two differ by the waiting), and the
   server's resident memory before it and at its peak (``VmHWM`` of the server's processes,
   from ``/proc``: the peak since the server started, which before the start was small).
2. **Next sample**: ``--labelers`` threads, one per labeler, each in a loop for
   ``--duration`` seconds: list their next unlabeled sample
   (``GET .../data-annotations/samples?sample_state=__NONE__&limit=1``) and save a label on it
   (``PUT .../data-annotations/samples``). Reported: p50 / p95 / max of each request, and the
   number of loops. The load generator shares the machine's cores with the server.

    nice python -m benchmarks.bench_team_tasks --samples 100000 --labelers 20 --databases sqlite,postgresql
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
from sqlalchemy import create_engine, delete, update

from benchmarks import bench_auth_latency
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
from benchmarks.review_setup import _token, insert_machine_labeled, process_cpu_seconds, process_tree
from labelarts.client import SdkHmacAuth, TokenAuth
from labelarts.services.samples.records import UNLABELED
from labelarts.storage.db import counters
from labelarts.storage.db.models import Dataset, Sample, SampleLabel

PASSWORD = "bench-Password-1"


@dataclass(frozen=True)
class Row:
    database: str
    samples: int
    labelers: int
    repetition: int
    start_s: float
    start_cpu_s: float
    rss_before_mib: float
    rss_peak_mib: float
    loops: int
    next_p50_ms: float
    next_p95_ms: float
    next_max_ms: float
    save_p50_ms: float
    save_p95_ms: float
    errors: int
    loadavg: str


def _rss_kib(pid: int, field: str) -> int:
    total = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    total = max(total, int(line.split()[1]))
    return total


def _unlabel(database_url: str, dataset_id: str) -> None:
    """The inserted samples lose their labels: the pool a task takes is unlabeled samples."""
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(delete(SampleLabel).where(SampleLabel.dataset_id == dataset_id))
        conn.execute(
            update(Sample)
            .where(Sample.dataset_id == dataset_id)
            .values(sample_status=UNLABELED, top_score=None)
        )
        conn.execute(
            update(Dataset).where(Dataset.id == dataset_id).values(data_version=Dataset.data_version + 1)
        )
        counters.rebuild(conn, dataset_id)
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    engine.dispose()


@dataclass
class Server:
    base: str
    pid: int
    project_id: str
    token: str
    data_dir: Path
    env: dict[str, str]
    database_url: str


@contextlib.contextmanager
def server(database_url: str | None) -> Iterator[Server]:
    with tempfile.TemporaryDirectory(prefix="labelarts-team-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        env = _base_env(database_url)
        project_id = secrets.token_hex(16)
        _create_user(data_dir, env, project_id, PASSWORD)
        url = database_url or f"sqlite:///{data_dir / 'labelarts.db'}"
        port = _free_port()
        base = f"http://{HOST}:{port}"
        log_path = Path(tmp) / "server.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [
                    *_labelarts_command(),
                    "serve",
                    *("--data-dir", str(data_dir), "--host", HOST, "--port", str(port)),
                    *("--workers", "0", "--api-processes", "1"),
                ],
                env={**env, "LABELARTS_LOG_LEVEL": "warning"},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        try:
            bench_auth_latency.STARTUP_TIMEOUT_S = max(bench_auth_latency.STARTUP_TIMEOUT_S, 300.0)
            _wait_healthy(base, proc, log_path)
            with httpx.Client(base_url=base, trust_env=False, timeout=120) as client:
                token = _token(client, project_id, PASSWORD)
            yield Server(base, proc.pid, project_id, token, data_dir, env, url)
        finally:
            _stop(proc)


def _member(srv: Server, email: str) -> SdkHmacAuth:
    done = subprocess.run(
        [
            *_labelarts_command(),
            *("--data-dir", str(srv.data_dir)),
            *("member", "create", email, "--project-id", srv.project_id, "--password", PASSWORD),
        ],
        env=srv.env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    creds = json.loads(done.stdout)
    return SdkHmacAuth(creds["access_key"], creds["secret_key"], srv.project_id)


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def run_one(database: str, url: str | None, args: argparse.Namespace) -> Row:
    with server(url) as srv:
        owner = httpx.Client(base_url=srv.base, auth=TokenAuth(srv.token), trust_env=False, timeout=3600)
        v2 = f"/v2/{srv.project_id}"
        r = owner.post(
            f"{v2}/datasets",
            json={
                "dataset_name": "teambench",
                "data_sources": [],
                "work_path": "/out/teambench/",
                "work_path_type": 0,
                "labels": [{"name": "cat"}, {"name": "dog"}],
            },
        )
        r.raise_for_status()
        dataset_id = r.json()["dataset_id"]
        insert_machine_labeled(srv.database_url, dataset_id, args.samples)
        _unlabel(srv.database_url, dataset_id)
        team = owner.post(f"{v2}/workforces", json={"workforce_name": "bench"}).json()["workforce_id"]
        emails = [f"labeler{i:02d}@example.com" for i in range(args.labelers)]
        with ThreadPoolExecutor(4) as pool:  # each is a CLI process hashing a password
            auths = list(pool.map(lambda email: _member(srv, email), emails))
        owner.post(
            f"{v2}/workforces/{team}/workers", json={"emails": ",".join(emails), "role": 0}
        ).raise_for_status()
        rss_before = _rss_kib(srv.pid, "VmRSS")
        cpu_before = sum(process_cpu_seconds(p) for p in process_tree(srv.pid))
        started = time.perf_counter()
        r = owner.post(
            f"{v2}/datasets/{dataset_id}/workforce-tasks",
            json={
                "task_name": "bench",
                "repetition": args.repetition,
                "workforces_config": {"workforces": [{"workforce_id": team}]},
            },
        )
        start_s = time.perf_counter() - started
        start_cpu = sum(process_cpu_seconds(p) for p in process_tree(srv.pid)) - cpu_before
        r.raise_for_status()
        rss_peak = _rss_kib(srv.pid, "VmHWM")
        task_id = r.json()["task_id"]
        rss = f"RSS {rss_before / 1024:.0f} -> peak {rss_peak / 1024:.0f} MiB"
        print(f"{database}: started in {start_s:.1f} s; {rss}", flush=True)
        base = f"{v2}/datasets/{dataset_id}/workforce-tasks/{task_id}/data-annotations/samples"
        nexts: list[float] = []
        saves: list[float] = []
        errors = [0]
        lock = threading.Lock()
        stop_at = time.monotonic() + args.duration

        def work(auth: SdkHmacAuth) -> None:
            with httpx.Client(base_url=srv.base, auth=auth, trust_env=False, timeout=600) as client:
                while time.monotonic() < stop_at:
                    t0 = time.perf_counter()
                    got = client.get(base, params={"sample_state": "__NONE__", "limit": 1})
                    t1 = time.perf_counter()
                    if got.status_code != 200 or not got.json()["samples"]:
                        with lock:
                            errors[0] += 1
                        continue
                    sample_id = got.json()["samples"][0]["sample_id"]
                    body = {"samples": [{"sample_id": sample_id, "labels": [{"name": "cat", "type": 0}]}]}
                    saved = client.put(base, json=body)
                    t2 = time.perf_counter()
                    with lock:
                        nexts.append(1000 * (t1 - t0))
                        saves.append(1000 * (t2 - t1))
                        if saved.status_code != 200 or not saved.json()["success"]:
                            errors[0] += 1

        threads = [threading.Thread(target=work, args=(auth,)) for auth in auths]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        owner.close()
        return Row(
            database,
            args.samples,
            args.labelers,
            args.repetition,
            round(start_s, 2),
            round(start_cpu, 2),
            round(rss_before / 1024, 1),
            round(rss_peak / 1024, 1),
            len(nexts),
            round(statistics.median(nexts), 1) if nexts else 0.0,
            _pct(nexts, 0.95),
            round(max(nexts), 1) if nexts else 0.0,
            round(statistics.median(saves), 1) if saves else 0.0,
            _pct(saves, 0.95),
            errors[0],
            " ".join(f"{x:.1f}" for x in os.getloadavg()),
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--labelers", type=int, default=20)
    parser.add_argument("--repetition", type=int, default=1)
    parser.add_argument("--duration", type=int, default=60, help="seconds of concurrent labeling")
    parser.add_argument("--databases", default="sqlite")
    parser.add_argument("--pg-admin-url", default=DEFAULT_PG_ADMIN_URL)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = []
    for database in args.databases.split(","):
        if database == "postgresql":
            with postgres_database(args.pg_admin_url) as url:
                row = run_one(database, url, args)
        else:
            row = run_one(database, None, args)
        print(json.dumps(asdict(row)), flush=True)
        rows.append(row)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2))


if __name__ == "__main__":
    main()
