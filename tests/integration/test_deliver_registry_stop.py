"""``hub deliver``'s feed pump on a feed in the Confluent wire format whose schema id the
registry does not hold: the real broker, a real schema registry (Apicurio Registry, as
``hub stack up --with-registry`` runs it, a private fresh instance: tests/support/registry.py),
the long-running push service with its :class:`~connectors.outbound.pump.FeedPump` and a
real webhook receiver.

The actor's feed holds a record the pump can read (single-object), then one framed with
id 1 while the registry answers 404 for it (as after a restore, a new in-memory instance),
then good ones. The copy must stop at the unknown one with one line naming it (nothing
after it copied, never skipped), another actor must go on meanwhile, and once the registry
holds the id the copy resumes by itself (the same service, no restart): the receiver gets
every record once, in feed order. Before the fix the pump paused that feed for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from connectors.outbound.pump import FeedPump
from connectors.outbound.service import PushService
from connectors.outbound.webhook import WebhookDelivery
from hub.core import topics
from hub.core.backoff import Backoff
from hub.core.db import make_engine, migrate
from hub.core.kafka.admin import ensure_topics, feed_spec
from hub.core.kafka.client import new_producer
from hub.core.schema_registry import install_resolver, register_feed_schema
from hub.core.settings import ApiSettings, HubSettings
from hub.dev.stack.registry import RegistryStack
from hub.domain.actors import Actor, ActorFilters, Delivery
from hub.stores.audit.store import AuditStore
from hub.stores.delivery.outbox import Outbox
from monitoring import metrics
from schemas import get_codec
from schemas.confluent import IDS, frame
from tests.integration.test_push_pump_kafka import _event_ids
from tests.integration.test_push_scale import Receivers
from tests.support.registry import confluent_settings, low_port, private_registry
from tests.support.sne import start_server

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryStack]:
    with private_registry(tmp_path_factory) as fresh:
        yield fresh


@pytest.fixture()
def confluent(settings: HubSettings, registry: RegistryStack) -> Iterator[HubSettings]:
    conf = confluent_settings(settings, registry).model_copy(update={"api": ApiSettings(
        webhook_secret=SecretStr("stop-master"), webhook_backoff_initial_s=0.05,
        webhook_backoff_max_s=0.1)})  # fmt: skip
    IDS.forget()  # a fresh `hub deliver` process: no id learned
    install_resolver(conf)
    yield conf
    IDS.forget()


def _record(event_id: str) -> dict[str, Any]:
    now = int(time.time() * 1000)
    return {"kind": "RETRAIT", "eventId": event_id, "numUnique": "076540000000000001",
            "operation": "MOD", "demandeVersion": 1, "occurredAt": now, "dispatchedAt": now,
            "profile": "bailleur", "reason": "hors_territoire", "changedFields": [],
            "demande": None, "evenement": None}  # fmt: skip


async def _write(settings: HubSettings, topic: str, values: list[bytes]) -> None:
    producer = new_producer(settings)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=b"076540000000000001")
    finally:
        await producer.stop()


def _held() -> float | None:
    return metrics.REGISTRY.get_sample_value("passerelle_outbox_feeds_stopped",
                                             {"channel": "push"})  # fmt: skip


def test_an_unknown_registry_id_holds_the_copy_until_it_resolves(
        confluent: HubSettings, registry: RegistryStack, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    codec = get_codec()
    suffix = uuid.uuid4().hex[:8]
    held_id, other_id = f"pstop-a-{suffix}", f"pstop-b-{suffix}"
    held_topic = topics.feed_topic(held_id)
    # the registry is fresh: it does not hold id 1 (yet)
    assert httpx.get(f"{registry.api_url}/schemas/ids/1", timeout=10).status_code == 404
    ids = [f"{suffix}-{i}" for i in range(4)]
    single = [codec.encode("FeedRecord", _record(i)) for i in ids]
    # good (single-object), unknown id, good, and one more framed with the same id
    feed = [single[0], frame(1, single[1][10:]), single[2], frame(1, single[3][10:])]
    engine = make_engine(f"sqlite:///{tmp_path / 'deliver.db'}")
    migrate(engine)
    outbox = Outbox(engine)
    receivers = Receivers()
    port = low_port()
    server, thread = start_server(receivers.app, port)
    actors = [Actor(id=a, name="ERP", kind="bailleur", filters=ActorFilters(communes=["76540"]),
                    delivery=Delivery(channel="webhook",
                                      options={"url": f"http://127.0.0.1:{port}/hook/{a}"}))
              for a in (held_id, other_id)]  # fmt: skip
    caplog.set_level(logging.INFO, logger="connectors.outbound.pump")

    async def scenario() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        await ensure_topics(confluent, [feed_spec(a.id) for a in actors])
        await _write(confluent, held_topic, feed)
        pump = FeedPump(confluent, outbox, stop_backoff=Backoff(0.3, 0.6, jitter=(1.0, 1.0)))
        service = PushService(confluent, [WebhookDelivery(confluent, outbox, AuditStore(engine))],
                              pump, interval=0.2, list_actors=lambda: actors)  # fmt: skip
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))
        deadline = time.monotonic() + 60
        try:
            while _event_ids(receivers, held_id) != ids[:1] and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            await asyncio.sleep(3)  # several tries, each answered 404
            seen["stopped"] = _event_ids(receivers, held_id)
            seen["copied"] = outbox.next_offset(held_id)
            seen["gauge"] = _held()
            # another actor's feed goes on meanwhile
            others = [codec.encode("FeedRecord", _record(f"{suffix}-b{i}")) for i in range(2)]
            await _write(confluent, topics.feed_topic(other_id), others)
            while len(_event_ids(receivers, other_id)) < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            seen["other"] = _event_ids(receivers, other_id)
            seen["other_while_stopped"] = _event_ids(receivers, held_id)
            schema_id = await asyncio.to_thread(register_feed_schema, confluent)
            assert schema_id == 1, "a fresh registry gives its first schema id 1"
            IDS.forget()  # learn it from the registry, as a process that did not register
            install_resolver(confluent)
            while len(_event_ids(receivers, held_id)) < 4 and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)  # nothing more arrives (no record sent twice)
            seen["after"] = _event_ids(receivers, held_id)
            seen["alive"] = not task.done()
            seen["gauge_after"] = _held()
            return seen
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 15)

    try:
        seen = asyncio.run(scenario())
    finally:
        server.should_exit = True
        thread.join(10)
    assert seen["stopped"] == ids[:1]  # the good one before it: delivered; nothing past it
    assert seen["copied"] == 1  # the outbox holds nothing past the stop
    assert seen["other"] == [f"{suffix}-b0", f"{suffix}-b1"]  # the other actor went on
    assert seen["other_while_stopped"] == ids[:1]
    # resumed by itself: every record once, in feed order
    assert seen["after"] == ids, seen["after"]
    assert seen["alive"]
    assert (seen["gauge"], seen["gauge_after"]) == (1, 0)
    said = [r.getMessage() for r in caplog.records if r.name == "connectors.outbound.pump"]
    line = f"copy of {held_topic} stopped at offset 1 (unknown schema id 1)"
    stops = [m for m in said if m.startswith(line)]
    assert len(stops) == 1, said  # said once, not at every try
    assert f"the registry at {registry.api_url} (HUB_REGISTRY__URL) does not hold" in stops[0]
    assert stops[0].endswith("nothing after it on this feed is copied into the outbox until "
                             "it does")  # fmt: skip
    assert any(m.startswith(f"copy of {held_topic} resumes at offset 1") for m in said), said
