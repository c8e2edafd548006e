"""FastAPI dependencies: the service container and the authenticated principal."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from labelarts.auth.principal import Principal
from labelarts.auth.service import SignedRequest, check_project_access
from labelarts.container import Services
from labelarts.errors import UnauthorizedError


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def _header_text(raw: bytes) -> str:
    # The SDK puts UTF-8 bytes on the wire; read them as UTF-8 (COMPATIBILITY.md 2.1).
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


async def authenticate(request: Request) -> Principal:
    """Authenticate by ``X-Auth-Token`` or an ``SDK-HMAC-SHA256`` Authorization header."""
    services = get_services(request)
    token = request.headers.get("x-auth-token")
    authorization = request.headers.get("authorization")
    if token is not None:
        return await run_in_threadpool(services.auth.authenticate_token, token)
    if authorization:
        headers = {_header_text(k): _header_text(v) for k, v in request.scope["headers"]}
        signed = SignedRequest(
            method=request.method,
            path=request.scope.get("raw_path", b"").decode("latin-1").split("?")[0] or request.url.path,
            raw_query=request.scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            body=await request.body(),
        )
        return await run_in_threadpool(services.auth.authenticate_signature, authorization, signed)
    raise UnauthorizedError(
        "No authorization: send X-Auth-Token or an SDK-HMAC-SHA256 signature.",
        error_code="ModelArts.0201",
    )


async def project_principal(request: Request) -> Principal:
    """Authenticate, then require the credential to belong to the path's project."""
    principal = await authenticate(request)
    check_project_access(
        principal, request.path_params.get("project_id", ""), request.headers.get("x-project-id")
    )
    return principal


PrincipalDep = Annotated[Principal, Depends(project_principal)]
