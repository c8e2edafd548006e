"""Deep-page anchors are moved by comparing sort keys in Python (services/samples/pages.py),
which is only sound where the database orders ids the way Python does. The probe that decides
it must tell the two kinds of database apart."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from labelarts.clock import new_resource_id, new_sample_id
from labelarts.services.paths import Grants
from labelarts.services.samples.query import SampleListService
from labelarts.storage.db import Database
from labelarts.storage.db.dialect import orders_text_bytewise
from tests.conftest import PG_ADMIN_URL
from tests.conftest import test_database_kind as database_kind

IDS = [new_resource_id() for _ in range(200)] + ["a", "B", "Z", "_", "9", "aB", "ab", "A_b"]


def database_order(url: str, ids: list[str] = IDS) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            values = ", ".join(f"('{value}')" for value in ids)
            rows = connection.execute(text(f"SELECT column1 FROM (VALUES {values}) AS t ORDER BY column1"))
            return [row[0] for row in rows]
    finally:
        engine.dispose()


def list_service(url: str, tmp_path: Path) -> SampleListService:
    grants = Grants([], [], tmp_path, count_projects=lambda: 1)
    return SampleListService(Database(url), grants)


def test_the_probe_agrees_with_the_databases_own_order(database_url: str, tmp_path: Path) -> None:
    bytewise = database_order(database_url) == sorted(IDS)
    engine = create_engine(database_url)
    try:
        assert orders_text_bytewise(engine) is bytewise
    finally:
        engine.dispose()
    assert list_service(database_url, tmp_path).pages.tracks_changes is bytewise


@pytest.fixture
def language_collation_url() -> Iterator[str]:
    """A PostgreSQL database whose default collation is ICU's en-US ('a' < 'B')."""
    name = f"labelarts_test_icu_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(
            text(
                f'CREATE DATABASE "{name}" TEMPLATE template0 LOCALE_PROVIDER icu '
                "ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
            )
        )
    try:
        yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.skipif(database_kind() != "postgresql", reason="a PostgreSQL collation")
def test_a_language_collation_turns_anchor_tracking_off(language_collation_url: str, tmp_path: Path) -> None:
    assert database_order(language_collation_url) != sorted(IDS)
    engine = create_engine(language_collation_url)
    try:
        assert orders_text_bytewise(engine) is False
    finally:
        engine.dispose()
    assert list_service(language_collation_url, tmp_path).pages.tracks_changes is False


def sample_ids_in_creation_order() -> list[str]:
    ids = []
    for _ in range(30):
        ids.extend(new_sample_id() for _ in range(3))  # the same millisecond, most likely
        time.sleep(0.002)
    return ids


def by_millisecond(ids: list[str]) -> list[str]:
    return [sample_id[:9] for sample_id in ids]


def test_new_sample_ids_sort_in_creation_order_in_the_databases_order(database_url: str) -> None:
    """A later sample's id sorts after an earlier one's (to the millisecond; the b-trees keyed by
    sample id then take new rows at their right edge), in byte order and in the database's."""
    ids = sample_ids_in_creation_order()
    assert by_millisecond(sorted(ids)) == by_millisecond(ids)
    assert by_millisecond(database_order(database_url, ids)) == by_millisecond(ids)


@pytest.mark.skipif(database_kind() != "postgresql", reason="a PostgreSQL collation")
def test_new_sample_ids_sort_in_creation_order_in_a_language_collation(language_collation_url: str) -> None:
    ids = sample_ids_in_creation_order()
    assert by_millisecond(database_order(language_collation_url, ids)) == by_millisecond(ids)
