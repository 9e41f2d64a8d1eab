"""The poller's events the hub checks before publishing, and the ``SUP`` of a demand the
SNE deleted (``getDemandeLogement`` answers ``NUMINCONNU`` for a demand published before).

``SUP`` is the SNE's deletion (domain reference, "Lifecycle"): the poller publishes one,
once (the worker withdraws the demand from its recipients: ``RETRAIT``
``demande_supprimee``), and reads the demand no more (found again by a search, it is
published anew, as a ``CRE``). Guard (:func:`held_back`): more such demands in one pass
than ``sne.poll_max_deletions`` is taken for a wrong ``sne.url`` (another SNE, an empty
simulator), not for deletions: no ``SUP`` then, they are read again at the next pass.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from connectors.ingress.publishing import PreparedEvent, prepare_event
from hub.core.errors import HubError

log = logging.getLogger(__name__)
NS = uuid.uuid5(uuid.NAMESPACE_URL, "urn:passerelle:sne-poller")
#: the ``source`` of the events the poller publishes
SOURCE = "sne-poller"
RAD, SUP = "RAD", "SUP"


def prepared(num: str, event: dict[str, Any], what: str) -> PreparedEvent | None:
    """``event`` checked and encoded, or None (logged; the caller counts it ``refused``)
    when the hub refuses it."""
    try:
        return prepare_event(event)
    except HubError as exc:
        log.warning("SNE poller: %s %s refused by the hub (%s)", what, num, exc.code)
        return None


def held_back(count: int, limit: int) -> str | None:
    """The incomplete line when ``count`` deletions in one pass pass ``limit``, else None."""
    if count <= limit:
        return None
    return (
        f"{count} demands published before are unknown to the SNE (NUMINCONNU), more than "
        f"sne.poll_max_deletions ({limit}): no SUP published, they are read again at the "
        "next pass. Is sne.url the right SNE? If it did delete them, raise "
        "HUB_SNE__POLL_MAX_DELETIONS"
    )


def sup_event(num: str, digest: str | None) -> dict[str, Any]:
    """The ``SUP`` of ``num``, whose last published snapshot had ``digest``."""
    return {
        # one id per deletion of this snapshot: a republish after a crash dedups
        "eventId": str(uuid.uuid5(NS, f"{digest}|{SUP}|{num}")),
        "numUnique": num,
        "operation": SUP,
        "occurredAt": int(datetime.now(UTC).timestamp() * 1000),
        "source": SOURCE,
    }
