"""PostgreSQL in production: `labelarts db upgrade` and the pool settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.pool import NullPool, QueuePool

from labelarts.config import Settings
from labelarts.storage.db import Database, PoolOptions
from labelarts.storage.db.engine import MIGRATIONS_DIR
from tests.cli import cli_env, run_cli
from tests.conftest import test_database_kind as database_kind


def _head() -> str:
    return max(p.name.split("_", 1)[0] for p in (MIGRATIONS_DIR / "versions").glob("[0-9]*.py"))


def test_db_upgrade_migrates_an_empty_database_once(tmp_path: Path, database_url: str) -> None:
    env = cli_env(LABELARTS_DATABASE_URL=database_url)
    data_dir = str(tmp_path / "data")
    assert run_cli("--data-dir", data_dir, "db", "revision", env=env).stdout.strip() == "none"
    first = run_cli("--data-dir", data_dir, "db", "upgrade", env=env)
    assert first.returncode == 0, first.stderr
    assert f"from revision (empty) to {_head()}" in first.stdout, first.stdout
    again = run_cli("--data-dir", data_dir, "db", "upgrade", env=env)
    assert again.returncode == 0, again.stderr
    assert f"The schema is current (revision {_head()})." in again.stdout
    assert run_cli("--data-dir", data_dir, "db", "revision", env=env).stdout.strip() == _head()


def test_pool_settings_size_the_postgresql_pool(database_url: str) -> None:
    settings = Settings(
        database_url=database_url, db_pool_size=3, db_max_overflow=2, db_pool_timeout_seconds=7
    )
    db = Database(database_url, PoolOptions.from_settings(settings))
    try:
        pool = db.engine.pool
        assert isinstance(pool, QueuePool)
        if database_kind() == "postgresql":
            assert (pool.size(), pool._max_overflow, pool._timeout) == (3, 2, 7)
        else:  # SQLite keeps its own pool (the settings are for PostgreSQL)
            assert pool.size() == 8
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        db.dispose()


def test_pgbouncer_mode_makes_no_prepared_statements_and_no_pool(database_url: str) -> None:
    db = Database(database_url, PoolOptions(size=0, pgbouncer=True))
    try:
        if database_kind() != "postgresql":
            assert isinstance(db.engine.pool, QueuePool)  # ignored on SQLite
            return
        assert isinstance(db.engine.pool, NullPool)
        with db.engine.connect() as conn:
            for _ in range(8):  # psycopg would prepare it from the 5th run on
                conn.execute(text("SELECT count(*) FROM pg_class WHERE relname = :n"), {"n": "x"})
            prepared = conn.execute(text("SELECT count(*) FROM pg_prepared_statements")).scalar_one()
            assert conn.connection.dbapi_connection.prepare_threshold is None  # type: ignore[union-attr]
        assert prepared == 0
    finally:
        db.dispose()


@pytest.mark.skipif(database_kind() != "postgresql", reason="prepared statements: PostgreSQL only")
def test_without_pgbouncer_mode_psycopg_prepares_repeated_statements(database_url: str) -> None:
    """The contrast that makes the test above mean something."""
    db = Database(database_url, PoolOptions())
    try:
        with db.engine.connect() as conn:
            for _ in range(8):
                conn.execute(text("SELECT count(*) FROM pg_class WHERE relname = :n"), {"n": "x"})
            assert conn.execute(text("SELECT count(*) FROM pg_prepared_statements")).scalar_one() >= 1
    finally:
        db.dispose()
