"""Everything that differs between SQLite and PostgreSQL lives here.

Two rules every statement follows (docs/architecture.md, "Integrity"):

* **Bounded statements.** No statement binds a list whose length depends on the data or the
  request: write it set-based (a subquery, ``EXISTS``), or bind the list :data:`IN_LIST_CHUNK`
  values at a time with :func:`chunked`. SQLite refuses more than 32,766 variables per
  statement and PostgreSQL more than 65,535 parameters.
* **Serialised writers.** A unit of work that reads rows and then writes what it decided
  holds the write lock from its first read: :func:`begin_write` (SQLite: ``BEGIN IMMEDIATE``)
  and :func:`uses_row_locks` (PostgreSQL: ``SELECT ... FOR UPDATE``, taken in a stable order).
"""

from __future__ import annotations

import functools
import itertools
import json
import operator
import re
import select as select_module
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

import orjson
from sqlalchemy import (
    JSON,
    ColumnElement,
    Connection,
    Engine,
    String,
    Table,
    any_,
    bindparam,
    case,
    create_engine,
    event,
    func,
    select,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError, InvalidatePoolError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.elements import SQLCoreOperations

if TYPE_CHECKING:
    import psycopg

    from labelarts.config import Settings

T = TypeVar("T")
R = TypeVar("R")

IN_LIST_CHUNK: Final = 500
"""The most values one statement binds in an ``IN`` list (a statement may bind a chunk a few
times, e.g. ``IN`` and ``NOT IN``): far below both databases' caps, and still few round trips."""

SQLITE_MAX_VARIABLES: Final = 32_766
"""SQLite's own default cap on variables per statement. Distributions build it higher (Debian:
250,000), so it is set on every connection: a statement that runs here runs on any build."""

SQLITE_BUSY_TIMEOUT_S: Final = 30
"""How long a SQLite writer waits for the write lock before giving up (then a 429, not a 500)."""

# PostgreSQL SQLSTATEs that mean "lost a race for a lock", not "broken": deadlock_detected,
# lock_not_available, serialization_failure.
_PG_LOCK_STATES: Final = frozenset({"40P01", "55P03", "40001"})
_SQLITE_BUSY_MESSAGES: Final = ("database is locked", "database table is locked", "database is busy")


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


# A run of 19 digits: an integer orjson would read as a float (past 64 bits); json reads it exactly.
_LONG_DIGITS = re.compile(r"\d{19}")
_LONG_DIGITS_BYTES = re.compile(rb"\d{19}")


def loads_json(text: str | bytes) -> Any:
    """JSON columns as ``json.loads`` reads them, mostly through orjson (several times faster).

    SQLite's driver hands over text, psycopg bytes (PostgreSQL's every JSON column: a tenth of
    a sample-list page's CPU went to ``json.loads`` of bytes before they took this path too).
    orjson differs from ``json`` only where it refuses (NaN, lone surrogates) or reads an
    integer past 64 bits as a float; those texts go to ``json.loads``.
    """
    long = _LONG_DIGITS.search(text) if isinstance(text, str) else _LONG_DIGITS_BYTES.search(text)
    if long is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


@dataclass(frozen=True)
class PoolOptions:
    """The PostgreSQL connection pool of one process (``LABELARTS_DB_*``; SQLite ignores it).

    ``size`` connections are kept open, up to ``max_overflow`` more are opened under load and
    closed when returned; a unit of work waits ``timeout_s`` for one, then fails.
    ``size`` 0: no pool (SQLAlchemy's ``NullPool``), a connection per unit of work, for a
    PgBouncer that does the pooling. ``pgbouncer``: no server-side prepared statements
    (psycopg prepares a statement run 5 times on one connection; PgBouncer's transaction
    pooling hands the next transaction another server connection, which lacks it).
    """

    size: int = 10
    max_overflow: int = 20
    timeout_s: float = 30.0
    recycle_s: int = -1
    pgbouncer: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> PoolOptions:
        return cls(
            size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            timeout_s=settings.db_pool_timeout_seconds,
            recycle_s=settings.db_pool_recycle_seconds,
            pgbouncer=settings.db_pgbouncer,
        )


SQLITE_CACHE_KIB: Final = 16 * 1024  # per connection, filled only as pages are read
SQLITE_CHECKPOINT_PAGES: Final = 10_000  # 4 KiB pages of WAL between automatic checkpoints


def make_engine(url: str, pool: PoolOptions | None = None) -> Engine:
    """Create an engine tuned for the dialect: WAL and foreign keys on SQLite, a pool on PG."""
    if is_sqlite(url):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S},
            pool_size=8,
            max_overflow=16,
            json_deserializer=loads_json,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            # Writes into big tables touch index pages all over them (random ids and hashes):
            # a 16 MiB page cache (default 2 MiB) and a checkpoint every ~40 MB of WAL (default
            # 4 MB) write each such page less often. 100k imported rows: 81 -> 55 us of CPU each
            # (docs/benchmarks.md, "Import in two processes").
            cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            cur.execute(f"PRAGMA wal_autocheckpoint={SQLITE_CHECKPOINT_PAGES}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
            cur.close()
            if isinstance(dbapi_conn, sqlite3.Connection):
                dbapi_conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, SQLITE_MAX_VARIABLES)

        return engine
    pool = pool or PoolOptions()
    connect_args: dict[str, Any] = {"prepare_threshold": None} if pool.pgbouncer else {}
    if pool.size == 0:
        return create_engine(url, poolclass=NullPool, connect_args=connect_args, json_deserializer=loads_json)
    engine = create_engine(
        url,
        pool_size=pool.size,
        max_overflow=pool.max_overflow,
        pool_timeout=pool.timeout_s,
        pool_recycle=pool.recycle_s,
        connect_args=connect_args,
        json_deserializer=loads_json,
    )
    event.listen(engine, "checkout", _ping_unless_quiet(engine.dialect))
    return engine


def _ping_unless_quiet(dialect: Dialect) -> Callable[[Any, Any, Any], None]:
    """The pool's check of a PostgreSQL connection as it is handed out, in place of
    ``pool_pre_ping``'s ``SELECT 1`` on every checkout (a round trip: two of a signed list
    page's eight, docs/benchmarks.md).

    A connection the server closed (a restart, ``pg_terminate_backend``, an idle timeout) has
    been sent an error and the end of the stream: its socket is readable. A quiet socket on an
    idle connection is therefore handed out as it is; anything else gets the dialect's own ping,
    and a failed one invalidates the pool as ``pool_pre_ping`` does (this connection and every
    older one are replaced: no request fails after a restart; tests/integrity/test_pool_ping.py).
    A connection dropped without a word (no FIN) would hang the old ping as long as it now hangs
    the first statement.
    """

    import psycopg
    from psycopg.pq import TransactionStatus

    def is_quiet(dbapi_connection: psycopg.Connection[Any]) -> bool:
        """Open, idle (no transaction) and nothing from the server waiting on its socket (one
        ``poll``, no round trip). Windows has no ``poll``: always the real ping there."""
        if not hasattr(select_module, "poll"):
            return False
        try:
            if dbapi_connection.closed or dbapi_connection.info.transaction_status != TransactionStatus.IDLE:
                return False
            waiting = select_module.poll()
            waiting.register(dbapi_connection.fileno(), select_module.POLLIN)
            return not waiting.poll(0)
        except (OSError, ValueError, psycopg.Error):
            return False

    def ping(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if is_quiet(dbapi_connection):
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, None):
                raise InvalidatePoolError(f"the pool's ping failed: {error}") from error
            raise

    return ping


def refuses_nul(exc: BaseException) -> bool:
    """Whether ``exc`` is the PostgreSQL driver refusing NUL in a text parameter: a value no row
    can hold, so the input's fault (SQLite stores it; routes refuse it before either)."""
    return isinstance(exc, DBAPIError) and "cannot contain NUL" in str(exc.orig)


def among_bound_ids(
    column: SQLCoreOperations[str], dialect_name: str, name: str = "ids"
) -> ColumnElement[bool]:
    """``column`` is one of the list bound as ``name`` (a :func:`chunked` chunk). PostgreSQL: one
    array parameter (``= ANY(%(ids)s)``); elsewhere an expanding ``IN``, which re-renders the
    statement with a placeholder per value at each execution (a page's labels by its 50 sample
    ids on PostgreSQL: 9 % of the list service's CPU). For statements built once per dialect
    (:func:`dialect_name_of` picks one)."""
    if dialect_name == "postgresql":
        return column == any_(bindparam(name, type_=postgresql.ARRAY(String)))
    return column.in_(bindparam(name, expanding=True))


def json_rows_of(
    columns: Sequence[SQLCoreOperations[Any]], where: ColumnElement[bool], order_by: SQLCoreOperations[Any]
) -> ColumnElement[Any]:
    """PostgreSQL: the rows of ``columns`` matching ``where`` (a correlated condition), in
    ``order_by`` order, as one JSON value: a list of lists, None when no row matches. A child
    table's rows as a column of each parent row: one statement where two were two round trips.
    Columns come back as JSON makes them (text, numbers, nested JSON): cast what must keep its
    exact form (a float's NaN) to text."""
    ordered = postgresql.aggregate_order_by(func.json_build_array(*columns), order_by)
    return select(func.json_agg(ordered, type_=JSON)).where(where).scalar_subquery()


# SQLite: a REAL as text that reads back as the same float. JSON and CAST keep 15 significant
# digits, printf 16 without its "!" flag; with it, 20 digits read back exactly (400,000 random
# doubles on SQLite 3.40). A SQLite whose printf does not, or without JSON functions, is found
# out at start-up (sqlite_reads_json_exactly) and its reads do without JSON.
SQLITE_EXACT_REAL: Final = "%!.20g"
# Doubles whose shortest exact text is 17 digits long, and extremes. (SQLite itself does not keep
# the sign of a zero.)
_REAL_CHECKS: Final = (
    0.1 + 0.2,
    1 / 3,
    1e-300,
    5e-324,
    2.2250738585072014e-308,
    1.7976931348623157e308,
    1.0627297642918568e297,
    -1.423084172170799e203,
    123456789.12345679,
)


def sqlite_exact_real(column: SQLCoreOperations[Any]) -> ColumnElement[Any]:
    """SQLite: ``column`` (REAL or NULL) as text ``float()`` reads back exactly, NULL as NULL."""
    return case((column.is_(None), None), else_=func.printf(SQLITE_EXACT_REAL, column))


def sqlite_reads_json_exactly(connection: Connection) -> bool:
    """Whether this SQLite can hand over rows as JSON with :func:`sqlite_exact_real`'s REALs:
    its JSON functions are there (built in since 3.38) and its printf reads back every double
    exactly (it computes digits in ``long double``: exact on x86-64, a platform without may
    not be)."""
    for value in _REAL_CHECKS:
        try:
            printed = connection.exec_driver_sql(
                f"SELECT json_array(printf('{SQLITE_EXACT_REAL}', ?))", (value,)
            ).scalar()
            back = float(orjson.loads(printed if isinstance(printed, str) else "")[0])
        except (DBAPIError, orjson.JSONDecodeError, TypeError, ValueError, IndexError):
            return False
        if back != value:
            return False
    return True


def dialect_name_of(session: Session | Connection) -> str:
    """The name of the database dialect ``session`` runs on ("sqlite", "postgresql")."""
    if isinstance(session, Connection):
        return session.dialect.name
    return session.get_bind().dialect.name


def chunked(items: Iterable[T], size: int = IN_LIST_CHUNK) -> Iterator[list[T]]:
    """``items`` in lists of at most ``size`` (the one way to bind a long list: a chunk at a time)."""
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def begin_read_snapshot(session: Session | Connection) -> None:
    """Make every read of the session's (reading) transaction see one state of the database.

    SQLite: a deferred ``BEGIN`` (the driver would run each SELECT on its own, each seeing the
    latest commit); PostgreSQL: ``REPEATABLE READ`` (READ COMMITTED takes a snapshot per
    statement). Call it before the transaction's first read.
    """
    connection = session if isinstance(session, Connection) else session.connection()
    if connection.dialect.name == "sqlite":
        raw = connection.connection.dbapi_connection
        if raw is not None and not raw.in_transaction:
            connection.exec_driver_sql("BEGIN")
    else:
        connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")


def begin_write(session: Session) -> None:
    """Make the session's transaction a writer from here on, before it reads what it will change.

    SQLite: ``BEGIN IMMEDIATE`` takes the database's write lock now (waiting up to the busy
    timeout), so the reads that follow see the state the writes apply to, and a second writer
    waits instead of deciding on stale rows. The driver otherwise starts a transaction only at
    the first INSERT/UPDATE/DELETE, after the reads. Nothing to do when a write already opened
    the transaction (it holds the lock). PostgreSQL: nothing; writers lock the rows they change
    with ``SELECT ... FOR UPDATE`` (see :func:`uses_row_locks`).
    """
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    raw = connection.connection.dbapi_connection
    if raw is not None and not raw.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def begin_snapshot(session: Session) -> None:
    """Make every statement of the session's (new) transaction read one snapshot: a writer that
    copies rows with several ``INSERT ... SELECT`` statements (publishing a version) copies
    one moment of the data. PostgreSQL: ``REPEATABLE READ`` (readers and writers of the copied
    rows are not blocked; it must run before the transaction's first statement). SQLite: the
    write lock (:func:`begin_write`), which keeps other writers out until the commit."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        begin_write(session)
    else:
        connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")


def orders_text_bytewise(engine: Engine) -> bool:
    """Whether the database orders text columns by byte value, as Python compares ``str`` of
    ASCII ids: SQLite's BINARY collation always does; PostgreSQL does under the ``C`` (and
    ``C.UTF-8``) collation, not under a language collation such as ``en_US`` ('a' < 'B')."""
    if engine.dialect.name == "sqlite":
        return True
    with engine.connect() as connection:
        return bool(connection.execute(text("SELECT 'B' < 'a' AND '9' < 'A' AND 'Z' < '_'")).scalar_one())


def uses_row_locks(session: Session) -> bool:
    """Whether writers must lock rows with ``SELECT ... FOR UPDATE`` (PostgreSQL). On SQLite a
    writer already holds the whole database (:func:`begin_write`), and FOR UPDATE does not exist."""
    return session.connection().dialect.name != "sqlite"


def lock_rows_in_order(
    session: Session, model: type[R], key: Any, keys: Iterable[Any], *where: Any
) -> dict[Any, R]:
    """The rows of ``model`` whose ``key`` column is one of ``keys`` (and match ``where``), read
    fresh, a chunk at a time, and on PostgreSQL locked ``FOR UPDATE`` in key order until the
    transaction ends: writers that lock overlapping rows in one order queue instead of
    deadlocking. Absent keys are left out."""
    found: dict[Any, R] = {}
    locking = uses_row_locks(session)
    for chunk in chunked(sorted(set(keys))):
        query = (
            select(model)
            .where(*where, key.in_(chunk))
            .order_by(key)
            .execution_options(populate_existing=True)
        )
        if locking:
            query = query.with_for_update()
        found.update((getattr(row, key.key), row) for row in session.execute(query).scalars())
    return found


def _upsert(session: Session, table: Table) -> Any:
    """The dialect's own ``INSERT`` construct, the one with ``ON CONFLICT`` clauses."""
    if session.connection().dialect.name == "postgresql":
        return postgresql_insert(table)
    return sqlite_insert(table)


def insert_missing_rows(
    session: Session, model: Any, keys: Sequence[str], rows: Sequence[dict[str, Any]]
) -> None:
    """Insert the ``rows`` whose ``keys`` (a unique constraint's columns) no stored row has:
    ``INSERT ... ON CONFLICT (keys) DO NOTHING``. A concurrent writer's uncommitted row with
    the same keys makes this wait for its end (then nothing is inserted if it committed)."""
    if not rows:
        return
    insert = _upsert(session, model.__table__)
    session.execute(insert.on_conflict_do_nothing(index_elements=list(keys)), list(rows))


def add_to_rows(
    session: Session,
    model: type[Any],
    keys: Sequence[str],
    amounts: Sequence[str],
    rows: Sequence[dict[str, Any]],
) -> None:
    """Add each row's ``amounts`` columns to the stored row with the same ``keys`` (inserting
    it when there is none), atomically: ``INSERT ... ON CONFLICT (keys) DO UPDATE SET c = c +
    excluded.c``, which both databases run without losing a concurrent writer's addition. The
    rows are written in the order given (give them sorted by key: the lock order)."""
    if not rows:
        return
    table = model.__table__
    insert = _upsert(session, table)
    statement = insert.on_conflict_do_update(
        index_elements=list(keys),
        set_={column: table.c[column] + insert.excluded[column] for column in amounts},
    )
    session.execute(statement, list(rows))


def insert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (column name -> value, the same columns in each) in the session's
    transaction, as a Core ``INSERT`` of them would: bulk imports.

    SQLite: the driver's ``executemany`` of tuples (:func:`_driver_insert`). PostgreSQL:
    ``COPY ... FROM STDIN`` through psycopg (each row adapted in C, no SQL text to parse or
    plan per batch): a ``JSON`` column gets the text the engine's serialiser writes
    (``json.dumps``, as SQLAlchemy; Python ``None`` is JSON ``null`` unless the type says
    ``none_as_null``), every other value is adapted as an ``INSERT`` parameter would be.
    Python-side column defaults are not applied: give every column that has one."""
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        names_in_order = tuple(rows[0])
        statement, steps = _driver_insert(table, names_in_order, connection.dialect)
        # The parameters in order, picked in C; then only the few columns with a processor
        # are converted (a generator over every column of every row was a tenth of an
        # import's insert).
        names = [name for name, _ in steps]
        # itemgetter of one name gives the value itself, not a 1-tuple
        pick = operator.itemgetter(*names) if len(names) > 1 else lambda row: (row[names[0]],)
        processed = [(i, process) for i, (_, process) in enumerate(steps) if process is not None]
        parameters: list[Any] = []
        for row in rows:
            values = pick(row)
            if processed:
                converted = list(values)
                for i, process in processed:
                    converted[i] = process(converted[i])
                values = tuple(converted)  # SQLAlchemy takes tuples (or mappings) for executemany
            parameters.append(values)
        connection.exec_driver_sql(statement, parameters)
        return
    names = list(rows[0])
    as_json = [
        (i, bool(getattr(table.c[name].type, "none_as_null", False)))
        for i, name in enumerate(names)
        if isinstance(table.c[name].type, JSON)
    ]
    columns = ", ".join(connection.dialect.identifier_preparer.quote(name) for name in names)
    raw = cast("psycopg.Connection[Any]", connection.connection.dbapi_connection)
    with raw.cursor() as cursor, cursor.copy(f"COPY {table.name} ({columns}) FROM STDIN") as copy:
        for row in rows:
            values = [row[name] for name in names]
            for i, none_as_null in as_json:
                if values[i] is not None or not none_as_null:
                    values[i] = json.dumps(values[i])
            copy.write_row(values)


@functools.lru_cache(maxsize=32)
def _driver_insert(
    table: Table, names: tuple[str, ...], dialect: Dialect
) -> tuple[str, tuple[tuple[str, Callable[[Any], Any] | None], ...]]:
    """The SQL of ``INSERT INTO table (names)`` as the dialect compiles it, and for each of its
    parameters in order the column and the dialect's own bind processor (JSON serialisation,
    booleans as integers...): what SQLAlchemy applies to every row of an executemany, worked
    out once, so a bulk insert hands the driver plain tuples (import batches: about a fifth
    of the insert's CPU was SQLAlchemy building each row's parameters)."""
    compiled = table.insert().compile(dialect=dialect, column_keys=list(names))
    order = compiled.positiontup or []
    steps = tuple((name, table.c[name].type.dialect_impl(dialect).bind_processor(dialect)) for name in order)
    return str(compiled), steps


def is_lock_timeout(exc: DBAPIError) -> bool:
    """Whether ``exc`` means the statement lost a race for a lock (SQLite's busy timeout ran out,
    a PostgreSQL deadlock or lock timeout), as opposed to a broken statement."""
    if getattr(exc.orig, "sqlstate", None) in _PG_LOCK_STATES:
        return True
    text = str(exc.orig).lower()
    return any(message in text for message in _SQLITE_BUSY_MESSAGES)


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
