"""Authentication and body limits in the ASGI layer, before anything reads the request body.

FastAPI reads and parses a route's JSON body before the route's dependencies run, so a
dependency that authenticates comes too late: an anonymous caller could make the server
parse any body up to the size limit. This middleware runs first. For every request it

1. finds the route (the first full match among the API routes, as the router does) and
   its body limit:
   ``max_body_bytes`` by default, ``max_upload_body_bytes`` for :data:`LARGE_BODY_ROUTES`;
   a ``Content-Length`` over the limit is a 413 without reading anything;
2. on routes that depend on :func:`labelarts.api.deps.project_principal` or
   :func:`labelarts.api.deps.authenticate`, authenticates before the body is read:
   a token is checked outright; an AK/SK signature has its form, date and access key
   checked first, then the body is streamed (under the limit, hashed, never parsed) and
   the signature verified; the project in the path is then checked against the credential;
   a team member (role ``member``) is refused with 403 ``ModelArts.4600`` unless the route
   depends on :func:`labelarts.api.deps.member_principal` instead;
3. hands the request on with a receive that enforces the limit on what is still unread.

The principal is left in ``scope["state"]`` for the dependencies to return.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from labelarts.api.deps import PRINCIPAL_STATE_KEY, authenticate, member_principal, project_principal
from labelarts.api.errors import error_response
from labelarts.auth.principal import Principal
from labelarts.auth.service import SignedRequest, check_project_access
from labelarts.container import Services
from labelarts.errors import LabelArtsError, PayloadTooLargeError, RoleForbiddenError, UnauthorizedError

# The routes that take uploads or large batches: (method, path template). Every other route
# gets the small default limit. tests/security/test_body_limits.py checks each one exists.
LARGE_BODY_ROUTES: frozenset[tuple[str, str]] = frozenset(
    {
        # Add samples: base64 file contents, up to 100 samples per call.
        ("POST", "/v2/{project_id}/datasets/{dataset_id}/data-annotations/samples"),
        # Update samples: labels of up to 1,000 samples per call.
        ("PUT", "/v2/{project_id}/datasets/{dataset_id}/data-annotations/samples"),
        # Import a model: the ONNX file in base64 (docs/model-registry.md).
        ("POST", "/v2/{project_id}/models"),
    }
)

AuthKind = Literal["project", "member", "caller"]


@dataclass(frozen=True)
class RoutePolicy:
    auth: AuthKind | None
    body_limit: int


def _header_text(raw: bytes) -> str:
    # The SDK puts UTF-8 bytes on the wire; read them as UTF-8 (COMPATIBILITY.md 2.1).
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _calls(dependant: Dependant) -> set[Callable[..., object]]:
    found: set[Callable[..., object]] = set()
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            found.add(dependency.call)
        found |= _calls(dependency)
    return found


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(f"Request body too large: at most {limit} bytes on this route.")


class AuthenticationMiddleware:
    """See the module docstring. ``routes`` are the app's API routes, in the router's order.

    A route the router serves but that is missing here gets no principal, and its
    dependency then fails closed (500), never open.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        routes: Sequence[BaseRoute],
        max_body_bytes: int,
        max_upload_body_bytes: int,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_body_bytes = max_upload_body_bytes
        self.routes = [(route, self._policy(route)) for route in routes]
        self._default = RoutePolicy(None, max_body_bytes)

    def _policy(self, route: BaseRoute) -> RoutePolicy:
        if not isinstance(route, APIRoute):
            return RoutePolicy(None, self.max_body_bytes)
        calls = _calls(route.dependant)
        auth: AuthKind | None = (
            "project"
            if project_principal in calls
            else "member"
            if member_principal in calls
            else "caller"
            if authenticate in calls
            else None
        )
        large = any((method, route.path) in LARGE_BODY_ROUTES for method in route.methods or ())
        return RoutePolicy(auth, self.max_upload_body_bytes if large else self.max_body_bytes)

    def _match(self, scope: Scope) -> tuple[RoutePolicy, dict[str, str]]:
        for route, policy in self.routes:
            match, child = route.matches(scope)
            if match is Match.FULL:
                return policy, dict(child.get("path_params", {}))
        return self._default, {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy, path_params = self._match(scope)
        try:
            declared = _content_length(scope)
            if declared is not None and declared > policy.body_limit:
                raise _too_large(policy.body_limit)
            limited = _LimitedReceive(receive, policy.body_limit)
            app_receive: Receive = limited
            if policy.auth is not None:
                principal, app_receive = await self._authenticate(scope, limited)
                if policy.auth in ("project", "member"):
                    check_project_access(
                        principal, path_params.get("project_id", ""), _header(scope, b"x-project-id")
                    )
                if policy.auth == "project" and not principal.is_owner:
                    # Team members reach only the routes that accept them (member_principal).
                    raise RoleForbiddenError()
                scope.setdefault("state", {})[PRINCIPAL_STATE_KEY] = principal
        except LabelArtsError as exc:
            # Answered without reading the body; the server closes the connection after it.
            await error_response(exc)(scope, receive, send)
            return
        await self.app(scope, app_receive, send)

    async def _authenticate(self, scope: Scope, receive: _LimitedReceive) -> tuple[Principal, Receive]:
        services = _services(scope)
        token = _header(scope, b"x-auth-token")
        authorization = _header(scope, b"authorization")
        if token is not None:
            return await run_in_threadpool(services.auth.authenticate_token, token), receive
        if not authorization:
            raise UnauthorizedError(
                "No authorization: send X-Auth-Token or an SDK-HMAC-SHA256 signature.",
                error_code="ModelArts.0201",
            )
        headers = {_header_text(k): _header_text(v) for k, v in scope["headers"]}
        pending = await run_in_threadpool(services.auth.begin_signature, authorization, headers)
        # The credential is real and in its window: now the body may be read, to hash it.
        messages, digest = await receive.read_all_hashing()
        signed = SignedRequest(
            method=scope["method"],
            path=scope.get("raw_path", b"").decode("latin-1").split("?")[0] or scope["path"],
            raw_query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            body_sha256=digest,
        )
        principal = pending.verify(signed)
        return principal, _Replay(messages, receive)


def _services(scope: Scope) -> Services:
    services: Services = scope["app"].state.services
    return services


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return _header_text(value)
    return None


def _content_length(scope: Scope) -> int | None:
    value = _header(scope, b"content-length")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None  # the HTTP server refuses a malformed Content-Length before we see it


class _LimitedReceive:
    """A receive that refuses more than ``limit`` body bytes in total."""

    def __init__(self, receive: Receive, limit: int) -> None:
        self._receive = receive
        self.limit = limit
        self.received = 0

    async def __call__(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                # An HTTPException: FastAPI re-raises those from body reading as they are
                # (other errors become a 400), and the handler renders 413 with our body.
                raise HTTPException(413)
        return message

    async def read_all_hashing(self) -> tuple[list[Message], str]:
        """Read the whole body (within the limit), keeping its messages and hashing it."""
        digest = hashlib.sha256()
        messages: list[Message] = []
        while True:
            try:
                message = await self()
            except HTTPException:
                raise _too_large(self.limit) from None
            messages.append(message)
            if message["type"] != "http.request":
                break
            digest.update(message.get("body", b""))
            if not message.get("more_body", False):
                break
        return messages, digest.hexdigest()


class _Replay:
    """Gives the app the body messages already read, then the connection's own receive."""

    def __init__(self, messages: list[Message], receive: Receive) -> None:
        self._messages = messages
        self._receive = receive

    async def __call__(self) -> Message:
        if self._messages:
            return self._messages.pop(0)
        return await self._receive()
