"""API tests for datasets, labels and statistics, plus the helpers they share.

Why one server per module (:func:`shared_world`) rather than the function-scoped
``live_server``/``tenant`` fixtures of ``tests/conftest.py``: creating a user hashes a password
with argon2 and logging in verifies one, about half a second each, so a fresh tenant per test
costs more than a second. The modules here start one real server (same settings, same
database choice) per module and keep tests apart by giving each test its own datasets; tests
that need a whole project to themselves get their own tenant.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from labelarts.clock import new_hex_id, now_ms
from labelarts.config import Settings
from labelarts.container import Services, build_services
from labelarts.storage.db import counters
from labelarts.storage.db.models import Sample, SampleLabel
from tests.conftest import LiveServer, Tenant, fresh_database_url, make_tenant, start_server, store_settings
from tests.conftest import test_database_kind as database_kind

__all__ = [
    "World",
    "add_sample",
    "database_kind",
    "sample_labels",
    "shared_world",
    "unique_name",
    "wait_for_import",
]

TERMINAL_IMPORT_STATES = ("COMPLETED", "FAILED")


@dataclass
class World:
    """One running server with two tenants in two projects.

    ``root`` is the configured import root (open to every project, deletions allowed:
    ``ROOT=*+delete``); it holds the server's ``data`` dir (which must
    stay unimportable although it lies under an import root) and an ``imports`` folder.
    """

    server: LiveServer
    alice: Tenant
    mallory: Tenant
    root: Path

    @property
    def services(self) -> Services:
        return self.server.services

    @property
    def data_dir(self) -> Path:
        return self.server.settings.resolved_data_dir

    @property
    def imports(self) -> Path:
        return self.root / "imports"

    def new_tenant(self, name: str) -> Tenant:
        return make_tenant(self.server, name, new_hex_id())


@contextmanager
def shared_world(tmp: Path, **extra: Any) -> Iterator[World]:
    """A server with two tenants; ``extra`` settings override the test defaults (the object
    store of ``LABELARTS_TEST_OBJECT_STORE`` included)."""
    root = tmp / "root"
    (root / "imports").mkdir(parents=True)
    with fresh_database_url(tmp) as url:
        settings = Settings(
            data_dir=root / "data",
            database_url=url,
            import_roots=[f"{root}=*+delete"],
            object_prefixes=["/=*"],
            secret_key="test-server-secret-0123456789",
            **{**store_settings(), **extra},
        )
        services = build_services(settings)
        server = start_server(settings, services)
        tenants: list[Tenant] = []
        try:
            tenants.append(make_tenant(server, "alice", new_hex_id()))
            tenants.append(make_tenant(server, "mallory", new_hex_id()))
            yield World(server, tenants[0], tenants[1], root)
        finally:
            for tenant in tenants:
                tenant.aksk.close()
                tenant.token_client.close()
            server.stop()
            services.close()


def unique_name(prefix: str = "ds") -> str:
    """A dataset name no other test uses (names are unique per project)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def add_sample(
    services: Services,
    dataset_id: str,
    labels: Sequence[str] = (),
    *,
    status: str | None = None,
    hard: bool = False,
    label_type: int = 0,
    with_source: bool = False,
) -> str:
    """Insert one sample (and its labels) through the storage layer; return its id.

    ``status`` defaults to MANUAL_ANNOTATION with labels and UN_ANNOTATION without. With
    ``with_source`` the sample's source object is written to the object store.
    """
    sample_id = uuid.uuid4().hex
    key = f"datasets/{dataset_id}/data/{sample_id}.jpg"
    if with_source:
        services.objects.put(key, b"\xff\xd8 not really a jpeg")
    auto = status == "AUTO_ANNOTATION"
    with services.db.session() as session:
        session.add(
            Sample(
                id=sample_id,
                dataset_id=dataset_id,
                sample_type=0,
                sample_status=status or ("MANUAL_ANNOTATION" if labels else "UN_ANNOTATION"),
                sample_name=f"{sample_id}.jpg",
                source_key=key,
                sample_size=20,
                sample_time=now_ms(),
                metadata_={"@modelarts:hard": 1.0 if hard else 0.0},
                hard=hard,
                top_score=0.9 if auto else None,
            )
        )
        session.flush()
        for name in labels:
            session.add(
                SampleLabel(
                    sample_id=sample_id,
                    dataset_id=dataset_id,
                    name=name,
                    type=label_type,
                    score=0.9 if auto else None,
                    property={},
                    annotated_by="auto" if auto else "human",
                    sample_top_score=0.9 if auto else None,
                )
            )
        counters.count_samples(session, dataset_id, [sample_id])  # the writers' hook
    return sample_id


def sample_labels(services: Services, dataset_id: str) -> dict[str, tuple[str, list[str]]]:
    """Every sample of the dataset: id -> (sample_status, sorted label names)."""
    with services.db.session() as session:
        statuses = dict(
            session.execute(
                select(Sample.id, Sample.sample_status).where(Sample.dataset_id == dataset_id)
            ).all()
        )
        names: dict[str, list[str]] = {sample_id: [] for sample_id in statuses}
        for sample_id, name in session.execute(
            select(SampleLabel.sample_id, SampleLabel.name).where(SampleLabel.dataset_id == dataset_id)
        ):
            names.setdefault(sample_id, []).append(name)
        # A label row must never outlive its sample.
        orphans = session.execute(
            select(func.count())
            .select_from(SampleLabel)
            .where(SampleLabel.dataset_id == dataset_id, SampleLabel.sample_id.not_in(list(statuses)))
        ).scalar_one()
    assert orphans == 0
    return {s: (statuses[s], sorted(names[s])) for s in statuses}


def wait_for_import(client: httpx.Client, path: str, timeout: float = 120.0) -> dict[str, Any]:
    """GET an import task until it is COMPLETED or FAILED; return its body. The wait is generous:
    a loaded machine (CI on 2 cores, -n 2) is slow, and only a task that never ends should fail."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(path)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["status"] in TERMINAL_IMPORT_STATES:
            return body
        assert body["status"] in ("QUEUING", "RUNNING"), body
        assert time.monotonic() < deadline, f"import task still {body['status']}"
        time.sleep(0.02)
