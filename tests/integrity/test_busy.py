"""A lock wait that runs out is a retryable 429 ``BusyError``, never a 500 "database is locked"."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, event, insert, select, text

from labelarts.clock import now_ms
from labelarts.errors import BusyError
from labelarts.services import labels
from labelarts.storage.db import Database, dialect, retry_when_busy
from labelarts.storage.db.models import Label, Project
from tests.api import database_kind
from tests.jobs import make_dataset


@pytest.fixture
def db(database_url: str) -> Database:
    database = Database(database_url)
    database.migrate()
    with database.session() as session:
        session.add_all(Project(id=name * 32, name=name, create_time=now_ms()) for name in "ab")
    return database


@pytest.mark.skipif(database_kind() != "sqlite", reason="SQLite's busy timeout")
def test_sqlite_writer_that_waits_past_the_busy_timeout_is_busy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    monkeypatch.setattr(dialect, "SQLITE_BUSY_TIMEOUT_S", 1)
    database = Database(database_url)
    database.migrate()
    holder = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        with pytest.raises(BusyError), database.session(write=True) as session:
            session.execute(text("SELECT 1")).all()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with database.session(write=True) as session:  # and goes through once the lock is free
        session.add(Project(id="c" * 32, name="c", create_time=now_ms()))
    database.dispose()


@pytest.mark.skipif(database_kind() != "postgresql", reason="PostgreSQL's deadlock detector")
def test_postgresql_writer_caught_in_a_lock_cycle_is_busy(db: Database) -> None:
    both_locked_one = threading.Barrier(2, timeout=30)
    outcomes: list[str] = []

    def writer(first: str, second: str) -> None:
        try:
            with db.session(write=True) as session:
                lock = "SELECT id FROM projects WHERE id = :id FOR UPDATE"
                session.execute(text(lock), {"id": first * 32}).all()
                both_locked_one.wait()
                session.execute(text(lock), {"id": second * 32}).all()
            outcomes.append("committed")
        except BusyError:
            outcomes.append("busy")

    threads = [threading.Thread(target=writer, args=pair) for pair in (("a", "b"), ("b", "a"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["busy", "committed"]
    db.dispose()


@pytest.mark.skipif(database_kind() != "sqlite", reason="SQLite's busy timeout")
def test_a_background_transaction_that_waits_past_the_busy_timeout_runs_again(
    monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    monkeypatch.setattr(dialect, "SQLITE_BUSY_TIMEOUT_S", 1)
    database = Database(database_url)
    database.migrate()
    holder = sqlite3.connect(
        database_url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False
    )
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock for 1.5 s
    release = threading.Timer(1.5, lambda: holder.execute("ROLLBACK"))
    release.start()
    tries: list[int] = []

    def transaction() -> str:
        tries.append(1)
        with database.session(write=True) as session:
            session.add(Project(id="c" * 32, name="c", create_time=now_ms()))
        return "written"

    try:
        assert retry_when_busy(transaction) == "written"
    finally:
        release.join()
        holder.close()
    assert len(tries) >= 2  # the first lost its wait; a later one went through
    with database.session() as session:
        assert session.get(Project, "c" * 32) is not None
    database.dispose()


@pytest.mark.skipif(database_kind() != "postgresql", reason="PostgreSQL's deadlock detector")
def test_postgresql_background_writers_caught_in_a_lock_cycle_both_commit(db: Database) -> None:
    """The loser of the cycle is rolled back and runs again: both transactions' writes land,
    each once."""
    both_locked_one = threading.Barrier(2, timeout=30)
    tries: list[str] = []

    def writer(first: str, second: str) -> None:
        def transaction() -> None:
            tries.append(first)
            with db.session(write=True) as session:
                lock = "UPDATE projects SET name = name || :tag WHERE id = :id"
                session.execute(text(lock), {"id": first * 32, "tag": first})
                if len(tries) <= 2:  # the cycle, on the first try of each
                    both_locked_one.wait()
                session.execute(text(lock), {"id": second * 32, "tag": first})

        retry_when_busy(transaction)

    threads = [threading.Thread(target=writer, args=pair) for pair in (("a", "b"), ("b", "a"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(tries) == 3  # one of the two ran again
    with db.session() as session:
        names = {str(i): str(n) for i, n in session.execute(text("SELECT id, name FROM projects"))}
    # Each writer appended its tag once to both projects, in the order they committed.
    assert sorted(names[p * 32] for p in "ab") in (["aab", "bab"], ["aba", "bba"])
    db.dispose()


@pytest.mark.skipif(database_kind() != "postgresql", reason="SQLite runs one writer at a time")
@pytest.mark.parametrize("lost_rounds", [3, labels.CREATE_LABEL_ROUNDS])
def test_a_label_deleted_each_time_a_request_creates_it_is_created_again_then_busy(
    db: Database, lost_rounds: int
) -> None:
    """A request that puts a new label on samples loses the name to another request that
    creates it first, then a third deletes it before this one can share it, ``lost_rounds``
    times in a row: after a few such rounds the request creates the label itself; after
    ``CREATE_LABEL_ROUNDS`` it is a retryable 429 and writes nothing."""
    dataset_id = make_dataset(db, "a" * 32)
    others = Database(db.engine.url.render_as_string(hide_password=False))  # the other requests
    label_row = {"dataset_id": dataset_id, "name": "cat", "type": 1, "property": {}, "attributes": []}
    created_first, deleted = [0], [0]

    def between_statements(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("INSERT INTO labels") and created_first[0] < lost_rounds:
            with others.session(write=True) as session:  # another request creates it first
                session.execute(insert(Label), [label_row])
            created_first[0] += 1
        elif "FROM labels" in statement and "FOR SHARE" in statement and deleted[0] < created_first[0]:
            with others.session(write=True) as session:  # a third deletes it before it is shared
                session.execute(delete(Label).where(Label.dataset_id == dataset_id))
            deleted[0] += 1

    event.listen(db.engine, "before_cursor_execute", between_statements)
    try:
        if lost_rounds < labels.CREATE_LABEL_ROUNDS:  # it wins the round after the last lost
            with db.session(write=True) as session:
                assert labels.share_or_create_labels(session, dataset_id, {"cat": 0}) == {"cat": 0}
        else:
            with pytest.raises(BusyError) as raised, db.session(write=True) as session:
                labels.share_or_create_labels(session, dataset_id, {"cat": 0})
            assert raised.value.status_code == 429 and raised.value.error_code == "ModelArts.6101"
            assert f"'cat' was deleted {labels.CREATE_LABEL_ROUNDS} times" in raised.value.message
    finally:
        event.remove(db.engine, "before_cursor_execute", between_statements)
    assert (created_first[0], deleted[0]) == (lost_rounds, lost_rounds)
    with db.session() as session:
        stored = session.execute(select(Label.name, Label.type).where(Label.dataset_id == dataset_id)).all()
    gave_up = lost_rounds == labels.CREATE_LABEL_ROUNDS
    # This request's own label (type 0) once it won a round; nothing when it gave up.
    assert [tuple(row) for row in stored] == ([] if gave_up else [("cat", 0)])
    others.dispose()
    db.dispose()
