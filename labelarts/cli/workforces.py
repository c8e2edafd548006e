"""``labelarts workforce ...``: labeling teams, and ``labelarts workforce worker ...``: their
members, the owner's side (docs/team-labeling.md). Members sit under ``workforce`` because
``labelarts worker`` already runs background-task workers."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from labelarts.cli._common import (
    OutputFormat,
    OutputOption,
    QuietOption,
    api_command,
    emit_list,
    emit_object,
    field_table,
    make_client,
    print_ids,
    print_message,
    print_table,
)
from labelarts.client import LabelArtsClient

app = typer.Typer(help="Labeling teams (workforces): create, list, show, update, delete.")
workers_app = typer.Typer(help="Members of a labeling team (workers): add, list, show, update, remove.")
app.add_typer(workers_app, name="worker")

WORKFORCE_COLUMNS = ["workforce_id", "workforce_name", "worker_count", "description"]
WORKER_COLUMNS = ["worker_id", "email", "role", "status", "description"]
ROLE_HELP = "0 labeler, 1 reviewer, 2 team administrator."
WorkforceArg = Annotated[str, typer.Argument(help="Team id (from workforce create or list).")]
WorkerArg = Annotated[str, typer.Argument(help="Member id (from worker list).")]


@app.command("create")
@api_command
def create_workforce(
    name: Annotated[str, typer.Argument(help="Team name: 1-64 letters, digits, _ and -.")],
    description: Annotated[str | None, typer.Option(help="Team description.")] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Create a labeling team."""
    with make_client() as client:
        workforce_id = client.create_workforce(name, description=description)
    answer = {"workforce_id": workforce_id}
    emit_object(answer, output, lambda: print_table([answer], ["workforce_id"]))


@app.command("list")
@api_command
def list_workforces(
    search: Annotated[str | None, typer.Option("--search", help="Part of the name.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 100,
    page: Annotated[int, typer.Option(min=0, help="Page number (ModelArts offset).")] = 0,
    quiet: QuietOption = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """The project's labeling teams, newest first."""
    with make_client() as client:
        result = client.list_workforces(limit=limit, offset=page, search_content=search).to_dict()
    if quiet:
        print_ids(w["workforce_id"] for w in result["workforces"])
        return
    emit_list(
        result, "workforces", output, columns=WORKFORCE_COLUMNS, title=f"{result['total_number']} teams"
    )


@app.command("show")
@api_command
def show_workforce(workforce_id: WorkforceArg, output: OutputOption = OutputFormat.table) -> None:
    """One labeling team."""
    with make_client() as client:
        workforce = client.get_workforce(workforce_id).to_dict()
    emit_object(workforce, output, lambda: field_table(workforce))


@app.command("update")
@api_command
def update_workforce(
    workforce_id: WorkforceArg,
    name: Annotated[str | None, typer.Option("--name", help="New name.")] = None,
    description: Annotated[str | None, typer.Option(help="New description.")] = None,
) -> None:
    """Rename a team or change its description."""
    with make_client() as client:
        client.update_workforce(workforce_id, workforce_name=name, description=description)
    print_message(f"updated {workforce_id}")


@app.command("delete")
@api_command
def delete_workforce(workforce_id: WorkforceArg) -> None:
    """Delete a team and its members (refused while an unfinished team task uses it)."""
    with make_client() as client:
        client.delete_workforce(workforce_id)
    print_message(f"deleted {workforce_id}")


@workers_app.command("add")
@api_command
def add_workers(
    workforce_id: WorkforceArg,
    emails: Annotated[list[str], typer.Argument(help="Email addresses (all are added or none).")],
    role: Annotated[int, typer.Option(min=0, max=2, help=ROLE_HELP)] = 0,
    description: Annotated[str | None, typer.Option(help="Description of the members.")] = None,
) -> None:
    """Add members to a team by email."""
    with make_client() as client:
        client.create_workers(workforce_id, emails, role, description=description)
    print_message(f"added {len(emails)} to {workforce_id}")


@workers_app.command("list")
@api_command
def list_workers(
    workforce_id: Annotated[
        str | None, typer.Argument(help="Team id; left out: the members of every team.")
    ] = None,
    role: Annotated[int | None, typer.Option(min=0, max=2, help="Only this role: " + ROLE_HELP)] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 100,
    page: Annotated[int, typer.Option(min=0, help="Page number (ModelArts offset).")] = 0,
    quiet: QuietOption = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """A team's members (or every team's), newest first."""
    with make_client() as client:
        if workforce_id is None:
            result = client.list_all_workers(limit=limit, offset=page, role=role).to_dict()
        elif role is None:
            result = client.list_workers(workforce_id, limit=limit, offset=page).to_dict()
        else:
            # ListWorkers has no role filter: read every page, keep the role, then page the
            # kept members, so that --page and the total count the role's members only.
            kept = [w for w in _every_worker(client, workforce_id) if w["role"] == role]
            result = {"total_number": len(kept), "workers": kept[page * limit : (page + 1) * limit]}
    if quiet:
        print_ids(w["worker_id"] for w in result["workers"])
        return
    columns = WORKER_COLUMNS if workforce_id else ["workforce_id", *WORKER_COLUMNS]
    emit_list(result, "workers", output, columns=columns, title=f"{result['total_number']} members")


def _every_worker(client: LabelArtsClient, workforce_id: str) -> list[dict[str, Any]]:
    """Every member of a team, page by page (100 a page)."""
    workers: list[dict[str, Any]] = []
    page = 0
    while True:
        batch = client.list_workers(workforce_id, limit=100, offset=page).to_dict()
        workers.extend(batch["workers"])
        if not batch["workers"] or len(workers) >= batch["total_number"]:
            return workers
        page += 1


@workers_app.command("show")
@api_command
def show_worker(
    workforce_id: WorkforceArg, worker_id: WorkerArg, output: OutputOption = OutputFormat.table
) -> None:
    """One team member."""
    with make_client() as client:
        worker = client.get_worker(workforce_id, worker_id).to_dict()
    emit_object(worker, output, lambda: field_table(worker))


@workers_app.command("update")
@api_command
def update_worker(
    workforce_id: WorkforceArg,
    worker_id: WorkerArg,
    role: Annotated[int | None, typer.Option(min=0, max=2, help=ROLE_HELP)] = None,
    description: Annotated[str | None, typer.Option(help="New description.")] = None,
) -> None:
    """Change a member's role or description (the email cannot change)."""
    with make_client() as client:
        client.update_worker(workforce_id, worker_id, role=role, description=description)
    print_message(f"updated {worker_id}")


@workers_app.command("remove")
@api_command
def remove_workers(
    workforce_id: WorkforceArg,
    worker_ids: Annotated[list[str], typer.Argument(help="Member ids, each removed on its own.")],
) -> None:
    """Remove members; their unfinished team-task work is dealt to the other labelers."""
    with make_client() as client:
        if len(worker_ids) == 1:
            client.delete_worker(workforce_id, worker_ids[0])
            print_message(f"removed {worker_ids[0]}")
            return
        result = client.batch_delete_workers(workforce_id, worker_ids).to_dict()
    for worker_id, item in zip(worker_ids, result["results"], strict=False):
        print_message(f"removed {worker_id}" if item["success"] else f"{worker_id}: {item.get('error_msg')}")
    if not result["success"]:
        raise typer.Exit(1)
