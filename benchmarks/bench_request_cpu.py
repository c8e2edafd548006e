"""Server CPU per kind of request, each the first after a reviewer's change, optionally for two
versions of the code side by side (issue 10, goal 1: where a page's CPU goes).

For each side, a real ``labelarts serve --workers 0`` (benchmarks/review_setup.py) with
``--samples`` machine-labeled images, on SQLite or on its own PostgreSQL database. Then, for
``--rounds`` rounds, each kind of request below is sent once to each side, the sides in
alternating order, each right after a ``PUT`` of 20 labels (so every read is the first after a
change), and the server's CPU is read around it from every thread's schedstat:

* ``health``: ``GET /health`` (no credential; an ORM session and ``SELECT 1``);
* ``past-last``: a signed ``GET .../auto-annotations/samples`` past the last page (the
  credential, the dataset's version and count; no rows);
* ``page``: the same list's first 50-sample page;
* ``put``: a signed ``PUT .../data-annotations/samples`` of 20 samples;
* with ``--filters``: ``page <filter>`` for each named filter of
  ``benchmarks.bench_sample_list.filters`` (its first page, ``deep`` ones their deep page).

``--compare PATH`` runs the second side's server from another checkout (``PYTHONPATH=PATH``;
``git worktree add /tmp/before <rev>``), so that two versions are measured in the same minutes:
on a shared two-core machine single runs move by 10-30 %, interleaved pairs much less.

    python -m benchmarks.bench_request_cpu --database postgresql --compare /tmp/before
    python -m benchmarks.bench_request_cpu --database sqlite --samples 100000 \
        --filters "label+score,hard coeff" --compare /tmp/before
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from benchmarks.bench_auth_latency import DEFAULT_PG_ADMIN_URL, postgres_database
from benchmarks.bench_sample_list import filters
from benchmarks.review_setup import LABELS, ReviewServer, cpu_delta_seconds, review_server

KINDS = ("health", "past-last", "page", "put")


@dataclass
class Side:
    name: str
    server: ReviewServer
    client: httpx.Client
    base: str
    changes: list[dict[str, Any]]
    cpu: dict[str, list[float]]
    pages: dict[str, dict[str, Any]]  # "page" and "page <filter>": the page's query parameters

    def change(self) -> httpx.Response:
        return self.client.put(f"{self.base}/data-annotations/samples", json={"samples": self.changes})

    def request(self, kind: str) -> httpx.Response:
        if kind == "health":
            return self.client.get("/health", auth=None)
        if kind == "past-last":
            return self.client.get(
                f"{self.base}/auto-annotations/samples", params={"limit": 50, "offset": 10**6}
            )
        if kind in self.pages:
            return self.client.get(
                f"{self.base}/auto-annotations/samples", params={"limit": 50, **self.pages[kind]}
            )
        return self.change()


def start_side(
    stack: contextlib.ExitStack,
    name: str,
    args: argparse.Namespace,
    pythonpath: str | None,
    pages: dict[str, dict[str, Any]],
) -> Side:
    url = stack.enter_context(
        postgres_database(args.pg_admin_url)
        if args.database == "postgresql"
        else contextlib.nullcontext(None)
    )
    env = {"PYTHONPATH": pythonpath} if pythonpath else None
    server = stack.enter_context(review_server(url, args.samples, server_env=env))
    client = stack.enter_context(
        httpx.Client(base_url=server.base_url, auth=server.signing, trust_env=False, timeout=300)
    )
    base = f"/v2/{server.project_id}/datasets/{server.dataset_id}"
    first = client.get(f"{base}/data-annotations/samples", params={"limit": 50}).json()["samples"]
    changes = [
        {"sample_id": sample["sample_id"], "labels": [{"name": LABELS[i % 3], "type": 0}]}
        for i, sample in enumerate(first[:20])
    ]
    return Side(name, server, client, base, changes, {kind: [] for kind in (*KINDS, *pages)}, pages)


def measure(side: Side, kind: str) -> None:
    side.change().raise_for_status()
    before = side.server.cpu_threads()
    response = side.request(kind)
    after = side.server.cpu_threads()
    response.raise_for_status()
    side.cpu[kind].append(cpu_delta_seconds(before, after) * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=150)
    parser.add_argument("--compare", metavar="PATH", help="a checkout whose code the second server runs")
    parser.add_argument("--pg-admin-url", default=DEFAULT_PG_ADMIN_URL)
    parser.add_argument(
        "--filters",
        default="",
        help="comma-separated filters of bench_sample_list (e.g. 'label+score,hard coeff'), "
        "each measured as a 'page <filter>' request",
    )
    args = parser.parse_args()
    documented = filters(args.samples)
    named = [name.strip() for name in args.filters.split(",") if name.strip()]
    unknown = [name for name in named if name not in documented]
    if unknown:
        parser.error(f"unknown filters {unknown}; known: {sorted(documented)}")
    pages = {"page": {}, **{f"page {name}": documented[name] for name in named}}
    kinds = [*KINDS, *(kind for kind in pages if kind not in KINDS)]
    with contextlib.ExitStack() as stack:
        sides = [start_side(stack, "this", args, None, pages)]
        if args.compare:
            sides.append(start_side(stack, "compare", args, args.compare, pages))
        for round_ in range(args.rounds):
            for kind in kinds:
                order: Callable[[list[Side]], list[Side]] = list if round_ % 2 == 0 else _reversed
                for side in order(sides):
                    measure(side, kind)
    print(f"# {args.database}, {args.samples} samples, {args.rounds} rounds; server CPU ms per request")
    print(
        f"{'request':18s} "
        + " ".join(f"{side.name + ' mean':>13s} {side.name + ' median':>15s}" for side in sides)
    )
    for kind in kinds:
        cells = " ".join(
            f"{statistics.fmean(side.cpu[kind]):13.3f} {statistics.median(side.cpu[kind]):15.3f}"
            for side in sides
        )
        print(f"{kind:18s} {cells}")


def _reversed(sides: list[Side]) -> list[Side]:
    return sides[::-1]


if __name__ == "__main__":
    main()
