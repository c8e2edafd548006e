"""A review set-up shared by the sample-list benchmarks: a real ``labelarts serve`` with one
dataset of machine-labeled images, inserted straight through the storage layer.

``review_server(database, url, count)`` yields a :class:`ReviewServer`: the server's pid (its
CPU time is read from ``/proc/<pid>/stat``), AK/SK and token credentials and the dataset.
The server runs with ``--workers 0`` so that no task worker shares its process tree.
"""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, insert, update

from benchmarks import bench_auth_latency
from benchmarks.bench_auth_latency import (
    HOST,
    USER,
    _base_env,
    _create_user,
    _free_port,
    _labelarts_command,
    _stop,
    _wait_healthy,
)
from labelarts.client import SdkHmacAuth, TokenAuth
from labelarts.storage.db import counters
from labelarts.storage.db.models import Dataset, Sample, SampleLabel

LABELS = ["cat", "dog", "bird", "fish", "horse", "frog", "ship", "truck", "car", "plane"]
CHUNK = 20_000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ReviewServer:
    base_url: str
    pid: int
    project_id: str
    dataset_id: str
    signing: SdkHmacAuth
    token: str
    database_url: str
    insert_seconds: float
    # More API instances on the same database and data dir (``instances`` > 1), no balancer.
    other_urls: tuple[str, ...] = ()

    def cpu_seconds(self) -> float:
        """User + system CPU time so far of the server process and its live descendants
        (``serve --api-processes N`` answers in child processes), from ``/proc/<pid>/stat``."""
        return sum(process_cpu_seconds(pid) for pid in process_tree(self.pid))

    def cpu_threads(self) -> dict[tuple[int, int], int]:
        """CPU time so far, in nanoseconds, of every live thread of the server process and its
        live descendants (see :func:`thread_cpu_ns`); :func:`cpu_delta_seconds` of two of these
        is the CPU spent in between, without the 10 ms ticks of ``/proc/<pid>/stat``."""
        found: dict[tuple[int, int], int] = {}
        for pid in process_tree(self.pid):
            found.update(thread_cpu_ns(pid))
        return found


def process_tree(pid: int) -> list[int]:
    """``pid`` and its live descendants."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(parents.get(current, []))
    return tree


def process_cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:  # ended meanwhile
        return 0.0
    # After the command name: state is field 3, utime 14 and stime 15 (1-based, man 5 proc).
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def thread_cpu_ns(pid: int) -> dict[tuple[int, int], int]:
    """``{(pid, tid): ns}``: each live thread's time on a CPU, from the first field of
    ``/proc/<pid>/task/<tid>/schedstat`` (nanoseconds, man 5 proc)."""
    found: dict[tuple[int, int], int] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:  # ended meanwhile
        return found
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", encoding="ascii") as fh:
                found[(pid, int(tid))] = int(fh.read().split()[0])
        except (OSError, IndexError, ValueError):
            continue
    return found


def cpu_delta_seconds(before: dict[tuple[int, int], int], after: dict[tuple[int, int], int]) -> float:
    """CPU seconds between two :meth:`ReviewServer.cpu_threads` readings: threads present in
    both count their difference, threads started in between all of theirs (a thread that ended
    in between loses its last slice, which the server's long-lived threads do not)."""
    return sum(ns - before.get(key, 0) for key, ns in after.items()) / 1e9


def insert_machine_labeled(database_url: str, dataset_id: str, count: int, seed: int = 1) -> float:
    """Bulk-insert ``count`` auto-labeled image samples (one label with a score each, 10% hard
    with a reason); return the seconds taken."""
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
                hard = rng.random() < 0.1
                score = round(rng.random(), 6)
                labels.append(
                    {
                        "sample_id": sample_id,
                        "dataset_id": dataset_id,
                        "name": LABELS[rng.randrange(len(LABELS))],
                        "type": 0,
                        "score": score,
                        "property": {},
                        "annotated_by": "auto",
                        "sample_top_score": score,  # the copy writers give (migration 0020)
                    }
                )
                metadata: dict[str, Any] = {"@modelarts:size": [32, 32, 3]}
                if hard:  # as auto labeling writes it: the reasons and their details by code
                    reason = rng.randrange(0, 4)
                    metadata["@modelarts:hard_reasons"] = [reason]
                    metadata["@labelarts:hard_details"] = {str(reason): {"id": reason}}
                samples.append(
                    {
                        "id": sample_id,
                        "dataset_id": dataset_id,
                        "sample_type": 0,
                        "sample_status": "AUTO_ANNOTATION",
                        "sample_name": f"img_{i}.jpg",
                        "sample_dir": "/bench/",
                        "source_kind": "object",
                        "source_key": f"bench/{i}.jpg",
                        "sample_size": 1000,
                        "sample_time": base_time + i * 1000,
                        "metadata": metadata,
                        "hard": hard,
                        "hard_coefficient": round(rng.random(), 6) if hard else None,
                        "top_score": score,
                        "revision": 0,
                    }
                )
            conn.execute(insert(Sample.__table__), samples)
            conn.execute(insert(SampleLabel.__table__), labels)
        conn.execute(
            update(Dataset).where(Dataset.id == dataset_id).values(data_version=Dataset.data_version + 1)
        )
        counters.rebuild(conn, dataset_id)  # rows inserted behind the services: counts from a recount
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    engine.dispose()
    return time.perf_counter() - started


def _token(client: httpx.Client, project_id: str, password: str) -> str:
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": USER, "password": password, "domain": {"name": "Default"}}},
            },
            "scope": {"project": {"id": project_id}},
        }
    }
    resp = client.post("/v3/auth/tokens", json=body)
    if resp.status_code != 201:
        raise RuntimeError(f"POST /v3/auth/tokens -> {resp.status_code}: {resp.text}")
    return resp.headers["X-Subject-Token"]


@contextlib.contextmanager
def review_server(
    database_url: str | None,
    count: int,
    *,
    seed: int = 1,
    api_processes: int = 1,
    server_env: dict[str, str] | None = None,
    instances: int = 1,
) -> Iterator[ReviewServer]:
    """A temporary data dir, user and ``labelarts serve --workers 0`` with ``count`` samples;
    ``api_processes``: its ``--api-processes``; ``server_env``: extra ``LABELARTS_*`` settings;
    ``instances``: that many servers on the one database and data dir (the same secret), as
    several API instances behind a balancer would be."""
    with tempfile.TemporaryDirectory(prefix="labelarts-review-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        env = _base_env(database_url)
        project_id = secrets.token_hex(16)
        password = secrets.token_urlsafe(16)
        creds = _create_user(data_dir, env, project_id, password)
        url = database_url or f"sqlite:///{data_dir / 'labelarts.db'}"
        procs: list[subprocess.Popen[bytes]] = []
        bases: list[str] = []

        def start(index: int) -> Path:
            port = _free_port()
            bases.append(f"http://{HOST}:{port}")
            log_path = Path(tmp) / f"server{index}.log"
            with log_path.open("wb") as log:
                procs.append(
                    subprocess.Popen(
                        [
                            *_labelarts_command(),
                            "serve",
                            "--data-dir",
                            str(data_dir),
                            "--host",
                            HOST,
                            "--port",
                            str(port),
                            "--workers",
                            "0",
                            "--api-processes",
                            str(api_processes),
                        ],
                        env={**env, "LABELARTS_LOG_LEVEL": "warning", **(server_env or {})},
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                    )
                )
            return log_path

        try:
            # A loaded machine can take longer than bench_auth_latency's minute to start.
            bench_auth_latency.STARTUP_TIMEOUT_S = max(bench_auth_latency.STARTUP_TIMEOUT_S, 300.0)
            # The others start once the first has migrated the database.
            for index in range(max(1, instances)):
                log_path = start(index)
                _wait_healthy(bases[index], procs[index], log_path)
            base, proc = bases[0], procs[0]
            with httpx.Client(base_url=base, trust_env=False, timeout=120) as client:
                token = _token(client, project_id, password)
                response = client.post(
                    f"/v2/{project_id}/datasets",
                    json={
                        "dataset_name": "bench",
                        "data_sources": [],
                        "work_path": "/out/bench/",
                        "work_path_type": 0,
                        "labels": [{"name": name} for name in LABELS],
                    },
                    auth=TokenAuth(token),
                )
                response.raise_for_status()
                dataset_id = response.json()["dataset_id"]
            seconds = insert_machine_labeled(url, dataset_id, count, seed)
            yield ReviewServer(
                base,
                proc.pid,
                project_id,
                dataset_id,
                SdkHmacAuth(creds["access_key"], creds["secret_key"], project_id),
                token,
                url,
                seconds,
                tuple(bases[1:]),
            )
        finally:
            for started in procs:
                _stop(started)
