"""Shared CLI plumbing: settings from the global options, output formats, the API client."""

from __future__ import annotations

import functools
import json
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from labelarts.client import LabelArtsClient, LabelArtsError
from labelarts.config import Settings


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


class CliState:
    data_dir: Path | None = None


state = CliState()
console = Console()
err_console = Console(stderr=True)
# Width of tables written to a pipe or file: wide enough that no id or name is cut.
PIPE_WIDTH = 4096

OutputOption = Annotated[OutputFormat, typer.Option("--output", "-o", help="table or json")]
EndpointOption = Annotated[str, typer.Option("--endpoint", envvar="LABELARTS_ENDPOINT", help="Server URL.")]
ProjectOption = Annotated[
    str, typer.Option("--project-id", envvar="LABELARTS_PROJECT_ID", help="Project id.")
]
AkOption = Annotated[str | None, typer.Option("--ak", envvar="LABELARTS_AK", help="Access key.")]
SkOption = Annotated[
    str | None, typer.Option("--sk", envvar="LABELARTS_SK", help="Secret key.", show_default=False)
]
TokenOption = Annotated[str | None, typer.Option("--token", envvar="LABELARTS_TOKEN", help="IAM token.")]


def local_settings(**overrides: Any) -> Settings:
    values = {k: v for k, v in overrides.items() if v is not None}
    if state.data_dir is not None and "data_dir" not in values:
        values["data_dir"] = state.data_dir
    return Settings(**values)


def print_error(message: str) -> None:
    """One line on stderr: never wrapped, never read as Rich markup (messages quote user input)."""
    err_console.print(f"[red]error[/red] {escape(message)}", soft_wrap=True, highlight=False)


def print_message(message: str) -> None:
    """Plain text on stdout, unwrapped, so paths and commands in it stay copyable."""
    console.print(message, soft_wrap=True, markup=False, highlight=False)


def make_client(
    endpoint: str, project_id: str, ak: str | None, sk: str | None, token: str | None
) -> LabelArtsClient:
    if not (ak and sk) and not token:
        print_error("Give --ak and --sk (or LABELARTS_AK/LABELARTS_SK), or --token.")
        raise typer.Exit(2)
    return LabelArtsClient(endpoint, project_id, access_key=ak, secret_key=sk, token=token)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2) + "\n")


def print_table(rows: list[dict[str, Any]], columns: list[str], title: str | None = None) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    _table_console().print(table)


def _table_console() -> Console:
    # Rich assumes 80 columns when stdout is not a terminal and would cut ids with "...";
    # piped tables are for copying and grepping, so give them room (COLUMNS still wins).
    if console.is_terminal or "COLUMNS" in os.environ:
        return console
    return Console(width=PIPE_WIDTH)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def api_errors(func: Any) -> Any:
    """Turn server errors and unreachable servers into a one-line message and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except LabelArtsError as exc:
            request = f" (request {exc.request_id})" if exc.request_id else ""
            print_error(f"{exc.status_code} {exc.error_code}: {exc.error_msg}{request}")
            raise typer.Exit(1) from None
        except httpx.TransportError as exc:
            print_error(f"cannot reach {kwargs.get('endpoint') or 'the server'}: {exc}")
            raise typer.Exit(1) from None

    return wrapper
