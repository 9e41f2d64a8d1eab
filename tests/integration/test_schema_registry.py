"""The feeds in the Confluent wire format, end to end (issue 21.7): a real schema registry
(Apicurio Registry as ``hub stack up --with-registry`` runs it), the real broker, the
worker's feed-writing path, and an independent consumer.

The registry is built once per user into ``~/.cache/passerelle/registry/`` (as ``hub
stack up --with-registry`` builds it into the stack's home: 17 s with ``~/.m2`` filled,
102 s from an empty one) and a private instance of it runs on a free port for this
module (7 s to start). The tests are skipped, saying
why, when it cannot be built or started here (no java or mvn, Maven Central unreachable).

The dispatch processor and the gestion partagée fan-out (``dispatch.processor``,
``dispatch.evenements``: what ``hub worker`` runs) write to a private actor's feed topic on
the real broker, after :func:`dispatch.feedwire.configure_feed_wire` registered FeedRecord
as the worker does at start-up. The worker process itself is not used: a second worker
group would dispatch every demand of the shared broker again. The consumer is independent
of the hub: aiokafka reads the raw values, httpx asks the registry for the writer schema
by the id in bytes 1-4, fastavro reads the body with it.
"""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from fastavro import parse_schema, schemaless_reader

from dispatch import evenements, feedbytes
from dispatch.feedwire import configure_feed_wire
from dispatch.processor import InputRecord, Processor
from hub.core import topics
from hub.core.kafka.admin import ensure_topics, feed_spec
from hub.core.schema_registry import FEED_SUBJECT, RegistryClient, RegistryRefused, resolver
from hub.core.settings import HubSettings
from hub.dev.stack.registry import RegistryStack
from hub.domain.actors import Actor, ActorFilters
from hub.domain.geo import get_geography
from hub.domain.matching import TerritoryIndex
from schemas import get_codec
from schemas.confluent import IDS
from tests.support.demandes import demande_event, new_num_unique
from tests.support.memory import MemoryStore
from tests.support.registry import low_port, private_registry

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(600)]
HERE, THERE = "85191", "85194"
KINDS = {"DEMANDE", "COPIE", "RETRAIT", "RADIATION", "EVENEMENT"}


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryStack]:
    # built once per user (the app does not change for a version), run from a private home
    with private_registry(tmp_path_factory) as stack:
        yield stack


@pytest.fixture(scope="module")
def registry_url(registry: RegistryStack) -> str:
    return registry.api_url


@pytest.fixture()
def confluent(settings: HubSettings, registry_url: str) -> Iterator[HubSettings]:
    conf = settings.model_copy(update={"registry": settings.registry.model_copy(
        update={"url": registry_url, "wire_format": "confluent"})})  # fmt: skip
    yield conf
    feedbytes.use_wire(None)
    IDS.forget()


class KafkaFeedSender:
    """The worker's outputs: feed records to the real broker, the rest kept here (the
    shared hub.demandes is not ours to write)."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer
        self.other: list[tuple[str, bytes]] = []

    async def send(self, topic: str, key: bytes | None, value: bytes) -> Any:
        if topic.startswith(topics.FEED_PREFIX):
            return await self.producer.send(topic, value, key=key)
        self.other.append((topic, value))
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut


def _gp(num: str) -> dict[str, Any]:
    return {"eventId": f"gp-{uuid.uuid4()}", "numUnique": num, "operation": "AJO",
            "idEvenement": 1, "codeTypeEvenement": "VISITE", "catalogueVersion": None,
            "dateSurvenance": "2025-06-02", "auteur": "a1", "commentaire": None,
            "reglementaire": False, "aPublierSurPGP": False, "caracteristiques": {},
            "occurredAt": int(time.time() * 1000), "source": "test"}  # fmt: skip


async def _write_every_kind(settings: HubSettings, actor: Actor) -> set[tuple[str, str]]:
    """Every FeedRecord kind to ``actor``'s feed, through the processor and the GP
    fan-out; the (numUnique, kind) pairs written."""
    codec = get_codec()
    await ensure_topics(settings, [feed_spec(actor.id)])
    index = TerritoryIndex(get_geography(), [actor])
    store = MemoryStore(1)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await producer.start()
    try:
        sender = KafkaFeedSender(producer)
        proc = Processor(index, codec, store, sender, max_consecutive_dead_letters=5)
        held, moved, elsewhere = new_num_unique(), new_num_unique(), new_num_unique()
        offset = iter(range(10_000))

        def rec(name: str, body: dict[str, Any], key: str) -> InputRecord:
            return InputRecord(topics.DEMANDES, 0, next(offset), key.encode(),
                               codec.encode(name, body))  # fmt: skip

        first = ((held, HERE), (moved, HERE), (elsewhere, THERE))
        await proc.process([rec("DemandeEvent", demande_event(n, [c]), n) for n, c in first])
        sent = await evenements.handle(codec.encode("EvenementGP", _gp(held)), held.encode(),
                                       store, index, codec, sender, partition=0)  # fmt: skip
        assert sent == 1
        radiation = {"dateRadiation": "2026-11-20", "motifRadiation": "RADATT"}
        await proc.process([
            rec("DemandeEvent", demande_event(moved, [THERE], operation="MOD"), moved),
            rec("DemandeEvent", demande_event(held, [HERE], operation="RAD",
                                              radiation=radiation), held)])  # fmt: skip
        both = ActorFilters(communes=[HERE, THERE])
        wider = actor.model_copy(update={"version": 2, "filters": both})
        control = {"controlId": str(uuid.uuid4()), "issuedAt": int(time.time() * 1000),
                   "actor": wider.to_avro()}  # fmt: skip
        await proc.process([rec("DispatchControl", control, actor.id)])
        await producer.flush()
        assert not [t for t, _ in sender.other if t == topics.DLQ], "dead letters"
    finally:
        await producer.stop()
    return {(held, "DEMANDE"), (moved, "DEMANDE"), (held, "EVENEMENT"), (moved, "RETRAIT"),
            (held, "RADIATION"), (moved, "COPIE"), (elsewhere, "COPIE")}  # fmt: skip


async def _raw_feed(settings: HubSettings, actor_id: str) -> list[bytes]:
    consumer = AIOKafkaConsumer(feed_topic := topics.feed_topic(actor_id),
                                bootstrap_servers=settings.kafka.bootstrap_servers,
                                auto_offset_reset="earliest", enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    try:
        values: list[bytes] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            values += [m.value for ms in batch.values() for m in ms]
            tps = list(consumer.assignment())
            ends = await consumer.end_offsets(tps)
            if tps and all([await consumer.position(tp) >= ends[tp] for tp in tps]):
                break
        assert feed_topic and values, "nothing read"
        return values
    finally:
        await consumer.stop()


def _independent_decode(registry_url: str, value: bytes) -> dict[str, Any]:
    """What any Confluent-compatible consumer does, with no code of the hub."""
    assert value[0] == 0, f"magic byte {value[0]}"
    schema_id = int.from_bytes(value[1:5], "big")
    r = httpx.get(f"{registry_url}/schemas/ids/{schema_id}", timeout=10)
    assert r.status_code == 200, r.text
    writer = parse_schema(json.loads(r.json()["schema"]))  # named types inlined: no files
    rec = schemaless_reader(io.BytesIO(value[5:]), writer)
    assert isinstance(rec, dict)
    return rec


def test_every_kind_in_the_confluent_format_read_through_the_registry(
    confluent: HubSettings, registry_url: str
) -> None:
    schema_id = configure_feed_wire(confluent)
    assert schema_id is not None
    actor = Actor(id=f"ccompat-{uuid.uuid4().hex[:8]}", name="registry consumer",
                  kind="bailleur", filters=ActorFilters(communes=[HERE]))  # fmt: skip
    written = asyncio.run(_write_every_kind(confluent, actor))
    values = asyncio.run(_raw_feed(confluent, actor.id))
    assert {v[:5] for v in values} == {b"\x00" + schema_id.to_bytes(4, "big")}
    hub = [get_codec().decode_as(v, "FeedRecord") for v in values]
    mine = [_independent_decode(registry_url, v) for v in values]
    assert {(r["numUnique"], r["kind"]) for r in mine} == written
    assert {r["kind"] for r in mine} == KINDS
    fields = ("kind", "eventId", "numUnique", "operation", "demandeVersion", "profile",
              "reason", "changedFields")  # fmt: skip
    for h, m in zip(hub, mine, strict=True):
        assert tuple(h[f] for f in fields) == tuple(m[f] for f in fields)
        assert (h["demande"] is None) == (m["demande"] is None)
        assert (h["evenement"] or {}).get("codeTypeEvenement") == (
            m["evenement"] or {}).get("codeTypeEvenement")  # fmt: skip
        assert int(m["occurredAt"].timestamp() * 1000) == h["occurredAt"]
    # registering again (a second worker, a restart) gives the same id
    assert configure_feed_wire(confluent) == schema_id
    client = RegistryClient(registry_url)
    current = get_codec().registry.current("FeedRecord").fingerprint
    assert resolver(client, get_codec().registry)(schema_id) == current
    with pytest.raises(RegistryRefused) as refused:  # not an Avro schema: HTTP 4xx
        client.register(FEED_SUBJECT, {"type": "no-such-type"})
    assert not refused.value.retriable
    assert client.schema(2**31 - 1) is None  # unknown id: 404
    client.close()


def test_worker_stops_on_an_unreachable_registry(hub_env: dict[str, str], tmp_path: Path) -> None:
    env = {**hub_env, "HUB_HOME": str(tmp_path), "HUB_REGISTRY__WIRE_FORMAT": "confluent",
           "HUB_REGISTRY__URL": f"http://127.0.0.1:{low_port()}/apis/ccompat/v7",
           "HUB_REGISTRY__REGISTER_TIMEOUT_S": "1",
           "HUB_WORKER__WEB_PORT": str(low_port())}  # fmt: skip
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-c", "from hub.cli import main; main()", "worker"],
                          env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode != 0
    assert "unreachable" in done.stderr and "gave up registering" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert time.monotonic() - t0 < 60


def test_stack_cli_shows_and_stops_the_registry(registry: RegistryStack,
                                                hub_env: dict[str, str]) -> None:  # fmt: skip
    """``hub stack status`` and ``hub stack down`` on the home of this module's registry
    (last in the module: it stops it): a registry that runs is shown and stopped without
    ``--with-registry`` (a newcomer's ``hub stack down`` left its JVM running)."""
    env = {**hub_env, "HUB_HOME": str(registry.root.parent),
           "HUB_STACK__REGISTRY_PORT": str(registry.port),
           "HUB_STACK__KAFKA_PORT": str(low_port())}  # fmt: skip

    def hub(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", "from hub.cli import main; main()", *args],
                              env=env, capture_output=True, text=True, timeout=120)  # fmt: skip

    shown = hub("stack", "status")
    assert f"registry: running (pid {registry.status().pid}) at {registry.api_url}" in shown.stdout
    assert shown.returncode == 3  # this home's broker is not running
    stopped = hub("stack", "down")
    assert "registry: stopped" in stopped.stdout and "postgres" not in stopped.stdout
    assert not registry.status().running and not registry.pid_file.exists()
