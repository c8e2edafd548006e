"""``labelarts configure`` and profiles, run as a subprocess against a live server: where the
file goes (XDG_CONFIG_HOME, else ~/.config), its mode, which source wins, and that secrets stay
off the command line and out of what is printed."""

from __future__ import annotations

import json
import stat
import subprocess
import tomllib
from pathlib import Path

import pytest

from labelarts.cli._config import ConfigError, read_profiles, resolve
from tests.cli import assert_failed, cli_env, free_port, ok_json, run_cli
from tests.conftest import LiveServer, Tenant, create_dataset


@pytest.fixture(scope="module")
def world(
    shared_server: LiveServer, shared_tenants: tuple[Tenant, Tenant]
) -> tuple[LiveServer, Tenant, Tenant]:
    alice, mallory = shared_tenants
    return shared_server, alice, mallory


def datasets(result: subprocess.CompletedProcess[str]) -> set[str]:
    return {d["dataset_id"] for d in ok_json(result)["datasets"]}


def credentials_file(tmp_path: Path, tenant: Tenant) -> Path:
    """A file shaped like the first start's labelarts-data/initial-credentials.json."""
    path = tmp_path / "initial-credentials.json"
    path.write_text(
        json.dumps(
            {
                "user": "alice",
                "password": "x",
                "project_id": tenant.project_id,
                "access_key": tenant.creds.access_key,
                "secret_key": tenant.creds.secret_key,
            }
        )
    )
    return path


def test_profiles_from_configure_serve_every_command(
    world: tuple[LiveServer, Tenant, Tenant], tmp_path: Path
) -> None:
    server, alice, mallory = world
    ours = create_dataset(alice.aksk, alice.project_id, "profile-a")
    theirs = create_dataset(mallory.aksk, mallory.project_id, "profile-b")
    xdg = tmp_path / "xdg"
    env = cli_env(XDG_CONFIG_HOME=str(xdg))

    saved = run_cli(
        "configure",
        "--credentials-file",
        str(credentials_file(tmp_path, alice)),
        "--endpoint",
        server.url + "/",
        "--no-input",
        env=env,
    )

    assert saved.returncode == 0, saved.stderr
    path = xdg / "labelarts" / "config.toml"
    assert saved.stdout.strip() == f"Saved profile 'default' in {path}."
    assert alice.creds.secret_key not in saved.stdout + saved.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert tomllib.loads(path.read_text()) == {
        "default": {
            "endpoint": server.url,
            "project_id": alice.project_id,
            "access_key": alice.creds.access_key,
            "secret_key": alice.creds.secret_key,
        }
    }
    assert ours in datasets(run_cli("dataset", "list", "-o", "json", env=env))

    # A second profile, the secret key from stdin (never an argument).
    other = run_cli(
        "configure",
        *("--profile", "other", "--endpoint", server.url, "--project-id", mallory.project_id),
        *("--ak", mallory.creds.access_key, "--sk-stdin", "--no-input"),
        env=env,
        input=mallory.creds.secret_key + "\n",
    )
    assert other.returncode == 0, other.stderr
    assert set(read_profiles(path)) == {"default", "other"}
    # --profile before or after the command, or LABELARTS_PROFILE.
    assert datasets(run_cli("--profile", "other", "dataset", "list", "-o", "json", env=env)) == {theirs}
    assert datasets(run_cli("dataset", "list", "--profile", "other", "-o", "json", env=env)) == {theirs}
    assert datasets(run_cli("dataset", "list", "-o", "json", env={**env, "LABELARTS_PROFILE": "other"})) == {
        theirs
    }
    # The command's own option wins over the one before it.
    assert ours in datasets(
        run_cli("--profile", "other", "dataset", "list", "--profile", "default", "-o", "json", env=env)
    )

    # Variables beat the profile...
    dead = f"http://127.0.0.1:{free_port()}"
    assert_failed(
        run_cli("dataset", "list", env={**env, "LABELARTS_ENDPOINT": dead}), 1, f"cannot reach {dead}"
    )
    # ...flags beat variables...
    flagged = run_cli(
        "dataset", "list", "--endpoint", server.url, "-o", "json", env={**env, "LABELARTS_ENDPOINT": dead}
    )
    assert ours in datasets(flagged)
    # ...and a profile named on the command line beats variables.
    mixed = {**env, "LABELARTS_ENDPOINT": dead, "LABELARTS_PROJECT_ID": alice.project_id}
    assert datasets(run_cli("dataset", "list", "--profile", "other", "-o", "json", env=mixed)) == {theirs}

    listed = run_cli("configure", "--list", "-o", "json", env=env)
    profiles = {p["profile"]: p for p in ok_json(listed)["profiles"]}
    assert profiles["other"]["secret_key"] == "set" and profiles["other"]["project_id"] == mallory.project_id
    assert alice.creds.secret_key not in listed.stdout and mallory.creds.secret_key not in listed.stdout

    assert_failed(
        run_cli("dataset", "list", "--profile", "nope", env=env), 2, "no profile 'nope'", "default, other"
    )
    assert_failed(
        run_cli("dataset", "list", env={**env, "LABELARTS_PROFILE": "nope"}), 2, "no profile 'nope'"
    )

    # A file others may read still works, with a warning.
    path.chmod(0o644)
    warned = run_cli("dataset", "list", "-o", "json", env=env)
    assert ours in datasets(warned)
    assert f"chmod 600 {path}" in warned.stderr
    # configure rewrites it 0600 again.
    assert run_cli("configure", "--profile", "other", "--no-input", env=env).returncode == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_configure_asks_for_what_is_missing_and_hides_the_secret(
    world: tuple[LiveServer, Tenant, Tenant], tmp_path: Path
) -> None:
    server, alice, _ = world
    ours = create_dataset(alice.aksk, alice.project_id, "prompted")
    # No XDG_CONFIG_HOME: ~/.config.
    env = cli_env(HOME=str(tmp_path))
    del env["XDG_CONFIG_HOME"]
    answers = f"{server.url}\n{alice.project_id}\n{alice.creds.access_key}\n{alice.creds.secret_key}\n"

    asked = run_cli("configure", env=env, input=answers)

    assert asked.returncode == 0, asked.stderr
    for prompt in ("Endpoint", "Project id", "Access key", "Secret key"):
        assert prompt in asked.stderr
    assert alice.creds.secret_key not in asked.stdout + asked.stderr
    path = tmp_path / ".config" / "labelarts" / "config.toml"
    assert read_profiles(path)["default"]["secret_key"] == alice.creds.secret_key
    assert ours in datasets(run_cli("dataset", "list", "-o", "json", env=env))

    # Enter keeps every current value, the secret included.
    kept = run_cli("configure", env=env, input="\n\n\n\n")
    assert kept.returncode == 0, kept.stderr
    assert server.url in kept.stderr  # the current endpoint, offered as the default
    assert read_profiles(path)["default"] == {
        "endpoint": server.url,
        "project_id": alice.project_id,
        "access_key": alice.creds.access_key,
        "secret_key": alice.creds.secret_key,
    }

    # A token profile replaces the keys.
    token = run_cli("configure", "--no-input", "--token-stdin", env=env, input=alice.token + "\n")
    assert token.returncode == 0, token.stderr
    assert read_profiles(path)["default"] == {
        "endpoint": server.url,
        "project_id": alice.project_id,
        "token": alice.token,
    }
    assert ours in datasets(run_cli("dataset", "list", "-o", "json", env=env))


def test_secrets_from_stdin_and_clear_errors(
    world: tuple[LiveServer, Tenant, Tenant], tmp_path: Path
) -> None:
    server, alice, _ = world
    ours = create_dataset(alice.aksk, alice.project_id, "stdin")
    base = ["--endpoint", server.url, "--project-id", alice.project_id]

    listed = run_cli(
        "dataset",
        "list",
        *base,
        "--ak",
        alice.creds.access_key,
        "--sk-stdin",
        "-o",
        "json",
        input=alice.creds.secret_key + "\n",
    )
    assert ours in datasets(listed)
    assert ours in datasets(
        run_cli("dataset", "list", *base, "--token-stdin", "-o", "json", input=alice.token)
    )
    # A flag token wins over keys from the environment (which are wrong here).
    env = cli_env(LABELARTS_AK=alice.creds.access_key, LABELARTS_SK="wrong")
    assert ours in datasets(
        run_cli("dataset", "list", *base, "--token-stdin", "-o", "json", env=env, input=alice.token)
    )

    assert_failed(run_cli("dataset", "list", *base, "--ak", "x", "--sk-stdin"), 2, "stdin is empty")
    assert_failed(
        run_cli("dataset", "list", "--endpoint", server.url), 2, "no project id", "labelarts configure"
    )
    assert_failed(run_cli("sample", "list", "x", *base), 2, "no credentials", "labelarts configure")
    broken = tmp_path / "labelarts"
    broken.mkdir()
    (broken / "config.toml").write_text("[default\n")
    assert_failed(
        run_cli("dataset", "list", env=cli_env(XDG_CONFIG_HOME=str(tmp_path))), 2, "is not valid TOML"
    )
    assert_failed(
        run_cli(
            "configure", "--profile", "a b", "--no-input", env=cli_env(XDG_CONFIG_HOME=str(tmp_path / "n"))
        ),
        2,
        "profile names",
    )


def test_resolution_order_without_a_server(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[default]\nendpoint = "http://p"\nproject_id = "pp"\n[x]\nproject_id = "px"\n')
    env = {"LABELARTS_PROJECT_ID": "env", "XDG_CONFIG_HOME": str(tmp_path)}
    none = dict.fromkeys(("endpoint", "project_id", "access_key", "secret_key", "token"))

    assert resolve(none, profile_flag=None, env={}, path=path).project_id == "pp"
    assert resolve(none, profile_flag=None, env=env, path=path).project_id == "env"
    assert resolve(none, profile_flag="x", env=env, path=path).project_id == "px"
    assert resolve({**none, "project_id": "flag"}, profile_flag="x", env=env, path=path).project_id == "flag"
    # Endpoint: the profile's, else the default; LABELARTS_PROFILE picks a profile too.
    assert resolve(none, profile_flag=None, env={}, path=path).endpoint == "http://p"
    assert (
        resolve(none, profile_flag=None, env={"LABELARTS_PROFILE": "x"}, path=path).endpoint
        == "http://127.0.0.1:8080"
    )
    with pytest.raises(ConfigError, match="no profile 'y'"):
        resolve(none, profile_flag="y", env={}, path=path)
    # No file and no named profile: defaults only.
    assert resolve(none, profile_flag=None, env={}, path=tmp_path / "none.toml").project_id is None
    # XDG_CONFIG_HOME relative is ignored (the XDG spec).
    from labelarts.cli._config import config_path

    assert config_path({"XDG_CONFIG_HOME": "rel"}) == Path.home() / ".config" / "labelarts" / "config.toml"
    assert config_path({"XDG_CONFIG_HOME": str(tmp_path)}) == tmp_path / "labelarts" / "config.toml"
