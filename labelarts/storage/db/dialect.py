"""Everything that differs between SQLite and PostgreSQL lives here."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import IntegrityError


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str) -> Engine:
    """Create an engine tuned for the dialect: WAL and foreign keys on SQLite, a pool on PG."""
    if is_sqlite(url):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=8,
            max_overflow=16,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def is_unique_violation(exc: IntegrityError, constraint: str, table: str) -> bool:
    """Whether ``exc`` is the named unique constraint (PostgreSQL names it, SQLite its table)."""
    text = str(exc.orig)
    return constraint in text or f"UNIQUE constraint failed: {table}." in text


def refresh_statistics(engine: Engine, tables: tuple[str, ...]) -> None:
    """Refresh the planner's statistics for fast-growing tables (PostgreSQL only: SQLite's
    planner does not need them for the per-dataset index lookups)."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect() as connection:
        connection.exec_driver_sql(f"ANALYZE {', '.join(tables)}")
        connection.commit()
