"""``labelarts db ...``: the database schema, for operators who migrate before they deploy."""

from __future__ import annotations

import typer

from labelarts.cli._common import local_settings, print_message

app = typer.Typer(help="Database schema: upgrade it to this version of LabelArts, or show its revision.")


@app.command("upgrade")
def upgrade() -> None:
    """Migrate the database (LABELARTS_DATABASE_URL, or the data dir's SQLite file) to the
    newest schema. Safe while instances run and while several upgrade at once: they take
    turns under a lock, and an up-to-date schema is left as it is."""
    from labelarts.storage.db import Database, PoolOptions

    settings = local_settings()
    settings.prepare()
    db = Database(settings.resolved_database_url, PoolOptions.from_settings(settings))
    try:
        before = db.revision()
        db.migrate()
        after = db.revision()
    finally:
        db.dispose()
    if before == after:
        print_message(f"The schema is current (revision {after}).")
    else:
        print_message(f"Upgraded the schema from revision {before or '(empty)'} to {after}.")


@app.command("revision")
def revision() -> None:
    """Print the schema's current revision ("none" on an empty database)."""
    from labelarts.storage.db import Database, PoolOptions

    settings = local_settings()
    settings.prepare()
    db = Database(settings.resolved_database_url, PoolOptions.from_settings(settings))
    try:
        print_message(db.revision() or "none")
    finally:
        db.dispose()
