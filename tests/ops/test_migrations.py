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
