"""EXPLAIN (ANALYZE, BUFFERS) of the hot queries on PostgreSQL at 1M samples (docs/postgresql.md).

A fresh PostgreSQL database gets one dataset of ``--samples`` machine-labeled images
(bulk-inserted as in ``bench_sample_list``) and ``--tasks`` finished tasks plus a few queued
ones. The app runs in this process (``create_app`` over ``build_services``, no task worker) and
is called through HTTP with AK/SK, as a client calls it; every SQL statement it sends is
captured with its parameters. The statements of interest (the sample list's page and count,
the counters, the task claim) are then run again under ``EXPLAIN (ANALYZE, BUFFERS)`` in a
transaction that is rolled back (the claim is an UPDATE), and their plans printed as Markdown.

    python -m benchmarks.explain_hot_queries --samples 1000000 > /tmp/plans.md
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import create_engine, event, insert
from sqlalchemy.engine import make_url

from benchmarks.bench_auth_latency import DEFAULT_PG_ADMIN_URL, _free_port, postgres_database
from benchmarks.review_setup import LABELS, insert_machine_labeled
from labelarts.app import create_app
from labelarts.client import SdkHmacAuth
from labelarts.clock import new_hex_id, now_ms
from labelarts.config import Settings
from labelarts.container import build_services
from labelarts.storage.db.models import Task


def _conditions(*conditions: dict[str, Any]) -> str:
    return json.dumps(list(conditions))


# What each request is, and which of its statements are worth a plan (by a table they read).
REQUESTS: list[tuple[str, str, dict[str, Any], tuple[str, ...]]] = [
    ("sample list, first page", "data", {"limit": 50}, ("FROM samples",)),
    ("sample list, page 90% deep", "data", {"limit": 50, "offset": "DEEP"}, ("FROM samples",)),
    (
        "sample list, status filter",
        "data",
        {"limit": 50, "sample_state": "__AUTO_ANNOTATION__"},
        ("FROM samples",),
    ),
    (
        "sample list, page 90% deep, ascending",
        "data",
        {"limit": 50, "offset": "DEEP", "order": "asc"},
        ("FROM samples",),
    ),
    ("sample list, label filter", "data", {"limit": 50, "label_name": "cat"}, ("FROM samples",)),
    (
        "sample list, label_list search condition (dog OR bird)",
        "data",
        {
            "limit": 50,
            "search_conditions": _conditions(
                {"label_list": {"op": "OR", "labels": [{"name": "dog"}, {"name": "bird"}]}}
            ),
        },
        ("FROM samples",),
    ),
    (
        "sample list, score range",
        "data",
        {"limit": 50, "low_score": "0.2", "high_score": "0.6"},
        ("FROM samples",),
    ),
    (
        "sample list, label and score range",
        "data",
        {"limit": 50, "label_name": "cat", "low_score": "0", "high_score": "0.5"},
        ("FROM samples",),
    ),
    (
        "sample list, hard examples",
        "data",
        {"limit": 50, "search_conditions": _conditions({"hard": "1"})},
        ("FROM samples",),
    ),
    (
        "sample list, hard reason",
        "data",
        {"limit": 50, "search_conditions": _conditions({"hard_reason": "2"})},
        ("FROM samples",),
    ),
    (
        "sample list, hard coefficient",
        "data",
        {"limit": 50, "search_conditions": _conditions({"coefficient": "0.5-1"})},
        ("FROM samples",),
    ),
    (
        "sample list, metadata search condition",
        "data",
        {
            "limit": 50,
            "search_conditions": _conditions({"metadata": {"op": "OR", "props": {"@modelarts:hard": ["1"]}}}),
        },
        ("FROM samples",),
    ),
    ("auto-annotation list", "auto", {"limit": 50}, ("FROM samples",)),
    ("dataset statistics (counters)", "stats", {}, ("dataset_sample_counts", "dataset_label_counts")),
    ("dataset list (counters)", "datasets", {}, ("dataset_sample_counts",)),
]


@contextmanager
def captured(engine: Any) -> Iterator[list[tuple[str, Any]]]:
    statements: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", keep)


def shown(statement: str) -> str:
    """The statement as printed: a page's long column list (query.ROW_COLUMNS) shortened."""
    return re.sub(
        r"^SELECT samples\.id, samples\.dataset_id, .*?, anon_1\.k",
        "SELECT samples.<the page's columns>, anon_1.k",
        statement.strip(),
    )


def explain(engine: Any, statement: str, parameters: Any) -> str:
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            rows = conn.exec_driver_sql(
                "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement, parameters
            ).all()
        finally:
            transaction.rollback()
    return "\n".join(row[0] for row in rows)


def serve(app: Any) -> tuple[str, uvicorn.Server, threading.Thread]:
    """The app under uvicorn in a thread on a free loopback port, once /health answers."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return url, server, thread
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("the server did not start")


@contextmanager
def kept_database(admin_url: str) -> Iterator[str]:
    """A new ``labelarts_explain_<random>`` database that is left in place afterwards."""
    name = f"labelarts_explain_{secrets.token_hex(4)}"
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    print(f"kept database: {url}", file=sys.stderr)
    yield url


def seed_tasks(url: str, project_id: str, dataset_id: str, finished: int) -> None:
    engine = create_engine(url)
    base = now_ms() - 86_400_000
    with engine.begin() as conn:
        rows = [
            {
                "id": new_hex_id(),
                "project_id": project_id,
                "dataset_id": dataset_id,
                "kind": "import" if i % 3 else "auto_label",
                "status": "SUCCEEDED" if i % 10 else "FAILED",
                "config": {},
                "create_time": base + i,
                "update_time": base + i,
            }
            for i in range(finished)
        ]
        rows += [
            {
                "id": new_hex_id(),
                "project_id": project_id,
                "dataset_id": dataset_id,
                "kind": "export",
                "status": "QUEUED",
                "config": {},
                "create_time": base + finished + i,
                "update_time": base + finished + i,
            }
            for i in range(5)
        ]
        for first in range(0, len(rows), 10_000):
            conn.execute(insert(Task.__table__), rows[first : first + 10_000])
        conn.exec_driver_sql("ANALYZE tasks")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--pg-admin-url", default=DEFAULT_PG_ADMIN_URL)
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the seeded database (its URL goes to stderr) to try plans by hand; drop it yourself",
    )
    args = parser.parse_args()

    database = kept_database(args.pg_admin_url) if args.keep else postgres_database(args.pg_admin_url)
    with database as url, tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), database_url=url, secret_key=secrets.token_urlsafe(32))
        services = build_services(settings, run_tasks=False)
        try:
            project_id = new_hex_id()
            creds = services.users.create_user("bench", project_id=project_id, password="bench-password")
            url_base, server, thread = serve(create_app(settings, services=services))
            client = httpx.Client(
                base_url=url_base,
                auth=SdkHmacAuth(creds.access_key, creds.secret_key, project_id),
                timeout=600,
            )
            made = client.post(
                f"/v2/{project_id}/datasets",
                json={
                    "dataset_name": "explain",
                    "data_sources": [],
                    "work_path": "/out/explain/",
                    "work_path_type": 0,
                    "labels": [{"name": name} for name in LABELS],
                },
            )
            assert made.status_code == 201, made.text
            dataset_id = made.json()["dataset_id"]
            started = time.perf_counter()
            insert_machine_labeled(url, dataset_id, args.samples)
            seed_tasks(url, project_id, dataset_id, args.tasks)
            print(
                f"<!-- {args.samples:,} samples and {args.tasks:,} tasks seeded in "
                f"{time.perf_counter() - started:.0f} s -->\n"
            )
            paths = {
                "data": f"/v2/{project_id}/datasets/{dataset_id}/data-annotations/samples",
                "auto": f"/v2/{project_id}/datasets/{dataset_id}/auto-annotations/samples",
                "stats": f"/v2/{project_id}/datasets/{dataset_id}/data-annotations/stats",
                "datasets": f"/v2/{project_id}/datasets",
            }
            for title, route, params, tables in REQUESTS:
                query = {
                    k: (str(int(0.9 * args.samples / 50)) if v == "DEEP" else v) for k, v in params.items()
                }
                # The first request counts the filter's rows (and, deep, builds its anchors);
                # the second is what a reviewer paging on gets (count and anchors kept).
                timings = []
                runs = []
                for _ in range(2):
                    with captured(services.db.engine) as statements:
                        started = time.perf_counter()
                        answer = client.get(paths[route], params=query)
                        timings.append((time.perf_counter() - started) * 1000)
                    assert answer.status_code == 200, answer.text
                    runs.append(statements)
                print(
                    f"### {title}\n\n`GET {route} {query}`: {timings[0]:.1f} ms, then {timings[1]:.1f} ms\n"
                )
                seen: set[str] = set()
                for which, statements in zip(("first request only", ""), runs, strict=True):
                    for statement, parameters in statements:
                        if statement in seen or not any(t in statement for t in tables):
                            continue
                        seen.add(statement)
                        if which and any(statement == s for s, _ in runs[1]):
                            which = ""
                        note = f"-- {which}\n" if which else ""
                        print("```sql\n" + note + shown(statement) + "\n```\n")
                        print("```\n" + explain(services.db.engine, statement, parameters) + "\n```\n")
            # The task claim, as a worker sends it.
            with captured(services.db.engine) as statements:
                services.tasks.claim("explain:1:x", kinds=["export"])
            print("### task claim (worker)\n")
            for statement, parameters in statements:
                if "tasks" in statement and ("UPDATE" in statement or "SELECT" in statement):
                    print("```sql\n" + statement.strip() + "\n```\n")
                    print("```\n" + explain(services.db.engine, statement, parameters) + "\n```\n")
            client.close()
            server.should_exit = True
            thread.join(timeout=10)
        finally:
            services.close()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
