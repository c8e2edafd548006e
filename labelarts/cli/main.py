"""Entry point of the ``labelarts`` command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from labelarts import __version__
from labelarts.cli import (
    autolabel,
    configure,
    datasets,
    db,
    exports,
    imports,
    labels,
    members,
    models,
    outbox,
    processing,
    samples,
    team_tasks,
    users,
    versions,
    workforces,
)
from labelarts.cli import sync as sync_cli
from labelarts.cli._common import state, with_connection_options
from labelarts.cli.serve import serve
from labelarts.cli.worker import ray_task, worker

app = typer.Typer(
    help="LabelArts: self-hosted data labeling with the ModelArts data-management API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("serve")(serve)
app.command("worker")(worker)
app.command("ray-task", hidden=True)(ray_task)
app.command("sync")(sync_cli.sync)
app.command("export")(exports.export_command)
app.command("autogroup")(models.autogroup)
app.add_typer(users.app, name="user")
app.add_typer(db.app, name="db")
app.add_typer(members.app, name="member")
app.add_typer(outbox.app, name="outbox")
app.add_typer(datasets.app, name="dataset")
app.add_typer(labels.app, name="label")
app.add_typer(autolabel.app, name="autolabel")
app.add_typer(versions.app, name="version")
app.add_typer(models.app, name="model")
app.add_typer(samples.app, name="sample")
app.add_typer(imports.app, name="import")
app.add_typer(processing.app, name="process")
app.add_typer(workforces.app, name="workforce")
app.add_typer(team_tasks.app, name="team-task")
app.command("configure")(configure.configure)


def _version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
@with_connection_options
def main_options(
    data_dir: Annotated[
        Path | None,
        typer.Option(envvar="LABELARTS_DATA_DIR", help="Data folder (default ./labelarts-data)."),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    state.data_dir = data_dir
    # The connection options given here apply to whichever command follows.
    state.root_connection = state.command_connection
    state.command_connection = {}


def main() -> None:
    app()
