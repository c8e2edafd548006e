"""Entry point of the ``labelarts`` command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from labelarts import __version__
from labelarts.cli import autolabel, datasets, exports, labels, members, models, users, versions
from labelarts.cli import sync as sync_cli
from labelarts.cli._common import state
from labelarts.cli.serve import serve
from labelarts.cli.worker import worker

app = typer.Typer(
    help="LabelArts: self-hosted data labeling with the ModelArts data-management API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("serve")(serve)
app.command("worker")(worker)
app.command("sync")(sync_cli.sync)
app.command("export")(exports.export_command)
app.command("autogroup")(models.autogroup)
app.add_typer(users.app, name="user")
app.add_typer(members.app, name="member")
app.add_typer(datasets.app, name="dataset")
app.add_typer(labels.app, name="label")
app.add_typer(autolabel.app, name="autolabel")
app.add_typer(versions.app, name="version")
app.add_typer(models.app, name="model")


def _version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
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


def main() -> None:
    app()
