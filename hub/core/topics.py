"""Topic names: the hub's public contract (keep these names)."""

from __future__ import annotations

import re

DEMANDES = "hub.demandes"
EVENEMENTS = "hub.evenements"
ACTORS = "hub.actors"
DLQ = "hub.dlq"
FEED_PREFIX = "hub.feed."

ACTOR_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def feed_topic(actor_id: str) -> str:
    """The Kafka topic an actor reads its feed from."""
    return f"{FEED_PREFIX}{actor_id}"
