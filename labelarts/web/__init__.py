"""The web pages ``labelarts serve`` serves under ``/ui`` (docs/web.md)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from labelarts.web import team
from labelarts.web.pages import SignInRequired, router


def install(app: FastAPI) -> None:
    """Add the pages to ``app``: their routes, and the redirect to sign-in without a session."""
    app.include_router(router)
    app.include_router(team.router)

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        wants_page = request.method == "GET" and "hx-request" not in request.headers
        if wants_page:
            reason = "?reason=expired" if exc.reason == "expired" else ""
            return RedirectResponse(f"/ui/sign-in{reason}", status_code=303)
        body = {
            "error_code": "ModelArts.0201",
            "error_msg": "Sign in first (the session is missing or expired).",
        }
        return JSONResponse(body, status_code=401, headers={"HX-Redirect": "/ui/sign-in?reason=expired"})
