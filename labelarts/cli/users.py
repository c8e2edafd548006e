"""``labelarts user ...``: local administration of users, projects and access keys."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Annotated

import typer

from labelarts.cli._common import (
    OutputFormat,
    OutputOption,
    local_settings,
    print_error,
    print_json,
    print_jsonl,
    print_table,
)

if TYPE_CHECKING:
    from labelarts.config import Settings
    from labelarts.services.users import UserService
    from labelarts.storage.db import Database

app = typer.Typer(help="Manage users, their project and access keys (works on the data dir).")
PasswordOption = Annotated[
    str | None,
    typer.Option(help="At least 8 characters; asked for when omitted.", show_default=False),
]


def _prompt_password(*, confirm: bool) -> str:
    # Prompt on stderr: stdout carries only the JSON credentials, e.g. for `> creds.json`.
    value: str = typer.prompt("Password", hide_input=True, confirmation_prompt=confirm, err=True)
    return value


def open_user_service(settings: Settings) -> tuple[UserService, Database]:
    """The user service on a migrated database; the caller disposes of the database."""
    # Imported here: SQLAlchemy and Alembic would slow every other command's start.
    from labelarts.auth.crypto import SecretBox
    from labelarts.services.users import UserService
    from labelarts.storage.db import Database, PoolOptions

    settings.prepare()
    db = Database(settings.resolved_database_url, PoolOptions.from_settings(settings))
    db.migrate()
    return UserService(db, SecretBox(settings.require_secret())), db


def _run(action: object) -> None:
    from labelarts.errors import LabelArtsError

    assert callable(action)
    users, db = open_user_service(local_settings())
    try:
        action(users)
    except LabelArtsError as exc:
        print_error(exc.message)
        raise typer.Exit(1) from None
    finally:
        db.dispose()


@app.command("create")
def create(
    name: str,
    password: PasswordOption = None,
    project_id: Annotated[str | None, typer.Option(help="32-hex project id (new one if omitted).")] = None,
) -> None:
    """Create a user bound to a project; prints the credentials as one JSON object."""
    secret = password if password is not None else _prompt_password(confirm=False)
    _run(
        lambda users: print_json(
            dataclasses.asdict(users.create_user(name, project_id=project_id, password=secret))
        )
    )


@app.command("list")
def list_users(output: OutputOption = OutputFormat.table) -> None:
    """List users with their project and access keys (never secret keys)."""

    def action(users: UserService) -> None:
        rows = [dataclasses.asdict(u) for u in users.list_users()]
        if output == OutputFormat.json:
            print_json(rows)
        elif output == OutputFormat.jsonl:
            print_jsonl(rows)
        else:
            print_table(rows, ["user", "user_id", "project_id", "access_keys"])

    _run(action)


@app.command("delete")
def delete(name: str) -> None:
    """Delete a user, their access keys and tokens."""
    _run(lambda users: users.delete_user(name))


@app.command("rotate-key")
def rotate_key(name: str) -> None:
    """Replace the user's access keys; prints the new credentials as one JSON object."""
    _run(lambda users: print_json(dataclasses.asdict(users.rotate_key(name))))


@app.command("set-password")
def set_password(
    name: str,
    password: PasswordOption = None,
) -> None:
    """Change a user's password (their tokens are revoked)."""
    secret = password if password is not None else _prompt_password(confirm=True)
    _run(lambda users: users.set_password(name, secret))
    _forget_initial_password(name)


def _forget_initial_password(name: str) -> None:
    """The first-start password in initial-credentials.json is obsolete once changed: drop it."""
    import json
    import os

    from labelarts.cli.serve import INITIAL_CREDENTIALS

    path = local_settings().resolved_data_dir / INITIAL_CREDENTIALS
    try:
        creds = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    if not isinstance(creds, dict) or creds.get("user") != name or "password" not in creds:
        return
    creds.pop("password")
    creds["password_note"] = "changed with `labelarts user set-password`; no longer kept here"
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(creds, fh, indent=2)
    os.replace(temporary, path)
