"""Audit findings 2-4 at the service level, on the real broker (a topic of the test's own
that refuses writes for a while, as the audit did) and the real SQLite and PostgreSQL:
a gestion partagée event stored while Kafka refused it is never lost. It stays owed,
the failure names its event id, the republisher publishes it without any client action
in store order per demand, and a later event of the same demand never overtakes it."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine

from hub.core.errors import PublishError
from hub.core.kafka.publisher import KafkaPublisher
from hub.core.settings import HubSettings
from hub.domain.actors import Actor
from hub.domain.gp.validation import GPInput
from hub.stores.gp.service import GPService
from hub.stores.gp.store import GPStore
from tests.support.demandes import new_num_unique
from tests.support.refusing_topic import refusing_topic

pytestmark = pytest.mark.kafka

#: the landlord every record of this module is prepared by (``auteur``)
AUTHOR = Actor(id="bailleur-x", name="B", kind="bailleur")


def _visit(service: GPService, num: str, day: int) -> dict[str, Any]:
    data = GPInput(num_unique=num, code="VISPROP", date_survenance=date(2025, 6, day),
                   caracteristiques={"DATEVIS": f"2025-06-{day:02d}"})  # fmt: skip
    return service.prepare(data, "bailleur-x")


def test_events_stored_while_kafka_refused_them_are_published_later_in_order(
        settings: HubSettings, migrated_db: tuple[str, Engine]) -> None:  # fmt: skip
    store = GPStore(migrated_db[1])
    x, y = new_num_unique(), new_num_unique()

    async def scene() -> tuple[list[str], list[str], list[str]]:
        publisher = KafkaPublisher(settings, timeout_s=15)
        try:
            async with refusing_topic(settings) as topic:
                gp = GPService(store, publisher, topic=topic.name)
                first = _visit(gp, x, 1)
                await gp.record_all([first], AUTHOR)
                await topic.refuse()
                owed = [_visit(gp, x, 2), _visit(gp, y, 3), _visit(gp, x, 4)]
                for record in owed:
                    with pytest.raises(PublishError) as failed:
                        await gp.record_all([record], AUTHOR)
                    assert failed.value.event_ids == (record["eventId"],)
                    assert failed.value.retriable
                waiting = [r["eventId"] for r in store.unpublished()]
                await topic.accept()
                # a new event of x: x's owed events go first, in store order
                later = _visit(gp, x, 5)
                await gp.record_all([later], AUTHOR)
                after_later = [r["eventId"] for r in store.unpublished()]
                assert await gp.republish() == 1  # y's, no client involved
                assert await gp.republish() == 0
                got = [r["eventId"] for r in await topic.records(5)]
                # x's in store order (the refused ones before the later one), then y's
                expected = [r["eventId"] for r in (first, owed[0], owed[2], later, owed[1])]
                assert got == expected
                return waiting, after_later, [r["eventId"] for r in owed]
        finally:
            await publisher.close()

    waiting, after_later, owed_ids = asyncio.run(scene())
    assert waiting == owed_ids
    assert after_later == [owed_ids[1]]  # only y's event is still owed
    assert store.unpublished() == [] and store.unpublished_summary() == (0, None)


def test_a_resent_event_is_published_again_and_no_longer_owed(
        settings: HubSettings, migrated_db: tuple[str, Engine]) -> None:  # fmt: skip
    store = GPStore(migrated_db[1])
    num = new_num_unique()

    async def scene() -> list[str]:
        publisher = KafkaPublisher(settings, timeout_s=15)
        try:
            async with refusing_topic(settings) as topic:
                gp = GPService(store, publisher, topic=topic.name)
                record = _visit(gp, num, 1)
                await topic.refuse()
                with pytest.raises(PublishError):
                    await gp.record_all([record], AUTHOR)
                await topic.accept()
                again = {**record, "occurredAt": record["occurredAt"] + 1}  # the client's retry
                ((stored, created),) = await gp.record_all([again], AUTHOR)
                assert not created and stored["eventId"] == record["eventId"]
                await gp.record_all([again], AUTHOR)  # acknowledged before: published once more
                return [r["eventId"] for r in await topic.records(2)]
        finally:
            await publisher.close()

    assert asyncio.run(scene()) == [s["eventId"] for s in store.timeline(num)] * 2
    assert store.unpublished() == []
