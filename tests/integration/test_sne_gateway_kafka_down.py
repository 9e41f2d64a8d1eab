"""What the SNE accepts through the SOAP gateway while Kafka is down (the audit's "SOAP
gateway and Kafka"), on the real broker, SQLite and PostgreSQL: the ERP still gets the
SNE's answer, and the demand event and the GP event are *owed* in the hub's database
(``sne_gateway_unpublished``) instead of being lost. When Kafka is back, they reach
``hub.demandes`` / ``hub.evenements`` exactly once, in order, with their event ids, ahead
of the demand's next record; a gateway restarted over owed rows publishes them at its
start. A record the broker refuses (a topic's ``max.message.bytes`` lowered, as the audit
did) is set aside with its error, shown by ``hub status``, and does not block its
demand's later records.

The gateway's producer first points at a port where no broker listens (a real connection
failure, not a stub), then at the real broker; the SNE is the simulator over HTTP and the
records are made from its answers."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from pydantic import SecretStr
from sqlalchemy import Engine

from connectors.sne.gateway import Gateway, create_app
from connectors.sne.gateway.owed import OwedRecords
from connectors.sne.gateway.owed_store import OwedStore, Record
from connectors.sne.soap import Request, parse_request
from hub.cli.status import render
from hub.core import topics
from hub.core.kafka.client import client_options, topic_partitions
from hub.core.kafka.publisher import KafkaPublisher
from hub.core.settings import DatabaseSettings, HubSettings
from hub.dev.sne_simulator import create_app as simulator_app
from hub.services.status import gather
from schemas import get_codec
from tests.integration.api_support import Caller, register
from tests.support.refusing_topic import refusing_topic
from tests.support.sne import ROUEN, free_port, new_demande_xml, serve, serve_at

pytestmark = pytest.mark.kafka
WS = "http://ws.metier.nuu.application.i2/"
DEMANDE, GP = "DemandeLogementImplService", "GestionPartageeEVTImplService"


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = tmp_path_factory.mktemp("sim-down") / "sim.db"
    with serve(simulator_app(f"sqlite:///{db}")) as base:
        yield f"{base}/sne"


@dataclasses.dataclass
class Scene:
    up: HubSettings  # the real broker, the test's database
    down: HubSettings  # a port where no broker listens
    engine: Engine
    caller: Caller

    def gateway(self) -> Gateway:
        gateway = Gateway(self.up, engine=self.engine)
        gateway.publisher = KafkaPublisher(self.down, timeout_s=2.0)  # fail fast, for real
        return gateway


@pytest.fixture
def scene(migrated_db: tuple[str, Engine], settings: HubSettings, simulator: str) -> Scene:
    url, engine = migrated_db
    up = settings.model_copy(update={
        "database": DatabaseSettings(url=SecretStr(url)),
        "sne": settings.sne.model_copy(update={"url": simulator, "retries": 0}),
    })  # fmt: skip
    down = up.model_copy(update={"kafka": up.kafka.model_copy(
        update={"bootstrap_servers": f"127.0.0.1:{free_port()}"})})  # fmt: skip
    return Scene(up, down, engine, register(engine, kind="guichet"))


def request(caller: Caller, service: str, operation: str, flux: bytes) -> Request:
    """A SOAP 1.2 request with ``fluxXml`` inline, as an ERP sends it (docs/connectors-soap.md)."""
    body = (
        '<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body>'
        f'<ws:{operation} xmlns:ws="{WS}"><fluxXml>{base64.b64encode(flux).decode()}'
        f"</fluxXml></ws:{operation}></soap:Body></soap:Envelope>"
    ).encode()
    req = parse_request(service, body, "application/soap+xml; charset=utf-8")
    req.http_headers = {"authorization": caller.headers["Authorization"]}
    return req


def gp_doc(num: str, motif: str) -> bytes:
    """An ``ajouterEvenementDemande`` of the simulator's own event type ``REFUS``."""
    return (
        '<interfaceNuu xmlns="http://nuu.application.i2/" versionInterface="02.00"><entete>'
        "<typeFichier>AJO</typeFichier><dateFichier>2026-11-23T10:00:00</dateFichier>"
        f"<codeGuichet>G0000</codeGuichet></entete><operation><numUnique>{num}</numUnique>"
        "</operation><listeEvenements><evenement><codeTypeEvenement>REFUS</codeTypeEvenement>"
        "<dateSurvenance>2026-11-02</dateSurvenance><listeCaracteristiquesSpecifiques>"
        f"<caracteristiqueSpecifique><code>MOTIF</code><valeurCaracteristiqueSpecifique>{motif}"
        "</valeurCaracteristiqueSpecifique></caracteristiqueSpecifique>"
        "</listeCaracteristiquesSpecifiques></evenement></listeEvenements></interfaceNuu>"
    ).encode()


async def register_and_add(gateway: Gateway, caller: Caller) -> str:
    """A CRE through the gateway, then a GP event on it; the numéro the SNE answered."""
    g = "K" + uuid.uuid4().hex[:4].upper()
    parts = await gateway.handle(
        request(caller, DEMANDE, "getNumUnique", new_demande_xml(g, [ROUEN], nom=f"K{g}")))
    answer = parts["return"]
    assert isinstance(answer, bytes)
    found = re.search(rb"numUnique>([0-9A-Z]{18})<", answer)
    assert found is not None  # the ERP has its numéro: the SNE acted
    num = found[1].decode()
    parts = await gateway.handle(request(caller, GP, "ajouterEvenementDemande", gp_doc(num, "a")))
    assert b"<idEvenement>" in parts["return"] and b"anomalie" not in parts["return"]
    return num


def on_topic(settings: HubSettings, topic: str, key: str) -> list[dict[str, Any]]:
    """Every record of ``topic`` keyed ``key``, in order, decoded (read to the end)."""
    schema = "DemandeEvent" if topic == topics.DEMANDES else "EvenementGP"

    async def read() -> list[dict[str, Any]]:
        consumer = AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False)
        await consumer.start()
        try:
            parts = await topic_partitions(consumer, topic) or []
            consumer.assign(parts)
            await consumer.seek_to_beginning(*parts)
            end = await consumer.end_offsets(parts)
            found: list[dict[str, Any]] = []
            while [tp for tp in parts if await consumer.position(tp) < end[tp]]:
                for msgs in (await consumer.getmany(*parts, timeout_ms=1000)).values():
                    found += [get_codec().decode_as(m.value, schema) for m in msgs
                              if m.key == key.encode()]  # fmt: skip
            return found
        finally:
            await consumer.stop()

    return asyncio.run(read())


def test_records_owed_while_kafka_is_down_reach_kafka_once_in_order_when_it_is_back(
    scene: Scene, caplog: pytest.LogCaptureFixture
) -> None:
    store = OwedStore(scene.engine)

    async def run() -> tuple[str, list[Record]]:
        gateway = scene.gateway()
        try:
            num = await register_and_add(gateway, scene.caller)
            owed = [o.record for o in store.owed([num])]
            assert [r.topic for r in owed] == [topics.DEMANDES, topics.EVENEMENTS]
            gateway.publisher = KafkaPublisher(scene.up, timeout_s=15)  # Kafka is back
            # the demand's next record publishes what it owes first, then itself
            await gateway.handle(request(scene.caller, GP, "ajouterEvenementDemande",
                                         gp_doc(num, "b")))  # fmt: skip
            return num, owed
        finally:
            await gateway.stop()

    with caplog.at_level(logging.WARNING, logger="connectors.sne.gateway"):
        num, owed = asyncio.run(run())
    warned = [r.getMessage() for r in caplog.records if "owed to Kafka" in r.getMessage()]
    assert warned and all(num in line for line in warned), warned
    lost = [r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith(
        "connectors.sne")]  # fmt: skip
    assert not lost, lost  # nothing lost (before: "accepted by the SNE but not published")
    assert store.owed() == [] and store.summary() == (0, None, 0)
    demandes = on_topic(scene.up, topics.DEMANDES, num)
    assert [(e["eventId"], e["operation"]) for e in demandes] == [(owed[0].event_id, "CRE")]
    evenements = on_topic(scene.up, topics.EVENEMENTS, num)
    assert len(evenements) == 2 and evenements[0]["eventId"] == owed[1].event_id
    assert [e["caracteristiques"]["MOTIF"] for e in evenements] == ["a", "b"]


def test_a_restarted_gateway_publishes_the_records_owed(scene: Scene) -> None:
    store = OwedStore(scene.engine)

    async def down() -> str:
        gateway = scene.gateway()
        try:
            return await register_and_add(gateway, scene.caller)
        finally:
            await gateway.stop()

    num = asyncio.run(down())
    owed = [o.record for o in store.owed([num])]
    assert [r.topic for r in owed] == [topics.DEMANDES, topics.EVENEMENTS]
    app = lambda base: create_app(scene.up, engine=scene.engine, public_url=f"{base}/sne")  # noqa: E731
    with serve_at(app):  # its start publishes what is owed
        deadline = time.monotonic() + 60
        while store.owed([num]) and time.monotonic() < deadline:
            time.sleep(0.2)
    assert store.owed([num]) == []
    assert [e["eventId"] for e in on_topic(scene.up, topics.DEMANDES, num)] == [owed[0].event_id]
    assert [e["eventId"] for e in on_topic(scene.up, topics.EVENEMENTS, num)] == \
        [owed[1].event_id]  # fmt: skip


def test_a_record_the_broker_refuses_is_set_aside_and_shown(scene: Scene) -> None:
    store = OwedStore(scene.engine)
    num = asyncio.run(_owed_events(scene))
    # the gateway's real GP records of that demand, sent to a topic of the test's own that
    # the broker can be made to refuse (never the hub's shared topics)
    _demand, event, next_event = (o.record for o in store.owed([num]))
    store.acknowledge([o.seq for o in store.owed([num])])

    async def run() -> list[dict[str, Any]]:
        publisher = KafkaPublisher(scene.up, timeout_s=15)
        queue = OwedRecords(store, publisher)
        try:
            async with refusing_topic(scene.up) as topic:
                first = dataclasses.replace(event, topic=topic.name)
                await topic.refuse()
                assert await queue.publish([first])  # refused: set aside, not held
                assert store.owed() == [] and [o.record for o in store.refused()] == [first]
                await topic.accept()
                later = dataclasses.replace(next_event, topic=topic.name)
                assert await queue.publish([later])  # not blocked by the refused one
                assert store.summary()[::2] == (0, 1)
                status = await gather(scene.up, timeout_s=5)
                assert status.gateway_unpublished == 0 and status.gateway_refused == 1
                (shown,) = status.gateway_refused_records or []
                assert (shown.topic, shown.num_unique, shown.error) == \
                    (topic.name, num, "MessageSizeTooLargeError")  # fmt: skip
                text = " ".join(" ".join(render(status, 100)).split())
                assert "refused by Kafka 1" in text and "MessageSizeTooLargeError" in text
                assert status.as_dict()["gateway_refused"] == 1
                task = asyncio.create_task(queue.run(3600))  # a restart: tried again
                deadline = time.monotonic() + 30
                while store.refused() and time.monotonic() < deadline:
                    await asyncio.sleep(0.2)
                task.cancel()
                return await topic.records(2)
        finally:
            await publisher.close()

    records = asyncio.run(run())
    assert store.summary() == (0, None, 0)
    # published at the restart, after the later record: the order a refusal gives up
    assert [r["eventId"] for r in records] == [next_event.event_id, event.event_id]


async def _owed_events(scene: Scene) -> str:
    """A demand whose CRE and two GP events are owed (Kafka down); its numéro."""
    gateway = scene.gateway()
    try:
        num = await register_and_add(gateway, scene.caller)
        await gateway.handle(request(scene.caller, GP, "ajouterEvenementDemande",
                                     gp_doc(num, "b")))  # fmt: skip
        return num
    finally:
        await gateway.stop()
