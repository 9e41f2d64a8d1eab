"""The real `hub worker` exposes the hub's metrics and health: values after a known
workload, lag back to zero, a healthy agent. Counters are read as deltas (the shared
worker served earlier tests), per-actor series use this test's own actor ids, and the
demands published fall on the worker's own partitions (see tests/support/worker_metrics)."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from connectors.ingress.publishing import prepare_event, publish_events
from hub.core import topics
from hub.core.kafka.client import client_options
from hub.domain.actors import Actor, ActorFilters
from tests.integration.conftest import collect_feed
from tests.support.demandes import demande_event
from tests.support.worker_metrics import nums_on, owned_partitions, sample, scrape

pytestmark = pytest.mark.kafka

SOTTEVILLE, LE_HAVRE = "76681", "76351"


def health(port: int) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def wait_for(fn: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = fn()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.3)


def web_port(worker: Any) -> int:
    port = int(worker.env["HUB_WORKER__WEB_PORT"])
    assert wait_for(lambda: _answers(port), 60), "worker web server never answered"
    return port


def _answers(port: int) -> bool:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).close()
        return True
    except OSError:
        return False


async def _publish_raw(settings: Any, key: bytes, value: bytes) -> None:
    producer = AIOKafkaProducer(**client_options(settings))
    await producer.start()
    try:
        await producer.send_and_wait(topics.DEMANDES, value, key=key)
    finally:
        await producer.stop()


def test_metrics_after_a_known_workload(settings, worker, actor_service) -> None:  # type: ignore[no-untyped-def]
    port = web_port(worker)
    sott, havre = f"mx-sott-{uuid.uuid4().hex[:8]}", f"mx-havre-{uuid.uuid4().hex[:8]}"
    actor_service.add_or_update(
        Actor(id=sott, name=sott, kind="bailleur", filters=ActorFilters(communes=[SOTTEVILLE]))
    )
    actor_service.add_or_update(
        Actor(id=havre, name=havre, kind="bailleur", filters=ActorFilters(communes=[LE_HAVRE]))
    )
    before = scrape(port)
    # only demands on this worker's partitions: another session's worker may share the group
    try:
        owned = owned_partitions(port, timeout=30)
    except AssertionError as exc:  # 4+ workers of other sessions in the group: nothing to see
        pytest.skip(f"shared consumer group: {exc}")
    a, b, c, garbage_key = nums_on(owned, 4, settings.kafka.partitions)
    hour_ago = int((time.time() - 3600) * 1000)
    events = [
        demande_event(a, [SOTTEVILLE]),
        demande_event(b, [SOTTEVILLE]),
        demande_event(c, [SOTTEVILLE], occurred_at=hour_ago),
        demande_event(a, [LE_HAVRE], operation="MOD"),
    ]
    started = time.time()
    asyncio.run(publish_events(settings, [prepare_event(e) for e in events]))
    asyncio.run(_publish_raw(settings, garbage_key.encode(), b"\x00not an avro record"))
    collect_feed(
        settings, havre, worker=worker, until=lambda rs: any(r["numUnique"] == a for r in rs)
    )

    def feed(aid: str) -> list[dict[str, Any]]:
        return collect_feed(settings, aid, until=lambda rs: True)

    def settled() -> tuple[Any, dict[str, list[dict[str, Any]]]] | None:
        """Metrics equal to what the feeds hold. A rebalance (other sessions' workers share
        the group) may replay inputs: the duplicates are in the feed *and* in the metric."""
        now = scrape(port)
        feeds = {aid: feed(aid) for aid in (sott, havre)}
        kinds = {aid: Counter(r["kind"] for r in rs) for aid, rs in feeds.items()}
        done = (
            kinds[havre]["DEMANDE"] >= 1
            and {r["numUnique"] for r in feeds[sott] if r["kind"] == "DEMANDE"} >= {a, b, c}
            and kinds[sott]["RETRAIT"] >= 1
            and all(
                sample(now, "passerelle_feed_records_out_total", actor=aid, kind=k) == kinds[aid][k]
                for aid in (sott, havre)
                for k in ("DEMANDE", "RETRAIT")
            )
        )
        return (now, feeds) if done else None

    settled_state = wait_for(settled, 60)
    if not settled_state:
        now = scrape(port)
        mine = {k: v for k, v in now.items() if dict(k[1]).get("actor") in (sott, havre)}
        raise AssertionError(f"metrics never matched the feeds: {mine}")
    after, feeds = settled_state

    def delta(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    # exactly the known workload, deduplicated by (eventId, kind)
    ids = {e["numUnique"] + e["operation"]: e["eventId"] for e in events}
    nums = {a, b, c}
    assert {(r["eventId"], r["kind"]) for r in feeds[sott] if r["numUnique"] in nums} == {
        (ids[a + "CRE"], "DEMANDE"),
        (ids[b + "CRE"], "DEMANDE"),
        (ids[c + "CRE"], "DEMANDE"),
        (ids[a + "MOD"], "RETRAIT"),
    }
    assert {(r["eventId"], r["kind"]) for r in feeds[havre] if r["numUnique"] in nums} == {
        (ids[a + "MOD"], "DEMANDE")
    }
    # global counters: at least this workload (other test sessions may share the worker)
    assert delta("passerelle_events_in_total", topic=topics.DEMANDES, operation="CRE") >= 3
    assert delta("passerelle_events_in_total", topic=topics.DEMANDES, operation="MOD") >= 1
    assert delta("passerelle_events_in_total", topic=topics.DEMANDES, operation="UNDECODABLE") >= 1
    assert delta("passerelle_dead_letters_total", reason="undecodable") >= 1
    # issue 17 point 3: latency is the hub's own (Kafka ingest -> acknowledged), under one
    # second for fresh input whatever the document's date says; the document's age is
    # another metric, where the hour-old event is the one observation above 3,600 s
    count = delta("passerelle_dispatch_latency_seconds_count")
    assert count >= 4
    assert delta("passerelle_dispatch_latency_seconds_bucket", le="1.0") == count
    assert delta("passerelle_document_age_seconds_count") == count  # one per decided event
    old_writes = sum(r["eventId"] == ids[c + "CRE"] for r in feeds[sott])  # 1 unless replayed
    assert count - delta("passerelle_document_age_seconds_bucket", le="3600.0") == old_writes
    assert (
        sample(after, "passerelle_agent_last_event_timestamp_seconds", agent="dispatch") >= started
    )
    assert sample(after, "passerelle_assigned_partitions", topic=topics.DEMANDES) >= 1

    def lag_drained() -> dict[tuple[str, frozenset[tuple[str, str]]], float] | None:
        now = scrape(port)
        lags = {k: v for k, v in now.items() if k[0] == "passerelle_consumer_lag"}
        return now if lags and not any(lags.values()) else None

    drained = wait_for(lag_drained)
    assert drained, "consumer lag did not come back to zero"
    groups = {dict(k[1])["group"] for k in drained if k[0] == "passerelle_consumer_lag"}
    assert groups == {settings.worker.app_id}
    status, body = health(port)
    assert status == 200 and body["status"] == "ok", body
    assert body["agents"]["dispatch"]["stalled"] is False
    # the agent reads hub.evenements too: its partitions are watched as well (a stall of
    # the gestion partagée input was invisible to /health and the lag)
    watched = {k.split("/")[0] for k in body["partitions"]}
    assert watched == {topics.DEMANDES, topics.EVENEMENTS}, body["partitions"]
    lag_topics = {dict(k[1]).get("topic") for k in drained if k[0] == "passerelle_consumer_lag"}
    assert topics.EVENEMENTS in lag_topics, lag_topics


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a TCP socket listening on ``port`` (from /proc/net/tcp{,6})."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]  # noqa: SIM115
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


def test_the_web_server_listens_where_the_settings_say(worker: Any) -> None:
    """Issue 19 point 8: faust listened on every interface (0.0.0.0) whatever
    ``monitoring.web_host`` said; the default is 127.0.0.1."""
    port = web_port(worker)
    addresses = _listening_addresses(port)
    assert addresses == {"0100007F"}, addresses  # 127.0.0.1, little-endian hex


def test_the_worker_state_files_are_owner_only(worker: Any, hub_home: Any) -> None:
    """Issue 19 point 9: the RocksDB files of the dispatch state hold personal data."""
    web_port(worker)  # started; its partitions' databases open once they are assigned
    files = wait_for(lambda: [p for p in (hub_home / "faust").rglob("*") if p.is_file()], 60)
    assert files
    loose = sorted(f"{p}: {oct(p.stat().st_mode & 0o777)}" for p in files
                   if p.stat().st_mode & 0o077)  # fmt: skip
    assert not loose, loose[:5]
