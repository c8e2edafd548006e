"""Behind a proxy, pre-signed source URLs and the token catalog use ``public_url``; without it,
the request's own origin."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from pydantic import ValidationError

from labelarts.config import Settings
from tests.conftest import PASSWORD, create_dataset, make_tenant
from tests.ops import server_with
from tests.samples import b64, image_bytes, upload

PUBLIC = "https://labelarts.example.com/proxied"


def _token_catalog(url: str, user: str, project_id: str) -> dict[str, str]:
    body = {
        "auth": {
            "identity": {"methods": ["password"], "password": {"user": {"name": user, "password": PASSWORD}}},
            "scope": {"project": {"id": project_id}},
        }
    }
    response = httpx.post(f"{url}/v3/auth/tokens", json=body)
    assert response.status_code == 201, response.text
    return {entry["type"]: entry["endpoints"][0]["url"] for entry in response.json()["token"]["catalog"]}


@pytest.mark.parametrize("public_url", [PUBLIC + "/", None])
def test_links_use_the_public_url(tmp_path: Path, database_url: str, public_url: str | None) -> None:
    with server_with(tmp_path, database_url, public_url=public_url) as server:
        pid = "c" * 32
        tenant = make_tenant(server, "carol", pid)
        origin = PUBLIC if public_url else server.url
        assert _token_catalog(server.url, "carol", pid) == {
            "modelarts": origin,
            "modelartsv2": f"{origin}/v2/{pid}",
        }

        dataset_id = create_dataset(tenant.aksk, pid, "linked")
        image = image_bytes(seed=51)
        assert upload(tenant, dataset_id, [{"name": "a.jpg", "data": b64(image)}]).status_code == 200
        listed = tenant.aksk.get(tenant.v2(f"/datasets/{dataset_id}/data-annotations/samples"))
        (sample,) = listed.json()["samples"]
        detail = tenant.aksk.get(
            tenant.v2(f"/datasets/{dataset_id}/data-annotations/samples/{sample['sample_id']}")
        )
        for source in (sample["source"], detail.json()["source"]):
            assert source.startswith(f"{origin}/files/{pid}/{dataset_id}/{sample['sample_id']}?")
            # What the proxy forwards (its prefix stripped) is a valid signed URL here.
            parts = urlsplit(source.removeprefix(origin))
            fetched = httpx.get(f"{server.url}{parts.path}?{parts.query}")
            assert fetched.status_code == 200 and fetched.content == image
        tenant.aksk.close()
        tenant.token_client.close()


@pytest.mark.parametrize(
    "bad", ["labelarts.example.com", "ftp://host", "https://host/?a=1", "https://host/#x"]
)
def test_public_url_must_be_an_http_origin(bad: str) -> None:
    with pytest.raises(ValidationError, match="public_url"):
        Settings(public_url=bad)
