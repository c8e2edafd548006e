"""``labelarts configure``: write a profile of ``~/.config/labelarts/config.toml``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from labelarts.cli._common import OutputFormat, OutputOption, emit_list, print_error, print_message
from labelarts.cli._config import (
    DEFAULT_ENDPOINT,
    DEFAULT_PROFILE,
    PROFILE_ENV,
    ConfigError,
    check_profile_name,
    config_path,
    read_profiles,
    write_profiles,
)


def _prompt(text: str, default: str | None, *, hide: bool = False) -> str:
    # Prompts go to stderr: stdout stays for what the command prints.
    if hide:
        shown = f"{text} [{'keep the current one' if default else 'none'}]"
        value: str = typer.prompt(shown, default="", hide_input=True, show_default=False, err=True)
        return value or (default or "")
    answer: str = typer.prompt(text, default=default or "", show_default=bool(default), err=True)
    return answer


def _home_relative(path: Path) -> str:
    """``~/...`` for a path under the home folder (shorter, and no user name in a transcript)."""
    try:
        return str(Path("~") / path.relative_to(Path.home()))
    except ValueError:
        return str(path)


def _from_credentials_file(path: Path) -> dict[str, str]:
    """project_id, access_key and secret_key from a file like ``initial-credentials.json``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print_error(f"cannot read {path}: {exc}")
        raise typer.Exit(2) from None
    if not isinstance(data, dict):
        print_error(f"{path}: expected a JSON object with project_id, access_key and secret_key")
        raise typer.Exit(2)
    found = {k: data[k] for k in ("project_id", "access_key", "secret_key") if isinstance(data.get(k), str)}
    if not found:
        print_error(f"{path}: no project_id, access_key or secret_key in it")
        raise typer.Exit(2)
    return found


def _list_profiles(path: Path, output: OutputFormat) -> None:
    profiles = read_profiles(path)
    rows: list[dict[str, Any]] = [
        {
            "profile": name,
            "endpoint": values.get("endpoint", DEFAULT_ENDPOINT),
            "project_id": values.get("project_id", ""),
            "access_key": values.get("access_key", ""),
            "secret_key": "set" if values.get("secret_key") else "",
            "token": "set" if values.get("token") else "",
        }
        for name, values in profiles.items()
    ]
    emit_list(
        {"config_file": str(path), "profiles": rows},
        "profiles",
        output,
        columns=["profile", "endpoint", "project_id", "access_key", "secret_key", "token"],
        title=str(path),
    )


def configure(
    profile: Annotated[
        str | None,
        typer.Option("--profile", help=f"Profile to write (LABELARTS_PROFILE; default '{DEFAULT_PROFILE}')."),
    ] = None,
    endpoint: Annotated[str | None, typer.Option("--endpoint", help="Server URL.")] = None,
    project_id: Annotated[str | None, typer.Option("--project-id", help="Project id.")] = None,
    access_key: Annotated[str | None, typer.Option("--ak", help="Access key.")] = None,
    sk_stdin: Annotated[
        bool, typer.Option("--sk-stdin", help="Read the secret key from stdin's first line.")
    ] = False,
    token_stdin: Annotated[
        bool, typer.Option("--token-stdin", help="Read an IAM token from stdin's first line.")
    ] = False,
    credentials_file: Annotated[
        Path | None,
        typer.Option(
            "--credentials-file",
            help="Take project_id, access_key and secret_key from this JSON file "
            "(e.g. labelarts-data/initial-credentials.json).",
        ),
    ] = None,
    no_input: Annotated[
        bool,
        typer.Option("--no-input", help="Never prompt: keep the profile's values for what is not given."),
    ] = False,
    list_: Annotated[
        bool, typer.Option("--list", help="List the profiles (secrets shown as 'set').")
    ] = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Save the server and credentials in a profile, so no command needs them again.

    Asks for whatever the options do not give (the secret key without echo), showing the
    profile's current values as defaults; --no-input never asks. The file is
    $XDG_CONFIG_HOME/labelarts/config.toml (~/.config/...), mode 0600.
    """
    import os

    path = config_path()
    try:
        if list_:
            _list_profiles(path, output)
            return
        name = check_profile_name(profile or os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE)
        profiles = read_profiles(path)
    except ConfigError as exc:
        print_error(str(exc))
        raise typer.Exit(2) from None
    current = dict(profiles.get(name, {}))
    given: dict[str, str] = {}
    if credentials_file is not None:
        given.update(_from_credentials_file(credentials_file))
    for key, value in (("endpoint", endpoint), ("project_id", project_id), ("access_key", access_key)):
        if value is not None:
            given[key] = value
    if sk_stdin and token_stdin:
        print_error("give --sk-stdin or --token-stdin, not both")
        raise typer.Exit(2)
    if sk_stdin or token_stdin:
        line = sys.stdin.readline().strip()
        if not line:
            print_error("stdin is empty")
            raise typer.Exit(2)
        given["secret_key" if sk_stdin else "token"] = line

    values = {**current, **given}
    if not no_input:
        if "endpoint" not in given:
            values["endpoint"] = _prompt("Endpoint", current.get("endpoint") or DEFAULT_ENDPOINT)
        if "project_id" not in given:
            values["project_id"] = _prompt("Project id", current.get("project_id"))
        if "token" not in given:
            if "access_key" not in given:
                values["access_key"] = _prompt("Access key (empty: use a token)", current.get("access_key"))
            if values.get("access_key") and "secret_key" not in given:
                values["secret_key"] = _prompt("Secret key", current.get("secret_key"), hide=True)
            if not values.get("access_key"):
                values["token"] = _prompt("IAM token", current.get("token"), hide=True)
    # A profile signs with keys or sends a token; the kind given last replaces the other.
    if "token" in given and "access_key" not in given:
        values.pop("access_key", None)
        values.pop("secret_key", None)
    elif values.get("access_key") and values.get("secret_key"):
        values.pop("token", None)
    values = {k: v.strip() for k, v in values.items() if v and v.strip()}
    if values.get("endpoint"):
        values["endpoint"] = values["endpoint"].rstrip("/")
    profiles[name] = values
    try:
        write_profiles(path, profiles)
    except (OSError, ConfigError) as exc:
        print_error(f"cannot write {path}: {exc}")
        raise typer.Exit(1) from None
    missing = [k for k in ("project_id",) if not values.get(k)]
    if not (values.get("access_key") and values.get("secret_key")) and not values.get("token"):
        missing.append("credentials (access key and secret key, or a token)")
    print_message(f"Saved profile {name!r} in {_home_relative(path)}.")
    if missing:
        print_error(f"profile {name!r} still lacks: {', '.join(missing)}")
        raise typer.Exit(1)
