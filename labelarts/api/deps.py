"""FastAPI dependencies: the service container and the authenticated principal.

Authentication itself happens in :class:`labelarts.api.authentication.AuthenticationMiddleware`,
before any body is read; it finds the routes that need it by these dependencies and leaves
the principal in the request state, where they pick it up.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from labelarts.auth.principal import Principal
from labelarts.container import Services

PRINCIPAL_STATE_KEY = "principal"


# async: FastAPI runs a plain ``def`` dependency in its thread pool, a thread hop per request
# for one attribute read.
async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def _principal(request: Request) -> Principal:
    principal = request.scope.get("state", {}).get(PRINCIPAL_STATE_KEY)
    if not isinstance(principal, Principal):
        # Only reachable if the app was built without the middleware: fail closed.
        raise RuntimeError("AuthenticationMiddleware did not authenticate this request")
    return principal


async def authenticate(request: Request) -> Principal:
    """The caller, authenticated by ``X-Auth-Token`` or an ``SDK-HMAC-SHA256`` signature."""
    return _principal(request)


async def project_principal(request: Request) -> Principal:
    """The project's owner, whose credential was checked against the path's project and
    ``X-Project-Id``. A team member is refused (403 ``ModelArts.4600``) before the route runs."""
    return _principal(request)


async def member_principal(request: Request) -> Principal:
    """Like :func:`project_principal`, but team members (role ``member``) get through too.

    Only routes that then decide what the member may do (``services.team.TeamAccess``: role
    checks, their own work only) depend on this one."""
    return _principal(request)


CallerDep = Annotated[Principal, Depends(authenticate)]
PrincipalDep = Annotated[Principal, Depends(project_principal)]
MemberPrincipalDep = Annotated[Principal, Depends(member_principal)]
