"""The API's feed reader with consumers kept open (``hub.core.kafka.feed_pool``) on the real
broker: the pages it reads are those a consumer per page reads (the one-shot
``read_feed_page``: the reference), whatever the offset and limit, over a feed with
transaction markers; a feed created after a miss is found; concurrent reads beyond the
pool's size all answer, on at most ``size`` consumers; a consumer whose read failed is
not used again; the REST API answers a caller's requests on the pool's consumers instead
of starting one per request."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from hub.core import topics
from hub.core.errors import NotFoundError, TransientError
from hub.core.kafka.admin import ensure_topics, feed_spec
from hub.core.kafka.client import producer_options
from hub.core.kafka.feed_pages import read_feed_page
from hub.core.kafka.feed_pool import FeedPages
from hub.core.settings import HubSettings
from schemas import get_codec
from tests.support.demandes import demande_event, new_num_unique

pytestmark = pytest.mark.kafka
HERE = "76540"


def _record(num: str, version: int) -> bytes:
    return get_codec().encode("FeedRecord", {
        "kind": "DEMANDE", "eventId": str(uuid.uuid4()), "numUnique": num, "operation": "CRE",
        "demandeVersion": version, "occurredAt": 1, "dispatchedAt": 1_700_000_000_000,
        "profile": "consultant_simple", "reason": None, "changedFields": [],
        "demande": demande_event(num, [HERE])["demande"], "evenement": None})  # fmt: skip


async def _fill(settings: HubSettings, actor_id: str, count: int, *,
                transactional: bool = False) -> None:  # fmt: skip
    """``count`` records on the actor's feed; in transactions of 5 (markers between them,
    and one aborted transaction) when ``transactional``."""
    await ensure_topics(settings, [feed_spec(actor_id)])
    topic = topics.feed_topic(actor_id)
    if not transactional:
        producer = AIOKafkaProducer(**producer_options(settings))
        await producer.start()
        try:
            for i in range(count):
                await producer.send(topic, _record(new_num_unique(), i + 1), key=b"k")
            await producer.flush()
        finally:
            await producer.stop()
        return
    producer = AIOKafkaProducer(**producer_options(settings),
                                transactional_id=f"pool-{uuid.uuid4().hex[:6]}")  # fmt: skip
    await producer.start()
    try:
        for first in range(0, count, 5):
            async with producer.transaction():
                for i in range(first, min(first + 5, count)):
                    await producer.send(topic, _record(new_num_unique(), i + 1), key=b"k")
            if first == 10:
                await producer.begin_transaction()
                await producer.send(topic, _record(new_num_unique(), 99), key=b"k")
                await producer.abort_transaction()
    finally:
        await producer.stop()


def _count_starts(monkeypatch: pytest.MonkeyPatch) -> list[AIOKafkaConsumer]:
    """The consumers started from now on (in any thread: the API's test client's too)."""
    started: list[AIOKafkaConsumer] = []
    real_start = AIOKafkaConsumer.start

    async def counted(self: AIOKafkaConsumer) -> None:
        started.append(self)
        await real_start(self)

    monkeypatch.setattr(AIOKafkaConsumer, "start", counted)
    return started


def _same(a: tuple[list[dict[str, Any]], int, int], b: tuple[list[dict[str, Any]], int, int],
          ) -> bool:  # fmt: skip
    return ([(r["offset"], r["numUnique"]) for r in a[0]], a[1], a[2]) == (
        [(r["offset"], r["numUnique"]) for r in b[0]], b[1], b[2])  # fmt: skip


def test_pages_are_those_of_a_consumer_per_page(settings: HubSettings) -> None:
    actor = f"pool-{uuid.uuid4().hex[:8]}"
    asyncio.run(_fill(settings, actor, 23, transactional=True))
    loop = asyncio.new_event_loop()
    pages = FeedPages(settings, size=2)
    try:
        @hsettings(max_examples=40, deadline=None,
                   suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
        @given(offset=st.integers(0, 40), limit=st.integers(1, 30))
        def same_page(offset: int, limit: int) -> None:
            pooled = loop.run_until_complete(pages.read(actor, offset, limit))
            alone = loop.run_until_complete(read_feed_page(settings, actor, offset, limit))
            assert _same(pooled, alone), (offset, limit, pooled[1:], alone[1:])

        same_page()
        # a feed that does not exist yet, then does
        later = f"pool-later-{uuid.uuid4().hex[:8]}"
        with pytest.raises(NotFoundError):
            loop.run_until_complete(pages.read(later, 0, 10))
        loop.run_until_complete(_fill(settings, later, 3))
        found = loop.run_until_complete(pages.read(later, 0, 10))
        assert [r["offset"] for r in found[0]] == [0, 1, 2] and found[1:] == (3, 3)
    finally:
        loop.run_until_complete(pages.close())
        loop.close()


def test_concurrent_reads_share_at_most_size_consumers(
        settings: HubSettings, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    actor = f"pool-{uuid.uuid4().hex[:8]}"
    asyncio.run(_fill(settings, actor, 12))
    started = _count_starts(monkeypatch)

    async def scenario() -> None:
        pages = FeedPages(settings, size=3)
        try:
            for _ in range(2):
                got = await asyncio.gather(*[pages.read(actor, i, 2) for i in range(12)])
                assert [p[0][0]["offset"] for p in got] == list(range(12))
                assert all(p[2] == 12 for p in got)
        finally:
            await pages.close()

    asyncio.run(scenario())
    assert 1 <= len(started) <= 3, len(started)


def test_a_consumer_that_failed_is_not_used_again(settings: HubSettings) -> None:
    actor = f"pool-{uuid.uuid4().hex[:8]}"
    asyncio.run(_fill(settings, actor, 3))

    async def scenario() -> None:
        pages = FeedPages(settings, size=1)
        try:
            await pages.read(actor, 0, 3)
            (first,) = pages._idle
            # a read cut by its deadline mid-way (a broker that stops answering): a
            # TransientError, not a hang; its consumer, in an unknown state, is stopped and
            # the next read is served by a new one
            with pytest.raises(TransientError, match="no answer within"):
                await pages.read(actor, 0, 3, timeout_s=1e-6)
            assert first not in pages._idle
            again = await pages.read(actor, 1, 3)
            assert [r["offset"] for r in again[0]] == [1, 2]
            assert pages._idle and pages._idle[0] is not first
        finally:
            await pages.close()

    asyncio.run(scenario())


def test_the_api_reads_feeds_on_kept_consumers(
        worker: Any, actor_service: Any, settings: HubSettings,
        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """Ten feed pages and ten authorization checks of one caller start one consumer, not
    one per request (before: one each, ~160 ms of waiting per check on an idle broker);
    a withdrawal still revokes at the next call (tests/integration/test_api_retrait.py)."""
    from fastapi.testclient import TestClient

    from hub.api.app import create_app
    from hub.core.db import make_engine, migrate
    from hub.domain.actors import Actor, ActorFilters
    from hub.stores.access.keys import KeyStore
    from tests.integration.conftest import collect_feed

    engine = make_engine(settings.database_url)
    migrate(engine)
    suffix = uuid.uuid4().hex[:8]
    headers = {}
    for kind in ("bailleur", "guichet"):
        actor = Actor(id=f"pool-{kind}-{suffix}", name=kind, kind=kind,  # type: ignore[arg-type]
                      profile="consultant_simple", filters=ActorFilters(communes=["76208"]))
        actor_service.add_or_update(actor)
        headers[kind] = {"Authorization": f"Bearer {KeyStore(engine).create(actor.id).key}"}
    num = new_num_unique()
    with TestClient(create_app(settings, engine)) as client:
        r = client.post("/demandes/evenements", headers=headers["guichet"],
                        json=[demande_event(num, ["76208"])])  # fmt: skip
        assert r.status_code == 202, r.text
        got = collect_feed(settings, f"pool-bailleur-{suffix}", worker=worker,
                           until=lambda rs: any(x["numUnique"] == num for x in rs))  # fmt: skip
        assert any(x["numUnique"] == num for x in got), "not dispatched"
        started = _count_starts(monkeypatch)
        for _ in range(10):
            page = client.get("/feed", params={"cursor": 0, "limit": 5},
                              headers=headers["bailleur"])  # fmt: skip
            assert page.status_code == 200 and page.json()["records"], page.text
            r = client.get(f"/demandes/{num}/timeline", headers=headers["bailleur"])
            assert r.status_code == 200, r.text
    assert len(started) == 1, len(started)


def test_a_feed_deleted_by_an_operator_is_looked_up_again(settings: HubSettings) -> None:
    """A feed topic deleted by an operator (review Q, F5: every read then waited its whole
    timeout and answered 503 until the process restarted): at most the first read after the
    deletion fails (503, within its timeout), the next says there is no feed (404), and a
    feed created again is read."""
    from aiokafka.admin import AIOKafkaAdminClient

    from hub.core.kafka.client import client_options

    actor = f"pool-del-{uuid.uuid4().hex[:8]}"

    async def scenario() -> None:
        pages = FeedPages(settings, timeout_s=4.0)
        try:
            await _fill(settings, actor, 3)
            assert len((await pages.read(actor, 0, 10))[0]) == 3
            admin = AIOKafkaAdminClient(**client_options(settings))
            await admin.start()
            try:
                await admin.delete_topics([topics.feed_topic(actor)])
            finally:
                await admin.close()
            await asyncio.sleep(2)
            outcomes = []
            for _ in range(2):
                try:
                    await pages.read(actor, 0, 10)
                    outcomes.append("page")
                except (TransientError, NotFoundError) as exc:
                    outcomes.append(type(exc).__name__)
            assert outcomes[-1] == "NotFoundError", outcomes
            await _fill(settings, actor, 1)
            assert len((await pages.read(actor, 0, 10))[0]) == 1
        finally:
            await pages.close()

    asyncio.run(scenario())


def test_close_stops_a_consumer_still_reading_and_keeps_none_after(
        settings: HubSettings) -> None:  # fmt: skip
    """Review Q, F7: a read in flight when the pool closes stops its consumer when it ends,
    and reads after close() keep no consumer open."""
    actor = f"pool-{uuid.uuid4().hex[:8]}"
    asyncio.run(_fill(settings, actor, 3))

    async def scenario() -> None:
        pages = FeedPages(settings, size=2)
        reading = asyncio.ensure_future(pages.read(actor, 0, 3))
        await asyncio.sleep(0)  # the read has taken its slot
        await pages.close()
        assert len((await reading)[0]) == 3
        assert len((await pages.read(actor, 1, 3))[0]) == 2
        assert pages._idle == []

    asyncio.run(scenario())


def test_records_no_hub_process_wrote_cost_no_good_one(settings: HubSettings) -> None:
    """The Kafka record model's odd-but-legal records in a feed (written by hand or another
    tool): a tombstone (null value), bytes of no schema with headers and no key, between
    good records, one without key. Pages of the pool and of a consumer per page pass over
    them, the cursor moving past: before, a tombstone was a TypeError (HTTP 500) and the
    bytes an 'undecodable' error, for every page and every authorization check of the
    actor from then on."""
    actor = f"pool-odd-{uuid.uuid4().hex[:8]}"
    good = [new_num_unique(), new_num_unique()]

    async def scenario() -> None:
        await ensure_topics(settings, [feed_spec(actor)])
        producer = AIOKafkaProducer(**producer_options(settings))
        await producer.start()
        topic = topics.feed_topic(actor)
        try:
            await producer.send_and_wait(topic, _record(good[0], 1), key=b"k")
            await producer.send_and_wait(topic, None, key=b"k")
            await producer.send_and_wait(topic, b"not avro", headers=[("h", b"\xff")])
            await producer.send_and_wait(topic, _record(good[1], 2))
        finally:
            await producer.stop()
        pages = FeedPages(settings)
        try:
            for read in (pages.read, lambda *a: read_feed_page(settings, *a)):
                records, nxt, end = await read(actor, 0, 10)
                assert [(r["offset"], r["numUnique"]) for r in records] == [
                    (0, good[0]), (3, good[1])] and (nxt, end) == (4, 4)  # fmt: skip
                records, nxt, _ = await read(actor, 1, 2)  # a page of odd records only
                assert records == [] and nxt == 3
        finally:
            await pages.close()

    asyncio.run(scenario())
