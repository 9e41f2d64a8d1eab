"""A CAL event the SNE accepted by SOAP while Kafka was unreachable (an ERP's zeep client →
the hub's SOAP gateway → the SNE simulator; SQLite and PostgreSQL): the ERP gets the
SNE's answer, the event stays at the SNE and in the hub's store, *owed* to Kafka, and the
republisher publishes it later (before, it was stored and never published)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from connectors.sne.gateway import create_app as gateway_app
from hub.api.app import create_app as api_app
from hub.core.kafka.publisher import KafkaPublisher
from hub.core.settings import HubSettings
from hub.stores.gp.service import GPService
from hub.stores.gp.store import GPStore
from tests.integration.api_support import register
from tests.integration.test_sne_gateway_cal import (
    DECIDED,
    Hub,
    add,
    decision,
    designate_and_examine,
    published,
    simulator,
)
from tests.support.sne import serve_at

pytestmark = pytest.mark.kafka
__all__ = ["simulator"]  # the SNE simulator fixture, shared with test_sne_gateway_cal


@pytest.fixture
def hub_and_gateway(migrated_db: tuple[str, Engine], settings: HubSettings,
                    simulator: str) -> Iterator[tuple[Hub, Any]]:  # fmt: skip
    url, engine = migrated_db
    cfg = settings.model_copy(update={
        "database_url": url,
        # the REST app's republisher only at its startup: the test republishes itself
        "api": settings.api.model_copy(update={"republish_interval_s": 3600}),
        "sne": settings.sne.model_copy(update={"url": simulator, "retries": 1,
                                               "timeout_s": 10})})  # fmt: skip
    caller = register(engine, kind="bailleur")
    apps: list[Any] = []

    def gateway(base: str) -> Any:
        apps.append(gateway_app(cfg, engine=engine, public_url=f"{base}/sne"))
        return apps[0]

    with serve_at(gateway) as gw, TestClient(api_app(cfg, engine)) as rest:
        yield Hub(f"{gw}/sne", simulator, caller, GPStore(engine), rest, cfg), \
            apps[0].state.gateway  # fmt: skip


def test_a_cal_event_accepted_by_the_sne_while_kafka_is_down_is_published_later(
        hub_and_gateway: tuple[Hub, Any]) -> None:  # fmt: skip
    hub, gateway = hub_and_gateway
    num = hub.new_demand()
    designate_and_examine(hub, num)
    working = gateway.publisher
    down = hub.settings.model_copy(update={"kafka": hub.settings.kafka.model_copy(
        update={"bootstrap_servers": "127.0.0.1:1"})})  # fmt: skip
    gateway.publisher = KafkaPublisher(down, timeout_s=3)
    try:
        answer = add(hub, num, "DECISCAL", DECIDED, decision(num))  # no Fault: the SNE's answer
    finally:
        gateway.publisher = working
    assert isinstance(answer, bytes)
    assert hub.sne_events(num) == ["DESIGCAL", "EXAMCAL", "DECISCAL"]  # not undone
    owed = [e["eventId"] for e in hub.store.unpublished([num])]
    stored = hub.store.timeline(num)
    assert owed == [stored[2]["eventId"]] and stored[2]["codeTypeEvenement"] == "DECISCAL"

    async def republish() -> int:
        publisher = KafkaPublisher(hub.settings, timeout_s=15)
        try:
            return await GPService(hub.store, publisher).republish()
        finally:
            await publisher.close()

    assert asyncio.run(republish()) == 1
    assert hub.store.unpublished([num]) == []
    assert [e["eventId"] for e in published(hub.settings, num)] == \
        [e["eventId"] for e in stored]  # fmt: skip
