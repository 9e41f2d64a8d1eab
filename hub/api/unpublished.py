"""The 503 of a publication Kafka did not acknowledge: the problem plus the ids the hub
drew, so that the client's retry is the same request (docs/api.md, "Retrying").

``eventIds``: every event of the request, in order (those the client gave and those the
hub drew); ``decisionId``: the CAL decision's id (given or derived). :func:`install`
registers the handler of :class:`~hub.core.errors.PublishError`, more specific than
:mod:`hub.api.problems`' handler of every hub error; :func:`publish_responses` declares
the answer in the OpenAPI document (schema ``PublishProblem``). A 503 whose cause is the
database says so in :data:`~hub.api.problems.DATABASE_UNAVAILABLE` (its ids kept), as every
other database 503 does.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from hub.api.problems import (
    DATABASE_UNAVAILABLE,
    MEDIA_TYPE,
    Problem,
    database_behind,
    problem,
    responses,
)
from hub.core.errors import PublishError

log = logging.getLogger(__name__)
SCHEMA = "PublishProblem"


class PublishProblem(Problem):
    """A problem answered when Kafka did not acknowledge a publication (503), with the
    ids to re-send. What the hub stored is published by the hub itself later."""

    #: every event of the request, in order: re-send them with these ``eventId``s
    eventIds: list[str] | None = None
    #: the CAL decision's id: re-send the decision with this ``decisionId``
    decisionId: str | None = None


def publish_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """:func:`~hub.api.problems.responses`, whose 503 is a :class:`PublishProblem`."""
    out = responses(*statuses, 503)
    out[503] = {
        **out[503],
        "description": "Kafka or the database is unavailable: retry later with the ids "
        "of the body (eventIds, decisionId): the retry is then the same request",
        "content": {MEDIA_TYPE: {"schema": {"$ref": f"#/components/schemas/{SCHEMA}"}}},
    }
    return out


async def _publish_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PublishError)
    extra: dict[str, Any] = {"eventIds": list(exc.event_ids)}
    if exc.decision_id is not None:
        extra["decisionId"] = exc.decision_id
    message = exc.message
    if database_behind(exc):  # the documented detail, as every database 503 (problems)
        log.warning("%s answered 503: %s", exc.code, message)
        message = DATABASE_UNAVAILABLE
    return problem(503, exc.code, type(exc).__name__, message, **extra)


def install(app: FastAPI) -> None:
    app.add_exception_handler(PublishError, _publish_error)


def openapi_schemas() -> dict[str, Any]:
    """The components the document needs for :class:`PublishProblem`."""
    schema = PublishProblem.model_json_schema(ref_template="#/components/schemas/{model}")
    found: dict[str, Any] = schema.pop("$defs", {})
    found[SCHEMA] = schema
    return found
