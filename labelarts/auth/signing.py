"""The ``SDK-HMAC-SHA256`` request signature, exactly as huaweicloudsdkcore's ``Signer`` makes it.

Pure functions shared by the server (verification) and :mod:`labelarts.client` (signing).
See COMPATIBILITY.md section 2.1 for the wire format and the known-answer vectors the
tests check.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from urllib.parse import quote, unquote

ALGORITHM = "SDK-HMAC-SHA256"
DATE_HEADER = "X-Sdk-Date"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
CONTENT_SHA256_HEADER = "X-Sdk-Content-Sha256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class MalformedAuthorization(ValueError):
    """The Authorization header is not a well-formed SDK-HMAC-SHA256 header."""


@dataclass(frozen=True)
class ParsedAuthorization:
    access_key: str
    signed_headers: tuple[str, ...]
    signature: str


def _encode(value: str) -> str:
    return quote(value, safe="~")


# Path segments repeat from request to request (ids, route words): each is quoted once.
# Query values are not cached: they are larger and vary more.
_encode_segment = lru_cache(maxsize=1024)(_encode)


def canonical_uri(path: str) -> str:
    segments = unquote(path).split("/")
    uri = "/".join(_encode_segment(segment) for segment in segments)
    return uri if uri.endswith("/") else uri + "/"


def canonical_query(raw_query: str) -> str:
    pairs: list[tuple[str, str]] = []
    for part in raw_query.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        pairs.append((_encode(unquote(key)), _encode(unquote(value))))
    pairs.sort()
    return "&".join(f"{k}={v}" for k, v in pairs)


class PayloadHashRefused(ValueError):
    """A signed ``X-Sdk-Content-Sha256`` that the server does not accept for this body."""


def payload_hash(body: bytes, headers: Mapping[str, str]) -> str:
    """The payload hash as the SDK's signer computes it (the signing side).

    A non-empty body with an ``X-Sdk-Content-Sha256`` header is represented by that header.
    """
    declared = _get_header(headers, CONTENT_SHA256_HEADER)
    if body and declared:
        return declared
    return hashlib.sha256(body).hexdigest()


def verified_payload_hash(body_sha256: str, headers: Mapping[str, str], signed_headers: Sequence[str]) -> str:
    """The payload hash the server puts in the canonical request (the verifying side).

    ``body_sha256`` is the hex SHA-256 of the body actually received. A declared
    ``X-Sdk-Content-Sha256`` counts only when it is among the signed headers, and then it
    must equal the received body's hash: an unsigned one could be added by anyone to make a
    signature over an old body cover a new one. ``UNSIGNED-PAYLOAD`` is refused (every
    LabelArts route takes JSON, which the SDK always hashes; docs/api.md). An empty body is
    the empty hash whatever the header says, as the SDK signs it.
    """
    if body_sha256 == EMPTY_SHA256:
        return EMPTY_SHA256
    declared = _get_header(headers, CONTENT_SHA256_HEADER)
    if declared is None or CONTENT_SHA256_HEADER.lower() not in {h.lower() for h in signed_headers}:
        return body_sha256
    declared = declared.strip()
    if declared == UNSIGNED_PAYLOAD:
        raise PayloadHashRefused("UNSIGNED-PAYLOAD is not accepted: sign the body's SHA-256")
    if declared.lower() != body_sha256:
        raise PayloadHashRefused("X-Sdk-Content-Sha256 does not match the body")
    return body_sha256


def _get_header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def canonical_request(
    method: str,
    path: str,
    raw_query: str,
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    body: bytes,
) -> str:
    """Build the canonical request as the signer does. ``headers`` maps (any-case) names to values."""
    return canonical_request_for_hash(
        method, path, raw_query, headers, signed_headers, payload_hash(body, headers)
    )


def canonical_request_for_hash(
    method: str,
    path: str,
    raw_query: str,
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    payload_sha256: str,
) -> str:
    """The canonical request with its payload hash already decided."""
    lowered = {k.lower(): v for k, v in headers.items()}
    canonical_headers = "".join(f"{name}:{lowered.get(name, '').strip()}\n" for name in signed_headers)
    return "\n".join(
        [
            method.upper(),
            canonical_uri(path),
            canonical_query(raw_query),
            canonical_headers,
            ";".join(signed_headers),
            payload_sha256,
        ]
    )


def string_to_sign(canonical: str, sdk_date: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{sdk_date}\n{digest}"


def signature(secret_key: str, to_sign: str) -> str:
    return hmac.new(secret_key.encode("utf-8"), to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def parse_authorization(header: str) -> ParsedAuthorization:
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise MalformedAuthorization(f"unsupported algorithm {algorithm!r}")
    fields: dict[str, str] = {}
    for item in rest.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            raise MalformedAuthorization("expected key=value pairs")
        fields[key] = value
    try:
        access_key = fields["Access"]
        signed = fields["SignedHeaders"]
        sig = fields["Signature"]
    except KeyError as missing:
        raise MalformedAuthorization(f"missing {missing.args[0]}") from None
    signed_headers = tuple(signed.split(";"))
    if not access_key or not sig or any(not h for h in signed_headers):
        raise MalformedAuthorization("empty Access, Signature or signed header")
    return ParsedAuthorization(access_key, signed_headers, sig)


def format_sdk_date(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(DATE_FORMAT)


# Requests signed in the same second share the date; strptime is a tenth of a signature check.
@lru_cache(maxsize=256)
def parse_sdk_date(value: str) -> datetime:
    return datetime.strptime(value, DATE_FORMAT).replace(tzinfo=UTC)


def sign_headers(
    *,
    access_key: str,
    secret_key: str,
    method: str,
    path: str,
    raw_query: str,
    headers: Mapping[str, str],
    body: bytes,
) -> str:
    """Return the Authorization header value for a request whose headers are final.

    Every header given is signed, as the SDK does (names lower-cased and sorted).
    """
    signed_headers = sorted(k.lower() for k in headers)
    sdk_date = _get_header(headers, DATE_HEADER)
    if sdk_date is None:
        raise ValueError("X-Sdk-Date must be set before signing")
    canonical = canonical_request(method, path, raw_query, headers, signed_headers, body)
    sig = signature(secret_key, string_to_sign(canonical, sdk_date))
    return f"{ALGORITHM} Access={access_key}, SignedHeaders={';'.join(signed_headers)}, Signature={sig}"
