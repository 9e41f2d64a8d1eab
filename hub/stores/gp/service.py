"""Recording gestion partagée events: validate against the catalogue, store, publish.

Every batch holding a CAL event goes through the CAL rules inside the transaction that
stores it (:func:`hub.stores.cal.guard.check_cal_records`, :meth:`GPStore.append_all`): a CAL
decision or an answer to one meets the same CCH R441-3 checks whether it comes from
``/cal``, from the gestion partagée route or from any other caller of this service, and
two concurrent batches are checked one after the other. Before that, the author's kind:
a CAL's own acts (:data:`hub.domain.rights.CAL_ACTS`: agenda, examination, decision) are
recorded by a ``bailleur`` only, whatever the route (403 otherwise) — every caller names
the author (:meth:`GPService.record_all`).

Order: the record is stored (the source of truth), and owed to ``hub.evenements`` in the
same transaction, before it is published (:mod:`hub.stores.gp.publication`: the demands'
earlier unacknowledged events first, in store order). If publishing fails the call raises
:class:`~hub.core.errors.PublishError` naming the batch's event ids: the records stay
stored and owed, and :meth:`GPService.republish` (run by ``hub api`` at startup and
periodically) publishes them without any client action. A retry with the same
``eventId`` finds the stored record and publishes it again (consumers deduplicate by
``eventId``).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from hub.core import topics
from hub.core.errors import PublishError, TransientError
from hub.domain.actors import Actor
from hub.domain.gp.validation import GPInput, validate_gp_event
from hub.domain.rights import require_cal_author
from hub.stores.cal.guard import CAL_CODES, check_cal_records
from hub.stores.gp.publication import Publication, Publisher
from hub.stores.gp.store import GPStore
from schemas import get_codec

__all__ = ["GPService", "Publisher"]


class GPService:
    def __init__(self, store: GPStore, publisher: Publisher, *,
                 topic: str = topics.EVENEMENTS) -> None:  # fmt: skip
        self.store = store
        self.publisher = publisher
        self.publication = Publication(store, publisher, topic)

    def prepare(self, data: GPInput, auteur: str, source: str = "api") -> dict[str, Any]:
        """The validated ``EvenementGP`` record (not stored)."""
        return validate_gp_event(self.store.catalogue(), data, auteur=auteur, source=source)

    async def record_all(
        self, records: list[dict[str, Any]], author: Actor
    ) -> list[tuple[dict[str, Any], bool]]:
        """Check ``records`` — every one prepared with ``author`` as its ``auteur``
        (``ValueError`` otherwise: a caller's mistake) — against the author's kind
        (:class:`~hub.domain.rights.NotCalAuthor`, module doc) and the CAL rules
        (:class:`~hub.domain.cal_rules.CALRuleError`), store them together, then publish
        each (stored first, see module doc); :class:`PublishError` (retriable, with the
        batch's event ids) when Kafka did not acknowledge them."""
        if any(r["auteur"] != author.id for r in records):
            raise ValueError("records of another author than the one named")
        require_cal_author(author, (r["codeTypeEvenement"] for r in records))
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
        try:
            await self.publication.flush(
                [r["numUnique"] for r, _ in stored], also=[r for r, new in stored if not new]
            )
        except TransientError as exc:
            raise PublishError(
                f"{exc.message} (stored: the hub publishes it later by itself; a retry with "
                "the same ids is the same request)",
                event_ids=tuple(r["eventId"] for r, _ in stored),
                code=exc.code,
            ) from None
        return stored

    async def record(self, data: GPInput, author: Actor) -> tuple[dict[str, Any], bool]:
        """:meth:`prepare` then :meth:`record_all` of one event by ``author``."""
        return (await self.record_all([self.prepare(data, author.id)], author))[0]

    async def republish(self, demands: int = 100) -> int:
        """Publish what the store owes Kafka, for up to ``demands`` demands
        (:meth:`~hub.stores.gp.publication.Publication.republish`); how many were sent."""
        return await self.publication.republish(demands)
