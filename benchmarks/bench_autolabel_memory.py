"""Auto labeling at scale: peak memory at 100k and 1M feature rows, and how long a person's
label update waits while the results are written.

Both parts generate a dataset straight into the database (bulk Core inserts): ``--labeled``
manually labeled samples over 10 classes and the rest unlabeled, and one ``sample_features``
row per sample under a fake encoder name (``bench-fake-<dim>``: float16 vectors drawn around
10 class centres). The real task code runs from there on: the read phase, the feature matrix
read page by page from the cache, learning, hard examples (perturbation checks off, as there are
no images), and the chunked write. The fake encoder is never asked to encode anything.

``rss``: for each size, the task runs in a fresh child process (``AutoLabelJob.read``,
``compute``, ``write``, as a task does), which reports its peak resident memory
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``, which counts the resident pages of the feature
memory map too) and the peak of its anonymous memory (``RssAnon`` from ``/proc/self/status``,
sampled every 20 ms: what cannot be paged out to the map's file), before and during the task,
and each phase's time.

``wait``: a real ``labelarts serve`` (SQLite or a throw-away PostgreSQL database) answers label
updates (``PUT .../data-annotations/samples``, one labeled sample per request, AK/SK-signed, one
client, back to back) while this process plays the worker and writes the task's results: once
in transactions of 250 samples (what a task does) and once in a single transaction (how results
were written before). Latency max and p95 are reported for each, beside the same requests with
nothing being written. A request that fails (the old single transaction on SQLite: 500 "database
is locked" after 30 s) is counted.

    python -m benchmarks.bench_autolabel_memory rss --sizes 100000,1000000
    python -m benchmarks.bench_autolabel_memory wait --size 50000 --labeled 200 --databases sqlite,postgresql
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import create_engine, insert

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script by the child process
    sys.path.insert(0, str(REPO))

from benchmarks.bench_auth_latency import (  # noqa: E402
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
from labelarts.storage.db import counters  # noqa: E402
from labelarts.storage.db.models import Dataset, Sample, SampleFeature, SampleLabel  # noqa: E402

CLASSES = [f"class{c}" for c in range(10)]
INSERT_ROWS = 5000


# --- data ----------------------------------------------------------------------------------------


def generate(database_url: str, project_id: str, n_samples: int, n_labeled: int, dim: int) -> str:
    """A dataset of ``n_samples`` (``n_labeled`` labeled, round robin over 10 classes) with one
    cached feature row each; returns its id."""
    rng = np.random.default_rng(0)
    centres = rng.normal(0.0, 1.0, (len(CLASSES), dim)).astype(np.float32)
    engine = create_engine(database_url)
    dataset_id = secrets.token_hex(10)
    now = int(time.time() * 1000)
    encoder = f"bench-fake-{dim}"
    with engine.begin() as conn:
        conn.execute(
            insert(Dataset.__table__),
            [
                {
                    "id": dataset_id,
                    "project_id": project_id,
                    "name": f"bench-{dataset_id[:8]}",
                    "dataset_type": 0,
                    "description": "",
                    "data_format": "Default",
                    "data_sources": [],
                    "work_path": "/bench/",
                    "work_path_type": 0,
                    "workspace_id": "0",
                    "import_annotations": True,
                    "import_data": False,
                    "managed": False,
                    "status": 1,
                    "next_version_num": 1,
                    "create_time": now,
                    "update_time": now,
                    "data_update_time": now,
                    "data_version": 0,
                }
            ],
        )
    started = time.perf_counter()
    for first in range(0, n_samples, INSERT_ROWS):
        count = min(INSERT_ROWS, n_samples - first)
        classes = (np.arange(first, first + count) % len(CLASSES)).astype(np.int64)
        vectors = (centres[classes] + rng.normal(0.0, 1.5, (count, dim)).astype(np.float32)).astype("<f2")
        samples, labels, feats = [], [], []
        for j in range(count):
            i = first + j
            sample_id = f"{i:010d}{dataset_id[:10]}"
            labeled = i < n_labeled
            samples.append(
                {
                    "id": sample_id,
                    "dataset_id": dataset_id,
                    "sample_type": 0,
                    "sample_status": "MANUAL_ANNOTATION" if labeled else "UN_ANNOTATION",
                    "sample_name": f"{i}.jpg",
                    "sample_dir": "/bench/",
                    "source_kind": "object",
                    "source_key": f"bench/{i}.jpg",
                    "sample_size": 1000,
                    "sample_time": now + i,
                    "metadata": {},
                    "hard": False,
                    "revision": 0,
                }
            )
            if labeled:
                labels.append(
                    {
                        "sample_id": sample_id,
                        "dataset_id": dataset_id,
                        "name": CLASSES[int(classes[j])],
                        "type": 0,
                        "property": {},
                        "annotated_by": "human",
                    }
                )
            feats.append(
                {
                    "sample_id": sample_id,
                    "encoder": encoder,
                    "dataset_id": dataset_id,
                    "vector": vectors[j].tobytes(),
                    "stats": None,
                    "create_time": now,
                }
            )
        with engine.begin() as conn:
            conn.execute(insert(Sample.__table__), samples)
            if labels:
                conn.execute(insert(SampleLabel.__table__), labels)
            conn.execute(insert(SampleFeature.__table__), feats)
        if first // INSERT_ROWS % 20 == 0:
            print(f"  generated {first + count:,} / {n_samples:,} samples", file=sys.stderr, flush=True)
    with engine.begin() as conn:
        counters.rebuild(conn, dataset_id)  # rows inserted directly: the counters from a recount
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    engine.dispose()
    print(f"  generated in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return dataset_id


# --- the task, in a worker-like process ----------------------------------------------------------


class FakeEncoder:
    """Stands for the encoder whose name the cache rows carry; every feature is cached already."""

    def __init__(self, dim: int) -> None:
        self.name = f"bench-fake-{dim}"
        self.dim = dim

    def encode(self, payloads: list[bytes]) -> np.ndarray:
        raise AssertionError("every feature should come from the cache")


def open_job(
    data_dir: Path, database_url: str, project_id: str, dataset_id: str, dim: int, **extra: Any
) -> Any:
    """Services on the data dir and an AutoLabelJob over the dataset, with the fake encoder."""
    import labelarts.ml.features.registry as registry
    from labelarts.config import Settings
    from labelarts.container import build_services
    from labelarts.services.autolabel.features import FeatureCache
    from labelarts.services.autolabel.job import AutoLabelJob, JobSpec

    registry.open_encoder = lambda *args, **kwargs: FakeEncoder(dim)  # type: ignore[assignment]
    settings = Settings(
        data_dir=data_dir, database_url=database_url, secret_key="bench-secret-0123456789abcdef"
    )
    services = build_services(settings, run_tasks=False)
    spec = JobSpec(
        project_id=project_id,
        dataset_id=dataset_id,
        mode="fast",
        target_precision=0.95,
        feature_model=None,
        confidence_scope=None,
        augment_budget=0,
    )
    job = AutoLabelJob(
        services.db,
        services.sources,
        FeatureCache(services.db),
        models_dir=data_dir / "models",
        threads=None,
        spec=spec,
        memmap_bytes=extra.get("memmap_bytes", settings.autolabel_memmap_bytes),
        scratch_dir=settings.resolved_data_dir / "tmp",
        write_rows=extra.get("write_rows", 250),
    )
    return services, job


@contextlib.contextmanager
def heartbeat(services: Any, owner: str = "here") -> Iterator[None]:
    """Renew the leases of the tasks this process drives (as a worker does), so that the
    server's worker never recovers them as abandoned while a long step runs."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(5.0):
            services.tasks.heartbeat(owner)

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class PeakSampler:
    """Samples RssAnon and VmRSS every 20 ms in a thread; keeps the peaks."""

    def __init__(self) -> None:
        self.anon = self.rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.anon = max(self.anon, _status_kib("RssAnon"))
            self.rss = max(self.rss, _status_kib("VmRSS"))
            self._stop.wait(0.02)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def child_task(args: argparse.Namespace) -> None:
    """Run one task's phases on the generated dataset; print the figures as JSON on stdout."""
    services, job = open_job(
        Path(args.data_dir),
        args.database_url,
        args.project_id,
        args.dataset_id,
        args.dim,
        memmap_bytes=args.memmap_bytes,
    )
    ctx = services.tasks.run_here(
        project_id=args.project_id, dataset_id=args.dataset_id, kind="auto-label", config={}
    )
    floor_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    floor_anon = _status_kib("RssAnon")
    times: dict[str, float] = {}
    with PeakSampler() as peaks:
        started = time.perf_counter()
        snap = job.read()
        times["read_s"] = time.perf_counter() - started
        started = time.perf_counter()
        labeling, summary = job.compute(ctx, snap)
        times["compute_s"] = time.perf_counter() - started
        started = time.perf_counter()
        outcome = job.write(ctx, snap, labeling)
        times["write_s"] = time.perf_counter() - started
    services.close()
    print(
        json.dumps(
            {
                "floor_rss_mib": floor_kib / 1024,
                "floor_anon_mib": floor_anon / 1024,
                "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "peak_anon_mib": peaks.anon / 1024,
                "written": outcome.written,
                "hard": summary["hard_sample_count"],
                **{k: round(v, 1) for k, v in times.items()},
            }
        )
    )


# --- rss ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def database(kind: str, tmp: Path, admin_url: str) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'data' / 'labelarts.db'}"
    else:
        with postgres_database(admin_url) as url:
            yield url


def rss(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for size in [int(s) for s in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory(prefix="labelarts-al-mem-", dir=args.tmp) as tmp_name:
            tmp = Path(tmp_name)
            with database(args.database, tmp, args.pg_admin_url) as url:
                project_id = secrets.token_hex(16)
                _create_user(tmp / "data", _base_env(url), project_id, secrets.token_urlsafe(16))
                print(f"{args.database} {size:,}: generating", file=sys.stderr, flush=True)
                dataset_id = generate(url, project_id, size, args.labeled, args.dim)
                command = [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "_task",
                    "--data-dir", str(tmp / "data"),
                    "--database-url", url,
                    "--project-id", project_id,
                    "--dataset-id", dataset_id,
                    "--dim", str(args.dim),
                    "--memmap-bytes", str(args.memmap_bytes),
                ]  # fmt: skip
                print(f"{args.database} {size:,}: auto labeling", file=sys.stderr, flush=True)
                started = time.perf_counter()
                done = subprocess.run(
                    command, capture_output=True, text=True, check=False, env=_base_env(None)
                )
                if done.returncode != 0:
                    raise RuntimeError(f"the task process failed:\n{done.stderr[-4000:]}")
                figures = json.loads(done.stdout.strip().splitlines()[-1])
                row = {
                    "database": args.database,
                    "samples": size,
                    "dim": args.dim,
                    "matrix_mib": size * args.dim * 4 / 2**20,
                    "mapped": size * args.dim * 4 > args.memmap_bytes,
                    "total_s": round(time.perf_counter() - started, 1),
                    **figures,
                }
                print(json.dumps(row), file=sys.stderr, flush=True)
                rows.append(row)
    print("| database | samples x dim | matrix | mapped | peak RSS | peak anon | floor RSS |", end="")
    print(" read | compute | write |")
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['database']} | {r['samples']:,} x {r['dim']} | {r['matrix_mib']:,.0f} MiB | "
            f"{'yes' if r['mapped'] else 'no'} | {r['peak_rss_mib']:,.0f} MiB | "
            f"{r['peak_anon_mib']:,.0f} MiB | "
            f"{r['floor_rss_mib']:,.0f} MiB | {r['read_s']} s | {r['compute_s']} s | {r['write_s']} s |"
        )
    return rows


# --- wait --------------------------------------------------------------------------------------------


def _put_latencies(
    client: Any, path: str, sample_ids: list[str], names: list[str], until: threading.Event, limit: int
) -> tuple[list[float], int]:
    """PUT one labeled sample's label back to back until ``until`` is set (or ``limit`` requests)."""
    latencies: list[float] = []
    failed = 0
    i = 0
    while not until.is_set() and i < limit:
        body = {
            "samples": [
                {
                    "sample_id": sample_ids[i % len(sample_ids)],
                    "labels": [{"name": names[i % len(names)], "type": 0}],
                }
            ]
        }
        started = time.perf_counter()
        response = client.put(path, json=body)
        latencies.append(time.perf_counter() - started)
        if response.status_code != 200:
            failed += 1
        i += 1
    return latencies, failed


def _write_in_one_transaction(job: Any, snap: Any, labeling: Any) -> int:
    """How results were written before: the same statements, all in one transaction."""
    written = 0
    total = len(labeling.sample_ids)
    with job._db.session() as session:
        for start in range(0, total, 250):
            written += job._write_chunk(session, snap, labeling, range(start, min(total, start + 250)))
    return int(written)


def _person(
    client: Any,
    path: str,
    sample_ids: list[str],
    names: list[str],
    until: threading.Event,
    out: dict[str, Any],
) -> None:
    out["latencies"], out["failed"] = _put_latencies(client, path, sample_ids, names, until, 1_000_000)


def wait(args: argparse.Namespace) -> list[dict[str, Any]]:
    import httpx

    from labelarts.client import SdkHmacAuth
    from labelarts.services.autolabel.job import Labeling

    rows = []
    for kind in args.databases.split(","):
        with tempfile.TemporaryDirectory(prefix="labelarts-al-wait-", dir=args.tmp) as tmp_name:
            tmp = Path(tmp_name)
            with database(kind, tmp, args.pg_admin_url) as url:
                project_id = secrets.token_hex(16)
                env = _base_env(url)
                creds = _create_user(tmp / "data", env, project_id, secrets.token_urlsafe(16))
                print(f"{kind} {args.size:,}: generating", file=sys.stderr, flush=True)
                dataset_id = generate(url, project_id, args.size, args.labeled, args.dim)
                port = _free_port()
                log_path = tmp / "serve.log"
                with log_path.open("wb") as log:
                    proc = subprocess.Popen(
                        [
                            *_labelarts_command(),
                            "serve",
                            "--data-dir",
                            str(tmp / "data"),
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
                    services, job = open_job(tmp / "data", url, project_id, dataset_id, args.dim)
                    beating = heartbeat(services)
                    beating.__enter__()
                    snap = job.read()
                    ctx = services.tasks.run_here(
                        project_id=project_id, dataset_id=dataset_id, kind="auto-label", config={}
                    )
                    labeling, _ = job.compute(ctx, snap)
                    labeled = snap.labeled_ids[:200]
                    names = [CLASSES[int(c)] for c in snap.y[:200]]
                    auth = SdkHmacAuth(creds["access_key"], creds["secret_key"], project_id)
                    path = f"/v2/{project_id}/datasets/{dataset_id}/data-annotations/samples"
                    with httpx.Client(base_url=base, auth=auth, trust_env=False, timeout=120) as client:
                        idle, _ = _put_latencies(client, path, labeled, names, threading.Event(), 200)
                        figures: dict[str, Any] = {"idle": idle}
                        for label, one_transaction in (("chunks of 250", False), ("one transaction", True)):
                            snap = job.read()  # the revisions the previous write left
                            assert snap.target_ids == labeling.sample_ids
                            current = Labeling(
                                labeling.sample_ids, snap.target_revisions, labeling.predicted,
                                labeling.confidence, labeling.hard,
                            )  # fmt: skip
                            done = threading.Event()
                            result: dict[str, Any] = {}

                            thread = threading.Thread(
                                target=_person, args=(client, path, labeled, names, done, result)
                            )
                            started = time.perf_counter()
                            thread.start()
                            if one_transaction:
                                written = _write_in_one_transaction(job, snap, current)
                            else:
                                written = job.write(ctx, snap, current).written
                            write_s = time.perf_counter() - started
                            done.set()
                            thread.join()
                            figures[label] = (result["latencies"], result["failed"], write_s, written)
                            print(
                                f"  {label}: {written:,} written in {write_s:.1f} s",
                                file=sys.stderr,
                                flush=True,
                            )
                    beating.__exit__(None, None, None)
                    services.close()
                finally:
                    _stop(proc)
                for label, value in figures.items():
                    latencies, failed, write_s, written = (value, 0, None, None) if label == "idle" else value
                    ordered = sorted(latencies)
                    row = {
                        "database": kind,
                        "samples": args.size,
                        "writing": label,
                        "write_s": None if write_s is None else round(write_s, 1),
                        "written": written,
                        "requests": len(ordered),
                        "failed": failed,
                        "p50_ms": round(_percentile(ordered, 0.5) * 1000, 1),
                        "p95_ms": round(_percentile(ordered, 0.95) * 1000, 1),
                        "max_ms": round(ordered[-1] * 1000, 1),
                    }
                    print(json.dumps(row), file=sys.stderr, flush=True)
                    rows.append(row)
    print("| database | results written | write time | requests | failed | p50 | p95 | max |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        what = "nothing (idle)" if r["writing"] == "idle" else f"{r['written']:,} in {r['writing']}"
        write_s = "-" if r["write_s"] is None else f"{r['write_s']} s"
        print(
            f"| {r['database']} | {what} | {write_s} | {r['requests']} | {r['failed']} | "
            f"{r['p50_ms']} ms | {r['p95_ms']} ms | {r['max_ms']} ms |"
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dim", type=int, default=1280, help="feature dimensions (EfficientNet-Lite0: 1280)")
    common.add_argument("--labeled", type=int, default=1000, help="manually labeled samples (10 classes)")
    common.add_argument("--pg-admin-url", default=DEFAULT_PG_ADMIN_URL)
    common.add_argument("--tmp", default=None, help="where the temporary data dirs go (default: TMPDIR)")
    common.add_argument("--json", default=None, help="also write the figures here")
    p_rss = commands.add_parser("rss", parents=[common], help="peak memory of a task at each size")
    p_rss.add_argument("--sizes", default="100000,1000000")
    p_rss.add_argument("--database", default="sqlite", choices=["sqlite", "postgresql"])
    p_rss.add_argument("--memmap-bytes", type=int, default=1 << 30, help="LABELARTS_AUTOLABEL_MEMMAP_BYTES")
    p_wait = commands.add_parser(
        "wait", parents=[common], help="label-update latency while results are written"
    )
    p_wait.add_argument("--size", type=int, default=100_000)
    p_wait.add_argument("--databases", default="sqlite,postgresql")
    p_task = commands.add_parser("_task", help=argparse.SUPPRESS)
    for name in ("--data-dir", "--database-url", "--project-id", "--dataset-id"):
        p_task.add_argument(name, required=True)
    p_task.add_argument("--dim", type=int, required=True)
    p_task.add_argument("--memmap-bytes", type=int, required=True)
    args = parser.parse_args(argv)
    if args.command == "_task":
        child_task(args)
        return 0
    rows = rss(args) if args.command == "rss" else wait(args)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
