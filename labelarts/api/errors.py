"""One error body for everything: ``{"error_code": "ModelArts.XXXX", "error_msg": "..."}``."""

from __future__ import annotations

import logging
import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from labelarts import logs
from labelarts.errors import (
    InvalidJsonError,
    LabelArtsError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    TooManyRequestsError,
    ValidationFailedError,
)
from labelarts.storage.db.dialect import refuses_nul

log = logging.getLogger("labelarts.api")
REQUEST_ID_HEADER = "X-Request-Id"


def error_response(error: LabelArtsError) -> JSONResponse:
    body = {"error_code": error.code, "error_msg": error.message}
    response = JSONResponse(body, status_code=error.status_code)
    if isinstance(error, TooManyRequestsError):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "Invalid parameter. " + "; ".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LabelArtsError)
    async def _labelarts(_request: Request, exc: LabelArtsError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        if any(err.get("type") == "json_invalid" for err in exc.errors()):
            return error_response(InvalidJsonError())
        return error_response(ValidationFailedError(_validation_message(exc)))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        error: LabelArtsError
        if exc.status_code == 404:
            error = NotFoundError("The requested resource does not exist.")
        elif exc.status_code == 405:
            error = MethodNotAllowedError()
        elif exc.status_code == 413:
            error = PayloadTooLargeError()
        else:
            error = LabelArtsError(str(exc.detail))
            error.status_code = exc.status_code  # type: ignore[misc]
        response = error_response(error)
        response.status_code = exc.status_code
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        # A value the database refuses as such (NUL in PostgreSQL text) is the request's fault:
        # a 400 wherever a route has not refused it itself. Anything else goes on to the 500
        # handler below (raised on: it answers outside RequestContextMiddleware).
        if refuses_nul(exc):
            log.warning("NUL refused by the database on %s %s", request.method, request.url.path)
            return error_response(ValidationFailedError("Parameters must not contain NUL characters."))
        raise exc

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The request id is also on the line through logs.RequestIdFilter; it is named here
        # so the message alone leads from a client's report to the traceback.
        request_id = request.scope.get("state", {}).get("request_id", "-")
        log.exception("unhandled error on %s %s (request %s)", request.method, request.url.path, request_id)
        response = error_response(LabelArtsError())
        # This handler answers outside RequestContextMiddleware, which cannot add the header.
        response.headers[REQUEST_ID_HEADER] = request_id
        return response


class RequestContextMiddleware:
    """Adds ``X-Request-Id`` to every response (body limits: api/authentication.py)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = logs.request_id.set(request_id)  # every log line of this request carries it

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.lower().encode(), request_id.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_id)
        # Not reset when the app raised: Starlette's 500 handler runs outside this middleware,
        # in the same task, and its log line must carry the id too (each request has a task).
        logs.request_id.reset(token)
