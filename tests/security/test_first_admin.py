"""The first-start ``admin`` password is shown once, in a 0600 file, and good only for changing it.

Before: every install had a user ``admin`` whose generated password stayed valid in
initial-credentials.json for good.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from labelarts.client import SdkHmacAuth
from tests.cli import cli_env, run_cli
from tests.security.served import Served, serve

NEW_PASSWORD = "the-admins-own-password"


@pytest.fixture
def served(tmp_path: Path, database_url: str) -> Iterator[Served]:
    with serve(tmp_path, database_url) as running:
        yield running


def _sign_in(served: Served, password: str) -> httpx.Response:
    user = {"name": "admin", "password": password}
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": user}}}}
    return httpx.post(f"{served.url}/v3/auth/tokens", json=body, timeout=120)


def test_the_generated_password_only_changes_itself(served: Served, database_url: str) -> None:
    path = served.data_dir / "initial-credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    creds = served.initial_credentials()
    # The access keys work at once.
    auth = SdkHmacAuth(creds["access_key"], creds["secret_key"], creds["project_id"])
    assert httpx.get(f"{served.url}/v2/{creds['project_id']}/datasets", auth=auth).status_code == 200
    # The password gets no token: Keystone's "expired" answer names the user to change.
    refused = _sign_in(served, creds["password"])
    assert refused.status_code == 401, refused.text
    assert creds["user_id"] in refused.json()["error_msg"]

    result = run_cli(
        "--data-dir",
        str(served.data_dir),
        "user",
        "set-password",
        "admin",
        "--password",
        NEW_PASSWORD,
        env=cli_env(LABELARTS_DATABASE_URL=database_url),
    )
    assert result.returncode == 0, result.stderr
    # The file no longer holds a password, and keeps its keys and its mode.
    changed = json.loads(path.read_text())
    assert "password" not in changed
    assert changed["access_key"] == creds["access_key"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert _sign_in(served, creds["password"]).status_code == 401
    assert _sign_in(served, NEW_PASSWORD).status_code == 201


def test_the_generated_password_changes_through_keystones_api(served: Served) -> None:
    creds = served.initial_credentials()
    body = {"user": {"original_password": creds["password"], "password": NEW_PASSWORD}}
    changed = httpx.post(f"{served.url}/v3/users/{creds['user_id']}/password", json=body, timeout=120)
    assert changed.status_code == 204, changed.text
    assert _sign_in(served, NEW_PASSWORD).status_code == 201
    assert _sign_in(served, creds["password"]).status_code == 401
