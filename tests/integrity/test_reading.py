"""``Database.reading``, the read-only unit of work of every signed request and sample-list page:
a snapshot read sees one state of the database however many statements it runs; a plain read
sees each commit and, on PostgreSQL, holds no transaction open between its statements; and
neither changes how the next unit of work on the same pooled connection runs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, select, text, update

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


def test_a_failed_unit_of_work_after_reads_still_writes_nothing(db: Database) -> None:
    """The connection a read used goes back to the pool as it came: a later unit of work on it
    is one transaction (rolled back whole on error), not statements committed one by one."""
    dataset_id = make_dataset(db, PROJECT)
    for snapshot in (False, True, False):
        with db.reading(snapshot=snapshot) as reader:
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
