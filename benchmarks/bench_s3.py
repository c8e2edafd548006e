"""Import and thumbnail throughput with the object store on an S3-protocol server vs a local folder.

For each store (``local``: ``file://<data_dir>/objects``; ``s3``: a bucket on moto's standalone
server, ``moto_server`` started as a subprocess on loopback), on SQLite:

1. ``--count`` distinct 64x64 JPEGs in 10 class folders are put under ``incoming/`` of the store
   (local: written into the store folder; S3: ``PutObject`` from 8 threads, as another program
   would upload them);
2. ``labelarts serve --object-prefix incoming=*`` (one task worker) is started with that store,
   a dataset is created over ``obs://incoming/`` and its import task is timed from creation to
   COMPLETED (server-side times: the task's ``create_time`` to its last ``update_time``);
3. every sample's source is fetched with ``process_parameter=image/resize,m_lfit,h_32`` from 4
   client threads: **cold** (each thumbnail is rendered from the original read from the store
   and written to ``thumbnails/`` in it) and **warm** (read back from the store);
4. the originals are fetched the same way through ``/files`` (the bytes pass through
   LabelArts), and for S3 also with ``LABELARTS_S3_PRESIGN=1`` (the client fetches straight from
   the S3 server).

moto keeps objects in its process's memory and runs on the same cores, so the S3 figures are an
upper bound on the overhead of the protocol (HTTP, SigV4, XML listings) rather than a
prediction of a real MinIO or OBS; what they show is where the per-object costs go.

    python -m benchmarks.bench_s3 --count 2000
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
from botocore.config import Config

from benchmarks.bench_auth_latency import (
    HOST,
    _base_env,
    _create_user,
    _free_port,
    _http_client,
    _labelarts_command,
    _stop,
    _wait_healthy,
)
from benchmarks.bench_import import base_jpeg
from labelarts.client import SdkHmacAuth

CLASSES = 10
THREADS = 4
PROCESS = "image/resize,m_lfit,h_32"


@dataclass(frozen=True)
class Result:
    store: str
    files: int
    import_s: float
    import_files_per_s: float
    thumbs_cold_per_s: float
    thumbs_warm_per_s: float
    originals_per_s: float
    presigned_per_s: float | None


def images(count: int) -> Iterator[tuple[str, bytes]]:
    data = base_jpeg()
    soi, rest = data[:2], data[2:]
    for i in range(count):
        payload = f"labelarts-bench {i:09d}".encode()
        comment = b"\xff\xfe" + struct.pack(">H", len(payload) + 2) + payload
        yield f"incoming/class_{i % CLASSES:02d}/img_{i:07d}.jpg", soi + comment + rest


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{endpoint}/moto-api/", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.1)
        yield endpoint
    finally:
        _stop(proc)


def s3_client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench-secret",
        config=Config(s3={"addressing_style": "path"}, max_pool_connections=16),
    )


def s3_env(endpoint: str, bucket: str) -> dict[str, str]:
    return {
        "LABELARTS_OBJECT_STORE_URL": f"s3://{bucket}",
        "LABELARTS_S3_ENDPOINT_URL": endpoint,
        "LABELARTS_S3_ADDRESSING_STYLE": "path",
        "LABELARTS_S3_ACCESS_KEY_ID": "bench",
        "LABELARTS_S3_SECRET_ACCESS_KEY": "bench-secret",
    }


@contextlib.contextmanager
def server(tmp: Path, extra_env: dict[str, str]) -> Iterator[tuple[str, httpx.Client, str]]:
    data_dir = tmp / "data"
    env = {**_base_env(None), **extra_env}
    project_id = secrets.token_hex(16)
    creds = _create_user(data_dir, env, project_id, secrets.token_urlsafe(16))
    port = _free_port()
    base_url = f"http://{HOST}:{port}"
    log_path = tmp / "server.log"
    command = [*_labelarts_command(), "serve", "--data-dir", str(data_dir), "--port", str(port)]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [*command, "--object-prefix", "incoming=*"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            _wait_healthy(base_url, proc, log_path)
            auth = SdkHmacAuth(creds["access_key"], creds["secret_key"], project_id)
            with _http_client(auth, base_url) as client:
                client.timeout = httpx.Timeout(120)
                yield base_url, client, project_id
        finally:
            _stop(proc)


def timed_import(client: httpx.Client, project_id: str) -> tuple[str, float]:
    made = client.post(
        f"/v2/{project_id}/datasets",
        json={
            "dataset_name": f"bench_{secrets.token_hex(4)}",
            "data_sources": [{"data_type": 0, "data_path": "obs://incoming/"}],
            "work_path": "/out/bench/",
            "work_path_type": 0,
        },
    )
    if made.status_code != 201:
        raise RuntimeError(made.text)
    dataset_id, task_id = made.json()["dataset_id"], made.json()["import_task_id"]
    while True:
        task = client.get(f"/v2/{project_id}/datasets/{dataset_id}/import-tasks/{task_id}").json()
        if task["status"] in ("COMPLETED", "FAILED"):
            if task["status"] == "FAILED":
                raise RuntimeError(f"import failed: {task}")
            return dataset_id, (int(task["update_ms"]) - int(task["create_time"])) / 1000
        time.sleep(0.2)


def sources(client: httpx.Client, project_id: str, dataset_id: str, process: str | None) -> list[str]:
    urls: list[str] = []
    offset = 0
    while True:
        params: dict[str, Any] = {"limit": 100, "offset": offset}
        if process:
            params["process_parameter"] = process
        page = client.get(f"/v2/{project_id}/datasets/{dataset_id}/data-annotations/samples", params=params)
        samples = page.json()["samples"]
        urls += [s["source"] for s in samples]
        if len(samples) < 100:
            return urls
        offset += 1


def fetch_all(urls: list[str]) -> float:
    """Requests per second fetching every URL from THREADS threads (each its own connection)."""
    chunks = [urls[i::THREADS] for i in range(THREADS)]

    def fetch(part: list[str]) -> None:
        with httpx.Client(trust_env=False, timeout=60) as http:
            for url in part:
                answer = http.get(url)
                if answer.status_code != 200:
                    raise RuntimeError(f"GET {url[:80]} -> {answer.status_code}")

    started = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(fetch, chunks))
    return len(urls) / (time.perf_counter() - started)


def bench(store: str, count: int, endpoint: str | None) -> Result:
    with tempfile.TemporaryDirectory(prefix="bench-s3-") as tmp_name:
        tmp = Path(tmp_name)
        env: dict[str, str] = {}
        if store == "s3":
            assert endpoint is not None
            bucket = f"bench-{secrets.token_hex(6)}"
            client = s3_client(endpoint)
            client.create_bucket(Bucket=bucket)
            with ThreadPoolExecutor(8) as pool:
                list(
                    pool.map(
                        lambda item: client.put_object(Bucket=bucket, Key=item[0], Body=item[1]),
                        images(count),
                    )
                )
            env = s3_env(endpoint, bucket)
        else:
            objects = tmp / "data" / "objects"
            for key, data in images(count):
                (objects / key).parent.mkdir(parents=True, exist_ok=True)
                (objects / key).write_bytes(data)
        print(f"[{store}] {count} images in place; importing", file=sys.stderr)
        with server(tmp, env) as (_url, http, project_id):
            dataset_id, seconds = timed_import(http, project_id)
            thumbs = sources(http, project_id, dataset_id, PROCESS)
            cold = fetch_all(thumbs)
            warm = fetch_all(thumbs)
            originals = fetch_all(sources(http, project_id, dataset_id, None))
        presigned = None
        if store == "s3":
            with server(tmp / "presign", {**env, "LABELARTS_S3_PRESIGN": "1"}) as (_url, http, project_id):
                dataset_id, _ = timed_import(http, project_id)
                urls = sources(http, project_id, dataset_id, None)
                assert urls[0].startswith(endpoint or ""), urls[0]
                presigned = fetch_all(urls)
        return Result(store, count, seconds, count / seconds, cold, warm, originals, presigned)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--stores", default="local,s3")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    results: list[Result] = []
    with moto_server() as endpoint:
        for store in args.stores.split(","):
            results.append(bench(store, args.count, endpoint))
    print(f"load average: {os.getloadavg()}")
    print(
        "| store | files | import s | import files/s | thumbs cold/s | thumbs warm/s "
        "| originals/s | presigned/s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        presigned = f"{r.presigned_per_s:.0f}" if r.presigned_per_s is not None else "-"
        print(
            f"| {r.store} | {r.files} | {r.import_s:.1f} | {r.import_files_per_s:.0f} | "
            f"{r.thumbs_cold_per_s:.0f} | {r.thumbs_warm_per_s:.0f} | {r.originals_per_s:.0f} | {presigned} |"
        )
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
