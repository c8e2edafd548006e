"""The page session: the IAM token in a cookie, and CSRF tokens bound to it.

- The session cookie holds the same token ``POST /v3/auth/tokens`` issues (a row in
  ``tokens``, revoked on sign-out, expiring with ``token_ttl_seconds``). It is ``HttpOnly``
  (no script reads it), ``SameSite=Strict`` (no other site's page sends it) and ``Secure``
  when the page was reached over HTTPS (``public_origin``).
- Every state-changing page call (a form POST, a ``fetch`` or htmx call) carries a CSRF
  token: an HMAC of the session token under the server secret, in a form field
  ``csrf_token`` or the ``X-CSRF-Token`` header. Nothing is stored: a new session has a new
  CSRF token, and one session's token is worthless for another. The sign-in form, before
  any session exists, is bound the same way to a random pre-session cookie.
- A POST whose ``Origin`` (or, without it, ``Referer``) names another origin is refused too.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from fastapi import Request, Response

from labelarts.errors import ForbiddenError

SESSION_COOKIE = "labelarts_session"
PRESESSION_COOKIE = "labelarts_presession"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
COOKIE_PATH = "/ui"


class CsrfError(ForbiddenError):
    default_message = "The form is stale or did not come from this site: reload the page and try again."


def csrf_token(secret: bytes, session_value: str, *, purpose: str = "session") -> str:
    """The CSRF token bound to one session (or pre-session) cookie value."""
    mac = hmac.new(secret, f"labelarts-csrf:{purpose}:{session_value}".encode(), hashlib.sha256)
    return mac.hexdigest()


def check_csrf(secret: bytes, session_value: str, given: str | None, *, purpose: str = "session") -> None:
    if not session_value or not given:
        raise CsrfError()
    if not hmac.compare_digest(csrf_token(secret, session_value, purpose=purpose), given):
        raise CsrfError()


def check_origin(request: Request) -> None:
    """A state-changing call must come from a page of this server (when the browser says)."""
    origin = request.headers.get("origin")
    if origin is None:
        referer = request.headers.get("referer")
        if referer is None:
            return  # non-browser clients; the CSRF token still has to match
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    if origin == "null" or origin.rstrip("/") != public_origin(request).rstrip("/"):
        raise CsrfError("The request came from another site.")


def public_origin(request: Request) -> str:
    """``public_url`` when set (behind a proxy), else the request's base URL (as the API's)."""
    configured: str | None = request.app.state.services.settings.public_url
    return (configured or str(request.base_url)).rstrip("/")


def _secure(request: Request) -> bool:
    return public_origin(request).startswith("https://")


def set_session(response: Response, request: Request, token: str, max_age: int) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    response.delete_cookie(PRESESSION_COOKIE, path=COOKIE_PATH)


def clear_session(response: Response, request: Request) -> None:
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")


def presession(request: Request, response: Response) -> str:
    """The pre-session value the sign-in form's CSRF token is bound to (set if missing)."""
    value = request.cookies.get(PRESESSION_COOKIE)
    if not value or len(value) > 64:
        value = secrets.token_urlsafe(24)
        response.set_cookie(
            PRESESSION_COOKIE,
            value,
            max_age=3600,
            path=COOKIE_PATH,
            httponly=True,
            samesite="strict",
            secure=_secure(request),
        )
    return value
