"""Several instances starting together on one fresh database migrate it once, without errors."""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy import text

from labelarts.storage.db import Database

MIGRATE = "import sys; from labelarts.storage.db import Database; Database(sys.argv[1]).migrate()"


def test_instances_starting_together_migrate_once(database_url: str) -> None:
    for attempt in range(2):  # bounded: the fresh database, then the current one
        procs = [
            subprocess.Popen([sys.executable, "-c", MIGRATE, database_url], stderr=subprocess.PIPE, text=True)
            for _ in range(4)
        ]
        errors = [(p.wait(120), p.stderr.read() if p.stderr else "") for p in procs]
        assert all(code == 0 for code, _ in errors), (attempt, errors)
    db = Database(database_url)
    try:
        with db.engine.connect() as connection:
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        assert len(versions) == 1
    finally:
        db.dispose()
