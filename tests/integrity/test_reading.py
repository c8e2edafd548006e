"""``Database.reading``, the read-only unit of work of every signed request and sample-list page:
a snapshot read sees one state of the database however many statements it runs; a plain read
sees each commit and, on PostgreSQL, holds no transaction open between its statements; and
neither changes how the next unit of work on the same pooled connection runs. The same for
``Database.first_row``, the credential read of every request, straight from the driver."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Column, Connection, MetaData, Select, String, Table, bindparam, select, text, update
from sqlalchemy.exc import DBAPIError

from labelarts.storage.db import Database
from labelarts.storage.db.models import Dataset
from tests.jobs import make_dataset

PROJECT = "p" * 32


@pytest.fixture()
def db(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    db.migrate()
    yield db
    db.dispose()


def data_version(connection: Connection, dataset_id: str) -> int:
    return int(connection.execute(select(Dataset.data_version).where(Dataset.id == dataset_id)).scalar_one())


def bump_version(db: Database, dataset_id: str) -> None:
    with db.session(write=True) as session:
        session.execute(
            update(Dataset).where(Dataset.id == dataset_id).values(data_version=Dataset.data_version + 1)
        )


def test_a_snapshot_read_sees_one_state_of_the_database(db: Database) -> None:
    dataset_id = make_dataset(db, PROJECT)
    with db.reading() as reader:
        before = data_version(reader, dataset_id)
        bump_version(db, dataset_id)
        assert data_version(reader, dataset_id) == before
    with db.reading() as reader:
        assert data_version(reader, dataset_id) == before + 1


def test_a_plain_read_sees_each_commit(db: Database) -> None:
    dataset_id = make_dataset(db, PROJECT)
    with db.reading(snapshot=False) as reader:
        before = data_version(reader, dataset_id)
        bump_version(db, dataset_id)
        assert data_version(reader, dataset_id) == before + 1


# A fixed statement, as first_row() is for (it keeps each one compiled).
VERSION: Select[str, int] = select(Dataset.id, Dataset.data_version).where(
    Dataset.id == bindparam("dataset_id")
)


def test_first_row_reads_what_a_plain_read_reads(db: Database) -> None:
    dataset_id = make_dataset(db, PROJECT)
    with db.reading(snapshot=False) as reader:
        expected = reader.execute(VERSION, {"dataset_id": dataset_id}).first()
    assert expected is not None
    assert db.first_row(VERSION, {"dataset_id": dataset_id}) == tuple(expected)
    bump_version(db, dataset_id)
    assert db.first_row(VERSION, {"dataset_id": dataset_id}) == (dataset_id, expected[1] + 1)
    assert db.first_row(VERSION, {"dataset_id": "no-such-dataset"}) is None


def test_first_row_reports_a_driver_error_as_a_read_does(db: Database) -> None:
    """A statement the database refuses raises what the same read through SQLAlchemy raises, and
    the connection it used still works, in transactions as before."""
    missing = Table("no_such_table", MetaData(), Column("id", String, primary_key=True))
    statement = select(missing.c.id).where(missing.c.id == bindparam("id"))
    with pytest.raises(DBAPIError) as through_sqlalchemy, db.reading(snapshot=False) as reader:
        reader.execute(statement, {"id": "x"})
    with pytest.raises(DBAPIError) as direct:
        db.first_row(statement, {"id": "x"})
    assert type(direct.value) is type(through_sqlalchemy.value)
    dataset_id = make_dataset(db, PROJECT)
    assert db.first_row(VERSION, {"dataset_id": dataset_id}) is not None


@pytest.mark.parametrize("read", ["plain", "snapshot", "first_row"])
def test_a_failed_unit_of_work_after_reads_still_writes_nothing(db: Database, read: str) -> None:
    """The connection a read used goes back to the pool as it came: a later unit of work on it
    is one transaction (rolled back whole on error), not statements committed one by one."""
    dataset_id = make_dataset(db, PROJECT)
    for _ in range(3):
        if read == "first_row":
            row = db.first_row(VERSION, {"dataset_id": dataset_id})
            assert row is not None
            before = row[1]
        else:
            with db.reading(snapshot=read == "snapshot") as reader:
                before = data_version(reader, dataset_id)
        with pytest.raises(RuntimeError), db.session(write=True) as session:
            session.execute(
                update(Dataset).where(Dataset.id == dataset_id).values(data_version=Dataset.data_version + 1)
            )
            raise RuntimeError("the unit of work fails after its write")
        with db.reading(snapshot=False) as reader:
            assert data_version(reader, dataset_id) == before


def test_postgresql_plain_reads_hold_no_transaction_open(db: Database) -> None:
    """An operator watching ``pg_stat_activity`` sees a plain read's connection idle between
    statements, not "idle in transaction" (which holds back vacuum); a snapshot read's is."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's transaction states")
    dataset_id = make_dataset(db, PROJECT)
    states: dict[bool, str] = {}
    for snapshot in (False, True):
        with db.reading(snapshot=snapshot) as reader:
            data_version(reader, dataset_id)
            pid = reader.execute(text("SELECT pg_backend_pid()")).scalar_one()
            with db.engine.connect() as watcher:
                states[snapshot] = watcher.execute(
                    text("SELECT state FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
                ).scalar_one()
    assert states == {False: "idle", True: "idle in transaction"}
