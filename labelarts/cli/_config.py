"""Where the CLI finds its server and credentials: flags, ``LABELARTS_*`` variables, profiles.

The profile file is ``$XDG_CONFIG_HOME/labelarts/config.toml`` (``~/.config/labelarts/config.toml``
when XDG_CONFIG_HOME is unset), one TOML table per profile::

    [default]
    endpoint = "http://127.0.0.1:8080"
    project_id = "0123456789abcdef0123456789abcdef"
    access_key = "..."
    secret_key = "..."

    [prod]
    endpoint = "https://labelarts.example.com"
    project_id = "..."
    token = "..."

Each field comes from the first of: a command-line flag; then, when the profile was named
with ``--profile``, that profile; the ``LABELARTS_*`` variable; the profile (``--profile``,
else ``LABELARTS_PROFILE``, else ``default``); the built-in default. The file holds secrets:
it is written with mode 0600 (its folder 0700), and a file others may read draws a warning.
Nothing here imports the server.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_ENDPOINT = "http://127.0.0.1:8080"
DEFAULT_PROFILE = "default"
# Profile fields, in the order they are written.
FIELDS = ("endpoint", "project_id", "access_key", "secret_key", "token")
SECRET_FIELDS = frozenset({"secret_key", "token"})
# field -> environment variable
ENV = {
    "endpoint": "LABELARTS_ENDPOINT",
    "project_id": "LABELARTS_PROJECT_ID",
    "access_key": "LABELARTS_AK",
    "secret_key": "LABELARTS_SK",
    "token": "LABELARTS_TOKEN",
}
PROFILE_ENV = "LABELARTS_PROFILE"
PROFILE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class ConfigError(Exception):
    """A profile file that cannot be read or a profile that does not exist; the message says which."""


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/labelarts/config.toml``, else ``~/.config/labelarts/config.toml``."""
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME") or ""
    # The XDG spec: a relative XDG_CONFIG_HOME is invalid and to be ignored.
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / "labelarts" / "config.toml"


def check_profile_name(name: str) -> str:
    if not PROFILE_NAME.match(name):
        raise ConfigError(f"profile names are 1-64 letters, digits, '-' or '_' (got {name!r})")
    return name


def read_profiles(path: Path) -> dict[str, dict[str, str]]:
    """Every profile in the file ({} when there is no file); ConfigError if it is not valid."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    profiles: dict[str, dict[str, str]] = {}
    for name, table in data.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: {name!r} is not a [profile] table")
        unknown = sorted(set(table) - set(FIELDS))
        if unknown:
            raise ConfigError(f"{path}: profile {name!r} has unknown keys {unknown} (known: {list(FIELDS)})")
        if not all(isinstance(v, str) for v in table.values()):
            raise ConfigError(f"{path}: profile {name!r}: values must be strings")
        profiles[name] = dict(table)
    return profiles


def readable_by_others(path: Path) -> bool:
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return bool(mode & (stat.S_IRWXG | stat.S_IRWXO))


def _toml_string(value: str) -> str:
    # A JSON string is a TOML basic string once non-ASCII is kept as is; control characters
    # come out as \uXXXX escapes, which TOML reads the same way.
    return json.dumps(value, ensure_ascii=False)


def render_profiles(profiles: Mapping[str, Mapping[str, str]]) -> str:
    lines = ["# LabelArts CLI profiles (labelarts configure). Holds secrets: keep it mode 0600.", ""]
    for name, values in profiles.items():
        lines.append(f"[{check_profile_name(name)}]")
        lines += [f"{key} = {_toml_string(values[key])}" for key in FIELDS if values.get(key)]
        lines.append("")
    return "\n".join(lines)


def write_profiles(path: Path, profiles: Mapping[str, Mapping[str, str]]) -> None:
    """Replace the file atomically; the new file is created 0600 (never readable by others
    even for a moment) and its folder 0700 when it is made."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    text = render_profiles(profiles)
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.chmod(path, 0o600)


@dataclass
class Connection:
    """The server and credentials a command talks to, and where each came from."""

    endpoint: str = DEFAULT_ENDPOINT
    project_id: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    token: str | None = None
    profile: str = DEFAULT_PROFILE
    # True when a token was asked for by flag: it wins over access keys from elsewhere.
    token_flag: bool = False
    sources: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def auth_kind(self) -> str | None:
        if self.token and (self.token_flag or not (self.access_key and self.secret_key)):
            return "token"
        if self.access_key and self.secret_key:
            return "aksk"
        return None


def resolve(
    flags: Mapping[str, str | None],
    *,
    profile_flag: str | None,
    env: Mapping[str, str] | None = None,
    path: Path | None = None,
) -> Connection:
    """The connection from flags (``FIELDS`` keys, None when not given), the environment and
    the profile file; ConfigError for a named profile that does not exist."""
    env = os.environ if env is None else env
    path = config_path(env) if path is None else path
    name = profile_flag or env.get(PROFILE_ENV) or DEFAULT_PROFILE
    check_profile_name(name)
    profiles = read_profiles(path)
    named = profile_flag is not None or PROFILE_ENV in env
    if named and name not in profiles:
        known = ", ".join(sorted(profiles)) or "none yet"
        raise ConfigError(
            f"no profile {name!r} in {path} (profiles: {known}); "
            f"create it with labelarts configure --profile {name}"
        )
    profile = profiles.get(name, {})
    env_values = {key: env.get(var) or None for key, var in ENV.items()}
    profile_values = {key: profile.get(key) or None for key in FIELDS}
    layers = [("flag", flags)]
    label = f"profile {name}"
    if profile_flag is not None:
        layers += [(label, profile_values), ("environment", env_values)]
    else:
        layers += [("environment", env_values), (label, profile_values)]
    conn = Connection(profile=name, token_flag=bool(flags.get("token")))
    for key in FIELDS:
        for source, values in layers:
            value = values.get(key)
            if value:
                setattr(conn, key, value)
                conn.sources[key] = source
                break
    if conn.endpoint != DEFAULT_ENDPOINT or "endpoint" in conn.sources:
        conn.endpoint = conn.endpoint.rstrip("/")
    if profile and any(profile.get(k) for k in SECRET_FIELDS) and readable_by_others(path):
        conn.warnings.append(f"{path} holds secrets and others may read it: chmod 600 {path}")
    return conn
