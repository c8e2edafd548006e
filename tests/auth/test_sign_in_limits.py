"""Password sign-in under attack (issue 9 §4): rate limits and no user-name oracle.

Before: 120 wrong passwords slowed every other call to 4-5 s, nothing ever refused them, and
unknown user names were answered in 37 ms against 190 ms for known ones.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import argon2
import httpx
import pytest

from labelarts.auth import crypto
from labelarts.config import Settings
from labelarts.container import build_services
from labelarts.errors import UnauthorizedError
from tests.conftest import PASSWORD, LiveServer, Tenant, assert_error, make_settings, start_server

MAX_PER_USER, MAX_PER_ADDRESS = 5, 12


@pytest.fixture
def settings(tmp_path: Path, database_url: str, import_root: Path) -> Settings:
    return make_settings(tmp_path, database_url, import_root).model_copy(
        update={
            "sign_in_max_failures_per_user": MAX_PER_USER,
            "sign_in_max_failures_per_address": MAX_PER_ADDRESS,
        }
    )


def _sign_in(url: str, user: str, password: str, project_id: str | None = None) -> httpx.Response:
    identity = {"methods": ["password"], "password": {"user": {"name": user, "password": password}}}
    auth: dict[str, object] = {"identity": identity}
    if project_id is not None:
        auth["scope"] = {"project": {"id": project_id}}
    # Generous: argon2 takes about a second on a loaded CI machine. Nothing here is timed.
    return httpx.post(f"{url}/v3/auth/tokens", json={"auth": auth}, timeout=120)


def test_a_flood_of_wrong_passwords_gets_429_while_other_users_work(
    live_server: LiveServer, tenant: Tenant, other_tenant: Tenant
) -> None:
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def flood() -> None:
        for _ in range(15):
            response = _sign_in(live_server.url, "alice", "wrong-password")
            with lock:
                statuses[response.status_code] += 1
            if response.status_code == 429:
                assert_error(response, 429, "ModelArts.4206")
                assert int(response.headers["Retry-After"]) >= 1

    threads = [threading.Thread(target=flood) for _ in range(8)]  # 120 wrong passwords
    for thread in threads:
        thread.start()
    # Meanwhile another user signs in and works, with a token and with AK/SK.
    other_calls = []
    try:
        for _ in range(5):
            signed_in = _sign_in(live_server.url, "mallory", PASSWORD, other_tenant.project_id)
            assert signed_in.status_code == 201, signed_in.text
            with_token = httpx.get(
                f"{live_server.url}{other_tenant.v2('/datasets')}",
                headers={"X-Auth-Token": signed_in.headers["X-Subject-Token"]},
                timeout=120,
            )
            with_keys = other_tenant.aksk.get(other_tenant.v2("/datasets"), timeout=120)
            other_calls += [with_token.status_code, with_keys.status_code]
    finally:
        for thread in threads:
            thread.join()
    assert other_calls == [200] * 10
    assert set(statuses) <= {401, 429}, statuses
    # At most the limit were checked (and failed); everything after was refused unchecked.
    assert 1 <= statuses[401] <= MAX_PER_USER, statuses
    assert statuses[429] >= 120 - MAX_PER_USER, statuses
    # Now even the right password waits for the window: the name is locked, not the user's keys.
    assert_error(_sign_in(live_server.url, "alice", PASSWORD), 429, "ModelArts.4206")
    assert tenant.aksk.get(tenant.v2("/datasets")).status_code == 200
    assert _sign_in(live_server.url, "mallory", PASSWORD, other_tenant.project_id).status_code == 201


def test_many_names_from_one_address_get_429(live_server: LiveServer, tenant: Tenant) -> None:
    answers = [
        _sign_in(live_server.url, f"guess-{i}", "wrong-password").status_code
        for i in range(MAX_PER_ADDRESS + 3)
    ]
    assert answers[:MAX_PER_ADDRESS] == [401] * MAX_PER_ADDRESS
    assert answers[MAX_PER_ADDRESS:] == [429] * 3
    # The address is refused for every name now, also a right password...
    assert_error(_sign_in(live_server.url, "alice", PASSWORD), 429)
    # ...but credentials already held keep working.
    assert tenant.token_client.get(tenant.v2("/datasets")).status_code == 200


def test_unknown_names_are_refused_like_wrong_passwords(live_server: LiveServer, tenant: Tenant) -> None:
    unknown = _sign_in(live_server.url, "nobody", "wrong-password")
    known = _sign_in(live_server.url, "alice", "wrong-password")
    assert_error(unknown, 401, "ModelArts.4122")
    assert unknown.json() == known.json()


def test_limits_are_shared_by_instances_on_one_database(
    live_server: LiveServer, tenant: Tenant, settings: Settings
) -> None:
    second_services = build_services(settings)
    second = start_server(settings, second_services)
    try:
        for _ in range(MAX_PER_USER):
            assert_error(_sign_in(live_server.url, "alice", "wrong-password"), 401)
        assert_error(_sign_in(second.url, "alice", "wrong-password"), 429, "ModelArts.4206")
    finally:
        second.stop()
        second_services.close()


class SpyHasher:
    """The real argon2 hasher, noting every hash it verifies against."""

    def __init__(self, real: argon2.PasswordHasher) -> None:
        self.real = real
        self.verified: list[str] = []

    def hash(self, password: str) -> str:
        return self.real.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        self.verified.append(password_hash)
        return self.real.verify(password_hash, password)


@pytest.fixture
def verified_hashes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every hash the password check verifies against, in order."""
    spy = SpyHasher(crypto._hasher)
    monkeypatch.setattr(crypto, "_hasher", spy)
    yield spy.verified


def test_unknown_and_known_names_verify_the_same_argon2_work(
    live_server: LiveServer, tenant: Tenant, verified_hashes: list[str]
) -> None:
    auth = live_server.services.auth
    for name in ("alice", "nobody"):
        with pytest.raises(UnauthorizedError) as refused:
            auth.issue_token(
                user_name=name, password="wrong-password", project_id=None, client_address="10.0.0.1"
            )
        assert refused.value.code == "ModelArts.4122"
    known, unknown = verified_hashes
    assert known != unknown  # the unknown name was checked against the dummy hash...
    assert unknown == crypto.dummy_password_hash()
    # ...which costs what a real user's hash costs.
    assert argon2.extract_parameters(unknown) == argon2.extract_parameters(known)
    # The dummy hash never verifies, whatever the password.
    assert not crypto.verify_password(None, "wrong-password")
