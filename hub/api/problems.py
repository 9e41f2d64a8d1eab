"""Errors as RFC 9457 ``application/problem+json``.

Every error answer has ``type`` (``urn:passerelle:problem:<code>``, the hub error's
``code``), ``title``, ``status`` and ``detail`` (one line, no personal data). Mapping:
bad input 422 (400 for a body that is not JSON or a broken request framing), a body above
the size limit 413, unknown object 404, conflict 409, missing/invalid key 401, not allowed
403, a dependency down (``retriable``) 503. A CAL rule broken adds ``rule``; a request
that does not fit its model adds ``errors`` (location and message of each, never the
value). An unexpected exception is a 500 without details (logged).

:func:`responses` declares a route's error answers in the OpenAPI document (the
:class:`Problem` schema under ``application/problem+json``).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub.api.context import BadRequest
from hub.api.limits import BodyTooLarge
from hub.api.text import ID_PATTERN, PATTERNS
from hub.core.errors import (
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
#: the detail of a 503 caused by the database (its driver's text stays in the log)
DATABASE_UNAVAILABLE = "the hub's database is unavailable; retry later"


SCHEMA_REF = "#/components/schemas/Problem"
DESCRIPTIONS = {
    400: "Malformed request: the body is not JSON, or a broken Content-Length",
    401: "Missing, unknown or revoked API key",
    403: "The actor may not do this (e.g. it does not hold the demand)",
    404: "Not found",
    409: "Conflict: the same id was used before for other content",
    413: "Request body above the size limit (api.max_body_bytes)",
    422: "Invalid request: does not fit the schema, or breaks a business rule",
    503: "A dependency (broker, database) is unavailable: retry later",
}


class ProblemError(BaseModel):
    loc: list[str]
    msg: str


class Problem(BaseModel):
    """An RFC 9457 problem (``application/problem+json``)."""

    type: str = Field(examples=[PREFIX + "invalid_request"])
    title: str
    status: int
    detail: str
    #: the CCH R441-3 rule a CAL decision or answer breaks
    rule: str | None = None
    #: what does not fit the request's schema (location and message, never the value)
    errors: list[ProblemError] | None = None


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI declarations of error answers, for a route's ``responses=``."""
    return {
        s: {
            "description": DESCRIPTIONS[s],
            "content": {MEDIA_TYPE: {"schema": {"$ref": SCHEMA_REF}}},
        }
        for s in statuses
    }


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {"type": PREFIX + code, "title": title, "status": status, "detail": detail, **extra}
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def status_of(exc: HubError) -> int:
    if exc.retriable:
        return 503
    for cls, status in (
        (BodyTooLarge, 413),
        (BadRequest, 400),
        (AuthenticationError, 401),
        (ForbiddenError, 403),
        (NotFoundError, 404),
        (ConflictError, 409),
        (InputError, 422),
    ):
        if isinstance(exc, cls):
            return status
    return 500


def database_behind(exc: BaseException) -> bool:
    """Whether a database error is down ``exc``'s chain, causes and contexts alike: a
    store's :class:`~hub.core.errors.TransientError` may be re-raised ``from None`` by its
    caller (a publication's ``PublishError``), which keeps it as the context. For 503s
    only: their detail is then :data:`DATABASE_UNAVAILABLE`, never the driver's words."""
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        if isinstance(link, SQLAlchemyError):
            return True
        seen.add(id(link))
        link = link.__cause__ or link.__context__
    return False


async def _hub_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HubError)
    status = status_of(exc)
    extra: dict[str, Any] = {}
    rule = getattr(exc, "rule", None)
    if isinstance(rule, str):
        extra["rule"] = rule
    if status == 500:
        log.error("hub error answered 500: %s", exc.code)
    message = exc.message
    if isinstance(exc.__cause__, SQLAlchemyError) or (status == 503 and database_behind(exc)):
        # the driver's text names the database's host, port, user or server messages:
        # the operator's, in the log; a partner gets the fact (independent audit H, F-3)
        log.warning("%s answered %d: %s", exc.code, status, message)
        message = DATABASE_UNAVAILABLE if status == 503 else "the hub's database failed"
    return problem(status, exc.code, type(exc).__name__, message, **extra)


def _message(error: Any) -> str:
    ctx = error.get("ctx") or {}
    if error.get("type") == "string_pattern_mismatch" and ctx.get("pattern") in PATTERNS:
        return "control characters and U+FFFE, U+FFFF are not allowed here"
    if error.get("type") == "string_pattern_mismatch" and ctx.get("pattern") == ID_PATTERN:
        return "an id is printable ASCII: no space, no control character"
    return str(error.get("msg", ""))


async def _validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # loc and msg only: the rejected input may be personal data (a loc part may be a key
    # the client sent: cut short, so an error never echoes a whole hostile key)
    errors = [
        {"loc": [str(p)[:64] for p in e.get("loc", ())], "msg": _message(e)} for e in exc.errors()
    ][:20]
    if any(e.get("type") == "json_invalid" for e in exc.errors()):
        return problem(
            400, "malformed_json", "Malformed JSON", "the body is not valid JSON", errors=errors
        )
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    detail = f"{'.'.join(first['loc'])}: {first['msg']}"
    return problem(422, "invalid_request", "Invalid request", detail, errors=errors)


def _body_not_json(exc: StarletteHTTPException) -> str | None:
    """The reason of FastAPI's 400 for a body it could not read as JSON, or None.

    FastAPI answers ``json.JSONDecodeError`` itself (``json_invalid``, see
    :func:`_validation`) but turns any other error of ``json.loads`` into a bare
    ``HTTPException(400)`` raised ``from`` it: a body that is not UTF-8
    (``UnicodeDecodeError``) or a number longer than Python's 4300-digit conversion
    limit (``ValueError``). Both are a body that is not JSON the hub can read."""
    cause = exc.__cause__
    if exc.status_code != 400 or not isinstance(cause, ValueError):
        return None
    if isinstance(cause, UnicodeDecodeError):
        return "the body is not valid JSON: not UTF-8"
    if "digits" in str(cause):
        return "the body is not valid JSON: a number of more than 4300 digits"
    return "the body is not valid JSON"


async def _http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    reason = _body_not_json(exc)
    if reason is not None:
        return problem(400, "malformed_json", "Malformed JSON", reason)
    code = {
        404: "not_found",
        405: "method_not_allowed",
        401: "unauthenticated",
        403: "forbidden",
        413: "body_too_large",
    }.get(exc.status_code, "http_error")
    # keep the exception's headers (``Allow`` of a 405)
    return problem(
        exc.status_code, code, "HTTP error", str(exc.detail), headers=dict(exc.headers or {})
    )


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error (%s)", type(exc).__name__)
    return problem(500, "internal", "Internal error", "unexpected error; see the hub's logs")


def install(app: FastAPI) -> None:
    app.add_exception_handler(HubError, _hub_error)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
