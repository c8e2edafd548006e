"""Where the time of an authenticated request goes, measured in-process (no HTTP).

Companion to ``bench_auth_latency.py``: builds the service container on a temporary data
dir (SQLite, or a throw-away PostgreSQL database) and times, per call:

* ``AuthService.authenticate_signature`` (AK/SK: DB lookup + Fernet decrypt + HMAC) and
  its parts: the access-key lookup query, the Fernet decrypt, parse + canonical request + HMAC;
* ``AuthService.authenticate_token`` (sha256 + DB lookup);
* ``SELECT 1`` in a ``Database.session()``: the floor of any query (pool checkout with
  pre-ping on PostgreSQL, BEGIN, one round trip, COMMIT);
* ``DatasetService.describe`` (the body of ``GET /v2/{project_id}/datasets/{dataset_id}``).

Each figure is the best of 5 rounds of the mean over ``--number`` calls, single-threaded.

    python -m benchmarks.bench_auth_inprocess --json /tmp/inprocess.json
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path

import httpx
from sqlalchemy import select

from benchmarks.bench_auth_latency import DEFAULT_PG_ADMIN_URL, postgres_database
from labelarts.auth import signing
from labelarts.auth.service import SignedRequest
from labelarts.client import SdkHmacAuth
from labelarts.config import Settings
from labelarts.container import build_services
from labelarts.schemas.datasets import CreateDatasetRequest
from labelarts.storage.db.models import AccessKey, User

ROUNDS = 5
DATASET_BODY = {
    "dataset_name": "bench",
    "data_sources": [],
    "work_path": "/out/bench/",
    "work_path_type": 0,
    "labels": [{"name": "a"}, {"name": "b"}],
}


def _time_us(fn: Callable[[], object], number: int) -> float:
    fn()
    return min(timeit.repeat(fn, number=number, repeat=ROUNDS)) / number * 1e6


def measure(database: str, database_url: str | None, number: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="labelarts-bench-") as tmp:
        settings = Settings(data_dir=Path(tmp), database_url=database_url, log_level="warning")
        services = build_services(settings)
        try:
            project_id = secrets.token_hex(16)
            password = secrets.token_urlsafe(16)
            creds = services.users.create_user("bench", project_id=project_id, password=password)
            token = services.auth.issue_token(
                user_name="bench", password=password, project_id=project_id, client_address="127.0.0.1"
            ).token
            dataset = services.datasets.create(
                project_id, CreateDatasetRequest.model_validate(DATASET_BODY), data_path=None
            )
            path = f"/v2/{project_id}/datasets/{dataset.id}"

            # Sign a request exactly as the client does, then verify that same request repeatedly
            # (the X-Sdk-Date stays inside the 15-minute window for the whole run).
            request = httpx.Request("GET", f"http://127.0.0.1:8080{path}", headers={"User-Agent": "bench"})
            request = next(SdkHmacAuth(creds.access_key, creds.secret_key, project_id).auth_flow(request))
            authorization = request.headers["Authorization"]
            headers = dict(request.headers)
            signed = SignedRequest("GET", path, "", headers, signing.EMPTY_SHA256)
            with services.db.session() as session:
                sealed = session.execute(
                    select(AccessKey.secret_encrypted).where(AccessKey.access_key == creds.access_key)
                ).scalar_one()

            def lookup() -> None:
                with services.db.session() as session:
                    session.execute(
                        select(AccessKey, User)
                        .join(User, User.id == AccessKey.user_id)
                        .where(AccessKey.access_key == creds.access_key)
                    ).first()

            def hmac_only() -> None:
                parsed = signing.parse_authorization(authorization)
                canonical = signing.canonical_request("GET", path, "", headers, parsed.signed_headers, b"")
                signing.signature(creds.secret_key, signing.string_to_sign(canonical, headers["x-sdk-date"]))

            def select_one() -> None:
                with services.db.session() as session:
                    session.execute(select(1)).scalar_one()

            box = services.auth._box  # the SecretBox the service decrypts with
            cases: dict[str, Callable[[], object]] = {
                "authenticate_signature (AK/SK)": lambda: services.auth.authenticate_signature(
                    authorization, signed
                ),
                "  access-key lookup query": lookup,
                "  Fernet decrypt of the SK": lambda: box.open(sealed),
                "  parse + canonical request + HMAC": hmac_only,
                "authenticate_token": lambda: services.auth.authenticate_token(token),
                "db.session() + SELECT 1 (floor)": select_one,
                "DatasetService.describe": lambda: services.datasets.describe(project_id, dataset.id),
            }
            figures: dict[str, float] = {}
            for name, fn in cases.items():
                figures[name] = _time_us(fn, number)
                print(f"  [{database}] {name:<36} {figures[name]:8.1f} us", file=sys.stderr, flush=True)
            return figures
        finally:
            services.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--number", type=int, default=300, help="calls per round (default 300)")
    parser.add_argument("--databases", default="sqlite,postgresql", help="comma-separated (default both)")
    parser.add_argument("--pg-admin-url", default=DEFAULT_PG_ADMIN_URL)
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    if not databases or set(databases) - {"sqlite", "postgresql"}:
        parser.error("--databases takes sqlite and/or postgresql")

    results: dict[str, dict[str, float]] = {}
    for database in databases:
        if database == "sqlite":
            results[database] = measure(database, None, args.number)
        else:
            with postgres_database(args.pg_admin_url) as url:
                results[database] = measure(database, url, args.number)

    names = list(next(iter(results.values())))
    width = max(len(n) for n in names)
    print(f"| {'operation (µs per call)':<{width}} | " + " | ".join(f"{d:>10}" for d in databases) + " |")
    print(f"|{'-' * (width + 2)}|" + "|".join("-" * 11 + ":" for _ in databases) + "|")
    for name in names:
        cells = " | ".join(f"{results[d][name]:10.0f}" for d in databases)
        print(f"| {name.replace('  ', '↳ ', 1) if name.startswith('  ') else name:<{width}} | {cells} |")
    if args.json is not None:
        payload = {
            "benchmark": "auth_inprocess",
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "nproc": os.cpu_count(),
            "number": args.number,
            "results_us": results,
        }
        args.json.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
