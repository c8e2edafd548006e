"""Import throughput and server memory: a folder of N small JPEGs through ``POST .../import-tasks``.

What it does:

1. writes ``--count`` distinct 64x64 JPEGs into a temporary import root (one encoded image whose
   copies differ by a JPEG comment segment holding the file number: every file is a valid image
   with its own content hash), flat or spread over ``--classes`` class folders; with
   ``--manifest`` also a ModelArts manifest listing every image with one label (its class,
   ``--classes`` of them, 10 if 0) and a score (``confidence``), which is what is imported;
2. creates a user with the CLI and starts ``labelarts serve --import-root ...`` as a subprocess
   (SQLite in the data dir, or a throw-away PostgreSQL database);
3. creates an image-classification dataset, starts an import task of the folder (or manifest)
   and polls it every 0.5 s, sampling the resident memory of the API process and of the
   worker process that runs the task (``/proc/<pid>/status``);
4. imports the same folder again (every file is skipped as a duplicate, without being read);
5. prints files/s (task time: the task's ``update_ms - create_time``), the worker's CPU
   seconds for the import (``utime + stime`` from ``/proc/<pid>/stat``, less noisy than wall
   time on a shared machine), the resident memory of the API process and of the worker
   (``VmRSS`` before the import and the highest seen while importing, and ``VmHWM``, the peak
   since start-up), and the CPU and summed resident memory of the worker's child processes
   (the fork server and the file-check processes of ``LABELARTS_IMPORT_PROCESSES``; their CPU
   is read from the fork server, which reaps them), with the CPU per file of the worker and
   those processes together; optionally it writes the figures as JSON.

Run from the repository root with the project's virtualenv active::

    python -m benchmarks.bench_import --count 100000
    python -m benchmarks.bench_import --count 20000 --classes 10 --databases postgresql
    python -m benchmarks.bench_import --count 100000 --manifest --databases sqlite,postgresql
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import secrets
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from benchmarks.bench_auth_latency import (
    DEFAULT_PG_ADMIN_URL,
    HOST,
    USER,
    _base_env,
    _create_user,
    _free_port,
    _http_client,
    _labelarts_command,
    _stop,
    _wait_healthy,
    postgres_database,
)
from labelarts.client import TokenAuth

POLL_S = 0.5
TIMEOUT_S = 3600.0


@dataclass(frozen=True)
class Result:
    database: str
    source: str  # "folder" or "manifest"
    files: int
    classes: int
    bytes_total: int
    generate_s: float
    import_s: float
    files_per_s: float
    imported: int
    annotated: int
    failed: int
    reimport_s: float
    reimport_files_per_s: float
    rss_idle_mib: float  # VmRSS before the import
    rss_max_mib: float  # highest VmRSS seen while importing (sampled every 0.5 s)
    hwm_mib: float  # VmHWM (peak RSS since start, includes start-up) at the end
    rss_end_mib: float
    cpu_s: float  # the worker's CPU seconds (user + system) for the first import
    files_per_cpu_s: float
    reimport_cpu_s: float
    worker_rss_idle_mib: float  # the worker process's VmRSS before the import
    worker_rss_max_mib: float  # its highest VmRSS seen while importing (and re-importing)
    worker_hwm_mib: float  # its VmHWM at the end
    # The worker's child processes: the fork server and the file-check processes it started
    # (LABELARTS_IMPORT_PROCESSES; they end with each import and the fork server reaps them).
    check_cpu_s: float  # their CPU seconds for the first import
    check_rss_max_mib: float  # their highest summed VmRSS seen while importing
    total_cpu_per_file_us: float  # (worker + check processes) CPU per file: the work itself


def base_jpeg(size: int = 64) -> bytes:
    rng = random.Random(0)
    img = Image.frombytes("RGB", (size, size), bytes(rng.randrange(256) for _ in range(size * size * 3)))
    buffer = io.BytesIO()
    img.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def write_images(root: Path, count: int, classes: int) -> int:
    """``count`` distinct valid JPEGs; returns the bytes written."""
    data = base_jpeg()
    soi, rest = data[:2], data[2:]
    folders = [root / f"class_{c:03d}" for c in range(classes)] if classes else [root]
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    total = 0
    for i in range(count):
        payload = f"labelarts-bench {i:09d}".encode()
        comment = b"\xff\xfe" + struct.pack(">H", len(payload) + 2) + payload  # a COM segment
        blob = soi + comment + rest
        with open(folders[i % len(folders)] / f"img_{i:07d}.jpg", "wb") as fh:
            fh.write(blob)
        total += len(blob)
    return total


def memory_kib(pid: int) -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` (peak) of a process, in KiB."""
    values: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values


def write_manifest(path: Path, images: Path, count: int, classes: int) -> None:
    """A ModelArts manifest of the images :func:`write_images` wrote, one label with a score each."""
    folders = [images / f"class_{c:03d}" for c in range(classes)] if classes else [images]
    names = max(classes, 10)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(count):
            line = {
                "source": str(folders[i % len(folders)] / f"img_{i:07d}.jpg"),
                "usage": "TRAIN",
                "annotation": [
                    {
                        "type": "modelarts/image_classification",
                        "name": f"class_{i % names:03d}",
                        "confidence": round((i * 7919 % 1000) / 1000, 3),
                        "annotated-by": "modelarts/active-learning",
                    }
                ],
            }
            fh.write(json.dumps(line) + "\n")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (``/proc/<pid>/stat`` fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants_cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid``'s children, each with the children it waited for (fields 14-17):
    the fork server and the check processes it forked, which exit when an import ends."""
    total = 0
    for child in children(pid):
        with contextlib.suppress(OSError):
            with open(f"/proc/{child}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            total += sum(int(f) for f in fields[11:15])
    return total / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    found, todo = [], children(pid)
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(children(child))
    return found


def children(pid: int) -> list[int]:
    """Child processes of ``pid`` (the worker processes ``labelarts serve`` starts)."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                found.extend(int(c) for c in fh.read().split())
    return found


def worker_pid(pid: int) -> int:
    """The one worker process of the server (the benchmark starts it with one)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        kids = children(pid)
        if kids:
            return kids[0]
        time.sleep(0.1)
    raise RuntimeError("the server started no worker process")


@dataclass
class Session:
    base_url: str
    pid: int
    project_id: str
    token: str
    import_root: Path


@contextlib.contextmanager
def running_server(database_url: str | None, tmp: Path) -> Iterator[Session]:
    data_dir, import_root = tmp / "data", tmp / "imports"
    import_root.mkdir(parents=True, exist_ok=True)
    env = _base_env(database_url)
    project_id = secrets.token_hex(16)
    password = secrets.token_urlsafe(16)
    _create_user(data_dir, env, project_id, password)
    port = _free_port()
    base_url = f"http://{HOST}:{port}"
    log_path = tmp / "server.log"
    command = [*_labelarts_command(), "serve", "--data-dir", str(data_dir), "--port", str(port)]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [*command, "--import-root", str(import_root)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            _wait_healthy(base_url, proc, log_path)
            with _http_client(base_url=base_url) as client:
                body = {
                    "auth": {
                        "identity": {
                            "methods": ["password"],
                            "password": {
                                "user": {"name": USER, "password": password, "domain": {"name": "Default"}}
                            },
                        },
                        "scope": {"project": {"id": project_id}},
                    }
                }
                resp = client.post("/v3/auth/tokens", json=body)
                if resp.status_code != 201:
                    raise RuntimeError(f"POST /v3/auth/tokens -> {resp.status_code}: {resp.text}")
                token = resp.headers["X-Subject-Token"]
            yield Session(base_url, proc.pid, project_id, token, import_root)
        finally:
            _stop(proc)


def run_import(
    session: Session,
    dataset_id: str,
    path: Path,
    peak: list[int],
    worker: int,
    worker_peak: list[int],
    check_peak: list[int] | None = None,
) -> dict[str, Any]:
    """Start an import task and poll it to the end, tracking the server's and worker's peak RSS."""
    with _http_client(TokenAuth(session.token), session.base_url) as client:
        base = f"/v2/{session.project_id}/datasets/{dataset_id}/import-tasks"
        body: dict[str, Any] = {"import_path": str(path)}
        if path.suffix == ".manifest":
            body["import_type"] = "manifest"
        resp = client.post(base, json=body)
        if resp.status_code != 200:
            raise RuntimeError(f"POST {base} -> {resp.status_code}: {resp.text}")
        task_id = resp.json()["task_id"]
        deadline = time.monotonic() + TIMEOUT_S
        last = -1
        while time.monotonic() < deadline:
            memory = memory_kib(session.pid)
            peak[0] = max(peak[0], memory["VmHWM"])
            peak[1] = max(peak[1], memory["VmRSS"])
            worker_memory = memory_kib(worker)
            worker_peak[0] = max(worker_peak[0], worker_memory["VmHWM"])
            worker_peak[1] = max(worker_peak[1], worker_memory["VmRSS"])
            if check_peak is not None:
                rss = 0
                for child in descendants(worker):
                    with contextlib.suppress(OSError, KeyError):
                        rss += memory_kib(child)["VmRSS"]
                check_peak[0] = max(check_peak[0], rss)
            task: dict[str, Any] = client.get(f"{base}/{task_id}").json()
            if task["status"] in ("COMPLETED", "FAILED"):
                if task["status"] == "FAILED":
                    raise RuntimeError(f"import failed: {task.get('error_code')} {task.get('error_msg')}")
                return task
            if task["finished_file_count"] // 10_000 != last:
                last = task["finished_file_count"] // 10_000
                print(f"  ... {task['finished_file_count']} files handled", file=sys.stderr)
            time.sleep(POLL_S)
    raise RuntimeError("import did not finish in time")


def bench(database: str, count: int, classes: int, manifest: bool, pg_admin_url: str) -> Result:
    with tempfile.TemporaryDirectory(prefix="labelarts-bench-import-") as raw_tmp:
        tmp = Path(raw_tmp)
        pg = postgres_database(pg_admin_url) if database == "postgresql" else contextlib.nullcontext(None)
        with pg as database_url, running_server(database_url, tmp) as session:
            folder = session.import_root / "images"
            print(f"[{database}] writing {count} images...", file=sys.stderr)
            started = time.perf_counter()
            size = write_images(folder, count, classes)
            source = folder
            if manifest:
                source = session.import_root / "images.manifest"
                write_manifest(source, folder, count, classes)
            generate_s = time.perf_counter() - started
            with _http_client(TokenAuth(session.token), session.base_url) as client:
                resp = client.post(
                    f"/v2/{session.project_id}/datasets",
                    json={"dataset_name": "bench", "data_sources": [], "work_path": "/out/bench/"},
                )
                if resp.status_code != 201:
                    raise RuntimeError(f"POST datasets -> {resp.status_code}: {resp.text}")
                dataset_id = resp.json()["dataset_id"]
                initial = f"/v2/{session.project_id}/datasets/{dataset_id}/import-tasks/"
                initial += resp.json()["import_task_id"]
                while client.get(initial).json()["status"] not in ("COMPLETED", "FAILED"):
                    time.sleep(0.2)  # the (empty) initial import ends first
            idle = memory_kib(session.pid)
            peak = [idle["VmHWM"], idle["VmRSS"]]
            worker = worker_pid(session.pid)
            worker_idle = memory_kib(worker)
            worker_peak = [worker_idle["VmHWM"], worker_idle["VmRSS"]]
            print(f"[{database}] importing...", file=sys.stderr)
            cpu_0, check_0 = cpu_seconds(worker), descendants_cpu_seconds(worker)
            check_peak = [0]
            task = run_import(session, dataset_id, source, peak, worker, worker_peak, check_peak)
            cpu_1, check_1 = cpu_seconds(worker), descendants_cpu_seconds(worker)
            again = run_import(session, dataset_id, source, peak, worker, worker_peak)
            cpu_2 = cpu_seconds(worker)
            end = memory_kib(session.pid)
            worker_end = memory_kib(worker)
    import_s = (task["update_ms"] - task["create_time"]) / 1000
    reimport_s = (again["update_ms"] - again["create_time"]) / 1000
    return Result(
        database=database,
        source="manifest" if manifest else "folder",
        files=count,
        classes=classes,
        bytes_total=size,
        generate_s=round(generate_s, 2),
        import_s=round(import_s, 2),
        files_per_s=round(count / import_s, 1),
        imported=task["imported_sample_count"],
        annotated=task["annotated_sample_count"],
        failed=task["failed_file_count"],
        reimport_s=round(reimport_s, 2),
        reimport_files_per_s=round(count / reimport_s, 1),
        rss_idle_mib=round(idle["VmRSS"] / 1024, 1),
        rss_max_mib=round(peak[1] / 1024, 1),
        hwm_mib=round(max(peak[0], end["VmHWM"]) / 1024, 1),
        rss_end_mib=round(end["VmRSS"] / 1024, 1),
        cpu_s=round(cpu_1 - cpu_0, 2),
        files_per_cpu_s=round(count / max(cpu_1 - cpu_0, 0.01), 1),
        reimport_cpu_s=round(cpu_2 - cpu_1, 2),
        worker_rss_idle_mib=round(worker_idle["VmRSS"] / 1024, 1),
        worker_rss_max_mib=round(worker_peak[1] / 1024, 1),
        worker_hwm_mib=round(max(worker_peak[0], worker_end["VmHWM"]) / 1024, 1),
        check_cpu_s=round(check_1 - check_0, 2),
        check_rss_max_mib=round(check_peak[0] / 1024, 1),
        total_cpu_per_file_us=round(1e6 * (cpu_1 - cpu_0 + check_1 - check_0) / count, 1),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--count", type=int, default=100_000, help="number of images (default 100000)")
    parser.add_argument("--classes", type=int, default=0, help="class folders (0: all in one folder)")
    parser.add_argument("--manifest", action="store_true", help="import a manifest with labels and scores")
    parser.add_argument("--databases", default="sqlite", help="comma-separated: sqlite,postgresql")
    parser.add_argument(
        "--pg-admin-url", default=os.environ.get("LABELARTS_TEST_PG_URL", DEFAULT_PG_ADMIN_URL)
    )
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    results: list[Result] = []
    for db in args.databases.split(","):
        results.append(bench(db, args.count, args.classes, args.manifest, args.pg_admin_url))
        print(f"[{db}] {json.dumps(asdict(results[-1]))}", file=sys.stderr)  # kept if a later one fails
    print(f"1-minute load average before the run {load:.2f}, after {os.getloadavg()[0]:.2f}")
    header = (
        f"{'database':<11}{'source':<9}{'files':>9}{'classes':>8}{'import s':>10}{'files/s':>10}"
        f"{'CPU s':>8}{'files/CPU s':>12}{'re-import s':>13}{'re files/s':>12}"
        f"{'API RSS idle/max':>18}{'worker RSS idle/max':>21}{'worker HWM':>12}"
        f"{'check CPU s':>13}{'check RSS':>11}{'CPU us/file':>13}"
    )
    print(header)
    for r in results:
        print(
            f"{r.database:<11}{r.source:<9}{r.files:>9}{r.classes:>8}{r.import_s:>10.1f}{r.files_per_s:>10.0f}"
            f"{r.cpu_s:>8.1f}{r.files_per_cpu_s:>12.0f}{r.reimport_s:>13.1f}{r.reimport_files_per_s:>12.0f}"
            f"{r.rss_idle_mib:>11.0f}/{r.rss_max_mib:.0f}M{r.worker_rss_idle_mib:>14.0f}/{r.worker_rss_max_mib:.0f}M"
            f"{r.worker_hwm_mib:>11.0f}M{r.check_cpu_s:>13.1f}{r.check_rss_max_mib:>10.0f}M"
            f"{r.total_cpu_per_file_us:>13.0f}"
        )
        if r.imported != r.files or r.failed:
            print(f"  warning: imported {r.imported} of {r.files}, {r.failed} failed", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
