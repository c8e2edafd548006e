"""Shared CLI plumbing: settings from the global options, output formats, the API client."""

from __future__ import annotations

import functools
import inspect
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from labelarts.cli._config import DEFAULT_ENDPOINT, ConfigError, Connection, resolve
from labelarts.client import LabelArtsClient, LabelArtsError

if TYPE_CHECKING:
    # Imported when needed: pydantic-settings would slow every command's start.
    from labelarts.config import Settings


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    jsonl = "jsonl"


class CliState:
    def __init__(self) -> None:
        self.data_dir: Path | None = None
        # Connection options given before the command (``labelarts --profile x dataset list``)...
        self.root_connection: dict[str, Any] = {}
        # ... and after it (these win).
        self.command_connection: dict[str, Any] = {}
        self.endpoint: str | None = None


state = CliState()
console = Console()
err_console = Console(stderr=True)
# Width of tables written to a pipe or file: wide enough that no id or name is cut.
PIPE_WIDTH = 4096

OutputOption = Annotated[
    OutputFormat,
    typer.Option(
        "--output",
        "-o",
        help="table; json (the API's answer); jsonl (one object a line: a list's items, or the object).",
    ),
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="Print only the id(s), one a line.")]

_PANEL = "Connection (flags beat LABELARTS_* variables, which beat the profile)"
# The connection options every command that talks to a server takes, also before the command.
CONNECTION_OPTIONS: dict[str, Any] = {
    "conn_profile": Annotated[
        str | None,
        typer.Option(
            "--profile",
            help="Profile of ~/.config/labelarts/config.toml (LABELARTS_PROFILE; default 'default').",
            rich_help_panel=_PANEL,
            show_default=False,
        ),
    ],
    "conn_endpoint": Annotated[
        str | None,
        typer.Option(
            "--endpoint",
            help=f"Server URL (LABELARTS_ENDPOINT; default {DEFAULT_ENDPOINT}).",
            rich_help_panel=_PANEL,
            show_default=False,
        ),
    ],
    "conn_project_id": Annotated[
        str | None,
        typer.Option(
            "--project-id",
            help="Project id (LABELARTS_PROJECT_ID).",
            rich_help_panel=_PANEL,
            show_default=False,
        ),
    ],
    "conn_ak": Annotated[
        str | None,
        typer.Option("--ak", help="Access key (LABELARTS_AK).", rich_help_panel=_PANEL, show_default=False),
    ],
    "conn_sk_stdin": Annotated[
        bool,
        typer.Option(
            "--sk-stdin", help="Read the secret key from stdin's first line.", rich_help_panel=_PANEL
        ),
    ],
    "conn_token_stdin": Annotated[
        bool,
        typer.Option(
            "--token-stdin", help="Read an IAM token from stdin's first line.", rich_help_panel=_PANEL
        ),
    ],
    "conn_sk": Annotated[
        str | None,
        typer.Option(
            "--sk",
            help="UNSAFE: the secret key on the command line, where other users and shell history "
            "see it. Prefer a profile, LABELARTS_SK or --sk-stdin.",
            rich_help_panel=_PANEL,
            show_default=False,
        ),
    ],
    "conn_token": Annotated[
        str | None,
        typer.Option(
            "--token",
            help="UNSAFE: an IAM token on the command line. "
            "Prefer a profile, LABELARTS_TOKEN or --token-stdin.",
            rich_help_panel=_PANEL,
            show_default=False,
        ),
    ],
}
_CONNECTION_DEFAULTS: dict[str, Any] = {"conn_sk_stdin": False, "conn_token_stdin": False}


def with_connection_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Give ``func`` (a Typer command or callback) the connection options; the command sees
    none of them: they are merged into ``state`` and read by :func:`make_client`."""
    signature = inspect.signature(func, eval_str=True)
    extra = [
        inspect.Parameter(
            name,
            inspect.Parameter.KEYWORD_ONLY,
            default=_CONNECTION_DEFAULTS.get(name),
            annotation=annotation,
        )
        for name, annotation in CONNECTION_OPTIONS.items()
    ]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        given = {name: kwargs.pop(name, None) for name in CONNECTION_OPTIONS}
        state.command_connection = {k: v for k, v in given.items() if v}
        return func(*args, **kwargs)

    wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), *extra]
    )
    return wrapper


def api_command(func: Callable[..., Any]) -> Callable[..., Any]:
    """A command that talks to the server: the connection options, and server errors or an
    unreachable server as one line on stderr with exit code 1."""
    return with_connection_options(api_errors(func))


def _read_secret_line(what: str) -> str:
    line = sys.stdin.readline().strip()
    if not line:
        print_error(f"--{what}-stdin: stdin is empty")
        raise typer.Exit(2)
    return line


def connection() -> Connection:
    """The connection of this command: its own options over the ones given before it."""
    given = {**state.root_connection, **state.command_connection}
    flags: dict[str, str | None] = {
        "endpoint": given.get("conn_endpoint"),
        "project_id": given.get("conn_project_id"),
        "access_key": given.get("conn_ak"),
        "secret_key": given.get("conn_sk"),
        "token": given.get("conn_token"),
    }
    if given.get("conn_sk_stdin"):
        flags["secret_key"] = _read_secret_line("sk")
    if given.get("conn_token_stdin"):
        flags["token"] = _read_secret_line("token")
    try:
        conn = resolve(flags, profile_flag=given.get("conn_profile"))
    except ConfigError as exc:
        print_error(str(exc))
        raise typer.Exit(2) from None
    for warning in conn.warnings:
        print_warning(warning)
    return conn


def make_client() -> LabelArtsClient:
    """A client for this command's connection; exit 2 with a hint when something is missing."""
    conn = connection()
    state.endpoint = conn.endpoint
    if not conn.project_id:
        print_error(
            "no project id: run `labelarts configure`, or set LABELARTS_PROJECT_ID, or give --project-id"
        )
        raise typer.Exit(2)
    kind = conn.auth_kind
    if kind is None:
        print_error(
            "no credentials: run `labelarts configure` (a profile), or set LABELARTS_AK and LABELARTS_SK "
            "(or LABELARTS_TOKEN), or give --ak with --sk-stdin"
        )
        raise typer.Exit(2)
    if kind == "token":
        return LabelArtsClient(conn.endpoint, conn.project_id, token=conn.token)
    return LabelArtsClient(
        conn.endpoint, conn.project_id, access_key=conn.access_key, secret_key=conn.secret_key
    )


def local_settings(**overrides: Any) -> Settings:
    """Settings from the options given, then ``LABELARTS_*``; a bad value is one line per
    setting on stderr, naming its variable, and exit status 2 (not a traceback)."""
    from pydantic import ValidationError

    from labelarts.config import Settings

    values = {k: v for k, v in overrides.items() if v is not None}
    if state.data_dir is not None and "data_dir" not in values:
        values["data_dir"] = state.data_dir
    try:
        return Settings(**values)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            name = ".".join(str(part) for part in error["loc"])
            if not name:
                print_error(f"bad settings: {error['msg']}")
                continue
            source = "option" if name in values else f"LABELARTS_{name.upper()}"
            given = error.get("input")
            shown = "(hidden)" if "secret" in name or "password" in name or "token" in name else repr(given)
            print_error(f"bad setting {name} ({source}={shown}): {error['msg']}")
        raise typer.Exit(2) from None


def print_error(message: str) -> None:
    """One line on stderr: never wrapped, never read as Rich markup (messages quote user input)."""
    err_console.print(f"[red]error[/red] {escape(message)}", soft_wrap=True, highlight=False)


def print_warning(message: str) -> None:
    err_console.print(f"[yellow]warning[/yellow] {escape(message)}", soft_wrap=True, highlight=False)


def print_message(message: str) -> None:
    """Plain text on stdout, unwrapped, so paths and commands in it stay copyable."""
    console.print(message, soft_wrap=True, markup=False, highlight=False)


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
            if exc.status == 0 and isinstance(exc.__cause__, httpx.TransportError):
                print_error(f"cannot reach {state.endpoint or 'the server'}: {exc.__cause__}")
                raise typer.Exit(1) from None
            request = f" (request {exc.request_id})" if exc.request_id else ""
            print_error(f"{exc.status_code} {exc.error_code}: {exc.error_msg}{request}")
            raise typer.Exit(1) from None
        except httpx.TransportError as exc:
            print_error(f"cannot reach {state.endpoint or 'the server'}: {exc}")
            raise typer.Exit(1) from None

    return wrapper


def print_jsonl(items: Iterable[Any]) -> None:
    """One compact JSON document a line (a pipe gets each line as soon as it is known)."""
    for item in items:
        sys.stdout.write(json.dumps(item, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def server_path(value: str) -> str:
    """A path for the server: ``scheme://...`` as given; a local path made absolute and real (``~``
    expanded), since the server does not share the CLI's working directory. The server must see
    the same file system for it to mean the same folder (import and export roots are local)."""
    if "://" in value:
        return value
    return str(Path(value).expanduser().resolve())


def print_ids(ids: Iterable[str]) -> None:
    """``-q``: ids one a line, for ``$(...)`` and pipes."""
    sys.stdout.write("".join(f"{i}\n" for i in ids))


def emit_list(
    result: dict[str, Any],
    items_key: str,
    output: OutputFormat,
    *,
    columns: list[str],
    title: str,
    rows: list[dict[str, Any]] | None = None,
) -> None:
    """A list answer: ``json`` the whole answer, ``jsonl`` its items one a line, ``table`` the
    rows (default: the items) under ``columns``."""
    if output == OutputFormat.json:
        print_json(result)
    elif output == OutputFormat.jsonl:
        print_jsonl(result[items_key])
    else:
        print_table(rows if rows is not None else result[items_key], columns, title=title)


def emit_object(value: dict[str, Any], output: OutputFormat, table: Callable[[], None]) -> None:
    """One object: ``json`` indented, ``jsonl`` one line, ``table`` whatever ``table`` prints."""
    if output == OutputFormat.json:
        print_json(value)
    elif output == OutputFormat.jsonl:
        print_jsonl([value])
    else:
        table()


def field_table(value: dict[str, Any], fields: list[str] | None = None) -> None:
    """``field``/``value`` rows of an object (``fields`` in that order, else all of them)."""
    keys = fields if fields is not None else list(value)
    print_table([{"field": k, "value": value[k]} for k in keys if k in value], ["field", "value"])


class ProgressBar:
    """A bar on stderr when stderr is a terminal; nothing at all otherwise (logs, pipes, CI)."""

    def __init__(self, progress: Progress | None, task: Any) -> None:
        self._progress = progress
        self._task = task

    def update(self, percent: float, description: str | None = None) -> None:
        if self._progress is not None:
            fields: dict[str, Any] = {"completed": percent}
            if description is not None:
                fields["description"] = description
            self._progress.update(self._task, **fields)


@contextmanager
def progress_bar(description: str) -> Iterator[ProgressBar]:
    """``with progress_bar("Importing") as bar: bar.update(percent, text)``."""
    if not err_console.is_terminal:
        yield ProgressBar(None, None)
        return
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=err_console,
    )
    task = progress.add_task(description, total=100)
    with progress:
        yield ProgressBar(progress, task)
