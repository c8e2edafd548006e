"""Team-task test helpers: teams and people made through the workforce routes, member accounts,
a dataset with samples."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from labelarts.client import SdkHmacAuth, TokenAuth
from tests.conftest import PASSWORD, LiveServer, Tenant, create_dataset, login
from tests.samples import b64, image_bytes, upload


@dataclass
class Person:
    email: str
    worker_id: str
    client: httpx.Client

    def close(self) -> None:
        self.client.close()


def add_team(owner: Tenant, name: str | None = None) -> str:
    """A workforce of the owner's project (CreateWorkforce)."""
    body = {"workforce_name": name or f"t-{uuid.uuid4().hex[:10]}"}
    response = owner.aksk.post(owner.v2("/workforces"), json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["workforce_id"])


def add_person(
    server: LiveServer,
    owner: Tenant,
    team_id: str,
    role: int,
    email: str | None = None,
    *,
    password: bool = False,
) -> Person:
    """A member account in the owner's project and its worker in the team (CreateWorker).

    The client signs with the member's own AK/SK, or (``password``) with a token the member
    got by signing in with their password."""
    address = email or f"p-{uuid.uuid4().hex[:8]}@example.com"
    project_id = owner.project_id
    creds = server.services.members.create_member(address, project_id, PASSWORD)
    response = owner.aksk.post(
        owner.v2(f"/workforces/{team_id}/workers"), json={"emails": address, "role": role}
    )
    assert response.status_code == 201, response.text
    listing = owner.aksk.get(owner.v2(f"/workforces/{team_id}/workers"), params={"limit": 100}).json()
    worker_id = next(w["worker_id"] for w in listing["workers"] if w["email"] == address)
    auth: httpx.Auth = (
        TokenAuth(login(server.url, address, project_id))
        if password
        else SdkHmacAuth(creds.access_key, creds.secret_key, project_id)
    )
    return Person(address, str(worker_id), httpx.Client(base_url=server.url, auth=auth, timeout=60))


def make_dataset(tenant: Tenant, n: int, dataset_type: int = 0) -> tuple[str, list[str]]:
    """A dataset with ``n`` unlabeled image samples (labels cat and dog); its id and sample ids."""
    dataset_id = create_dataset(
        tenant.aksk,
        tenant.project_id,
        f"team{uuid.uuid4().hex[:8]}",
        dataset_type=dataset_type,
        labels=[{"name": "cat"}, {"name": "dog"}],
    )
    ids: list[str] = []
    for start in range(0, n, 50):
        batch = [
            {"name": f"s{i}.jpg", "data": b64(image_bytes(seed=i + 1))}
            for i in range(start, min(n, start + 50))
        ]
        r = upload(tenant, dataset_id, batch)
        assert r.status_code == 200, r.text
        ids.extend(item["info"] for item in r.json()["results"])
    return dataset_id, ids


def cat(name: str = "cat") -> list[dict[str, Any]]:
    return [{"name": name, "type": 0}]
