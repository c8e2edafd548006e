"""IAM-compatible token endpoints (the subset keystoneauth and otcextensions use)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from labelarts.api.deps import CallerDep, ServicesDep
from labelarts.api.links import public_origin
from labelarts.auth.service import IssuedToken
from labelarts.errors import InvalidJsonError, UnauthorizedError, ValidationFailedError

router = APIRouter(prefix="/v3", tags=["iam"])
DEFAULT_DOMAIN = {"id": "default", "name": "Default"}
REGION = "labelarts"
MEMBER_ROLE = {"id": "c0ffee00000000000000000000000001", "name": "member"}


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _origin(request: Request) -> str:
    return public_origin(request)  # the catalog's endpoints (and version links) behind a proxy


@router.get("")
@router.get("/", include_in_schema=False)
def version(request: Request) -> dict[str, Any]:
    """Identity version discovery (``GET /v3``)."""
    return {
        "version": {
            "id": "v3.0",
            "status": "stable",
            "updated": "2024-01-01T00:00:00Z",
            "links": [{"rel": "self", "href": f"{_origin(request)}/v3/"}],
            "media-types": [
                {"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}
            ],
        }
    }


def _parse_password_auth(body: Any) -> tuple[str, str, str | None]:
    """Pull (user, password, project id) out of a keystone password-auth body."""
    try:
        auth = body["auth"]
        identity = auth["identity"]
        methods = identity["methods"]
        user = identity["password"]["user"]
        name, password = user["name"], user["password"]
    except (KeyError, TypeError):
        raise ValidationFailedError("Expected auth.identity.password.user with name and password.") from None
    if not isinstance(methods, list) or "password" not in methods:
        raise ValidationFailedError("Only the password method is supported.")
    if not isinstance(name, str) or not isinstance(password, str):
        raise ValidationFailedError("User name and password must be strings.")
    domain = user.get("domain")
    if domain is not None:
        if not isinstance(domain, dict):
            raise ValidationFailedError("user.domain must be an object.")
        if ("id" in domain and domain["id"] != "default") or (
            "name" in domain and domain["name"] != "Default"
        ):
            raise UnauthorizedError("Unknown user domain.", error_code="ModelArts.4122")
    scope = auth.get("scope")
    project_id: str | None = None
    if scope is not None:
        project = scope.get("project") if isinstance(scope, dict) else None
        if not isinstance(project, dict) or not isinstance(project.get("id"), str):
            raise ValidationFailedError("Only project scope by id is supported.")
        project_id = project["id"]
    return name, password, project_id


def token_body(issued: IssuedToken, origin: str) -> dict[str, Any]:
    pid = issued.project.id
    return {
        "token": {
            "methods": ["password"],
            "expires_at": _iso(issued.expires_at),
            "issued_at": _iso(issued.issued_at),
            "user": {"id": issued.user.id, "name": issued.user.name, "domain": DEFAULT_DOMAIN},
            "project": {"id": pid, "name": issued.project.name, "domain": DEFAULT_DOMAIN},
            "roles": [MEMBER_ROLE],
            "catalog": [
                _catalog_entry("modelarts", origin),
                _catalog_entry("modelartsv2", f"{origin}/v2/{pid}"),
            ],
        }
    }


def _catalog_entry(service_type: str, url: str) -> dict[str, Any]:
    return {
        "type": service_type,
        "name": service_type,
        "id": f"{service_type}-service",
        "endpoints": [
            {
                "id": f"{service_type}-public",
                "interface": "public",
                "region": REGION,
                "region_id": REGION,
                "url": url,
            }
        ],
    }


async def _json_body(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InvalidJsonError() from None


def _client_address(request: Request) -> str:
    # The peer, or X-Forwarded-For's client when uvicorn trusts the proxy that sent it
    # (--forwarded-allow-ips): sign-in limits count per address (docs/security.md).
    return request.client.host if request.client is not None else "unknown"


@router.post("/auth/tokens", status_code=201)
async def issue_token(request: Request, services: ServicesDep) -> JSONResponse:
    """Password authentication scoped to a project; the token is in ``X-Subject-Token``."""
    name, password, project_id = _parse_password_auth(await _json_body(request))
    issued = await run_in_threadpool(
        services.auth.issue_token,
        user_name=name,
        password=password,
        project_id=project_id,
        client_address=_client_address(request),
    )
    return JSONResponse(
        token_body(issued, _origin(request)),
        status_code=201,
        headers={"X-Subject-Token": issued.token},
    )


@router.get("/auth/tokens")
async def validate_token(request: Request, services: ServicesDep, caller: CallerDep) -> JSONResponse:
    """Keystone's token validation: ``X-Auth-Token`` asks about ``X-Subject-Token``."""
    subject = request.headers.get("x-subject-token", "")
    stored, user, project = await run_in_threadpool(services.auth.describe_token, subject)
    if user.id != caller.user_id:
        raise UnauthorizedError("Token belongs to another user.")
    issued = IssuedToken(subject, user, project, stored.issued_at, stored.expires_at)
    return JSONResponse(token_body(issued, _origin(request)), headers={"X-Subject-Token": subject})


@router.delete("/auth/tokens", status_code=204)
async def revoke_token(request: Request, services: ServicesDep, caller: CallerDep) -> Response:
    """Revoke ``X-Subject-Token`` (a user may revoke only their own tokens)."""
    subject = request.headers.get("x-subject-token", "")
    _stored, user, _project = await run_in_threadpool(services.auth.describe_token, subject)
    if user.id != caller.user_id:
        raise UnauthorizedError("Token belongs to another user.")
    await run_in_threadpool(services.auth.revoke_token, subject)
    return Response(status_code=204)


@router.post("/users/{user_id}/password", status_code=204)
async def change_password(user_id: str, request: Request, services: ServicesDep) -> Response:
    """Keystone's password change: ``{"user": {"original_password", "password"}}``; no token.

    Answers 204; the user's tokens are revoked. This is how the first-start ``admin``
    replaces its generated password (docs/security.md, "Sign-in").
    """
    body = await _json_body(request)
    user = body.get("user") if isinstance(body, dict) else None
    original = user.get("original_password") if isinstance(user, dict) else None
    new = user.get("password") if isinstance(user, dict) else None
    if not isinstance(original, str) or not isinstance(new, str):
        raise ValidationFailedError("Expected user.original_password and user.password, both strings.")
    await run_in_threadpool(
        services.auth.change_password,
        user_id=user_id,
        original_password=original,
        new_password=new,
        client_address=_client_address(request),
    )
    return Response(status_code=204)
