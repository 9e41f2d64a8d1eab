"""Recording gestion partagée events: validate against the catalogue, store, publish.

Every batch holding a CAL event goes through the CAL rules inside the transaction that
stores it (:func:`hub.stores.cal.guard.check_cal_records`, :meth:`GPStore.append_all`): a CAL
decision or an answer to one meets the same CCH R441-3 checks whether it comes from
``/cal``, from the gestion partagée route or from any other caller of this service, and
two concurrent batches are checked one after the other.

Order: the record is stored (the source of truth) before it is published to
``hub.evenements``. If publishing fails the call raises :class:`TransientError`; the
author retries with the same ``eventId``, which finds the stored record and publishes it
again (consumers deduplicate by ``eventId``).
"""

from __future__ import annotations

from collections.abc import Awaitable
from functools import partial
from typing import Any, Protocol

from hub.core import topics
from hub.domain.gp.validation import GPInput, validate_gp_event
from hub.stores.cal.guard import CAL_CODES, check_cal_records
from hub.stores.gp.store import GPStore
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
        """Check ``records`` against the CAL rules (:class:`~hub.domain.cal_rules.CALRuleError`),
        store them together, then publish each (stored first, see module doc)."""
        codec = get_codec()
        for r in records:
            codec.encode("EvenementGP", r)  # what cannot be published is not stored either
        checked = any(r["codeTypeEvenement"] in CAL_CODES for r in records)
        stored = self.store.append_all(
            records,
            check=partial(
                check_cal_records, records, self.store.timeline, self.store.decision_events
            )
            if checked
            else None,
        )
        for record, _ in stored:
            await self.publisher.publish(
                topics.EVENEMENTS, record["numUnique"].encode(), codec.encode("EvenementGP", record)
            )
        return stored

    async def record(self, data: GPInput, auteur: str) -> tuple[dict[str, Any], bool]:
        return (await self.record_all([self.prepare(data, auteur)]))[0]
