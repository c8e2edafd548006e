"""A processing run through the server: samples/s and peak RSS of the worker that runs it.

Set-up: N generated JPEG files (96x64, a few KB, varied colours, some 2000 px wide so
MetaValidation has something to resize) under an import root, an image-classification
dataset over them (rows bulk-inserted with Core, as bench_export does), and a user. Then
``labelarts serve`` starts (one worker process) and, through the client, a processing task
runs each requested template on the dataset (``create_version``); the benchmark waits for the
run, and reads the worker process's peak RSS (VmHWM) when it ends. While it runs, the worker's
current RSS (VmRSS) is sampled once a second, and printed at each tenth of the progress: a
flat line is the claim that memory does not grow with the input. The load average is printed
before and after each run (the figures are only as good as the machine was idle).

    python -m benchmarks.bench_processing --count 10000
    python -m benchmarks.bench_processing --count 100000
    python -m benchmarks.bench_processing --count 10000 --runs validation,augmentation --database postgresql
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy import create_engine, insert

CHUNK = 10_000
DEFAULT_PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
RUNS: dict[str, dict[str, Any]] = {
    "validation": {
        "id": "sys_data_validation",
        "operator_params": [
            {
                "name": "MetaValidation",
                "params": {
                    "task_type": "image_classification",
                    "image_max_width": "1024",
                    "image_max_height": "1024",
                },
            }
        ],
    },
    "deduplication": {
        "id": "sys_data_selection",
        "operator_params": [
            {
                "name": "SimDeduplication",
                "params": {"task_type": "image_classification", "do_validation": "False"},
            }
        ],
    },
    "augmentation": {
        "id": "sys_data_augmentation",
        "operator_params": [
            {"name": "Flip", "params": {"task_type": "image_classification", "do_validation": "False"}}
        ],
    },
}


def _jpeg(seed: int) -> bytes:
    rng = random.Random(seed)
    width = 2000 if seed % 50 == 0 else 96
    image = Image.new("RGB", (width, 64), (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def setup(root: Path, database_url: str, count: int) -> dict[str, Any]:
    from labelarts.clock import new_hex_id, new_resource_id, now_ms
    from labelarts.config import Settings
    from labelarts.container import build_services
    from labelarts.storage.db.models import Dataset, Sample, SampleLabel

    project_id = new_hex_id()
    files = root / "imports" / "files"
    files.mkdir(parents=True)
    settings = Settings(
        data_dir=root / "data",
        database_url=database_url,
        import_roots=[f"{root / 'imports'}=*"],
        secret_key="bench-processing-secret-0123456789",
    )
    services = build_services(settings, run_tasks=False)
    creds = services.users.create_user("bench", project_id=project_id, password="bench-password-1")
    services.close()
    engine = create_engine(database_url)
    dataset_id = new_resource_id()
    now = now_ms()
    with engine.begin() as conn:
        conn.execute(
            insert(Dataset.__table__),
            [
                {
                    "id": dataset_id, "project_id": project_id, "name": "bench-processing",
                    "dataset_type": 0, "description": "", "data_format": "Default", "data_sources": [],
                    "work_path": "/bench/", "work_path_type": 0, "workspace_id": "0",
                    "import_annotations": True, "import_data": False, "managed": False, "status": 0,
                    "next_version_num": 1, "create_time": now, "update_time": now,
                    "data_update_time": now, "data_version": 0,
                }
            ],
        )  # fmt: skip
        for first in range(0, count, CHUNK):
            samples, labels = [], []
            for i in range(first, min(count, first + CHUNK)):
                data = _jpeg(i % 2000)  # every 2,000th picture repeats: duplicates to find
                path = files / f"img{i:07d}.jpg"
                path.write_bytes(data)
                sample_id = new_resource_id(20)
                samples.append(
                    {
                        "id": sample_id, "dataset_id": dataset_id, "sample_type": 0,
                        "sample_status": "MANUAL_ANNOTATION", "sample_name": path.name,
                        "sample_dir": str(files.resolve()) + "/", "source_kind": "local",
                        "source_key": str(path.resolve()), "content_hash": None,
                        "sample_size": len(data), "sample_time": now, "metadata": {},
                        "hard": False, "revision": 0,
                    }
                )  # fmt: skip
                labels.append(
                    {
                        "sample_id": sample_id, "dataset_id": dataset_id, "name": f"class{i % 10}",
                        "type": 0, "property": {}, "annotated_by": "human",
                    }
                )  # fmt: skip
            conn.execute(insert(Sample.__table__), samples)
            conn.execute(insert(SampleLabel.__table__), labels)
    engine.dispose()
    return {
        "project_id": project_id,
        "dataset_id": dataset_id,
        "ak": creds.access_key,
        "sk": creds.secret_key,
    }


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _hwm_kib(pid: int) -> int:
    return _status_kib(pid, "VmHWM")


def _workers(server_pid: int) -> list[int]:
    return [c for p in _children(server_pid) for c in [p, *_children(p)]]


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def _follow(api: Any, task_id: str, version_id: str, server_pid: int) -> tuple[Any, list[tuple[float, int]]]:
    """Wait for the run, sampling (progress %, the largest worker RSS in KiB) once a second."""
    samples: list[tuple[float, int]] = []
    while True:
        version = api.get_processor_task_version(task_id, version_id)
        rss = max((_status_kib(p, "VmRSS") for p in _workers(server_pid)), default=0)
        progress = float(getattr(version, "progress", None) or 0.0)
        if version.status in (2, 3, 4):
            samples.append((100.0, rss))
            return version, samples
        samples.append((progress, rss))
        time.sleep(1.0)


def _rss_by_tenth(samples: list[tuple[float, int]]) -> list[float]:
    """The worker RSS (MiB) at the first sample past each tenth of the progress."""
    out: list[float] = []
    for tenth in range(1, 11):
        found = next((rss for progress, rss in samples if progress >= tenth * 10 - 0.5), samples[-1][1])
        out.append(round(found / 1024, 1))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--runs", default="validation")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--pg-admin-url", default=os.environ.get("LABELARTS_TEST_PG_URL", DEFAULT_PG_ADMIN_URL)
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    from benchmarks.bench_export import database
    from labelarts.client import LabelArtsClient

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-processing-") as tmp_name:
        tmp = Path(tmp_name)
        with database(args.database, tmp, args.pg_admin_url) as url:
            started = time.perf_counter()
            made = setup(tmp, url, args.count)
            print(
                f"set-up: {args.count} images and rows in {time.perf_counter() - started:.1f} s", flush=True
            )
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
            env = {
                **os.environ,
                "LABELARTS_DATA_DIR": str(tmp / "data"),
                "LABELARTS_DATABASE_URL": url,
                "LABELARTS_IMPORT_ROOTS": json.dumps([f"{tmp / 'imports'}=*"]),
                "LABELARTS_SECRET_KEY": "bench-processing-secret-0123456789",
            }
            command = [sys.executable, "-m", "labelarts", "serve", "--port", str(port), "--workers", "1"]
            log = (tmp / "serve.log").open("wb")
            server = subprocess.Popen(command, env=env, stdout=log, stderr=log)
            try:
                base = f"http://127.0.0.1:{port}"
                with LabelArtsClient(
                    base, made["project_id"], access_key=made["ak"], secret_key=made["sk"]
                ) as api:
                    deadline = time.monotonic() + 120
                    while True:
                        try:
                            api.list_processor_task_items()
                            break
                        except Exception:
                            if time.monotonic() > deadline or server.poll() is not None:
                                raise
                            time.sleep(0.5)
                    print("run             samples  seconds  samples/s  peak worker RSS", flush=True)
                    for name in args.runs.split(","):
                        task_id = api.create_processor_task(
                            f"bench-{name}", RUNS[name],
                            inputs=[{"type": "DATASET", "source": made["dataset_id"]}], create_version=True,
                        )  # fmt: skip
                        version_id = api.list_processor_task_versions(task_id).versions[0].task_version_id
                        load_before = _load()
                        begun = time.perf_counter()
                        final, rss = _follow(api, task_id, version_id, server.pid)
                        seconds = time.perf_counter() - begun
                        peak = max((_hwm_kib(p) for p in _workers(server.pid)), default=0)
                        row = {
                            "run": name, "status": final.status, "samples": final.origin_sample_count,
                            "seconds": round(seconds, 1),
                            "samples_per_s": round(final.origin_sample_count / seconds, 1),
                            "peak_worker_rss_mib": round(peak / 1024, 1), "database": args.database,
                            "counts": [final.unmodified_sample_count, final.modified_sample_count,
                                       final.deleted_sample_count, final.add_sample_count],
                            "rss_mib_by_tenth": _rss_by_tenth(rss),
                            "load_before": load_before, "load_after": _load(),
                        }  # fmt: skip
                        rows.append(row)
                        print(
                            f"{name:<14} {row['samples']:>8} {row['seconds']:>8} {row['samples_per_s']:>10} "
                            f"{row['peak_worker_rss_mib']:>12} MiB  status {final.status} "
                            f"counts {row['counts']}",
                            flush=True,
                        )
                        print(
                            f"  worker RSS (MiB) at 10%..100%: {row['rss_mib_by_tenth']}; "
                            f"load average (1/5/15 min) before {load_before}, after {row['load_after']}",
                            flush=True,
                        )
            finally:
                server.terminate()
                server.wait(timeout=60)
                log.close()
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
