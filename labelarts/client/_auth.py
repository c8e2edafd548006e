"""httpx authentication: the ``SDK-HMAC-SHA256`` signer and IAM tokens."""

from __future__ import annotations

from collections.abc import Generator
from datetime import UTC, datetime

import httpx

from labelarts.auth import signing


class SdkHmacAuth(httpx.Auth):
    """Signs each request as huaweicloudsdkcore does (``Access=`` form, every header signed)."""

    requires_request_body = True

    def __init__(self, access_key: str, secret_key: str, project_id: str | None = None) -> None:
        self.access_key = access_key
        self._secret_key = secret_key
        self.project_id = project_id

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[signing.DATE_HEADER] = signing.format_sdk_date(datetime.now(UTC))
        if self.project_id:
            request.headers["X-Project-Id"] = self.project_id
        request.headers.setdefault("Content-Type", "application/json")
        signed = {
            name: request.headers[name]
            for name in ("Host", "Content-Type", "User-Agent", "X-Project-Id", signing.DATE_HEADER)
            if name in request.headers
        }
        request.headers["Authorization"] = signing.sign_headers(
            access_key=self.access_key,
            secret_key=self._secret_key,
            method=request.method,
            path=request.url.raw_path.decode("ascii").split("?")[0],
            raw_query=request.url.query.decode("ascii"),
            headers=signed,
            body=request.content,
        )
        yield request


class TokenAuth(httpx.Auth):
    """Sends an IAM token as ``X-Auth-Token``."""

    def __init__(self, token: str) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["X-Auth-Token"] = self.token
        yield request
