"""The audit recorder's stopped feeds (hub.stores.audit.stops, the retry of
hub.stores.audit.recorder) without a broker: what is said, when it is tried again, one
registry question per schema id, a partition another member took is forgotten. The
broker and registry end to end: tests/integration/test_audit_registry_stop.py."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest
from aiokafka import TopicPartition

from hub.core.backoff import Backoff
from hub.core.errors import DecodeError
from hub.core.settings import HubSettings
from hub.stores.audit.recorder import AuditRecorder
from hub.stores.audit.stops import Stops, is_unresolved, schema_header, stop_line
from schemas import get_codec
from schemas.confluent import IDS, frame
from tests.support.demandes import demande_event, new_num_unique

URL = "http://registry.example:8081/apis/ccompat/v7"


def _settings(url: str = "") -> HubSettings:
    base = HubSettings()
    return base.model_copy(update={"registry": base.registry.model_copy(update={"url": url})})


def _single() -> bytes:
    num = new_num_unique()
    return get_codec().encode("FeedRecord", {
        "kind": "DEMANDE", "eventId": str(uuid.uuid4()), "numUnique": num, "operation": "CRE",
        "demandeVersion": 1, "occurredAt": 1, "dispatchedAt": 1_700_000_000_000,
        "profile": "consultant_simple", "reason": None, "changedFields": [],
        "demande": demande_event(num, ["76540"])["demande"], "evenement": None})  # fmt: skip


def test_lines_say_where_why_and_what_to_fix() -> None:
    framed = frame(9, _single()[10:])
    exc = DecodeError("unknown schema id 9", code="unknown_schema")
    assert is_unresolved(exc) and not is_unresolved(DecodeError("bad marker"))
    line = stop_line(_settings(URL), "hub.feed.a", 12, framed, exc)
    assert line.startswith("audit of hub.feed.a stopped at offset 12 (unknown schema id 9): "
                           f"the registry at {URL} (HUB_REGISTRY__URL) does not hold")  # fmt: skip
    assert line.endswith("nothing after it on this feed is recorded until it does")
    assert "HUB_REGISTRY__URL is empty" in stop_line(_settings(), "hub.feed.a", 0, framed, exc)
    newer = b"\xc3\x01" + bytes(8) + b"body"
    fp = DecodeError("unknown writer schema fingerprint 00", code="unknown_schema")
    assert "upgrade 'hub audit record'" in stop_line(_settings(URL), "hub.feed.a", 0, newer, fp)
    assert "\n" not in line and "body" not in line  # one line, never the record
    assert schema_header(framed) == framed[:5] and schema_header(newer) == newer[:10]


def test_a_stop_is_news_once_and_said_again_every_remind_interval() -> None:
    now = [100.0]
    stops = Stops(backoff=Backoff(1.0, 4.0, jitter=(1.0, 1.0)), remind_s=10.0,
                  clock=lambda: now[0])  # fmt: skip
    tp = TopicPartition("hub.feed.a", 0)
    assert stops.stop(tp, 5, b"\x00\x00\x00\x00\x01", "line")
    assert not stops.stop(tp, 5, b"\x00\x00\x00\x00\x01", "line")  # read again: not news
    assert stops.due() == []
    now[0] += 1.0
    (s,) = stops.due()
    assert not stops.again(s) and s.next_try == 103.0  # 2 s after the second failure
    now[0] += 10.0
    assert stops.again(s) and s.next_try == 115.0  # capped at 4 s; said again after 10 s
    assert stops.stop(tp, 9, b"\x00\x00\x00\x00\x02", "other")  # stopped further on: news
    assert stops.summary() == "other"
    stops.stop(TopicPartition("hub.feed.b", 0), 0, b"\x00", "b")
    assert stops.summary() == "other (1 more feed(s) stopped too: see the log)"


class FakeConsumer:
    """The few calls the recorder's retry makes."""

    def __init__(self, assigned: set[TopicPartition]) -> None:
        self.assigned = assigned
        self.paused: set[TopicPartition] = set(assigned)
        self.positions: dict[TopicPartition, int] = {}

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.positions[tp] = offset

    def resume(self, tp: TopicPartition) -> None:
        self.paused.discard(tp)


def test_retry_asks_once_per_id_and_resumes_when_it_resolves(
        caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    value = _single()
    fp = bytes(value[2:10])
    framed = [frame(4, value[10:]), frame(4, _single()[10:])]
    asked: list[int] = []
    answer: list[bytes | None] = [None]

    def resolver(schema_id: int) -> bytes | None:
        asked.append(schema_id)
        return answer[0]

    a, b, gone = (TopicPartition(f"hub.feed.{n}", 0) for n in "abc")
    fake = FakeConsumer({a, b})
    now = [0.0]

    async def go() -> AuditRecorder:
        recorder = AuditRecorder(_settings(URL), engine=None,  # type: ignore[arg-type]
                                 stop_backoff=Backoff(1.0, 1.0, jitter=(1.0, 1.0)))  # fmt: skip
        await recorder.consumer.stop()  # never started: the fake stands in for it
        recorder.consumer = fake
        recorder.stops.clock = lambda: now[0]
        for tp, v in ((a, framed[0]), (b, framed[1]), (gone, framed[0])):
            recorder.stops.stop(tp, 3, v, f"line {tp.topic}")
        now[0] = 1.0
        await recorder._retry_stops()  # 404: one question for the three feeds on id 4
        assert asked == [4] and gone not in recorder.stops  # another member owns it
        assert a in recorder.stops and b in recorder.stops and fake.paused == {a, b}
        answer[0] = fp
        now[0] = 2.0
        await recorder._retry_stops()
        return recorder

    IDS.forget()
    IDS.resolver = resolver
    caplog.set_level(logging.WARNING, logger="hub.stores.audit.recorder")
    try:
        recorder = asyncio.run(go())
    finally:
        IDS.forget()
    assert asked == [4, 4] and not recorder.stops
    assert fake.paused == set() and fake.positions == {a: 3, b: 3}
    said = sorted(r.getMessage()[:40] for r in caplog.records
                  if r.name == "hub.stores.audit.recorder")  # fmt: skip
    assert said == ["audit of hub.feed.a resumes at offset 3:",
                    "audit of hub.feed.b resumes at offset 3:"]  # fmt: skip


def test_the_gauge_counts_the_partitions_held() -> None:
    """passerelle_audit_feeds_stopped follows the stops (alert PasserelleAuditFeedStopped)."""
    from monitoring import metrics

    def gauge() -> float | None:
        return metrics.REGISTRY.get_sample_value("passerelle_audit_feeds_stopped")

    stops = Stops()
    a, b = TopicPartition("hub.feed.a", 0), TopicPartition("hub.feed.b", 0)
    stops.stop(a, 3, b"x", "line a")
    stops.stop(b, 7, b"y", "line b")
    assert gauge() == 2
    stops.drop(a)
    assert gauge() == 1
    stops.drop(b)
    assert gauge() == 0
