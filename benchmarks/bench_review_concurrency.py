"""Many reviewers: requests/s on one 50-sample page with 8 concurrent clients (issue 10, goal 2).

A real ``labelarts serve --workers 0`` over SQLite (or PostgreSQL) with ``--samples``
machine-labeled images (benchmarks/review_setup.py); the load generator runs beside it in its
own process: ``wrk`` (Debian package ``wrk``) with ``-c 8`` connections on ``--threads``
threads, sending the token header (``X-Auth-Token``; wrk cannot compute AK/SK signatures).
Each list is loaded for ``--duration`` seconds after a warm-up:

* ``auto``: ``GET .../auto-annotations/samples?limit=50``
* ``data``: ``GET .../data-annotations/samples?limit=50``

``--api-processes N`` runs ``serve --api-processes N`` (server CPU then sums every API
process); ``--http-parser h11`` the pure-Python parser, for comparison.

Reported: requests/s, wrk's latency percentiles, non-2xx answers and socket errors (both must
be 0), and the server's CPU per request (``/proc/<pid>/stat``). Both share the machine's
cores with the load generator, as the issue asks ("2 cores").

    python -m benchmarks.bench_review_concurrency --samples 10000 --json /tmp/concurrency.json
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from benchmarks.bench_auth_latency import DEFAULT_PG_ADMIN_URL, postgres_database
from benchmarks.review_setup import review_server
from labelarts.client import TokenAuth

FORMAT = "{:<10} {:>8} {:<5} {:>4} {:>9} {:>8} {:>8} {:>8} {:>7} {:>7} {:>8}"


@dataclass(frozen=True)
class Row:
    database: str
    samples: int
    list: str
    connections: int
    requests_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    server_cpu_ms: float


def _ms(text: str) -> float:
    value = float(re.sub(r"[a-z]+$", "", text))
    unit = re.sub(r"^[0-9.]+", "", text)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def parse_wrk(output: str) -> dict[str, float]:
    found: dict[str, float] = {"non_2xx": 0, "socket_errors": 0}
    for line in output.splitlines():
        line = line.strip()
        if line.startswith("Requests/sec:"):
            found["requests_per_s"] = float(line.split()[1])
        elif re.match(r"^(50|90|99)%\s", line):
            percent, value = line.split()
            found[f"p{percent.rstrip('%')}_ms"] = _ms(value)
        elif line.startswith("Non-2xx or 3xx responses:"):
            found["non_2xx"] = int(line.split(":")[1])
        elif line.startswith("Socket errors:"):
            found["socket_errors"] = sum(int(n) for n in re.findall(r"\d+", line))
    return found


def run_one(database: str, url: str | None, samples: int, args: argparse.Namespace) -> list[Row]:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk was not found: apt-get install -y wrk")
    rows = []
    server_env = {"LABELARTS_HTTP_PARSER": args.http_parser}
    with review_server(url, samples, api_processes=args.api_processes, server_env=server_env) as server:
        base = f"/v2/{server.project_id}/datasets/{server.dataset_id}"
        for list_name in args.lists.split(","):
            path = f"{base}/{'auto' if list_name == 'auto' else 'data'}-annotations/samples?limit=50"
            with httpx.Client(
                base_url=server.base_url, auth=TokenAuth(server.token), trust_env=False
            ) as client:
                for _ in range(50):
                    client.get(path).raise_for_status()
            command = [
                wrk,
                f"-t{args.threads}",
                f"-c{args.connections}",
                f"-d{args.duration}s",
                "--latency",
                "-H",
                f"X-Auth-Token: {server.token}",
                f"{server.base_url}{path}",
            ]
            cpu_before = server.cpu_seconds()
            done = subprocess.run(
                command, capture_output=True, text=True, check=True, timeout=args.duration + 60
            )
            cpu = server.cpu_seconds() - cpu_before
            found = parse_wrk(done.stdout)
            total = found["requests_per_s"] * args.duration
            row = Row(
                database,
                samples,
                list_name,
                args.connections,
                found["requests_per_s"],
                round(found.get("p50_ms", 0.0), 2),
                round(found.get("p90_ms", 0.0), 2),
                round(found.get("p99_ms", 0.0), 2),
                int(found["non_2xx"]),
                int(found["socket_errors"]),
                round(1000 * cpu / total, 2) if total else 0.0,
            )
            print(FORMAT.format(*asdict(row).values()), flush=True)
            rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--databases", default="sqlite")
    parser.add_argument("--lists", default="auto,data")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--api-processes", type=int, default=1, help="serve --api-processes")
    parser.add_argument("--http-parser", default="auto", choices=["auto", "httptools", "h11"])
    parser.add_argument("--pg-admin-url", default=DEFAULT_PG_ADMIN_URL)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    print(
        FORMAT.format(
            "database",
            "samples",
            "list",
            "conn",
            "req/s",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "non2xx",
            "errors",
            "cpu ms",
        )
    )
    results: list[Row] = []
    for database in args.databases.split(","):
        if database == "postgresql":
            with postgres_database(args.pg_admin_url) as url:
                results.extend(run_one(database, url, args.samples, args))
        else:
            results.extend(run_one(database, None, args.samples, args))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))


if __name__ == "__main__":
    main()
