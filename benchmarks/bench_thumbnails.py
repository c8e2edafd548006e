"""Thumbnails through a real server: cold renders per second and the latency of cached hits.

Starts ``labelarts serve`` as a subprocess (temporary data dir, SQLite by default, or a
throw-away PostgreSQL database), uploads ``--count`` distinct 1-megapixel JPEGs (1155 x 866,
16-px blocks of random colour plus pixel noise, quality 90, about 0.3 MB each) with
``POST .../data-annotations/samples``, takes their pre-signed ``source`` URLs from the sample
list with ``process_parameter=image/resize,m_lfit,h_200`` and then measures, over 127.0.0.1
with httpx and no credentials (the URLs are pre-signed):

* **cold @1**: every thumbnail fetched once, one client: thumbnails/s and latency;
* **cold @C**: the same with ``--concurrency`` clients, with another size (``h_199``) so that
  every request renders again;
* **cached hit**: ``--requests`` sequential requests of thumbnails already rendered (after a
  warm-up), cycling over the images: median and p95 latency;
* **original**: the same for the 1-megapixel originals, for comparison.

Run from the repository root with the project's virtualenv active::

    python -m benchmarks.bench_thumbnails --json /tmp/thumbnails.json
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import httpx
import numpy as np
from PIL import Image

from benchmarks.bench_auth_latency import DEFAULT_PG_ADMIN_URL, Server, postgres_database, running_server
from labelarts.client import TokenAuth

WIDTH, HEIGHT = 1155, 866
UPLOAD_BATCH = 10
PROCESS = "image/resize,m_lfit,h_200"
PROCESS_CONCURRENT = "image/resize,m_lfit,h_199"
WARMUP_REQUESTS = 30


@dataclass(frozen=True)
class Result:
    database: str
    images: int
    image_kib: float
    cold_per_s_1: float
    cold_median_ms_1: float
    cold_p95_ms_1: float
    concurrency: int
    cold_per_s_c: float
    cached_median_ms: float
    cached_p95_ms: float
    cached_per_s_1: float
    original_median_ms: float
    original_p95_ms: float


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def make_jpeg(seed: int) -> bytes:
    """A distinct 1155 x 866 JPEG that does not compress to nothing."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, size=(HEIGHT // 16 + 1, WIDTH // 16 + 1, 3), dtype=np.uint8)
    pixels = np.repeat(np.repeat(blocks, 16, axis=0), 16, axis=1)[:HEIGHT, :WIDTH].astype(np.int16)
    pixels += rng.integers(-12, 13, size=pixels.shape, dtype=np.int16)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB").save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _client(base_url: str = "", auth: httpx.Auth | None = None) -> httpx.Client:
    return httpx.Client(base_url=base_url, auth=auth, trust_env=False, timeout=120.0)


def _percentile(sorted_values: Sequence[float], fraction: float) -> float:
    index = max(0, min(len(sorted_values) - 1, round(fraction * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


def upload_images(server: Server, count: int) -> float:
    """Upload ``count`` images; return their mean size in KiB."""
    path = f"/v2/{server.project_id}/datasets/{server.dataset_id}/data-annotations/samples"
    total = 0
    with _client(server.base_url, TokenAuth(server.token)) as client:
        for start in range(0, count, UPLOAD_BATCH):
            images = [make_jpeg(seed) for seed in range(start, min(count, start + UPLOAD_BATCH))]
            total += sum(len(i) for i in images)
            samples = [
                {"name": f"img-{start + i:05d}.jpg", "data": base64.b64encode(data).decode()}
                for i, data in enumerate(images)
            ]
            resp = client.post(path, json={"samples": samples})
            if resp.status_code != 200:
                raise RuntimeError(f"upload -> {resp.status_code}: {resp.text[:500]}")
            log(f"  uploaded {min(count, start + UPLOAD_BATCH)}/{count}")
    return total / count / 1024


def source_urls(server: Server, process: str | None) -> list[str]:
    """Every sample's ``source`` from the sample list (pages of 100)."""
    path = f"/v2/{server.project_id}/datasets/{server.dataset_id}/data-annotations/samples"
    urls: list[str] = []
    with _client(server.base_url, TokenAuth(server.token)) as client:
        offset = 0
        while True:
            params: dict[str, str | int] = {"limit": 100, "offset": offset}
            if process:
                params["process_parameter"] = process
            resp = client.get(path, params=params)
            if resp.status_code != 200:
                raise RuntimeError(f"sample list -> {resp.status_code}: {resp.text[:500]}")
            page = resp.json()["samples"]
            urls += [s["source"] for s in page]
            if len(page) < 100:
                return urls
            offset += 1


def _get(client: httpx.Client, url: str) -> float:
    start = time.perf_counter()
    resp = client.get(url)
    elapsed = time.perf_counter() - start
    if resp.status_code != 200:
        raise RuntimeError(f"GET {url[:80]} -> {resp.status_code}: {resp.text[:300]}")
    return elapsed


def sequential(
    urls: Sequence[str], requests: int | None = None, warmup: int = 0
) -> tuple[list[float], float]:
    """Latencies of GETs cycling over ``urls`` on one connection, and the wall time they took."""
    count = len(urls) if requests is None else requests
    with _client() as client:
        for i in range(warmup):
            _get(client, urls[i % len(urls)])
        start = time.perf_counter()
        timings = [_get(client, urls[i % len(urls)]) for i in range(count)]
        return timings, time.perf_counter() - start


def concurrent(urls: Sequence[str], clients: int) -> float:
    """Seconds to fetch every URL once with ``clients`` threads sharing a work queue."""
    lock = threading.Lock()
    position = [0]
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with _client() as client:
                while True:
                    with lock:
                        index = position[0]
                        position[0] += 1
                    if index >= len(urls):
                        return
                    _get(client, urls[index])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"client thread failed: {errors[0]!r}") from errors[0]
    return time.perf_counter() - start


def run(database: str, database_url: str | None, args: argparse.Namespace) -> Result:
    with running_server(database_url) as server:
        log(f"[{database}] generating and uploading {args.count} images")
        kib = upload_images(server, args.count)
        thumbs = source_urls(server, PROCESS)
        thumbs_c = source_urls(server, PROCESS_CONCURRENT)
        originals = source_urls(server, None)
        if not len(thumbs) == len(thumbs_c) == len(originals) == args.count:
            raise RuntimeError(f"expected {args.count} samples, the list gave {len(thumbs)}")
        log(f"[{database}] cold thumbnails, 1 client")
        cold, cold_wall = sequential(thumbs)
        log(f"[{database}] cold thumbnails, {args.concurrency} clients")
        cold_c_wall = concurrent(thumbs_c, args.concurrency)
        log(f"[{database}] cached hits and originals")
        cached, cached_wall = sequential(thumbs, args.requests, WARMUP_REQUESTS)
        original, _ = sequential(originals, args.requests, WARMUP_REQUESTS)
    cold.sort()
    cached.sort()
    original.sort()
    return Result(
        database=database,
        images=args.count,
        image_kib=round(kib, 1),
        cold_per_s_1=round(args.count / cold_wall, 1),
        cold_median_ms_1=round(statistics.median(cold) * 1000, 2),
        cold_p95_ms_1=round(_percentile(cold, 0.95) * 1000, 2),
        concurrency=args.concurrency,
        cold_per_s_c=round(args.count / cold_c_wall, 1),
        cached_median_ms=round(statistics.median(cached) * 1000, 2),
        cached_p95_ms=round(_percentile(cached, 0.95) * 1000, 2),
        cached_per_s_1=round(args.requests / cached_wall, 1),
        original_median_ms=round(statistics.median(original) * 1000, 2),
        original_p95_ms=round(_percentile(original, 0.95) * 1000, 2),
    )


def print_table(results: Sequence[Result]) -> None:
    print(
        "| database   | images | KiB/image | cold/s @1 | cold median ms | cold p95 ms | cold/s @C "
        "| cached median ms | cached p95 ms | cached/s @1 | original median ms | original p95 ms |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r.database:<10} | {r.images} | {r.image_kib} | {r.cold_per_s_1} | {r.cold_median_ms_1} "
            f"| {r.cold_p95_ms_1} | {r.cold_per_s_c} (C={r.concurrency}) | {r.cached_median_ms} "
            f"| {r.cached_p95_ms} | {r.cached_per_s_1} | {r.original_median_ms} | {r.original_p95_ms} |"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=200, help="distinct images (default 200)")
    parser.add_argument("--requests", type=int, default=500, help="cached-hit requests (default 500)")
    parser.add_argument("--concurrency", type=int, default=4, help="clients of the concurrent cold run")
    parser.add_argument("--databases", default="sqlite", help="comma-separated: sqlite,postgresql")
    parser.add_argument("--pg-admin-url", default=DEFAULT_PG_ADMIN_URL)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.count < 1 or args.requests < 1 or args.concurrency < 1:
        parser.error("--count, --requests and --concurrency must be positive")
    results = []
    for database in [d.strip() for d in args.databases.split(",") if d.strip()]:
        if database == "sqlite":
            results.append(run(database, None, args))
        elif database == "postgresql":
            with postgres_database(args.pg_admin_url) as url:
                results.append(run(database, url, args))
        else:
            parser.error(f"unknown database {database!r}")
    print_table(results)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump([asdict(r) for r in results], fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
