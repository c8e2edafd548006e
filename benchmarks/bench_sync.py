"""Data-source sync time: a dataset over a folder of N JPEGs, synced with nothing changed and
then with 1 % of the files changed (a third removed, a third added, a third rewritten).

What it does:

1. writes ``--count`` distinct 64x64 JPEGs in ``--classes`` class folders (the images of
   :mod:`benchmarks.bench_import`), starts ``labelarts serve`` (SQLite in the data dir or a
   throw-away PostgreSQL database) and creates a dataset whose data source is the folder; its
   initial import is waited for;
2. syncs with nothing changed (every file walked and compared by size and time, the removal
   sweep pages every sample);
3. changes ``--changed`` of the files (default 1 %): removes a third, adds as many new ones,
   rewrites a third with new content and a new modification time; syncs again;
4. prints each sync's task time (``duration_time`` of ``GET .../sync-data/status``) and counts,
   the server's resident memory (highest ``VmRSS`` sampled every 0.5 s during the syncs) and
   checks the counts against what was changed.

Run from the repository root with the project's virtualenv active::

    python -m benchmarks.bench_sync --count 100000 --databases sqlite,postgresql
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import struct
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.bench_auth_latency import DEFAULT_PG_ADMIN_URL, _http_client, postgres_database
from benchmarks.bench_import import Session, base_jpeg, memory_kib, running_server, write_images
from labelarts.client import TokenAuth

POLL_S = 0.5
TIMEOUT_S = 3600.0


@dataclass(frozen=True)
class Result:
    database: str
    files: int
    changed: int
    import_s: float
    unchanged_sync_s: float
    sync_s: float
    added: int
    deleted: int
    updated: int
    unchanged: int
    rss_idle_mib: float
    rss_max_mib: float


def change_files(folder: Path, count: int, changed: int) -> tuple[int, int, int]:
    """Remove, add and rewrite about ``changed / 3`` files each; returns the three numbers."""
    third = max(1, changed // 3)
    files = sorted(folder.rglob("*.jpg"))
    step = max(1, len(files) // (2 * third))
    picked = files[::step][: 2 * third]
    removed, rewritten = picked[:third], picked[third:]
    for path in removed:
        path.unlink()
    data = base_jpeg()
    soi, rest = data[:2], data[2:]
    later = time.time() + 60
    for n, path in enumerate(rewritten):
        payload = f"labelarts-bench rewritten {n:09d} and longer".encode()
        path.write_bytes(soi + b"\xff\xfe" + struct.pack(">H", len(payload) + 2) + payload + rest)
        os.utime(path, (later, later))
    fresh = folder / "class_new"
    fresh.mkdir()
    for n in range(third):
        payload = f"labelarts-bench new {count + n:09d}".encode()
        (fresh / f"new_{n:07d}.jpg").write_bytes(
            soi + b"\xff\xfe" + struct.pack(">H", len(payload) + 2) + payload + rest
        )
    return len(removed), third, len(rewritten)


def wait_import(client: Any, session: Session, dataset_id: str, task_id: str) -> dict[str, Any]:
    path = f"/v2/{session.project_id}/datasets/{dataset_id}/import-tasks/{task_id}"
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        task: dict[str, Any] = client.get(path).json()
        if task["status"] in ("COMPLETED", "FAILED"):
            return task
        time.sleep(POLL_S)
    raise RuntimeError("import did not finish in time")


def run_sync(client: Any, session: Session, dataset_id: str, peak: list[int]) -> dict[str, Any]:
    base = f"/v2/{session.project_id}/datasets/{dataset_id}/sync-data"
    resp = client.post(base)
    if resp.status_code != 200:
        raise RuntimeError(f"POST {base} -> {resp.status_code}: {resp.text}")
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        peak[0] = max(peak[0], memory_kib(session.pid)["VmRSS"])
        status: dict[str, Any] = client.get(f"{base}/status").json()
        if status["status"] == "COMPLETED":
            return status
        if status["status"] == "FAILED":
            raise RuntimeError(f"sync failed: {status.get('error_code')} {status.get('error_msg')}")
        time.sleep(POLL_S)
    raise RuntimeError("sync did not finish in time")


def bench(database: str, count: int, classes: int, fraction: float, pg_admin_url: str) -> Result:
    changed = int(count * fraction)
    with tempfile.TemporaryDirectory(prefix="labelarts-bench-sync-") as raw_tmp:
        tmp = Path(raw_tmp)
        pg = postgres_database(pg_admin_url) if database == "postgresql" else contextlib.nullcontext(None)
        with pg as database_url, running_server(database_url, tmp) as session:
            folder = session.import_root / "images"
            print(f"[{database}] writing {count} images...", file=sys.stderr)
            write_images(folder, count, classes)
            with _http_client(TokenAuth(session.token), session.base_url) as client:
                resp = client.post(
                    f"/v2/{session.project_id}/datasets",
                    json={
                        "dataset_name": "bench-sync",
                        "data_sources": [{"data_type": 0, "data_path": str(folder)}],
                        "work_path": "/out/bench/",
                    },
                )
                if resp.status_code != 201:
                    raise RuntimeError(f"POST datasets -> {resp.status_code}: {resp.text}")
                dataset_id, import_id = resp.json()["dataset_id"], resp.json()["import_task_id"]
                print(f"[{database}] initial import...", file=sys.stderr)
                task = wait_import(client, session, dataset_id, import_id)
                import_s = (task["update_ms"] - task["create_time"]) / 1000
                idle = memory_kib(session.pid)["VmRSS"]
                peak = [idle]
                print(f"[{database}] sync, nothing changed...", file=sys.stderr)
                same = run_sync(client, session, dataset_id, peak)
                removed, added, rewritten = change_files(folder, count, changed)
                print(f"[{database}] sync, {removed + added + rewritten} files changed...", file=sys.stderr)
                after = run_sync(client, session, dataset_id, peak)
    expected = (added, removed, rewritten)
    got = (after["add_sample_count"], after["deleted_sample_count"], after["updated_sample_count"])
    if got != expected:
        print(f"  warning: expected +{expected[0]} -{expected[1]} ~{expected[2]}, got {got}", file=sys.stderr)
    return Result(
        database=database,
        files=count,
        changed=removed + added + rewritten,
        import_s=round(import_s, 2),
        unchanged_sync_s=round(same["duration_time"] / 1000, 2),
        sync_s=round(after["duration_time"] / 1000, 2),
        added=after["add_sample_count"],
        deleted=after["deleted_sample_count"],
        updated=after["updated_sample_count"],
        unchanged=after["unchanged_sample_count"],
        rss_idle_mib=round(idle / 1024, 1),
        rss_max_mib=round(peak[0] / 1024, 1),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--count", type=int, default=100_000, help="number of images (default 100000)")
    parser.add_argument("--classes", type=int, default=10, help="class folders (default 10)")
    parser.add_argument("--changed", type=float, default=0.01, help="fraction of files changed (0.01)")
    parser.add_argument("--databases", default="sqlite", help="comma-separated: sqlite,postgresql")
    parser.add_argument(
        "--pg-admin-url", default=os.environ.get("LABELARTS_TEST_PG_URL", DEFAULT_PG_ADMIN_URL)
    )
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args(argv)
    print(
        f"{'database':<11}{'files':>9}{'changed':>9}{'import s':>10}{'sync s (none)':>15}"
        f"{'sync s (1%)':>13}{'+added':>8}{'-deleted':>10}{'~updated':>10}{'RSS idle':>10}{'RSS max':>10}",
        flush=True,
    )
    results = []
    for db in args.databases.split(","):  # each row as soon as its database is done
        r = bench(db, args.count, args.classes, args.changed, args.pg_admin_url)
        results.append(r)
        print(
            f"{r.database:<11}{r.files:>9}{r.changed:>9}{r.import_s:>10.1f}{r.unchanged_sync_s:>15.1f}"
            f"{r.sync_s:>13.1f}{r.added:>8}{r.deleted:>10}{r.updated:>10}"
            f"{r.rss_idle_mib:>9.0f}M{r.rss_max_mib:>9.0f}M",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
