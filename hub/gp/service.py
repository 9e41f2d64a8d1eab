"""Recording gestion partagée events: validate against the catalogue, store, publish.

Order: the record is stored (the source of truth) before it is published to
``hub.evenements``. If publishing fails the call raises :class:`TransientError`; the
author retries with the same ``eventId``, which finds the stored record and publishes it
again (consumers deduplicate by ``eventId``).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Protocol

from hub import topics
from hub.gp.store import GPStore
from hub.gp.validation import GPInput, validate_gp_event
from schemas import get_codec


class Publisher(Protocol):
    """Produces one message and waits for the broker's acknowledgement."""

    def publish(self, topic: str, key: bytes, value: bytes) -> Awaitable[None]: ...


class GPService:
    def __init__(self, store: GPStore, publisher: Publisher) -> None:
        self.store = store
        self.publisher = publisher

    def prepare(self, data: GPInput, auteur: str, source: str = "api") -> dict[str, Any]:
        """The validated ``EvenementGP`` record (not stored)."""
        return validate_gp_event(self.store.catalogue(), data, auteur=auteur, source=source)

    async def record_all(self, records: list[dict[str, Any]]) -> list[tuple[dict[str, Any], bool]]:
        """Store ``records`` together, then publish each (stored first, see module doc)."""
        codec = get_codec()
        for r in records:
            codec.encode("EvenementGP", r)  # what cannot be published is not stored either
        stored = self.store.append_all(records)
        for record, _ in stored:
            await self.publisher.publish(topics.EVENEMENTS, record["numUnique"].encode(),
                                         codec.encode("EvenementGP", record))
        return stored

    async def record(self, data: GPInput, auteur: str) -> tuple[dict[str, Any], bool]:
        return (await self.record_all([self.prepare(data, auteur)]))[0]
