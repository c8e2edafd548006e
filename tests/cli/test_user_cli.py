"""``labelarts user ...`` against the data dir and database the test server uses."""

from __future__ import annotations

import re
import subprocess

import httpx
import pytest
from sqlalchemy import select

from labelarts.auth.crypto import SecretBox
from labelarts.client import LabelArtsClient, LabelArtsError, SdkHmacAuth
from labelarts.config import Settings
from labelarts.container import Services
from labelarts.storage.db.models import AccessKey, User
from tests.cli import SERVER_SECRET, assert_failed, cli_env, ok_json, run_cli
from tests.conftest import PASSWORD, LiveServer, Tenant, assert_error

PROJECT_ID = "0123456789abcdef0123456789abcdef"
NEW_PASSWORD = "new-password-42"


def user_cli(settings: Settings, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """``labelarts --data-dir DIR user ARGS`` on the `settings` fixture's database and secret."""
    env = cli_env(LABELARTS_DATABASE_URL=settings.resolved_database_url, LABELARTS_SECRET_KEY=SERVER_SECRET)
    return run_cli("--data-dir", str(settings.data_dir), "user", *args, env=env, input=input)


def list_datasets_status(
    server: LiveServer, project_id: str, access_key: str, secret_key: str
) -> httpx.Response:
    auth = SdkHmacAuth(access_key, secret_key, project_id)
    return httpx.get(f"{server.url}/v2/{project_id}/datasets", auth=auth)


@pytest.mark.parametrize(
    ("args", "stdin", "project_id"),
    [
        pytest.param(["--project-id", PROJECT_ID, "--password", PASSWORD], None, PROJECT_ID, id="flags"),
        pytest.param([], f"{PASSWORD}\n", None, id="prompted-password-new-project"),
    ],
)
def test_create_prints_only_the_credentials(
    settings: Settings, services: Services, args: list[str], stdin: str | None, project_id: str | None
) -> None:
    result = user_cli(settings, "create", "bob", *args, input=stdin)

    creds = ok_json(result)
    assert set(creds) == {"user", "project_id", "access_key", "secret_key"}
    assert creds["user"] == "bob"
    assert re.fullmatch(r"[0-9a-f]{32}", creds["project_id"])
    if project_id is not None:
        assert creds["project_id"] == project_id
    assert re.fullmatch(r"[A-Z0-9]{20}", creds["access_key"])
    assert len(creds["secret_key"]) >= 32
    assert PASSWORD not in result.stdout

    with services.db.session() as session:
        user = session.execute(select(User).where(User.name == "bob")).scalar_one()
        key = session.get(AccessKey, creds["access_key"])
        assert key is not None
        password_hash, sealed = user.password_hash, key.secret_encrypted
    assert password_hash.startswith("$argon2")
    assert PASSWORD not in password_hash
    assert creds["secret_key"] not in sealed
    # Sealed with the configured server secret, so a server sharing it can verify signatures.
    assert SecretBox(SERVER_SECRET.encode()).open(sealed) == creds["secret_key"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["create", "bob", "--project-id", "g" * 32, "--password", PASSWORD],
            "Project id must be 32",
            id="project-id-not-hex",
        ),
        pytest.param(
            ["create", "bob", "--project-id", PROJECT_ID, "--password", "short"],
            "at least 8 characters",
            id="short-password",
        ),
        pytest.param(
            ["create", "alice", "--project-id", PROJECT_ID, "--password", PASSWORD],
            "alice already exists",
            id="duplicate-user",
        ),
        pytest.param(["rotate-key", "nobody"], "nobody does not exist", id="rotate-unknown"),
        pytest.param(["delete", "nobody"], "nobody does not exist", id="delete-unknown"),
    ],
)
def test_refusals_exit_1_with_a_message(
    settings: Settings, services: Services, args: list[str], message: str
) -> None:
    alice = services.users.create_user("alice", project_id="a" * 32, password=PASSWORD)

    assert_failed(user_cli(settings, *args), 1, "error", message)

    summaries = services.users.list_users()
    assert [(u.user, u.access_keys) for u in summaries] == [("alice", [alice.access_key])]


@pytest.mark.parametrize("output", ["json", "table"])
def test_list_shows_access_keys_never_secrets(settings: Settings, services: Services, output: str) -> None:
    alice = services.users.create_user("alice", project_id="a" * 32, password=PASSWORD)

    result = user_cli(settings, "list", "-o", output)

    assert result.returncode == 0, result.stderr
    assert alice.secret_key not in result.stdout
    assert "$argon2" not in result.stdout
    if output == "json":
        [row] = ok_json(result)
        assert row["user"] == "alice"
        assert row["project_id"] == "a" * 32
        assert row["access_keys"] == [alice.access_key]
    else:
        assert "alice" in result.stdout
        assert alice.access_key in result.stdout
        assert "a" * 32 in result.stdout  # piped tables are not cut to 80 columns


def test_rotate_key_then_delete(settings: Settings, live_server: LiveServer, tenant: Tenant) -> None:
    old = tenant.creds

    new = ok_json(user_cli(settings, "rotate-key", "alice"))

    assert new["user"] == "alice"
    assert new["project_id"] == old.project_id
    assert new["access_key"] != old.access_key
    assert new["secret_key"] != old.secret_key
    old_keys = list_datasets_status(live_server, old.project_id, old.access_key, old.secret_key)
    assert_error(old_keys, 401)
    assert list_datasets_status(live_server, old.project_id, new["access_key"], new["secret_key"]).is_success

    result = user_cli(settings, "delete", "alice")

    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    new_keys = list_datasets_status(live_server, old.project_id, new["access_key"], new["secret_key"])
    assert_error(new_keys, 401)
    assert_error(tenant.token_client.get(tenant.v2("/datasets")), 401)


def test_set_password_prompts_twice(settings: Settings, live_server: LiveServer, tenant: Tenant) -> None:
    result = user_cli(settings, "set-password", "alice", input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n")

    assert result.returncode == 0, result.stderr
    assert result.stdout == ""  # prompts go to stderr
    with LabelArtsClient(live_server.url, tenant.project_id) as client:
        with pytest.raises(LabelArtsError) as refused:
            client.login("alice", PASSWORD)
        assert refused.value.status_code == 401
        assert client.login("alice", NEW_PASSWORD)
        assert client.list_datasets().total_number == 0
