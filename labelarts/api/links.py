"""The origin the server's absolute links start with."""

from __future__ import annotations

from fastapi import Request


def public_origin(request: Request) -> str:
    """``public_url`` when set (the server behind a proxy), else the request's base URL.

    The links built on it: pre-signed sample sources (``source``) and the IAM token catalog.
    """
    configured: str | None = request.app.state.services.settings.public_url
    return configured or str(request.base_url).rstrip("/")
