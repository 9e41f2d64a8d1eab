"""Request and response bodies (pydantic): what the OpenAPI document shows.

Every string of a request is a :data:`~hub.api.text.Code` or a :data:`~hub.api.text.Text`
(control characters refused the same way on SQLite and PostgreSQL) with a bounded length.
Identifiers chosen by clients (``eventId``, ``decisionId``) are 1 to :data:`MAX_ID`
printable ASCII characters: a UUID takes 36, the ``gp_events.event_id`` column holds 64,
and an id is copied into every feed record, DLQ entry and log line that names the event,
so a longer one buys nothing and costs everywhere. A numéro unique is the SNE's 18
characters (:data:`NUM_UNIQUE`).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from hub.api.text import ID_PATTERN, Code, Text

#: the SNE's numéro unique: 18 characters (``DDD MMYY SSSSSS GGGGG`` without spaces)
NUM_UNIQUE = r"^[0-9A-Z]{18}$"
#: longest client-chosen id (``eventId``, ``decisionId``), see the module doc
MAX_ID = 64
DECISION_ID = r"^[A-Za-z0-9_.:-]+$"
#: longest free text (comment, motive, a specific field's value): the GP store's bound
MAX_TEXT = 500
#: what the OpenAPI document says of a date the hub computes with (hub.domain.days)
DAY = "A date from 1900-01-01 to 2199-12-31 (else 422 bad_date)."


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GPEventIn(Strict):
    codeTypeEvenement: Code = Field(min_length=1, max_length=10)
    dateSurvenance: date = Field(description=DAY)
    #: specific fields, code (at most 10 characters, like the SNE's) -> value
    caracteristiques: dict[
        Annotated[Code, Field(max_length=10)], Annotated[Text, Field(max_length=MAX_TEXT)]
    ] = Field(default_factory=dict, max_length=50)
    commentaire: Text | None = Field(default=None, max_length=MAX_TEXT)
    eventId: str | None = Field(default=None, min_length=1, max_length=MAX_ID, pattern=ID_PATTERN)


class Recorded(BaseModel):
    created: bool
    evenement: dict[str, Any]


class CandidateIn(Strict):
    numUnique: str = Field(pattern=NUM_UNIQUE)
    decision: Literal["ATTR", "ATTRRANG", "ATTRCOND", "NONATTR", "IRREC"]
    rang: int | None = Field(default=None, ge=1, le=99)
    motif: Text | None = Field(default=None, max_length=MAX_TEXT)
    pieceManquante: Literal["IDENTITE", "AVISIMPOT"] | None = None
    dateLimite: date | None = Field(default=None, description=DAY)


class CALDecisionIn(Strict):
    decisionId: str | None = Field(
        default=None, min_length=1, max_length=MAX_ID, pattern=DECISION_ID,
        description="Optional. Without it the hub derives the id from the decision's content "
        "and author: the same decision re-sent is the same decision.",
    )  # fmt: skip
    codeCal: Code = Field(min_length=1, max_length=100)
    logement: Code = Field(min_length=1, max_length=100)
    dateDecision: date = Field(description=DAY)
    candidats: list[CandidateIn] = Field(min_length=1, max_length=50)


class CALDecisionOut(BaseModel):
    decisionId: str
    evenements: list[dict[str, Any]]


class ResponseIn(Strict):
    numUnique: str = Field(pattern=NUM_UNIQUE)
    #: a JSON boolean only: lax mode would read "no" or 0 as an answer the candidate never gave
    accepte: StrictBool
    motif: Text | None = Field(default=None, max_length=MAX_TEXT)
    dateReponse: date = Field(description=DAY)


class Published(BaseModel):
    accepted: int
    eventIds: list[str]


class TimelineEntry(BaseModel):
    codeTypeEvenement: str
    libelle: str
    dateSurvenance: str
    caracteristiques: dict[str, str]
    auteur: str | None = None
    commentaire: str | None = None
    reglementaire: bool | None = None
    aPublierSurPGP: bool | None = None
    eventId: str | None = None


class Timeline(BaseModel):
    numUnique: str
    vue: Literal["acteur", "demandeur"]
    evenements: list[TimelineEntry]


class FeedPage(BaseModel):
    records: list[dict[str, Any]]
    nextCursor: int
    endCursor: int


class AuditPage(BaseModel):
    deliveries: list[dict[str, Any]] = Field(
        description="Rows in the order they were recorded: actorId, numUnique, "
        "demandeVersion, channel, profile, kind, at; outcome and reason for a record "
        "closed without being delivered."
    )
    nextCursor: int | None = Field(
        description="Pass it back as cursor for the rows that follow; null when none follows (yet)."
    )


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "down"]
