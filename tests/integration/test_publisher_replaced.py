"""Audit finding 4 on the real broker: one record the broker refuses (the topic's
``max.message.bytes`` lowered with the admin client, as the audit did) must not poison
the hub's idempotent producer. Once the topic takes records again, the next publishes to
the same partition succeed and are written in order (before the fix every one failed
with ``OutOfOrderSequenceNumber`` until ``hub api`` was restarted)."""

from __future__ import annotations

import asyncio

import pytest

from hub.core.errors import TransientError
from hub.core.kafka.publisher import KafkaPublisher
from hub.core.settings import HubSettings
from schemas import get_codec
from tests.support.refusing_topic import refusing_topic

pytestmark = pytest.mark.kafka


def _event(i: int, comment: str = "") -> bytes:
    record = {"eventId": f"replaced-{i}", "numUnique": "076112500000110691",
              "operation": "AJO", "idEvenement": None, "codeTypeEvenement": "VISPROP",
              "catalogueVersion": "2025.1", "dateSurvenance": "2025-06-01", "auteur": "t",
              "commentaire": comment or None, "reglementaire": True, "aPublierSurPGP": True,
              "caracteristiques": {"DATEVIS": "2025-06-05"}, "occurredAt": 0,
              "source": "test"}  # fmt: skip
    return get_codec().encode("EvenementGP", record)


def test_a_record_refused_by_the_broker_does_not_poison_the_producer(
        settings: HubSettings) -> None:  # fmt: skip
    async def scene() -> list[str]:
        publisher = KafkaPublisher(settings, timeout_s=15)
        key = b"076112500000110691"  # one key: one partition (the topic has one anyway)
        try:
            async with refusing_topic(settings) as topic:
                await publisher.publish(topic.name, key, _event(0))
                await topic.refuse()
                with pytest.raises(TransientError, match="MessageSizeTooLarge"):
                    await publisher.publish(topic.name, key, _event(1, "x" * 400))
                await topic.accept()
                for i in range(2, 6):
                    await publisher.publish(topic.name, key, _event(i))
                return [r["eventId"] for r in await topic.records(5)]
        finally:
            await publisher.close()

    got = asyncio.run(scene())
    assert got == [f"replaced-{i}" for i in (0, 2, 3, 4, 5)]
