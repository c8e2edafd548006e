"""The database handle: engine, session factory and migrations."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar, TypeVarTuple, cast

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, Select, text
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from labelarts.errors import BusyError
from labelarts.storage.db import counters
from labelarts.storage.db.dialect import (
    PoolOptions,
    begin_read_snapshot,
    begin_write,
    is_lock_timeout,
    make_engine,
)

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Key of the PostgreSQL advisory lock held while migrating (any constant no one else uses).
MIGRATION_LOCK_KEY = 0x4C41_4D49  # "LAMI"
# Tries of a background transaction that loses lock waits (retry_when_busy), and the first
# pause between two (doubled each time, randomised): 0.05 + 0.1 + 0.2 + 0.4 s at most.
BUSY_ATTEMPTS: Final = 5
BUSY_FIRST_PAUSE_S: Final = 0.05

T = TypeVar("T")
Columns = TypeVarTuple("Columns")


# Database.reading on PostgreSQL: the isolation level the driver begins with, by ``snapshot``.
PG_READ_LEVEL: Final = {True: "REPEATABLE READ", False: "AUTOCOMMIT"}


class Database:
    """Owns the engine. ``session()`` is a unit of work: commit on success, rollback on error."""

    def __init__(self, url: str, pool: PoolOptions | None = None) -> None:
        self.url = url
        self.engine: Engine = make_engine(url, pool)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        counters.install(self._sessions)  # counter deltas are written when a session commits
        self._driver_statements: dict[Select[*tuple[Any, ...]], _DriverStatement] = {}

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision. Instances that start together
        take turns (a lock held for the whole upgrade): the first migrates, the others then
        find the schema current."""
        with self.engine.begin() as connection:
            _lock_for_migration(connection)
            config = alembic_config(self.url)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[Session]:
        """A unit of work. ``write``: it reads rows and then changes them, so it takes the write
        lock before the first read (:func:`~labelarts.storage.db.dialect.begin_write`; rows it
        changes on PostgreSQL are still locked with ``FOR UPDATE`` by the caller).

        A lock wait that runs out (SQLite's busy timeout, a PostgreSQL deadlock) is a
        :class:`~labelarts.errors.BusyError` (429, retryable), not a 500: nothing was written.
        """
        with _busy_on_lock_timeout(), self._sessions() as session, session.begin():
            if write:
                begin_write(session)
            yield session

    @contextmanager
    def reading(self, *, snapshot: bool = True) -> Iterator[Connection]:
        """A read-only unit of work on a bare connection, no ORM session (its set-up and
        commit hooks are a measurable part of a sample-list page): with ``snapshot`` every
        read sees one state of the database
        (:func:`~labelarts.storage.db.dialect.begin_read_snapshot`; not needed for a single
        statement). Nothing is written, so the transaction is rolled back at the end. Lock
        waits that run out are a :class:`~labelarts.errors.BusyError`, as in :meth:`session`.

        PostgreSQL: the driver's own transaction settings, not statements: a snapshot is begun
        with ``BEGIN ISOLATION LEVEL REPEATABLE READ`` (one round trip, not ``BEGIN`` and then
        ``SET TRANSACTION``), and a read without one runs in autocommit (no ``BEGIN`` nor
        ``ROLLBACK`` around its statement). Every signed request and sample-list page reads
        this way: 3 of 12 round trips to the database fewer per signed page."""
        with _busy_on_lock_timeout(), self.engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                connection.execution_options(isolation_level=PG_READ_LEVEL[snapshot])
            elif snapshot:
                begin_read_snapshot(connection)
            yield connection

    def first_row(self, statement: Select[*Columns], params: Mapping[str, Any]) -> tuple[*Columns] | None:
        """The first row of a fixed read ``statement`` (a module constant: each is compiled once
        and kept), as the driver returns it (a tuple; a
        boolean is 0 or 1 on SQLite), or None.

        For the credential read of every authenticated request: the statement, compiled once,
        runs on a pooled connection in autocommit, without SQLAlchemy's ``Connection`` and
        ``Result`` around it (server CPU per read: 190 -> 90 µs on PostgreSQL, 37 -> 12 µs on
        SQLite; docs/benchmarks.md). So only for statements whose parameters go to the driver
        as they are (strings, numbers). The pool still checks the connection as it hands it
        out; a driver error (a connection the server closed meanwhile, a lock) sends the read
        through :meth:`reading` once more, which answers or reports it as every read does.
        """
        compiled = self._driver_statements.get(statement)
        if compiled is None:
            compiled = _DriverStatement.of(statement, self.engine.dialect)
            self._driver_statements[statement] = compiled
        pooled = self.engine.raw_connection()
        try:
            return cast("tuple[*Columns] | None", compiled.first(pooled.driver_connection, params))
        except self.engine.dialect.loaded_dbapi.Error as exc:
            if self.engine.dialect.is_disconnect(exc, pooled.driver_connection, None):
                pooled.invalidate(exc)
        finally:
            pooled.close()
        with self.reading(snapshot=False) as connection:
            row = connection.execute(statement, params).first()
        return row._tuple() if row is not None else None

    def revision(self) -> str | None:
        """The schema's current Alembic revision (None on an empty database)."""
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as connection:
            current: str | None = MigrationContext.configure(connection).get_current_revision()
            return current

    def dispose(self) -> None:
        self.engine.dispose()


@dataclass(frozen=True)
class _DriverStatement:
    """A statement compiled for the driver: its SQL text and how its parameters are passed."""

    sql: str
    positions: tuple[str, ...] | None  # parameter names in order (SQLite's "?"), None: by name
    autocommit: bool  # PostgreSQL: the driver would begin a transaction (a round trip) first

    @classmethod
    def of(cls, statement: Select[*tuple[Any, ...]], dialect: Dialect) -> _DriverStatement:
        compiled = statement.compile(dialect=dialect)
        positions = tuple(compiled.positiontup) if compiled.positiontup is not None else None
        return cls(compiled.string, positions, dialect.name == "postgresql")

    def first(self, driver_connection: Any, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        values = [params[name] for name in self.positions] if self.positions is not None else params
        if self.autocommit:
            driver_connection.autocommit = True
        try:
            cursor = driver_connection.cursor()
            try:
                cursor.execute(self.sql, values)
                row: tuple[Any, ...] | None = cursor.fetchone()
                return row
            finally:
                cursor.close()
        finally:
            if self.autocommit:
                driver_connection.autocommit = False


@contextmanager
def _busy_on_lock_timeout() -> Iterator[None]:
    """A lock wait that ran out inside the block is a :class:`~labelarts.errors.BusyError`."""
    try:
        yield
    except DBAPIError as exc:
        if is_lock_timeout(exc):
            raise BusyError() from exc
        raise


def _lock_for_migration(connection: Connection) -> None:
    """PostgreSQL: a transaction-scoped advisory lock. SQLite: ``BEGIN IMMEDIATE``, the write
    lock before Alembic reads the current revision (a plain BEGIN would read first and then
    fail to write over the other process's migration)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    elif connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def retry_when_busy(transaction: Callable[[], T], *, attempts: int = BUSY_ATTEMPTS) -> T:
    """Run ``transaction`` (a whole unit of work: it opens and commits its own session, and
    changes nothing outside it until that commit) again when it loses a lock wait. A
    :class:`~labelarts.errors.BusyError` means its transaction was rolled back, so running it
    again is safe; between tries a random pause that doubles each time lets the other writer
    finish. The last loss is raised. For background work (a task's write chunks), where no
    client is there to send the request again; a request's own 429 is the client's to retry."""
    attempt = 1
    while True:
        try:
            return transaction()
        except BusyError:
            if attempt >= attempts:
                raise
            pause = BUSY_FIRST_PAUSE_S * 2 ** (attempt - 1) * random.uniform(0.5, 1.0)
            log.info(
                "a background transaction lost a lock wait (try %d of %d); again in %.2f s",
                attempt,
                attempts,
                pause,
            )
            time.sleep(pause)
            attempt += 1
