"""``labelarts member ...``: team members' accounts (local administration on the data dir).

Members are normally invited (notify sends the link; ``member invite`` prints one); ``member
create`` is the administrator's direct way. ``member activate`` uses a link against a server.
"""

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
    print_table,
)

if TYPE_CHECKING:
    from labelarts.services.members import MemberService
    from labelarts.storage.db import Database

app = typer.Typer(help="Team members' accounts: invite, create, list, remove (works on the data dir).")
ProjectOption = Annotated[str, typer.Option("--project-id", help="The owner's 32-hex project id.")]
PasswordOption = Annotated[
    str | None,
    typer.Option(help="At least 8 characters; asked for when omitted.", show_default=False),
]


def _open() -> tuple[MemberService, Database]:
    from labelarts.auth.crypto import SecretBox
    from labelarts.services.members import MemberService
    from labelarts.storage.db import Database, PoolOptions

    settings = local_settings()
    settings.prepare()
    db = Database(settings.resolved_database_url, PoolOptions.from_settings(settings))
    db.migrate()
    service = MemberService(
        db, SecretBox(settings.require_secret()), invitation_ttl_seconds=settings.invitation_ttl_seconds
    )
    return service, db


def _run(action: object) -> None:
    from labelarts.errors import LabelArtsError

    assert callable(action)
    members, db = _open()
    try:
        action(members)
    except LabelArtsError as exc:
        print_error(exc.message)
        raise typer.Exit(1) from None
    finally:
        db.dispose()


def invitation_link(base_url: str | None, token: str) -> str:
    base = (base_url or local_settings().public_url or "http://127.0.0.1:8000").rstrip("/")
    return f"{base}/ui/invitation#{token}"


@app.command("invite")
def invite(
    email: str,
    project_id: ProjectOption,
    base_url: Annotated[
        str | None, typer.Option(help="Server URL for the link (default: public_url).")
    ] = None,
) -> None:
    """Print an invitation for EMAIL into the project: a link and its token (usable once)."""

    def action(members: MemberService) -> None:
        token = members.invite(project_id, email)
        print_json(
            {
                "email": email.lower(),
                "project_id": project_id,
                "token": token,
                "link": invitation_link(base_url, token),
            }
        )

    _run(action)


@app.command("create")
def create(email: str, project_id: ProjectOption, password: PasswordOption = None) -> None:
    """Create the member account EMAIL in the project; prints its credentials (AK/SK) as JSON."""
    secret = password if password is not None else typer.prompt("Password", hide_input=True, err=True)
    _run(lambda members: print_json(dataclasses.asdict(members.create_member(email, project_id, secret))))


@app.command("add")
def add(email: str, project_id: ProjectOption) -> None:
    """Make an existing member account a member of another project too."""
    _run(lambda members: members.add_membership(email, project_id))


@app.command("remove")
def remove(email: str, project_id: ProjectOption) -> None:
    """End the membership (the account goes too when it was its only project)."""
    _run(lambda members: members.remove_membership(email, project_id))


@app.command("list")
def list_members(
    project_id: Annotated[str | None, typer.Option("--project-id", help="Only this project.")] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """List member accounts and their projects."""

    def action(members: MemberService) -> None:
        rows = [dataclasses.asdict(m) for m in members.list_members(project_id)]
        if output == OutputFormat.json:
            print_json(rows)
        else:
            print_table(rows, ["email", "user_id", "project_id", "role", "create_time"])

    _run(action)
