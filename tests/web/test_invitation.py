"""The invitation page: an invited person opens the link, chooses a password and can sign in;
the code works once; wrong codes, differing or short passwords and requests without the form's
CSRF token are refused and create nothing."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import select

from labelarts.storage.db.models import User
from tests.conftest import LiveServer, Tenant
from tests.web import csrf_of, page_client, sign_in


def _accept(client: httpx.Client, token: str, password: str, again: str | None = None) -> httpx.Response:
    form = client.get("/ui/invitation")
    assert form.status_code == 200, form.text
    data = {"csrf_token": csrf_of(form.text), "token": token, "password": password}
    data["password_again"] = password if again is None else again
    return client.post("/ui/invitation", data=data)


def _has_account(live_server: LiveServer, email: str) -> bool:
    with live_server.services.db.session() as session:
        return session.execute(select(User.id).where(User.email == email)).first() is not None


def test_an_invited_person_sets_a_password_once_and_signs_in(live_server: LiveServer, tenant: Tenant) -> None:
    email = f"inv-{uuid.uuid4().hex[:8]}@example.com"
    token = live_server.services.members.invite(tenant.project_id, email)
    with page_client(live_server.url) as client:
        page = client.get("/ui/invitation")
        assert page.status_code == 200 and 'name="token"' in page.text
        assert "/ui/static/invitation.js" in page.text
        assert client.get("/ui/static/invitation.js").status_code == 200

        differ = _accept(client, token, "a long password", "another long one")
        assert differ.status_code == 400 and "differ" in differ.text
        short = _accept(client, token, "short")
        assert short.status_code == 400 and "8 characters" in short.text
        wrong = _accept(client, token[:-4] + "abcd", "a long password")
        assert wrong.status_code == 401 and "invalid, used or expired" in wrong.text
        assert not _has_account(live_server, email)

        accepted = _accept(client, token, "a long password")
        assert accepted.status_code == 303, accepted.text
        assert accepted.headers["location"] == "/ui/sign-in?reason=invited"
        assert "Your account is ready" in client.get(accepted.headers["location"]).text
        signed_in = sign_in(client, email, "a long password")
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/ui/work"

    with page_client(live_server.url) as again:
        used = _accept(again, token, "another long password")
        assert used.status_code == 401 and "invalid, used or expired" in used.text


def test_accepting_without_the_form_token_is_refused(live_server: LiveServer, tenant: Tenant) -> None:
    email = f"inv-{uuid.uuid4().hex[:8]}@example.com"
    token = live_server.services.members.invite(tenant.project_id, email)
    with page_client(live_server.url) as client:
        client.get("/ui/invitation")
        form = {"token": token, "password": "a long password", "password_again": "a long password"}
        refused = client.post("/ui/invitation", data={**form, "csrf_token": "0" * 64})
        assert refused.status_code == 403
    assert not _has_account(live_server, email)
