"""The SOAP gateway's owed records without a broker (connectors.sne.gateway.owed): a
migrated SQLite store and a publisher that fails on demand. Kafka's acknowledgement
removes a record, a failure keeps it (and the demand's later records behind it), a
demand's records go out in store order, a record Kafka refuses is set aside with its
error without blocking its demand, and the republisher's pass stops at the first failure.
The records are made from the SNE simulator's real answers (HTTP on loopback)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, MessageSizeTooLargeError

from connectors.interfacenuu.mapping import parse_demande_xml
from connectors.sne.client import SneClient
from connectors.sne.gateway.events import accepted_records
from connectors.sne.gateway.owed import OwedRecords, refusal
from connectors.sne.gateway.owed_store import OwedStore, Record
from hub.core import topics
from hub.core.db import make_engine, migrate
from hub.core.errors import InputError, TransientError
from hub.core.settings import SneSettings
from hub.dev.sne_simulator import create_app
from monitoring.metrics import REGISTRY, SNE_GATEWAY_UNPUBLISHED
from schemas import get_codec
from tests.support.sne import ROUEN, new_demande_xml, serve

GAUGE = "passerelle_sne_gateway_unpublished_records"
Fail = Callable[[str, bytes, bytes], BaseException | None]


def kafka_error(cause: Exception) -> TransientError:
    """What the hub's KafkaPublisher raises for ``cause``: a TransientError raised from
    inside the handler of Kafka's error (``from None``: its context)."""
    try:
        raise cause
    except Exception:
        try:
            raise TransientError(f"publish failed: {type(cause).__name__}") from None
        except TransientError as exc:
            return exc
    raise AssertionError("unreachable")


class FakePublisher:
    """Records what it acknowledges; ``fail(topic, key, value)`` returns the exception to
    raise instead (None: acknowledged)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.tries = 0
        self.fail: Fail = lambda _t, _k, _v: None

    async def publish(self, topic: str, key: bytes, value: bytes) -> None:
        self.tries += 1
        exc = self.fail(topic, key, value)
        if exc is not None:
            raise exc
        self.sent.append((topic, key, value))


DOWN: Fail = lambda _t, _k, _v: kafka_error(KafkaConnectionError())  # noqa: E731


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SneClient]:
    db = tmp_path_factory.mktemp("sim-owed") / "sim.db"
    with serve(create_app(f"sqlite:///{db}")) as base:
        yield SneClient(SneSettings(url=f"{base}/sne", retries=0))


def registered(client: SneClient) -> list[Record]:
    """The records the gateway owes for a CRE the simulator accepted (its real answer)."""
    g = "U" + uuid.uuid4().hex[:4].upper()
    flux = new_demande_xml(g, [ROUEN], nom=f"U{g}")
    answer = client.call("getNumUnique", fluxXml=flux)["return"]
    event = parse_demande_xml(flux, validate=False, source="soap-gateway")
    return accepted_records("getNumUnique", event, flux, answer)


def gp_added(client: SneClient, num: str, motif: str) -> list[Record]:
    """The records of a GP event (the simulator's own code REFUS) it accepted on ``num``."""
    flux = (
        '<interfaceNuu xmlns="http://nuu.application.i2/" versionInterface="02.00"><entete>'
        "<typeFichier>AJO</typeFichier><dateFichier>2026-11-23T10:00:00</dateFichier>"
        f"<codeGuichet>G0000</codeGuichet></entete><operation><numUnique>{num}</numUnique>"
        "</operation><listeEvenements><evenement><codeTypeEvenement>REFUS</codeTypeEvenement>"
        "<dateSurvenance>2026-11-02</dateSurvenance><listeCaracteristiquesSpecifiques>"
        f"<caracteristiqueSpecifique><code>MOTIF</code><valeurCaracteristiqueSpecifique>{motif}"
        "</valeurCaracteristiqueSpecifique></caracteristiqueSpecifique>"
        "</listeCaracteristiquesSpecifiques></evenement></listeEvenements></interfaceNuu>"
    ).encode()
    answer = client.call("ajouterEvenementDemande", fluxXml=flux)["return"]
    return accepted_records("ajouterEvenementDemande", None, flux, answer)


@pytest.fixture
def owed(tmp_path: Path) -> tuple[OwedRecords, FakePublisher]:
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    migrate(engine)
    publisher = FakePublisher()
    return OwedRecords(OwedStore(engine), publisher), publisher


def test_records_of_real_answers_keep_key_value_and_event_id(simulator: SneClient) -> None:
    (demand,) = registered(simulator)
    (gp,) = gp_added(simulator, demand.num_unique, "loin")
    event = get_codec().decode_as(demand.value, "DemandeEvent")
    assert (demand.topic, demand.event_id) == (topics.DEMANDES, event["eventId"])
    assert event["numUnique"] == demand.num_unique and len(demand.num_unique) == 18
    record = get_codec().decode_as(gp.value, "EvenementGP")
    assert (gp.topic, gp.key, gp.event_id) == (topics.EVENEMENTS, demand.key, record["eventId"])


def test_acknowledged_records_are_removed_in_store_order(
    owed: tuple[OwedRecords, FakePublisher], simulator: SneClient
) -> None:
    queue, publisher = owed
    demand = registered(simulator)
    gp = gp_added(simulator, demand[0].num_unique, "loin")
    assert asyncio.run(queue.publish(demand)) and asyncio.run(queue.publish(gp))
    assert publisher.sent == [(r.topic, r.key, r.value) for r in demand + gp]
    assert queue.store.owed() == [] and queue.store.summary() == (0, None, 0)


def test_a_failure_keeps_the_record_and_holds_the_demand_behind_it(
    owed: tuple[OwedRecords, FakePublisher], simulator: SneClient
) -> None:
    queue, publisher = owed
    demand = registered(simulator)
    num = demand[0].num_unique
    publisher.fail = DOWN
    assert asyncio.run(queue.publish(demand)) is False
    first = queue.store.owed()
    assert [o.record for o in first] == demand and first[0].attempts == 1
    assert first[0].last_error == "publish failed: KafkaConnectionError"
    # Kafka is back for this GP event only: it must not overtake the demand event owed
    publisher.fail = lambda topic, _k, _v: DOWN(topic, _k, _v) if topic == topics.DEMANDES else None
    gp = gp_added(simulator, num, "loin")
    assert asyncio.run(queue.publish(gp)) is False
    assert publisher.sent == [] and [o.record for o in queue.store.owed()] == demand + gp
    # another demand is not held by this one
    other = gp_added(simulator, registered(simulator)[0].num_unique, "x")
    assert asyncio.run(queue.publish(other))
    assert publisher.sent == [(r.topic, r.key, r.value) for r in other]
    publisher.sent.clear()
    publisher.fail = lambda _t, _k, _v: None
    later = gp_added(simulator, num, "trop cher")
    assert asyncio.run(queue.publish(later))  # the owed ones first, then the new one
    assert publisher.sent == [(r.topic, r.key, r.value) for r in demand + gp + later]
    assert queue.store.owed() == []


def test_what_kafka_took_before_a_failure_is_recorded(
    owed: tuple[OwedRecords, FakePublisher], simulator: SneClient
) -> None:
    queue, publisher = owed
    demand = registered(simulator)
    gp1 = gp_added(simulator, demand[0].num_unique, "a")
    gp2 = gp_added(simulator, demand[0].num_unique, "b")
    publisher.fail = lambda _t, _k, value: DOWN(_t, _k, value) if value == gp1[0].value else None
    assert asyncio.run(queue.publish(demand + gp1 + gp2)) is False
    assert publisher.sent == [(demand[0].topic, demand[0].key, demand[0].value)]
    assert [o.record for o in queue.store.owed()] == gp1 + gp2  # gp2 never tried: held


def test_a_record_kafka_refuses_is_set_aside_without_blocking_its_demand(
    owed: tuple[OwedRecords, FakePublisher], simulator: SneClient
) -> None:
    queue, publisher = owed
    demand = registered(simulator)
    num = demand[0].num_unique
    big = Record(topics.EVENEMENTS, demand[0].key, b"x" * 2_000_000, "big-1", "test")
    gp = gp_added(simulator, num, "loin")
    publisher.fail = lambda _t, _k, value: (
        kafka_error(MessageSizeTooLargeError()) if len(value) > 1_000_000 else None
    )
    assert asyncio.run(queue.publish([*demand, big, *gp]))
    assert publisher.sent == [(r.topic, r.key, r.value) for r in demand + gp]
    assert queue.store.owed() == [] and queue.store.summary()[::2] == (0, 1)
    (refused,) = queue.store.refused()
    assert refused.record == big and refused.last_error == "MessageSizeTooLargeError"
    assert refused.refused_at is not None
    # the gateway's next start tries it again; Kafka still refuses it: set aside again
    publisher.sent.clear()
    run = asyncio.run(_first_pass(queue))
    assert run and publisher.sent == [] and queue.store.refused()[0].attempts == 2
    assert REGISTRY.get_sample_value(GAUGE, {"state": "refused"}) == 1
    publisher.fail = lambda _t, _k, _v: None  # the topic's limit raised, then a restart
    asyncio.run(_first_pass(queue))
    assert publisher.sent == [(big.topic, big.key, big.value)]
    assert queue.store.summary() == (0, None, 0)


def test_the_republisher_goes_demand_by_demand_and_stops_at_the_first_failure(
    owed: tuple[OwedRecords, FakePublisher], simulator: SneClient
) -> None:
    queue, publisher = owed
    publisher.fail = DOWN
    first, second = registered(simulator), registered(simulator)
    for records in (first, second, gp_added(simulator, first[0].num_unique, "a")):
        asyncio.run(queue.publish(records))
    assert queue.store.demands(10) == [first[0].num_unique, second[0].num_unique]
    publisher.tries = 0
    assert asyncio.run(queue.republish()) == 0
    assert publisher.tries == 1  # Kafka down: one wait per pass, not one per demand
    assert REGISTRY.get_sample_value(GAUGE, {"state": "owed"}) == 3
    publisher.fail = lambda _t, _k, _v: None
    assert asyncio.run(queue.republish()) == 3
    assert [k for _t, k, _v in publisher.sent] == [first[0].key, first[0].key, second[0].key]
    assert REGISTRY.get_sample_value(GAUGE, {"state": "owed"}) == 0


def test_refusal_tells_a_refused_record_from_a_failure_that_may_pass() -> None:
    assert refusal(kafka_error(MessageSizeTooLargeError())) == "MessageSizeTooLargeError"
    assert refusal(MessageSizeTooLargeError()) == "MessageSizeTooLargeError"
    assert refusal(InputError("no", code="too_big")) == "too_big"
    # non-retriable for aiokafka, but not about the record: it waits, in order
    for cause in (KafkaTimeoutError(), KafkaConnectionError()):
        assert refusal(kafka_error(cause)) is None
    assert refusal(TransientError("Kafka unavailable: TimeoutError")) is None
    assert refusal(RuntimeError("a bug")) is None


async def _first_pass(queue: OwedRecords) -> bool:
    """Run the republisher's loop (a gateway's start) until its first pass has set the
    gauge (marked -1 before), then cancel it; whether it was still running then."""
    SNE_GATEWAY_UNPUBLISHED.labels(state="owed").set(-1)
    task = asyncio.create_task(queue.run(3600))
    for _ in range(200):  # 20 s at most on a loaded machine
        await asyncio.sleep(0.1)
        if REGISTRY.get_sample_value(GAUGE, {"state": "owed"}) != -1:
            break
    alive = not task.done()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return alive
