"""Small builders of demand events for tests (plain dicts shaped like DemandeEvent)."""

from __future__ import annotations

import itertools
import time
import uuid
from typing import Any

_seq = itertools.count(int(time.time()) % 900_000)


def new_num_unique(dep: str = "076") -> str:
    """A fresh, valid numéro unique (unique within a test run)."""
    return f"{dep}1125{next(_seq) % 1_000_000:06d}{uuid.uuid4().int % 100000:05d}"


def demande_event(
    num_unique: str,
    communes: list[str],
    *,
    operation: str = "CRE",
    typologies: list[str] | None = None,
    event_id: str | None = None,
    occurred_at: int | None = None,
    radiation: dict[str, Any] | None = None,
    handicap: bool = False,
) -> dict[str, Any]:
    demande_logement: dict[str, Any] = {
        "numGuichet": "10691",
        "numUnique": num_unique,
        "dateCreationDemande": "2025-11-02",
        "precision": "",
        "logementRecherche": {
            "demandeElargie": False,
            "listeTypeLogement": typologies or ["T2", "T3"],
            "listeLocalisationSouhaite": [{"commune": c, "quartier": None} for c in communes],
        },
        "personnePhysique": {
            "demandeur": {
                "civilite": "2",
                "nom": "DUPONT",
                "prenom": "Marie",
                "dateNaissance": "1985-03-04",
            },
        },
        "radiation": radiation,
    }
    if handicap:
        demande_logement["listeHandicap"] = [{"handicapMoteur": True}]
    return {
        "eventId": event_id or str(uuid.uuid4()),
        "numUnique": num_unique,
        "operation": operation,
        "occurredAt": occurred_at or int(time.time() * 1000),
        "source": "test",
        "changedFields": [],
        "versionInterface": "02.01",
        "demande": None
        if operation == "SUP"
        else {"informationDalo": None, "demandeLogement": demande_logement},
    }
