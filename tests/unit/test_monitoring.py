"""Monitoring without a broker: metric values after a known batch, stall detection, the
DLQ replay header read by the processor, connector call accounting."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest
from aiokafka.partitioner import murmur2

from dispatch.letters import REPLAY_HEADER, replay_info
from dispatch.processor import InputRecord, Processor
from dispatch.recording import record_batch
from hub.core import topics
from hub.core.errors import TransientError
from hub.domain.actors import Actor, ActorFilters
from hub.domain.matching import TerritoryIndex
from monitoring import recorder
from monitoring.exposition import metrics_payload
from monitoring.health import CommitWatch, report
from monitoring.metrics import REGISTRY
from tests.support.demandes import demande_event, new_num_unique
from tests.support.memory import MemorySender, MemoryStore

ROUEN, LE_HAVRE = "76540", "76351"
N = 4


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def rec(codec, body: dict, offset: int, headers=()) -> InputRecord:  # type: ignore[no-untyped-def]
    key = body["numUnique"].encode()
    return InputRecord(
        topics.DEMANDES,
        (murmur2(key) & 0x7FFFFFFF) % N,
        offset,
        key,
        codec.encode("DemandeEvent", body),
        tuple(headers),
        int(time.time() * 1000),  # the Kafka timestamp: ingested now
    )


def world(geography, codec, *actor_ids_filters):  # type: ignore[no-untyped-def]
    actors = [
        Actor(id=a, name=a, kind="bailleur", filters=ActorFilters(**f))
        for a, f in actor_ids_filters
    ]
    sender = MemorySender()
    return Processor(TerritoryIndex(geography, actors), codec, MemoryStore(N), sender), sender


def test_metric_values_after_a_known_batch(geography, codec) -> None:  # type: ignore[no-untyped-def]
    rouen, havre = f"m-rouen-{uuid.uuid4().hex[:6]}", f"m-havre-{uuid.uuid4().hex[:6]}"
    proc, _ = world(
        geography, codec, (rouen, {"communes": [ROUEN]}), (havre, {"communes": [LE_HAVRE]})
    )
    a, b = new_num_unique(), new_num_unique()
    hour_ago = int((time.time() - 3600) * 1000)
    batch = [
        rec(codec, demande_event(a, [ROUEN]), 1),
        rec(codec, demande_event(b, [ROUEN], occurred_at=hour_ago), 2),
        rec(codec, demande_event(a, [LE_HAVRE], operation="MOD"), 3),
        rec(codec, demande_event(b, [ROUEN], operation="BAD"), 4),  # bad_operation
        InputRecord(topics.DEMANDES, 0, 5, b"k", b"\x00garbage"),  # undecodable
    ]
    before = {
        "cre": value("passerelle_events_in_total", topic=topics.DEMANDES, operation="CRE"),
        "mod": value("passerelle_events_in_total", topic=topics.DEMANDES, operation="MOD"),
        "invalid": value("passerelle_events_in_total", topic=topics.DEMANDES, operation="INVALID"),
        "undec": value(
            "passerelle_events_in_total", topic=topics.DEMANDES, operation="UNDECODABLE"
        ),
        "bad_op": value("passerelle_dead_letters_total", reason="bad_operation"),
        "lat_count": value("passerelle_dispatch_latency_seconds_count"),
        "age_600": value("passerelle_document_age_seconds_bucket", le="900.0"),
        "lat_1": value("passerelle_dispatch_latency_seconds_bucket", le="1.0"),
        "batches": value("passerelle_dispatch_batch_inputs_count"),
        "inputs": value("passerelle_dispatch_batch_inputs_sum"),
    }
    stats = asyncio.run(proc.process(batch))
    record_batch(stats)

    assert value("passerelle_feed_records_out_total", actor=rouen, kind="DEMANDE") == 2
    assert value("passerelle_feed_records_out_total", actor=rouen, kind="RETRAIT") == 1
    assert value("passerelle_feed_records_out_total", actor=havre, kind="DEMANDE") == 1
    assert (
        value("passerelle_events_in_total", topic=topics.DEMANDES, operation="CRE") - before["cre"]
        == 2
    )
    assert (
        value("passerelle_events_in_total", topic=topics.DEMANDES, operation="MOD") - before["mod"]
        == 1
    )
    # an invalid operation code read from input never becomes a label value
    assert (
        value("passerelle_events_in_total", topic=topics.DEMANDES, operation="INVALID")
        - before["invalid"]
        == 1
    )
    assert value("passerelle_events_in_total", topic=topics.DEMANDES, operation="BAD") == 0
    assert (
        value("passerelle_events_in_total", topic=topics.DEMANDES, operation="UNDECODABLE")
        - before["undec"]
        == 1
    )
    assert value("passerelle_dead_letters_total", reason="bad_operation") - before["bad_op"] == 1
    # three events decided, all ingested now: under a second each; the hour-old document
    # is the one above 900 s of document age
    assert value("passerelle_dispatch_latency_seconds_count") - before["lat_count"] == 3
    assert value("passerelle_dispatch_latency_seconds_bucket", le="1.0") - before["lat_1"] == 3
    assert value("passerelle_document_age_seconds_bucket", le="900.0") - before["age_600"] == 2
    assert value("passerelle_dispatch_batch_inputs_count") - before["batches"] == 1
    assert value("passerelle_dispatch_batch_inputs_sum") - before["inputs"] == len(batch)
    body, content_type = metrics_payload("worker")
    assert content_type.startswith("text/plain")
    assert (
        f'passerelle_feed_records_out_total{{actor="{havre}",kind="DEMANDE"}} 1.0' in body.decode()
    )


AGENTS = {"hub.demandes": "dispatch"}
P0, P1 = ("hub.demandes", 0), ("hub.demandes", 1)


def test_stall_is_a_committed_offset_unmoved_while_input_waits() -> None:
    now = [1000.0]
    w = CommitWatch(60, 20, clock=lambda: now[0])
    w.assigned({P0, P1})
    w.read({P0: (5, 5, 0), P1: (None, 0, 0)})
    now[0] += 61
    w.read({P0: (5, 5, 0), P1: (None, 0, 0)})
    v = w.verdict(AGENTS)
    assert v.healthy  # idle with nothing to do is healthy, however long
    # input lands on P0 after 61 s of idleness: not stalled at once (audit S, S-F1: the
    # first record of the morning turned /health 503), only once it waited 60 s unread
    w.read({P0: (5, 9, 0), P1: (None, 0, 0)})
    assert w.verdict(AGENTS).healthy  # unmoved since t=1000, but waiting only since now
    now[0] += 59
    w.read({P0: (5, 9, 0), P1: (None, 0, 0)})
    assert w.verdict(AGENTS).healthy
    now[0] += 2
    w.read({P0: (5, 10, 0), P1: (None, 0, 0)})  # more input behind it changes nothing
    assert w.verdict(AGENTS).healthy is False  # waited 61 s, its commit unmoved
    status, body = report(w.verdict(AGENTS))
    assert status == 503 and body["status"] == "stalled" and body["stalled"] == ["dispatch"]
    assert body["partitions"]["hub.demandes/0"]["lag"] == 5  # type: ignore[index]
    # the commit moves: healthy again, and the clock restarts
    w.read({P0: (7, 10, 0), P1: (None, 0, 0)})
    now[0] += 30
    w.read({P0: (7, 10, 0), P1: (None, 0, 0)})
    assert w.verdict(AGENTS).healthy
    now[0] += 31
    w.read({P0: (7, 10, 0), P1: (None, 0, 0)})
    assert not w.verdict(AGENTS).healthy
    # caught up, then idle past the delay, then a record: healthy until it waited 60 s
    w.read({P0: (10, 10, 0), P1: (None, 0, 0)})
    now[0] += 120
    w.read({P0: (10, 11, 0), P1: (None, 0, 0)})
    assert w.verdict(AGENTS).healthy
    # a new assignment: time counts from now for a partition got again
    w.assigned({P1})
    w.assigned({P0, P1})
    assert w.verdict(AGENTS).healthy


def test_lag_counts_from_the_committed_offset_not_the_read_position() -> None:
    w = CommitWatch(60, 20, clock=lambda: 0.0)
    w.assigned({P0})
    w.read({P0: (None, 11, 0)})  # nothing committed: the whole partition is lag
    assert [p.lag for p in w.verdict(AGENTS).partitions] == [11]


def test_nothing_committed_counts_from_the_logs_first_offset() -> None:
    """Records below the log's first offset are gone (retention, DeleteRecords): a group
    that never committed over a log emptied so waits for nothing, and is never stalled;
    over a log of 4 records from offset 7 it waits for those 4."""
    now = [0.0]
    w = CommitWatch(60, 20, clock=lambda: now[0])
    w.assigned({P0, P1})
    w.read({P0: (None, 11, 11), P1: (None, 11, 7)})
    now[0] += 100
    p0, p1 = w.verdict(AGENTS).partitions
    assert (p0.lag, p0.stalled) == (0, False)
    assert (p1.lag, p1.stalled) == (4, True)


def test_broker_silent_too_long_is_unhealthy() -> None:
    now = [0.0]
    w = CommitWatch(60, 20, clock=lambda: now[0])
    w.assigned({P0})
    now[0] += 100
    assert w.verdict(AGENTS).healthy  # starting: no reading attempted yet
    w.attempted()
    w.read({P0: (3, 3, 0)})
    now[0] += 19
    assert w.verdict(AGENTS).healthy
    w.attempted()  # attempts that fail teach nothing
    now[0] += 2  # no reading for 21 s
    status, body = report(w.verdict(AGENTS))
    assert status == 503 and body["status"] == "broker_unreachable"
    w.read({P0: (3, 3, 0)})
    assert w.verdict(AGENTS).healthy


def test_replayed_record_failing_again_keeps_its_history(geography, codec) -> None:  # type: ignore[no-untyped-def]
    proc, sender = world(geography, codec)
    num = new_num_unique()
    first = {
        "reason": "bad_operation",
        "message": "unknown operation code",
        "failedAt": 1_700_000_000_000,
    }
    header = json.dumps({"attempts": 1, "history": [first], "from": "hub.dlq:0:7"}).encode()
    bad = demande_event(num, [ROUEN], operation="BAD")
    stats = asyncio.run(proc.process([rec(codec, bad, 9, [(REPLAY_HEADER, header)])]))
    assert stats.replays == {topics.DEMANDES: 1} and stats.dead_letters == 1
    ((_, raw),) = sender.sent[topics.DLQ]
    letter = codec.decode_as(raw, "DeadLetter")
    assert letter["attempts"] == 2
    assert [h["reason"] for h in letter["history"]] == ["bad_operation"]
    assert letter["history"][0]["failedAt"] == first["failedAt"]
    # a malformed header does not break anything: a first failure
    assert replay_info([(REPLAY_HEADER, b"{not json")]) is None
    stats = asyncio.run(proc.process([rec(codec, bad, 10, [(REPLAY_HEADER, b"[1]")])]))
    letter = codec.decode_as(sender.sent[topics.DLQ][-1][1], "DeadLetter")
    assert letter["attempts"] == 1 and letter["history"] == []


def test_connector_call_outcomes() -> None:
    c = f"test-{uuid.uuid4().hex[:6]}"
    with recorder.connector_call(c, "deposer") as call:
        call["outcome"] = "business_error"
    with pytest.raises(TransientError), recorder.connector_call(c, "deposer"):
        raise TransientError("connection refused")
    with pytest.raises(TimeoutError), recorder.connector_call(c, "deposer"):
        raise TimeoutError
    with recorder.connector_call(c, "deposer"):
        pass
    for outcome in ("ok", "business_error", "transport_error", "timeout"):
        assert (
            value(
                "passerelle_connector_calls_total",
                connector=c,
                operation="deposer",
                outcome=outcome,
            )
            == 1
        )
    assert (
        value("passerelle_connector_call_duration_seconds_count", connector=c, operation="deposer")
        == 4
    )
    recorder.webhook_retry(c)
    recorder.outbox_depth(c, 7)
    recorder.sne_poll_succeeded(c, 1000.0, now=1600.0)
    assert value("passerelle_webhook_retries_total", actor=c) == 1
    assert value("passerelle_outbox_depth", actor=c) == 7
    assert value("passerelle_sne_poller_behind_seconds", poller=c) == 600
    assert value("passerelle_sne_poller_last_success_timestamp_seconds", poller=c) == 1600


def test_starlette_helper_serves_the_process_metrics() -> None:
    from starlette.applications import Starlette
    from starlette.routing import Route
    from starlette.testclient import TestClient

    actor = f"api-{uuid.uuid4().hex[:6]}"
    recorder.outbox_depth(actor, 3)
    from monitoring.exposition import metrics_response

    app = Starlette(routes=[Route("/metrics", lambda request: metrics_response("deliver"))])
    resp = TestClient(app).get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == metrics_payload("deliver")[1]
    assert f'passerelle_outbox_depth{{actor="{actor}"}} 3.0' in resp.text


def test_one_latency_observation_per_decided_event_from_its_ingest(geography, codec) -> None:  # type: ignore[no-untyped-def]
    """Issue 17 point 3: latency counts from the record's Kafka timestamp, once per event
    decided, with or without recipients (events reaching nobody were not observed); the
    document's age (occurredAt) is its own metric."""
    index = TerritoryIndex(geography, [Actor(id="r", name="r", kind="bailleur",
                                             filters=ActorFilters(communes=[ROUEN]))])  # fmt: skip
    proc = Processor(index, codec, MemoryStore(1), MemorySender())
    now = time.time()
    day_old = int((now - 86400) * 1000)
    events = [
        demande_event(new_num_unique(), [ROUEN], occurred_at=day_old),
        demande_event(new_num_unique(), [LE_HAVRE], occurred_at=day_old),
    ]  # nobody
    recs = [InputRecord(topics.DEMANDES, 0, i, e["numUnique"].encode(),
                        codec.encode("DemandeEvent", e), timestamp_ms=int((now - 0.2) * 1000))
            for i, e in enumerate(events)]  # fmt: skip

    def value(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    before = {n: value(n) for n in ("passerelle_dispatch_latency_seconds_count",
                                    "passerelle_document_age_seconds_count")}  # fmt: skip
    fast = value("passerelle_dispatch_latency_seconds_bucket", le="1.0")
    old = value("passerelle_document_age_seconds_bucket", le="3600.0")
    stats = asyncio.run(proc.process(recs))
    record_batch(stats, now=now)
    assert (
        value("passerelle_dispatch_latency_seconds_count")
        - before["passerelle_dispatch_latency_seconds_count"]
        == 2
    )
    assert value("passerelle_dispatch_latency_seconds_bucket", le="1.0") - fast == 2
    assert (
        value("passerelle_document_age_seconds_count")
        - before["passerelle_document_age_seconds_count"]
        == 2
    )
    assert value("passerelle_document_age_seconds_bucket", le="3600.0") == old  # a day old
    # a replay of events already stored is not decided again: no new observation
    stats = asyncio.run(proc.process(recs))
    assert stats.decided == [] and stats.skipped == 2


def test_replays_are_counted_under_the_replayed_records_topic() -> None:
    """Audit S: passerelle_dlq_replays_total took its topic label from the batch's first
    input, not from the replayed record: a replay of hub.demandes behind a gestion
    partagée event counted under hub.evenements."""
    from dispatch.batchstats import BatchStats

    def value(topic: str) -> float:
        return REGISTRY.get_sample_value("passerelle_dlq_replays_total", {"topic": topic}) or 0.0

    before = value(topics.DEMANDES), value(topics.EVENEMENTS)
    stats = BatchStats()
    stats.inputs = {(topics.EVENEMENTS, "AJOUT"): 3, (topics.DEMANDES, "CRE"): 1}
    stats.replays = {topics.DEMANDES: 1}
    record_batch(stats)
    assert (value(topics.DEMANDES), value(topics.EVENEMENTS)) == (before[0] + 1, before[1])
