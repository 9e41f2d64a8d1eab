"""Minimal demand events for the statistics fold's tests (the fields the fold reads, as
the Avro schema has them): numéros, events, records of one partition."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from hub.services.statistics_folder import Record
from schemas import get_codec

#: Rouen, in the EPCI 200023414 and the département 76
ROUEN = "76540"


def num(i: int) -> str:
    """DDD MMYY SSSSSS GGGGG (domain README, numéro unique)."""
    return f"0760126{i:06d}10691"


def event(n: str, op: str, on: date, *, created: str = "2025-01-15",
          radiation: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    """A DemandeEvent of ``n`` wishing Rouen (T3), at noon UTC of ``on``."""
    dl: dict[str, Any] = {
        "numUnique": n,
        "dateCreationDemande": created,
        "logementRecherche": {
            "listeTypeLogement": ["T3"],
            "listeLocalisationSouhaite": [{"commune": ROUEN, "quartier": None}],
        },
    }
    if radiation is not None:
        dl["radiation"] = radiation
    at = int(datetime(on.year, on.month, on.day, 12, tzinfo=UTC).timestamp() * 1000)
    return {"eventId": str(uuid.uuid4()), "numUnique": n, "operation": op, "occurredAt": at,
            "source": "sne", "changedFields": [], "versionInterface": "02.01",
            "demande": {"demandeLogement": dl}, "profile": None}  # fmt: skip


def records(events: Sequence[dict[str, Any]], offset: int = 0) -> list[Record]:
    """``events`` as records of partition 0 from ``offset`` on."""
    codec = get_codec()
    return [Record(0, offset + i, e["numUnique"].encode(), codec.encode("DemandeEvent", e))
            for i, e in enumerate(events)]  # fmt: skip
