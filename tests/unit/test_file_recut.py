"""Independent audit F1 on the DIS file channel: feed records written for the profile an
actor had at dispatch, and written into a DIS file after its profile changed, are written
cut to the profile the registry holds when the file is written — never wider than the
record's own cut.

Records are drawn from the Avro schemas and what each profile may receive is read from
docs/profiles.md (tests/support/recut_cases.py). The outbox runs as ``hub files outbox
--once`` runs it (:func:`connectors.outbound.file.run_actor`, the real registry and audit
on SQLite, the real DIS rendering and file); only the broker is replaced by a consumer
serving the feed's records as Avro, as Kafka holds them. Checked on the file's bytes: each
record's ``profil``, its document index exactly as the page cuts it for the narrower of
the two profiles, no marker nor reference that profile may not have (and, positive
control, those it may), the order, and the audit rows (the profile applied)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest
from aiokafka import TopicPartition
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from pydantic import SecretStr
from sqlalchemy import Engine

from connectors.files import layout
from connectors.outbound import file as outbound_file
from hub.core import topics, xmlsafe
from hub.core.db import make_engine, migrate
from hub.core.settings import DatabaseSettings, HubSettings
from hub.domain.actors import Actor, ActorFilters, Delivery
from hub.stores.audit.store import AuditStore
from hub.stores.registry.store import ActorStore
from schemas import get_codec
from tests.support.recut_cases import (
    as_cut,
    feed_records,
    forbidden,
    full_record,
    narrower,
    present,
    profiles,
)

DIS_NS = "urn:passerelle:fichiers:1"
PIECES_NS = "urn:passerelle:pieces:1"


class Message(NamedTuple):
    offset: int
    value: bytes


class FeedConsumer:
    """Stands for the broker: serves one single-partition feed (Avro values) to
    ``run_actor`` as an ``AIOKafkaConsumer`` of its group would."""

    feeds: dict[str, list[bytes]] = {}  # noqa: RUF012 (set by each test)

    def __init__(self, **_: Any) -> None:
        self.at: dict[TopicPartition, int] = {}
        self.committed_at: dict[TopicPartition, int] = {}

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def assign(self, tps: list[TopicPartition]) -> None:
        self.at = {tp: 0 for tp in tps}

    async def committed(self, tp: TopicPartition) -> int | None:
        return self.committed_at.get(tp)

    async def seek_to_beginning(self, tp: TopicPartition) -> None:
        self.at[tp] = 0

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.at[tp] = offset

    async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: len(self.feeds[tp.topic]) for tp in tps}

    async def position(self, tp: TopicPartition) -> int:
        return self.at[tp]

    async def getmany(
        self, tp: TopicPartition, timeout_ms: int = 0, max_records: int = 500
    ) -> dict[TopicPartition, list[Message]]:
        start = self.at[tp]
        values = self.feeds[tp.topic][start : start + max_records]
        self.at[tp] = start + len(values)
        return {tp: [Message(start + i, v) for i, v in enumerate(values)]}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.committed_at.update(offsets)


async def _partitions(consumer: Any, topic: str) -> list[TopicPartition] | None:
    return [TopicPartition(topic, 0)] if topic in FeedConsumer.feeds else None


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HubSettings, Engine]]:
    folder = tmp_path_factory.mktemp("file-recut")
    url = f"sqlite:///{folder / 'hub.db'}"
    engine = make_engine(url)
    migrate(engine)
    yield HubSettings(home=folder, database=DatabaseSettings(url=SecretStr(url))), engine
    engine.dispose()


def write_after_change(
    db: tuple[HubSettings, Engine], written: list[dict[str, Any]], at_dispatch: str, now: str
) -> tuple[Actor, bytes]:
    """The audit's scenario: ``written`` (records cut for ``at_dispatch``) on the feed of a
    file actor whose profile is ``now`` in the registry when ``hub files outbox --once``
    runs. Returns the actor and its DIS file."""
    s, engine = db
    actor = Actor(
        id=f"f1-file-{uuid.uuid4().hex[:10]}",
        name="F1",
        kind="bailleur",
        profile=at_dispatch,  # type: ignore[arg-type]
        filters=ActorFilters(communes=["76540"]),
        delivery=Delivery(channel="file"),
    )
    registry = ActorStore(engine)
    registry.save(actor)
    codec = get_codec()
    FeedConsumer.feeds = {
        topics.feed_topic(actor.id): [codec.encode("FeedRecord", r) for r in written]
    }
    registry.save(actor.model_copy(update={"profile": now}))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(outbound_file, "AIOKafkaConsumer", FeedConsumer)
        mp.setattr(outbound_file, "topic_partitions", _partitions)
        stats = asyncio.run(outbound_file.run_actor(s, actor, once=True, engine=engine))
    assert stats.counts["files"] == 1
    (path,) = layout.outbox_dir(s, actor).glob("DIS_*.xml")
    return actor, path.read_bytes()


def check_file(
    fulls: list[dict[str, Any]], at_dispatch: str, now: str, db: tuple[HubSettings, Engine]
) -> None:
    applied = narrower(at_dispatch, now)
    written = [as_cut(r, at_dispatch) for r in fulls]
    actor, raw = write_after_change(db, written, at_dispatch, now)
    items = list(xmlsafe.parse(raw).iter(f"{{{DIS_NS}}}enregistrement"))
    assert [int(i.get("offset")) for i in items] == list(range(len(fulls)))
    for item, full in zip(items, fulls, strict=True):
        where = (at_dispatch, now, item.get("offset"), full["kind"])
        assert item.get("nonRendu") is None, where
        assert item.get("profil") == applied, where
        one = bytes(etree.tostring(item))
        for text in forbidden(full, applied):
            assert text.encode() not in one, (*where, "forbidden", text)
        for text in present(full, applied):
            assert text.encode() in one, (*where, "missing", text)
        want = as_cut(full, applied)["demande"]
        pieces = None if want is None else want.get("piecesJustificatives")
        index = item.find(f"{{{PIECES_NS}}}piecesJustificatives")
        if not pieces:
            assert index is None or len(index) == 0, where
            continue
        got = [
            (p.get("categorie"), p.get("type"), p.get("dateDepot"), p.get("reference"))
            for p in index
        ]
        assert got == [
            (p["categorie"], p["type"], p["dateDepot"], p["reference"]) for p in pieces
        ], where
    for text in (t for full in fulls for t in forbidden(full, applied)):
        assert text.encode() not in raw  # nor anywhere else in the file
    audited = AuditStore(db[1]).query(actor_id=actor.id)
    assert len(audited) == sum(r["demande"] is not None for r in fulls)
    assert {a.profile for a in audited} <= {applied}  # what the file holds


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    fulls=st.lists(feed_records(), min_size=1, max_size=4),
    at_dispatch=st.sampled_from(profiles()),
    now=st.sampled_from(profiles()),
)
def test_a_dis_file_holds_what_the_current_profile_may_receive(
    db: tuple[HubSettings, Engine], fulls: list[dict[str, Any]], at_dispatch: str, now: str
) -> None:
    check_file(fulls, at_dispatch, now, db)


def test_downgrade_before_the_outbox_ran(db: tuple[HubSettings, Engine]) -> None:
    """The audit's case (consultant_demande at dispatch, consultant_simple when the file
    is written), and the positive controls: no change, and no widening."""
    check_file(
        [full_record(), full_record("RADIATION")], "consultant_demande", "consultant_simple", db
    )
    check_file([full_record()], "consultant_sensible", "consultant_simple", db)
    check_file([full_record()], "consultant_sensible", "consultant_sensible", db)
    check_file([full_record()], "consultant_demande", "consultant_sensible", db)


def test_the_checks_catch_a_leak(
    db: tuple[HubSettings, Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbound_file, "recut", lambda record, profile: record)
    with pytest.raises(AssertionError):
        check_file([full_record()], "consultant_sensible", "consultant_simple", db)


def test_an_actor_removed_meanwhile_gets_no_file(db: tuple[HubSettings, Engine]) -> None:
    from hub.core.errors import NotFoundError

    s, engine = db
    actor = Actor(
        id=f"f1-gone-{uuid.uuid4().hex[:8]}",
        name="F1",
        kind="bailleur",
        profile="consultant_sensible",
        filters=ActorFilters(communes=["76540"]),
        delivery=Delivery(channel="file"),
    )
    ActorStore(engine).save(actor)
    ActorStore(engine).remove(actor.id)
    FeedConsumer.feeds = {
        topics.feed_topic(actor.id): [get_codec().encode("FeedRecord", full_record())]
    }
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(outbound_file, "AIOKafkaConsumer", FeedConsumer)
        mp.setattr(outbound_file, "topic_partitions", _partitions)
        with pytest.raises(NotFoundError):
            asyncio.run(outbound_file.run_actor(s, actor, once=True, engine=engine))
    assert not list(layout.outbox_dir(s, actor).glob("DIS_*.xml"))
    assert AuditStore(engine).query(actor_id=actor.id) == []
