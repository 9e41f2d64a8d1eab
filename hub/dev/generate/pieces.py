"""The document index (pièces justificatives) of a generated demand (:mod:`hub.dev.generate`).

Codes from :mod:`hub.domain.pieces`; what is deposited follows the household (co-holder,
dependants) and the demand's motives and disability, with the sensitive categories where
the demand calls for them.
"""

from __future__ import annotations

import random
import uuid
from datetime import date, timedelta
from typing import Any


def draw_pieces(
    rng: random.Random, created: date, nationalite: str, adults: int, kids: int,
    handicap: bool, motifs: list[str], jugement: bool,
) -> list[dict[str, Any]] | None:  # fmt: skip
    """The document index of a new demand (None: nothing deposited yet, ~8%)."""
    if rng.random() < 0.08:
        return None
    wanted: list[tuple[str, str]] = [
        ("IDD", "TSEJ" if nationalite == "3" else rng.choice(("CID", "CID", "PASS")))
    ]
    if rng.random() < 0.85:
        wanted.append(("RFI", "AVIS"))
    if adults == 2 and rng.random() < 0.9:
        wanted.append(("IDC", rng.choice(("CID", "PASS"))))
    for cat, types, rate in (("SPRO", ("CTRAV", "ATTFT"), 0.6),
                             ("RESS", ("BSAL", "ATTCAF", "PENS"), 0.8),
                             ("LOGACT", ("JUSTL", "QUITL", "BAIL"), 0.7)):  # fmt: skip
        if rng.random() < rate:
            wanted.append((cat, rng.choice(types)))
    if kids and rng.random() < 0.8:
        wanted.append(("PACH", rng.choice(("LIVFAM", "ACTNAI"))))
    if jugement:
        wanted.append(("MOTIF", "JUGT"))
    if "06" in motifs:
        wanted.append(("MOTIF", "PLAINTE"))
    if "08" in motifs and rng.random() < 0.7:
        wanted.append(("MOTIF", "CERTM"))
    if handicap and rng.random() < 0.9:
        wanted.append(("HAND", rng.choice(("CMI", "NOTMDPH"))))
    if rng.random() < 0.1:
        wanted.append(("INT", rng.choice(("NOTE", "EVALS"))))
    return [
        {
            "categorie": cat,
            "type": typ,
            "dateDepot": (created + timedelta(days=rng.randint(0, 45))).isoformat(),
            "reference": "https://ged.passerelle.example/pieces/"
            + str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        }
        for cat, typ in wanted
    ]
