"""Fixtures for team labeling: an owner, member accounts in their project, another project."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from labelarts.client import SdkHmacAuth, TokenAuth
from labelarts.services.users import Credentials
from tests.conftest import PASSWORD, LiveServer, login


@dataclass
class Member:
    """A member account with both kinds of client."""

    email: str
    creds: Credentials
    aksk: httpx.Client
    token_client: httpx.Client
    token: str

    @property
    def project_id(self) -> str:
        return self.creds.project_id

    def v2(self, path: str = "") -> str:
        return f"/v2/{self.project_id}{path}"

    def close(self) -> None:
        self.aksk.close()
        self.token_client.close()


def make_member(server: LiveServer, project_id: str, email: str | None = None) -> Member:
    address = email or f"m-{uuid.uuid4().hex[:10]}@example.com"
    creds = server.services.members.create_member(address, project_id, PASSWORD)
    token = login(server.url, address, project_id)
    return Member(
        email=address,
        creds=creds,
        aksk=httpx.Client(
            base_url=server.url, auth=SdkHmacAuth(creds.access_key, creds.secret_key, project_id)
        ),
        token_client=httpx.Client(base_url=server.url, auth=TokenAuth(token)),
        token=token,
    )


@pytest.fixture
def member_factory(shared_server: LiveServer) -> Iterator[object]:
    made: list[Member] = []

    def factory(project_id: str, email: str | None = None) -> Member:
        member = make_member(shared_server, project_id, email)
        made.append(member)
        return member

    yield factory
    for member in made:
        member.close()
