"""Errors as RFC 9457 ``application/problem+json``.

Every error answer has ``type`` (``urn:passerelle:problem:<code>``, the hub error's
``code``), ``title``, ``status`` and ``detail`` (one line, no personal data). Mapping:
bad input 422 (400 for a body that is not JSON), unknown object 404, conflict 409,
missing/invalid key 401, not allowed 403, a dependency down (``retriable``) 503. A CAL
rule broken adds ``rule``. An unexpected exception is a 500 without details (logged).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub.errors import (
    AuthenticationError,
    ConflictError,
    ForbiddenError,
    HubError,
    InputError,
    NotFoundError,
)

log = logging.getLogger(__name__)
MEDIA_TYPE = "application/problem+json"
PREFIX = "urn:passerelle:problem:"


def problem(status: int, code: str, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": PREFIX + code, "title": title, "status": status, "detail": detail, **extra}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def status_of(exc: HubError) -> int:
    if exc.retriable:
        return 503
    for cls, status in ((AuthenticationError, 401), (ForbiddenError, 403),
                        (NotFoundError, 404), (ConflictError, 409), (InputError, 422)):
        if isinstance(exc, cls):
            return status
    return 500


async def _hub_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HubError)
    status = status_of(exc)
    extra: dict[str, Any] = {}
    rule = getattr(exc, "rule", None)
    if isinstance(rule, str):
        extra["rule"] = rule
    if status == 500:
        log.error("hub error answered 500: %s", exc.code)
    return problem(status, exc.code, type(exc).__name__, exc.message, **extra)


async def _validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # loc and msg only: the rejected input may be personal data
    errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))}
              for e in exc.errors()][:20]
    if any(e.get("type") == "json_invalid" for e in exc.errors()):
        return problem(400, "malformed_json", "Malformed JSON", "the body is not valid JSON",
                       errors=errors)
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    detail = f"{'.'.join(first['loc'])}: {first['msg']}"
    return problem(422, "invalid_request", "Invalid request", detail, errors=errors)


async def _http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed", 401: "unauthenticated",
            403: "forbidden"}.get(exc.status_code, "http_error")
    return problem(exc.status_code, code, "HTTP error", str(exc.detail))


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error (%s)", type(exc).__name__)
    return problem(500, "internal", "Internal error", "unexpected error; see the hub's logs")


def install(app: FastAPI) -> None:
    app.add_exception_handler(HubError, _hub_error)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
