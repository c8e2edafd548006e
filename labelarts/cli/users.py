"""``labelarts user ...``: local administration of users, projects and access keys."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer

from labelarts.auth.crypto import SecretBox
from labelarts.cli._common import (
    OutputFormat,
    OutputOption,
    err_console,
    local_settings,
    print_json,
    print_table,
)
from labelarts.errors import LabelArtsError
from labelarts.services.users import UserService
from labelarts.storage.db import Database

app = typer.Typer(help="Manage users, their project and access keys (works on the data dir).")


def _service() -> tuple[UserService, Database]:
    settings = local_settings()
    settings.prepare()
    db = Database(settings.resolved_database_url)
    db.migrate()
    return UserService(db, SecretBox(settings.require_secret())), db


def _run(action: object) -> None:
    assert callable(action)
    users, db = _service()
    try:
        action(users)
    except LabelArtsError as exc:
        err_console.print(f"[red]error[/red] {exc.message}")
        raise typer.Exit(1) from None
    finally:
        db.dispose()


@app.command("create")
def create(
    name: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, help="At least 8 characters.")],
    project_id: Annotated[str | None, typer.Option(help="32-hex project id (new one if omitted).")] = None,
) -> None:
    """Create a user bound to a project; prints the credentials as one JSON object."""
    _run(
        lambda users: print_json(
            dataclasses.asdict(users.create_user(name, project_id=project_id, password=password))
        )
    )


@app.command("list")
def list_users(output: OutputOption = OutputFormat.table) -> None:
    """List users with their project and access keys (never secret keys)."""

    def action(users: UserService) -> None:
        rows = [dataclasses.asdict(u) for u in users.list_users()]
        if output == OutputFormat.json:
            print_json(rows)
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
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
) -> None:
    """Change a user's password."""
    _run(lambda users: users.set_password(name, password))
