"""Signed requests mean signed bodies (issue 9 §3): X-Sdk-Content-Sha256 cannot stand in for the body."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import httpx
import pytest

from labelarts.auth import signing
from tests.conftest import LiveServer, Tenant, assert_error


def _dataset_body(name: str) -> bytes:
    return json.dumps(
        {"dataset_name": name, "data_sources": [], "work_path": f"/out/{name}/", "work_path_type": 0}
    ).encode()


def _signed_headers(
    server: LiveServer,
    tenant: Tenant,
    path: str,
    body: bytes,
    extra: dict[str, str] | None = None,
    method: str = "POST",
) -> dict[str, str]:
    """Headers and Authorization for ``METHOD path`` with ``body``, as the Huawei SDK signs them
    (``extra`` adds headers or replaces the defaults)."""
    headers = {
        "Host": server.url.removeprefix("http://"),
        "Content-Type": "application/json",
        "User-Agent": "huaweicloud-usdk-python/3.0; test",
        "X-Project-Id": tenant.project_id,
        "X-Sdk-Date": signing.format_sdk_date(datetime.now(UTC)),
        **(extra or {}),
    }
    headers["Authorization"] = signing.sign_headers(
        access_key=tenant.creds.access_key,
        secret_key=tenant.creds.secret_key,
        method=method,
        path=path,
        raw_query="",
        headers=headers,
        body=body,
    )
    return headers


def _dataset_names(tenant: Tenant) -> set[str]:
    listed = tenant.aksk.get(tenant.v2("/datasets"))
    assert listed.status_code == 200, listed.text
    return {d["dataset_name"] for d in listed.json()["datasets"]}


def test_replayed_signature_with_another_body_and_an_unsigned_hash_header_is_401(
    live_server: LiveServer, tenant: Tenant
) -> None:
    path = tenant.v2("/datasets")
    observed_body = _dataset_body("observed")
    observed = _signed_headers(live_server, tenant, path, observed_body)
    # The attacker keeps the observed signature, swaps the body and declares the old body's
    # hash in an X-Sdk-Content-Sha256 header that the signature does not cover.
    forged = {**observed, "X-Sdk-Content-Sha256": hashlib.sha256(observed_body).hexdigest()}
    response = httpx.post(f"{live_server.url}{path}", headers=forged, content=_dataset_body("forged"))
    assert_error(response, 401, "ModelArts.0208")
    assert "forged" not in _dataset_names(tenant)
    # The observed request itself is still good (a verbatim replay is COMPATIBILITY.md 2.20's
    # accepted risk), so the 401 above is about the body.
    ok = httpx.post(f"{live_server.url}{path}", headers=observed, content=observed_body)
    assert ok.status_code == 201, ok.text


def test_a_signed_content_hash_must_be_the_bodys(live_server: LiveServer, tenant: Tenant) -> None:
    path = tenant.v2("/datasets")
    body = _dataset_body("declared")
    declared = {"X-Sdk-Content-Sha256": hashlib.sha256(body).hexdigest()}
    headers = _signed_headers(live_server, tenant, path, body, declared)
    assert "x-sdk-content-sha256" in headers["Authorization"]
    response = httpx.post(f"{live_server.url}{path}", headers=headers, content=body)
    assert response.status_code == 201, response.text

    # The same signed hash over another body: refused although the signature matches it.
    other = _dataset_body("swapped")
    headers = _signed_headers(live_server, tenant, path, other, declared)
    assert_error(httpx.post(f"{live_server.url}{path}", headers=headers, content=other), 401)
    assert "swapped" not in _dataset_names(tenant)


def test_unsigned_payload_is_refused_for_a_body(live_server: LiveServer, tenant: Tenant) -> None:
    path = tenant.v2("/datasets")
    body = _dataset_body("unsigned")
    headers = _signed_headers(live_server, tenant, path, body, {"X-Sdk-Content-Sha256": "UNSIGNED-PAYLOAD"})
    response = httpx.post(f"{live_server.url}{path}", headers=headers, content=body)
    assert_error(response, 401, "ModelArts.0208")
    assert "UNSIGNED-PAYLOAD" in response.json()["error_msg"]
    assert "unsigned" not in _dataset_names(tenant)


def test_unsigned_payload_on_an_empty_body_is_the_empty_hash(live_server: LiveServer, tenant: Tenant) -> None:
    # The SDK adds UNSIGNED-PAYLOAD for any non-JSON Content-Type, also on a GET, and then
    # signs the empty body's hash: that must keep working.
    path = tenant.v2("/datasets")
    unsigned = {"Content-Type": "text/plain", "X-Sdk-Content-Sha256": "UNSIGNED-PAYLOAD"}
    headers = _signed_headers(live_server, tenant, path, b"", unsigned, method="GET")
    response = httpx.get(f"{live_server.url}{path}", headers=headers)
    assert response.status_code == 200, response.text


EMPTY = signing.EMPTY_SHA256
BODY = hashlib.sha256(b"{}").hexdigest()
SIGNED = ("host", "x-sdk-date")
SIGNED_WITH_HASH = ("host", "x-sdk-content-sha256", "x-sdk-date")


@pytest.mark.parametrize(
    ("body_sha256", "declared", "signed", "expected"),
    [
        (BODY, None, SIGNED, BODY),
        (BODY, "0" * 64, SIGNED, BODY),  # unsigned: ignored, the body's own hash counts
        (BODY, BODY, SIGNED_WITH_HASH, BODY),
        (BODY, BODY.upper(), SIGNED_WITH_HASH, BODY),
        (EMPTY, "UNSIGNED-PAYLOAD", SIGNED_WITH_HASH, EMPTY),
        (EMPTY, "0" * 64, SIGNED_WITH_HASH, EMPTY),
        (BODY, "0" * 64, SIGNED_WITH_HASH, None),
        (BODY, "UNSIGNED-PAYLOAD", SIGNED_WITH_HASH, None),
    ],
)
def test_verified_payload_hash(
    body_sha256: str, declared: str | None, signed: tuple[str, ...], expected: str | None
) -> None:
    headers = {} if declared is None else {"X-Sdk-Content-Sha256": declared}
    if expected is None:
        with pytest.raises(signing.PayloadHashRefused):
            signing.verified_payload_hash(body_sha256, headers, signed)
    else:
        assert signing.verified_payload_hash(body_sha256, headers, signed) == expected
