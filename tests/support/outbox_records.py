"""A feed record of kind DEMANDE as the push outbox holds it (a fresh demand of commune
76540), for the push channels' tests; each test encodes it as its channel does."""

from __future__ import annotations

import time
import uuid
from typing import Any

from tests.support.demandes import demande_event, new_num_unique


def demande_record() -> dict[str, Any]:
    """A new demand's DEMANDE record (profile consultant_demande), its numéro in
    ``numUnique``."""
    num, now = new_num_unique(), int(time.time() * 1000)
    return {"kind": "DEMANDE", "eventId": str(uuid.uuid4()), "numUnique": num,
            "operation": "CRE", "demandeVersion": 1, "occurredAt": now, "dispatchedAt": now,
            "profile": "consultant_demande", "reason": None, "changedFields": [],
            "demande": demande_event(num, ["76540"])["demande"], "evenement": None}  # fmt: skip
