"""Latency and throughput of an authenticated request, AK/SK-signed versus token.

For each database (SQLite in the data dir; PostgreSQL in a throw-away database) this
creates a user with the CLI, starts ``labelarts serve`` as a subprocess, creates one
dataset and then measures ``GET /v2/{project_id}/datasets/{dataset_id}``:

* median and p95 latency of ``--requests`` sequential requests (after a warm-up);
* requests/s with 1 and with 8 concurrent clients (threads, each with its own
  ``httpx.Client``), each run for ``--duration`` seconds.

A ``GET /health`` row (no authentication, no database query) is measured the same way
as a baseline for the cost of HTTP + the framework.

Client and server share the machine, so on a small box the figures include the
client's CPU time. Every request goes to 127.0.0.1 only.

Run from the repository root with the project's virtualenv active::

    python -m benchmarks.bench_auth_latency --json /tmp/bench.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from labelarts.client import SdkHmacAuth, TokenAuth

DEFAULT_PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
HOST = "127.0.0.1"
USER = "bench"
CONCURRENCY = (1, 8)
WARMUP_REQUESTS = 30
STARTUP_TIMEOUT_S = 180.0  # a loaded shared machine can take minutes to start a server


@dataclass(frozen=True)
class Result:
    database: str
    auth: str
    requests: int
    median_ms: float
    p95_ms: float
    rps_1: float
    rps_8: float


@dataclass(frozen=True)
class Server:
    base_url: str
    project_id: str
    access_key: str
    secret_key: str
    token: str
    dataset_id: str


# --- helpers -------------------------------------------------------------------------------------


def _labelarts_command() -> list[str]:
    """The ``labelarts`` script of the running interpreter's environment (or on PATH)."""
    beside = Path(sys.executable).with_name("labelarts")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("labelarts")
    if found is None:
        raise SystemExit("the `labelarts` command was not found; activate the project's virtualenv")
    return [found]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _base_env(database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABELARTS_")}
    if database_url is not None:
        env["LABELARTS_DATABASE_URL"] = database_url
    return env


def _http_client(auth: httpx.Auth | None = None, base_url: str = "") -> httpx.Client:
    # trust_env=False: never go through a proxy from the environment; everything is local.
    return httpx.Client(base_url=base_url, auth=auth, trust_env=False, timeout=30.0)


def _percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    index = max(0, min(len(sorted_values) - 1, round(fraction * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


# --- database ------------------------------------------------------------------------------------


@contextlib.contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """Create ``labelarts_bench_<random>`` and drop it afterwards; yields its URL."""
    name = f"labelarts_bench_{secrets.token_hex(6)}"
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with engine.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


# --- server --------------------------------------------------------------------------------------


def _create_user(data_dir: Path, env: dict[str, str], project_id: str, password: str) -> dict[str, str]:
    proc = subprocess.run(
        [
            *_labelarts_command(),
            "--data-dir",
            str(data_dir),
            "user",
            "create",
            USER,
            "--project-id",
            project_id,
            "--password",
            password,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"`labelarts user create` failed ({proc.returncode}):\n{proc.stderr}")
    creds: dict[str, str] = json.loads(proc.stdout)
    return creds


def _wait_healthy(base_url: str, proc: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    with _http_client() as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with {proc.returncode} during start-up:\n{log_path.read_text()[-4000:]}"
                )
            with contextlib.suppress(httpx.TransportError):
                if client.get(f"{base_url}/health").status_code == 200:
                    return
            time.sleep(0.1)
    raise RuntimeError(f"server not healthy after {STARTUP_TIMEOUT_S:.0f}s:\n{log_path.read_text()[-4000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=15)


def _prepare(base_url: str, project_id: str, password: str, creds: dict[str, str]) -> Server:
    with _http_client(base_url=base_url) as client:
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
        token = resp.headers["X-Subject-Token"]
        resp = client.post(
            f"/v2/{project_id}/datasets",
            json={
                "dataset_name": "bench",
                "data_sources": [],
                "work_path": "/out/bench/",
                "work_path_type": 0,
                "labels": [{"name": "a"}, {"name": "b"}],
            },
            auth=TokenAuth(token),
        )
        if resp.status_code != 201:
            raise RuntimeError(f"POST /v2/{project_id}/datasets -> {resp.status_code}: {resp.text}")
        dataset_id: str = resp.json()["dataset_id"]
    return Server(base_url, project_id, creds["access_key"], creds["secret_key"], token, dataset_id)


@contextlib.contextmanager
def running_server(database_url: str | None) -> Iterator[Server]:
    """Temporary data dir + user + ``labelarts serve`` subprocess; always stopped on exit."""
    with tempfile.TemporaryDirectory(prefix="labelarts-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        env = _base_env(database_url)
        project_id = secrets.token_hex(16)
        password = secrets.token_urlsafe(16)
        creds = _create_user(data_dir, env, project_id, password)
        port = _free_port()
        base_url = f"http://{HOST}:{port}"
        log_path = Path(tmp) / "server.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [*_labelarts_command(), "serve", "--data-dir", str(data_dir), "--port", str(port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
            try:
                _wait_healthy(base_url, proc, log_path)
                yield _prepare(base_url, project_id, password, creds)
            finally:
                _stop(proc)


# --- measurement ---------------------------------------------------------------------------------


def _check(resp: httpx.Response) -> None:
    if resp.status_code != 200:
        raise RuntimeError(f"GET {resp.request.url.path} -> {resp.status_code}: {resp.text[:500]}")


def sequential_latencies(base_url: str, path: str, auth: httpx.Auth | None, requests: int) -> list[float]:
    """Seconds per request for ``requests`` sequential requests on one keep-alive connection."""
    with _http_client(auth, base_url) as client:
        for _ in range(WARMUP_REQUESTS):
            _check(client.get(path))
        timings: list[float] = []
        for _ in range(requests):
            start = time.perf_counter()
            resp = client.get(path)
            timings.append(time.perf_counter() - start)
            _check(resp)
    return timings


def throughput(
    base_url: str,
    path: str,
    make_auth: type[httpx.Auth] | None,
    auth_args: tuple[str, ...],
    clients: int,
    duration: float,
) -> float:
    """Requests/s over ``duration`` seconds with ``clients`` threads, each with its own connection."""
    window = [0.0, 0.0]  # start, stop: set by the barrier action before any worker is released

    def open_window() -> None:
        window[0] = time.perf_counter()
        window[1] = window[0] + duration

    barrier = threading.Barrier(clients + 1, action=open_window)
    counts = [0] * clients
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        auth = make_auth(*auth_args) if make_auth is not None else None
        try:
            with _http_client(auth, base_url) as client:
                _check(client.get(path))  # open the connection before the clock starts
                barrier.wait()
                done = 0
                while time.perf_counter() < window[1]:
                    _check(client.get(path))
                    done += 1
                counts[index] = done
        except threading.BrokenBarrierError:
            pass
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait(timeout=60)
    for thread in threads:
        thread.join(timeout=duration + 60)
    elapsed = time.perf_counter() - window[0]
    if errors:
        raise RuntimeError(f"client thread failed: {errors[0]!r}") from errors[0]
    if window[0] == 0.0:
        raise RuntimeError("throughput run did not start")
    return sum(counts) / elapsed


def measure(
    database: str, server: Server, requests: int, duration: float, include_health: bool
) -> list[Result]:
    dataset_path = f"/v2/{server.project_id}/datasets/{server.dataset_id}"
    cases: list[tuple[str, str, type[httpx.Auth] | None, tuple[str, ...]]] = [
        ("AK/SK", dataset_path, SdkHmacAuth, (server.access_key, server.secret_key, server.project_id)),
        ("token", dataset_path, TokenAuth, (server.token,)),
    ]
    if include_health:
        cases.insert(0, ("none (/health)", "/health", None, ()))
    results = []
    for name, path, make_auth, args in cases:
        auth = make_auth(*args) if make_auth is not None else None
        timings = sorted(sequential_latencies(server.base_url, path, auth, requests))
        rps = {n: throughput(server.base_url, path, make_auth, args, n, duration) for n in CONCURRENCY}
        result = Result(
            database=database,
            auth=name,
            requests=requests,
            median_ms=statistics.median(timings) * 1000,
            p95_ms=_percentile(timings, 0.95) * 1000,
            rps_1=rps[1],
            rps_8=rps[8],
        )
        print(
            f"  {name:<15} median {result.median_ms:6.2f} ms  p95 {result.p95_ms:6.2f} ms  "
            f"{result.rps_1:7.1f} req/s @1  {result.rps_8:7.1f} req/s @8",
            file=sys.stderr,
            flush=True,
        )
        results.append(result)
    return results


# --- output --------------------------------------------------------------------------------------


def format_table(results: list[Result]) -> str:
    header = ["database", "auth", "median ms", "p95 ms", "req/s @1", "req/s @8"]
    rows = [
        [r.database, r.auth, f"{r.median_ms:.2f}", f"{r.p95_ms:.2f}", f"{r.rps_1:.0f}", f"{r.rps_8:.0f}"]
        for r in results
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]

    def line(cells: list[str]) -> str:
        parts = [
            c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(parts) + " |"

    separator = (
        "|" + "|".join(("-" * (w + 1) + ":") if i >= 2 else "-" * (w + 2) for i, w in enumerate(widths)) + "|"
    )
    return "\n".join([line(header), separator, *(line(row) for row in rows)])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--requests", type=int, default=500, help="sequential requests per case for latency (default 500)"
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=3.0,
        help="seconds of each throughput run, per concurrency level (default 3)",
    )
    parser.add_argument(
        "--databases",
        default="sqlite,postgresql",
        help="comma-separated subset of sqlite,postgresql (default both)",
    )
    parser.add_argument(
        "--pg-admin-url",
        default=DEFAULT_PG_ADMIN_URL,
        help=f"URL used to create and drop the throw-away database (default {DEFAULT_PG_ADMIN_URL})",
    )
    parser.add_argument("--no-health", action="store_true", help="skip the unauthenticated /health baseline")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON here")
    args = parser.parse_args(argv)
    args.database_list = [d.strip() for d in args.databases.split(",") if d.strip()]
    unknown = set(args.database_list) - {"sqlite", "postgresql"}
    if unknown or not args.database_list:
        parser.error(f"unknown database(s): {', '.join(sorted(unknown)) or '(none)'}")
    if args.requests < 1 or args.duration <= 0:
        parser.error("--requests and --duration must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results: list[Result] = []
    started = time.monotonic()
    load_before = os.getloadavg()
    if load_before[0] > 0.5 * (os.cpu_count() or 1):
        print(
            f"warning: load average is {load_before[0]:.2f} before the run; figures will be noisy",
            file=sys.stderr,
        )
    for database in args.database_list:
        print(f"[{database}] starting server ...", file=sys.stderr, flush=True)
        if database == "sqlite":
            with running_server(None) as server:
                results += measure(database, server, args.requests, args.duration, not args.no_health)
        else:
            with postgres_database(args.pg_admin_url) as url, running_server(url) as server:
                results += measure(database, server, args.requests, args.duration, not args.no_health)
    print(format_table(results))
    load_after = os.getloadavg()
    print(
        f"\n(total {time.monotonic() - started:.0f} s; 1-min load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after)",
        file=sys.stderr,
    )
    if args.json is not None:
        payload = {
            "benchmark": "auth_latency",
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "nproc": os.cpu_count(),
            "requests": args.requests,
            "duration_s": args.duration,
            "loadavg_before": load_before,
            "loadavg_after": load_after,
            "results": [asdict(r) for r in results],
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
