"""The review workload of bench_sample_list through two API instances on one PostgreSQL.

Two ``labelarts serve --workers 0`` on one throw-away PostgreSQL database and data dir (one
secret), one dataset of ``--samples`` machine-labeled images inserted straight through the
storage layer (benchmarks/review_setup.py, the data of bench_sample_list and of
docs/postgresql.md's plans). No balancer: the client does what one without sticky sessions
does, it sends each request to the next instance in turn.

For each filter, ``--reviewers`` reviewers (threads, one connection per instance each) work
through their own pages as in bench_sample_list: list a 50-sample page, confirm 15 and
correct 5 of its samples (one ``PUT`` of 20), list the next page, ``--rounds`` times. A page
is therefore usually listed on the other instance than the one that took the last change, so
what the list keeps between requests (counts, page anchors) must be right across instances.

Reported per filter: the first request on each instance (``cold A`` / ``cold B`` ms: each
process builds its own page anchors for a deep page), then p50 / p95 wall ms of every page
request after a change, the median PUT, and whether both instances answered the same total
at the end (``same``).

    nice -n 5 python -m benchmarks.bench_sample_list_instances --samples 1000000
    nice -n 5 python -m benchmarks.bench_sample_list_instances --samples 1000000 --instances 1
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import threading
import time
from typing import Any

import httpx

from benchmarks.bench_auth_latency import DEFAULT_PG_ADMIN_URL, _percentile, postgres_database
from benchmarks.bench_sample_list import CONFIRM, CORRECT, LIMIT, filters
from benchmarks.review_setup import LABELS, ReviewServer, review_server

FORMAT = "{:<14} {:>9} {:>9} {:>8} {:>8} {:>8} {:>9} {:>5}"
FILTERS = ("plain", "deep 90%", "label", "score range", "hard", "label_list")


def _changes(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    changes = []
    for j, sample in enumerate(samples[: CONFIRM + CORRECT]):
        name = sample["labels"][0]["name"] if sample["labels"] else LABELS[0]
        if j >= CONFIRM:
            name = LABELS[(LABELS.index(name) + 1) % len(LABELS)] if name in LABELS else LABELS[0]
        changes.append({"sample_id": sample["sample_id"], "labels": [{"name": name, "type": 0}]})
    return changes


def run_filter(
    server: ReviewServer,
    clients: list[list[httpx.Client]],
    params: dict[str, Any],
    rounds: int,
) -> dict[str, Any]:
    base = f"/v2/{server.project_id}/datasets/{server.dataset_id}"
    path = f"{base}/auto-annotations/samples"
    start = int(params.get("offset", 0))
    extra = {k: v for k, v in params.items() if k != "offset"}
    colds = []
    for client in clients[0]:  # the first request of the filter on each instance
        t0 = time.perf_counter()
        client.get(path, params={**extra, "limit": LIMIT, "offset": start}).raise_for_status()
        colds.append((time.perf_counter() - t0) * 1000)
    walls: list[float] = []
    puts: list[float] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def reviewer(index: int, own: list[httpx.Client]) -> None:
        turn = itertools.cycle(own[index % len(own) :] + own[: index % len(own)])
        page = start + index * (rounds + 2)  # reviewers work on pages of their own
        try:
            for _ in range(rounds):
                t0 = time.perf_counter()
                response = next(turn).get(path, params={**extra, "limit": LIMIT, "offset": page})
                elapsed = (time.perf_counter() - t0) * 1000
                response.raise_for_status()
                samples = response.json()["samples"]
                t1 = time.perf_counter()
                if samples:
                    next(turn).put(
                        f"{base}/data-annotations/samples", json={"samples": _changes(samples)}
                    ).raise_for_status()
                put = (time.perf_counter() - t1) * 1000
                with lock:
                    walls.append(elapsed)
                    if samples:
                        puts.append(put)
                page = page + 1 if samples else start
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [
        threading.Thread(target=reviewer, args=(i, clients[i]), name=f"reviewer-{i}")
        for i in range(len(clients))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    totals = {
        client.get(path, params={**extra, "limit": 1, "offset": 0}).json()["sample_count"]
        for client in clients[0]
    }
    walls.sort()
    return {
        "cold_ms": [round(c, 1) for c in colds],
        "p50_ms": round(statistics.median(walls), 1),
        "p95_ms": round(_percentile(walls, 0.95), 1),
        "put_ms": round(statistics.median(puts), 1) if puts else 0.0,
        "requests": len(walls),
        "same_total": len(totals) == 1,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--instances", type=int, default=2, help="1: the same workload on one instance")
    parser.add_argument("--reviewers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--filters", default=",".join(FILTERS))
    parser.add_argument("--pg-admin-url", default=DEFAULT_PG_ADMIN_URL)
    args = parser.parse_args()
    print(f"# load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    with (
        postgres_database(args.pg_admin_url) as url,
        review_server(url, args.samples, instances=args.instances) as server,
    ):
        print(f"# postgresql {args.samples}: inserted in {server.insert_seconds:.1f}s", flush=True)
        urls = [server.base_url, *server.other_urls]
        clients = [
            [httpx.Client(base_url=u, auth=server.signing, trust_env=False, timeout=300) for u in urls]
            for _ in range(args.reviewers)
        ]
        try:
            print(
                FORMAT.format(
                    "filter", "cold A ms", "cold B ms", "p50 ms", "p95 ms", "put ms", "requests", "same"
                )
            )
            every = filters(args.samples)
            for name in args.filters.split(","):
                result = run_filter(server, clients, every[name], args.rounds)
                cold_a, cold_b = [*result["cold_ms"], "-"][:2]
                print(
                    FORMAT.format(
                        name,
                        cold_a,
                        cold_b,
                        result["p50_ms"],
                        result["p95_ms"],
                        result["put_ms"],
                        result["requests"],
                        "yes" if result["same_total"] else "NO",
                    ),
                    flush=True,
                )
        finally:
            for own in clients:
                for client in own:
                    client.close()
    print(f"# load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)


if __name__ == "__main__":
    main()
