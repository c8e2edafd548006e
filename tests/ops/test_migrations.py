"""The Alembic migrations and the SQLAlchemy models describe the same schema, and the data
migrations move stored values to what the code now writes (both databases)."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, text

from labelarts.storage.db import Database
from labelarts.storage.db.engine import alembic_config
from labelarts.storage.db.models import Base


def _upgrade(db: Database, revision: str) -> None:
    with db.engine.begin() as connection:
        config = alembic_config(db.url)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def test_models_and_migrations_agree(database_url: str) -> None:
    db = Database(database_url)
    try:
        db.migrate()
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences: list[Any] = compare_metadata(context, Base.metadata)
        assert differences == []
    finally:
        db.dispose()


def test_annotated_by_values_are_migrated(database_url: str) -> None:
    db = Database(database_url)
    try:
        _upgrade(db, "0004")
        stored = {
            "human/manual": "human",
            "human": "human",
            "alice@example.com": "human",
            "modelarts/auto": "auto",
            "modelarts/active-learning": "auto",
            "modelarts/hard_example_algo": "auto",
            "auto": "auto",
        }
        with db.engine.begin() as connection:
            tables = MetaData()
            tables.reflect(connection)  # the schema of revision 0004, not today's models
            insert = {name: tables.tables[name].insert() for name in ("projects", "datasets", "samples")}
            connection.execute(insert["projects"], {"id": "p", "name": "p", "create_time": 0})
            dataset = {"id": "d", "project_id": "p", "name": "d", "dataset_type": 0, "description": ""}
            dataset |= {"data_format": "Default", "data_sources": [], "work_path": "/w/", "work_path_type": 0}
            dataset |= {
                "workspace_id": "0",
                "import_annotations": True,
                "import_data": False,
                "managed": False,
            }
            dataset |= {"status": 1, "next_version_num": 1, "create_time": 0, "update_time": 0}
            connection.execute(insert["datasets"], dataset | {"data_update_time": 0, "data_version": 0})
            sample = {"id": "s", "dataset_id": "d", "sample_type": 0, "sample_status": "MANUAL_ANNOTATION"}
            sample |= {"sample_name": "a.jpg", "sample_dir": "", "source_kind": "object", "source_key": "k"}
            sample |= {"sample_size": 1, "sample_time": 0, "metadata": {}, "hard": False}
            connection.execute(insert["samples"], sample)
            label = {"sample_id": "s", "dataset_id": "d", "type": 0, "property": {}}
            connection.execute(
                tables.tables["sample_labels"].insert(),
                [label | {"name": value, "annotated_by": value} for value in stored],
            )
        db.migrate()
        with db.engine.connect() as connection:
            rows = connection.execute(text("SELECT name, annotated_by FROM sample_labels")).all()
        assert dict((name, by) for name, by in rows) == stored
    finally:
        db.dispose()


def _row(table: Any, **values: Any) -> dict[str, Any]:
    """``values`` and, for every other NOT NULL column without a default, a plain value of its
    type (the schema of the revision the table was reflected at)."""
    row = dict(values)
    for column in table.columns:
        if column.name in row or column.nullable or column.server_default is not None:
            continue
        if column.primary_key and column.autoincrement in (True, "auto") and "INT" in str(column.type):
            continue
        kind = str(column.type).upper()
        row[column.name] = (
            0 if "INT" in kind else False if "BOOL" in kind else [] if "JSON" in kind else column.name[:8]
        )
    return row


def _with_dataset(connection: Any) -> Any:
    """The tables of the revision the database is at, with project ``p`` and its dataset ``d``."""
    tables = MetaData()
    tables.reflect(connection)
    t = tables.tables
    connection.execute(t["projects"].insert(), _row(t["projects"], id="p"))
    connection.execute(t["datasets"].insert(), _row(t["datasets"], id="d", project_id="p"))
    return t


def test_assignments_get_their_samples_time(database_url: str) -> None:
    """0017 copies each sample's time onto its team-task assignments (the lists order by it)."""
    db = Database(database_url)
    try:
        _upgrade(db, "0016")
        with db.engine.begin() as connection:
            t = _with_dataset(connection)
            for sample_id, when in (("s1", 1_700_000_000_123), ("s2", 1_600_000_000_456)):
                connection.execute(
                    t["samples"].insert(),
                    _row(t["samples"], id=sample_id, dataset_id="d", source_key=sample_id, sample_time=when),
                )
            connection.execute(
                t["workforce_tasks"].insert(),
                _row(t["workforce_tasks"], id="t", project_id="p", dataset_id="d"),
            )
            connection.execute(
                t["workforce_assignments"].insert(),
                [
                    _row(t["workforce_assignments"], task_id="t", sample_id=s, worker_id=w)
                    for s in ("s1", "s2")
                    for w in ("w1", "w2")
                ],
            )
        db.migrate()
        with db.engine.connect() as connection:
            rows = connection.execute(
                text("SELECT sample_id, worker_id, sample_time FROM workforce_assignments")
            ).all()
        assert sorted(tuple(r) for r in rows) == [
            ("s1", "w1", 1_700_000_000_123),
            ("s1", "w2", 1_700_000_000_123),
            ("s2", "w1", 1_600_000_000_456),
            ("s2", "w2", 1_600_000_000_456),
        ]
    finally:
        db.dispose()


def test_label_rows_get_their_samples_score_and_follow_it(database_url: str) -> None:
    """0020 copies each sample's top score onto its label rows, and from then on the database
    carries every change of a sample's score to its label rows (the writers give the copy on
    the rows they insert)."""
    db = Database(database_url)
    try:
        _upgrade(db, "0019")
        with db.engine.begin() as connection:
            t = _with_dataset(connection)
            for sample_id, score in (("s1", 0.25), ("s2", None), ("s3", 0.5)):
                connection.execute(
                    t["samples"].insert(),
                    _row(t["samples"], id=sample_id, dataset_id="d", source_key=sample_id, top_score=score),
                )
            connection.execute(
                t["sample_labels"].insert(),
                [
                    _row(t["sample_labels"], sample_id=s, dataset_id="d", name=n)
                    for s, n in (("s1", "a"), ("s2", "b"), ("s2", "c"), ("s3", "d"))
                ],
            )
        db.migrate()

        def copies() -> list[tuple[str, str, float | None]]:
            with db.engine.connect() as connection:
                rows = connection.execute(text("SELECT sample_id, name, sample_top_score FROM sample_labels"))
                return sorted((row[0], row[1], row[2]) for row in rows)

        assert copies() == [("s1", "a", 0.25), ("s2", "b", None), ("s2", "c", None), ("s3", "d", 0.5)]
        with db.engine.begin() as connection:
            connection.execute(text("UPDATE samples SET top_score = 0.75 WHERE id = 's2'"))
            connection.execute(text("UPDATE samples SET top_score = NULL WHERE id = 's1'"))
            connection.execute(text("UPDATE samples SET top_score = 0.5, sample_name = 'x' WHERE id = 's3'"))
        assert copies() == [("s1", "a", None), ("s2", "b", 0.75), ("s2", "c", 0.75), ("s3", "d", 0.5)]
    finally:
        db.dispose()
