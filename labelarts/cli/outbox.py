"""``labelarts outbox ...``: the mail LabelArts wants to send (local administration on the data
dir, like ``labelarts member``).

Without SMTP settings, notify mail (and the invitation links in it) waits here: ``list`` shows
it, ``export`` writes it as ``.eml`` files for an administrator to forward, ``mark-sent``
records that they did. With SMTP, workers send it in the background and ``list --state all``
shows how that went.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
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
    from labelarts.services.outbox import OutboxService

app = typer.Typer(help="Mail waiting to be sent (notify, invitation links): list, export, mark-sent.")
StateOption = Annotated[
    str,
    typer.Option(help="queued, sent, failed, or all.", show_default=True),
]
ProjectOption = Annotated[str | None, typer.Option("--project-id", help="Only this project's mail.")]
COLUMNS = ["id", "recipient", "subject", "state", "email_status", "attempts", "last_error", "create_time"]


def _run(action: Callable[[OutboxService], None]) -> None:
    from labelarts.errors import LabelArtsError
    from labelarts.services.outbox import OutboxService
    from labelarts.storage.db import Database

    settings = local_settings()
    settings.prepare()
    db = Database(settings.resolved_database_url)
    db.migrate()
    try:
        action(OutboxService(db, settings))
    except LabelArtsError as exc:
        print_error(exc.message)
        raise typer.Exit(1) from None
    finally:
        db.dispose()


def _state(value: str) -> str | None:
    from labelarts.services.outbox import STATES

    if value == "all":
        return None
    if value not in STATES:
        print_error("--state must be queued, sent, failed or all.")
        raise typer.Exit(2)
    return value


@app.command("list")
def list_messages(
    state: StateOption = "queued",
    project_id: ProjectOption = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """List messages, oldest first: recipient, subject, state, email_status (0 not sent, 1 bad
    address, 2 unreachable, 3 sent), tries and the last error."""
    chosen = _state(state)

    def action(outbox: OutboxService) -> None:
        rows = outbox.messages(state=chosen, project_id=project_id)
        if output == OutputFormat.json:
            print_json(rows)
        elif output == OutputFormat.jsonl:
            print_jsonl(rows)
        else:
            print_table(rows, COLUMNS, title="Outbox")

    _run(action)


@app.command("export")
def export(
    folder: Annotated[Path, typer.Argument(help="Where to write <id>.eml files (created if needed).")],
    state: StateOption = "queued",
    project_id: ProjectOption = None,
) -> None:
    """Write messages as FOLDER/<id>.eml (RFC 5322, for any mail client); prints the paths."""
    chosen = _state(state)

    def action(outbox: OutboxService) -> None:
        print_json([str(path) for path in outbox.export(folder, state=chosen, project_id=project_id)])

    _run(action)


@app.command("mark-sent")
def mark_sent(message_id: str) -> None:
    """Record that a queued message was forwarded by hand (its member counts as invited)."""
    _run(lambda outbox: outbox.mark_sent(message_id))
