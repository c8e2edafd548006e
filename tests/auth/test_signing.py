"""The SDK-HMAC-SHA256 signer against COMPATIBILITY.md's known-answer vectors."""

from __future__ import annotations

import pytest

from labelarts.auth import signing

AK, SK = "AKEXAMPLE0000000", "SKEXAMPLE-secret"
PID = "0123456789abcdef0123456789abcdef"
HEADERS = {
    "X-Sdk-Date": "20240102T030405Z",
    "User-Agent": "huaweicloud-usdk-python/3.0; example-client",
    "Content-Type": "application/json",
    "X-Project-Id": PID,
    "Host": "127.0.0.1:8080",
}
GET_PATH = f"/v2/{PID}/datasets/ds1/auto-annotations/samples"
GET_QUERY = (
    "limit=10&process_parameter=image%2Fresize%2Cm_lfit%2Ch_200"
    "&search_conditions=%5B%7B%22hard%22%3A%20%221%22%7D%5D"
)
SIGNED = ("content-type", "host", "user-agent", "x-project-id", "x-sdk-date")


def test_canonical_request_matches_the_sdk() -> None:
    canonical = signing.canonical_request("GET", GET_PATH, GET_QUERY, HEADERS, SIGNED, b"")
    assert canonical == "\n".join(
        [
            "GET",
            f"{GET_PATH}/",
            GET_QUERY,
            "content-type:application/json\nhost:127.0.0.1:8080\n"
            "user-agent:huaweicloud-usdk-python/3.0; example-client\n"
            f"x-project-id:{PID}\nx-sdk-date:20240102T030405Z\n",
            ";".join(SIGNED),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ]
    )
    to_sign = signing.string_to_sign(canonical, HEADERS["X-Sdk-Date"])
    assert to_sign.splitlines()[-1] == ("4ae28c1df3709b98046087ed94ce8b7322e8436eb83b1e3ee797211920a2c6d3")


@pytest.mark.parametrize(
    ("method", "path", "query", "body", "expected"),
    [
        ("GET", GET_PATH, GET_QUERY, b"", "3898e32b58e43ec2ae4991260a26d6235f0328199076c88fd35140333aac974d"),
        (
            "POST",
            f"/v2/{PID}/datasets",
            "",
            b'{"dataset_name": "d1"}',
            "be736b73d04b37904a44bbe0a08efaaf1ca2d300efb34afde5b2242126f4f21b",
        ),
    ],
)
def test_known_answer_signatures(method: str, path: str, query: str, body: bytes, expected: str) -> None:
    header = signing.sign_headers(
        access_key=AK, secret_key=SK, method=method, path=path, raw_query=query, headers=HEADERS, body=body
    )
    parsed = signing.parse_authorization(header)
    assert parsed.access_key == AK
    assert parsed.signed_headers == SIGNED
    assert parsed.signature == expected


def test_query_order_and_encoding_do_not_change_the_canonical_form() -> None:
    shuffled = (
        "search_conditions=%5B%7B%22hard%22%3A%20%221%22%7D%5D"
        "&limit=10&process_parameter=image/resize,m_lfit,h_200"
    )
    assert signing.canonical_query(shuffled) == GET_QUERY


def test_unsigned_payload_header_replaces_the_body_hash() -> None:
    headers = {**HEADERS, "X-Sdk-Content-Sha256": "UNSIGNED-PAYLOAD"}
    assert signing.payload_hash(b"binary", headers) == "UNSIGNED-PAYLOAD"
    assert signing.payload_hash(b"", headers) == signing.EMPTY_SHA256


@pytest.mark.parametrize(
    "header",
    [
        "",
        "Bearer abc",
        "SDK-HMAC-SHA256 Access=AK",
        "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature=",
        "SDK-HMAC-SHA256 Access=, SignedHeaders=host, Signature=ab",
        "SDK-HMAC-SHA256 garbage",
        "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;;x, Signature=ab",
    ],
)
def test_malformed_authorization_headers_are_rejected(header: str) -> None:
    with pytest.raises(signing.MalformedAuthorization):
        signing.parse_authorization(header)
