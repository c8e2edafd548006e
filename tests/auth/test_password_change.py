"""Keystone's password change, and the generated password that must be changed before use."""

from __future__ import annotations

import httpx

from tests.conftest import PASSWORD, LiveServer, Tenant, assert_error, login

NEW_PASSWORD = "a-new-and-long-one"


def _change(server: LiveServer, user_id: str, original: str, new: str) -> httpx.Response:
    body = {"user": {"original_password": original, "password": new}}
    return httpx.post(f"{server.url}/v3/users/{user_id}/password", json=body)


def _sign_in(server: LiveServer, user: str, password: str) -> httpx.Response:
    body = {
        "auth": {
            "identity": {"methods": ["password"], "password": {"user": {"name": user, "password": password}}}
        }
    }
    return httpx.post(f"{server.url}/v3/auth/tokens", json=body)


def test_a_generated_password_only_changes_itself(live_server: LiveServer) -> None:
    users = live_server.services.users
    users.create_user("root", project_id="c" * 32, password="generated-once", must_change_password=True)
    user_id = users.user_id("root")
    refused = _sign_in(live_server, "root", "generated-once")
    assert_error(refused, 401, "ModelArts.4122")
    assert "expired" in refused.json()["error_msg"] and user_id in refused.json()["error_msg"]

    assert _change(live_server, user_id, "generated-once", NEW_PASSWORD).status_code == 204
    assert_error(_sign_in(live_server, "root", "generated-once"), 401)
    assert _sign_in(live_server, "root", NEW_PASSWORD).status_code == 201


def test_a_password_change_revokes_tokens(live_server: LiveServer, tenant: Tenant) -> None:
    user_id = live_server.services.users.user_id("alice")
    assert _change(live_server, user_id, PASSWORD, NEW_PASSWORD).status_code == 204
    assert_error(tenant.token_client.get(tenant.v2("/datasets")), 401)
    assert tenant.aksk.get(tenant.v2("/datasets")).status_code == 200  # keys are not passwords
    assert login(live_server.url, "alice", tenant.project_id, NEW_PASSWORD)


def test_wrong_or_malformed_changes_are_refused(live_server: LiveServer, tenant: Tenant) -> None:
    user_id = live_server.services.users.user_id("alice")
    assert_error(_change(live_server, user_id, "not-the-password", NEW_PASSWORD), 401, "ModelArts.4122")
    assert_error(_change(live_server, "f" * 32, PASSWORD, NEW_PASSWORD), 401, "ModelArts.4122")
    assert_error(_change(live_server, user_id, PASSWORD, "short"), 400)
    bad = httpx.post(f"{live_server.url}/v3/users/{user_id}/password", json={"user": {"password": 1}})
    assert_error(bad, 400)
    assert login(live_server.url, "alice", tenant.project_id)  # unchanged
