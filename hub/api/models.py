"""Request and response bodies (pydantic): what the OpenAPI document shows."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

NUM_UNIQUE = r"^[0-9A-Z]{1,40}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GPEventIn(Strict):
    codeTypeEvenement: str = Field(min_length=1, max_length=10)
    dateSurvenance: date
    caracteristiques: dict[str, str] = Field(default_factory=dict, max_length=50)
    commentaire: str | None = Field(default=None, max_length=500)
    eventId: str | None = Field(default=None, min_length=1, max_length=64)


class Recorded(BaseModel):
    created: bool
    evenement: dict[str, Any]


class CandidateIn(Strict):
    numUnique: str = Field(pattern=NUM_UNIQUE)
    decision: Literal["ATTR", "ATTRRANG", "ATTRCOND", "NONATTR", "IRREC"]
    rang: int | None = Field(default=None, ge=1, le=99)
    motif: str | None = Field(default=None, max_length=500)
    pieceManquante: Literal["IDENTITE", "AVISIMPOT"] | None = None
    dateLimite: date | None = None


class CALDecisionIn(Strict):
    decisionId: str | None = Field(default=None, min_length=1, max_length=64,
                                   pattern=r"^[A-Za-z0-9_.:-]+$")
    codeCal: str = Field(min_length=1, max_length=100)
    logement: str = Field(min_length=1, max_length=100)
    dateDecision: date
    candidats: list[CandidateIn] = Field(min_length=1, max_length=50)


class CALDecisionOut(BaseModel):
    decisionId: str
    evenements: list[dict[str, Any]]


class ResponseIn(Strict):
    numUnique: str = Field(pattern=NUM_UNIQUE)
    accepte: bool
    motif: str | None = Field(default=None, max_length=500)
    dateReponse: date


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


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "down"]
