"""Pre-signed sample source URLs, like OBS temporary URLs.

A URL names one sample and an expiry, and carries an HMAC of both (and of the image
processing it asks for) under a key derived from the server secret. It works without any
other credential until it expires; changed in any part, or moved to another sample, it fails.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote_plus

from labelarts.auth.crypto import derive_key
from labelarts.errors import ForbiddenError

ACCESS_KEY_ID = "LABELARTS"


@dataclass(frozen=True)
class SourceRef:
    project_id: str
    dataset_id: str
    sample_id: str


def source_path(ref: SourceRef) -> str:
    return f"/files/{ref.project_id}/{ref.dataset_id}/{ref.sample_id}"


@lru_cache(maxsize=256)
def _quoted(value: str) -> str:
    return quote_plus(value)


class SourceSigner:
    def __init__(self, server_secret: bytes, ttl_seconds: int) -> None:
        self._key = derive_key(server_secret, b"labelarts/presigned-sources")
        # The keyed state, copied for each URL (cheaper than keying HMAC 50 times a page).
        self._keyed = hmac.new(self._key, digestmod=hashlib.sha256)
        self.ttl_seconds = ttl_seconds

    def _signature(self, ref: SourceRef, expires: int, process: str) -> str:
        message = "\n".join([ref.project_id, ref.dataset_id, ref.sample_id, str(expires), process])
        mac = self._keyed.copy()
        mac.update(message.encode())
        digest = mac.digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def url(
        self, origin: str, ref: SourceRef, process: str | None = None, *, now: float | None = None
    ) -> str:
        """An absolute URL on ``origin`` for the sample's bytes (optionally processed).

        ``origin`` is the server's public URL (``public_url``, else the request's base URL):
        only the path and query are signed, so a proxy may rewrite the origin and a prefix.
        """
        return self.url_maker(origin, ref.project_id, ref.dataset_id, process)(ref.sample_id, now)

    def url_maker(
        self, origin: str, project_id: str, dataset_id: str, process: str | None = None
    ) -> Callable[[str, float | None], str]:
        """:meth:`url` for many samples of one dataset (a list page): ``maker(sample_id, now)``.
        What the URLs share is worked out once; the signed text is :meth:`_signature`'s."""
        prefix = f"{origin}{source_path(SourceRef(project_id, dataset_id, ''))}"
        signed_head = f"{project_id}\n{dataset_id}\n"
        signed_process = process or ""
        # The query as urlencode() writes it: every value but the process is URL-safe as is
        # (a constant, digits, unpadded base64url).
        processed = f"&x-image-process={_quoted(process)}" if process else ""
        keyed, ttl = self._keyed, self.ttl_seconds

        def maker(sample_id: str, now: float | None = None) -> str:
            expires = int((now if now is not None else time.time()) + ttl)
            mac = keyed.copy()
            mac.update(f"{signed_head}{sample_id}\n{expires}\n{signed_process}".encode())
            signature = base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")
            return (
                f"{prefix}{sample_id}?AccessKeyId={ACCESS_KEY_ID}&Expires={expires}"
                f"{processed}&Signature={signature}"
            )

        return maker

    def verify(self, ref: SourceRef, expires: str | None, signature: str | None, process: str | None) -> None:
        """Raise 403 unless the signature matches and has not expired."""
        if not expires or not signature or not expires.isdigit():
            raise ForbiddenError("The URL is not signed.", error_code="ModelArts.4203")
        expected = self._signature(ref, int(expires), process or "")
        if not hmac.compare_digest(expected, signature):
            raise ForbiddenError("The URL signature does not match.", error_code="ModelArts.4203")
        if int(expires) < time.time():
            raise ForbiddenError("The URL has expired.", error_code="ModelArts.4203")
