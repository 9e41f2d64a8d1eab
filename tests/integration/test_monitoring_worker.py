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
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from hub import topics
from hub.actors import Actor, ActorFilters
from hub.kafka.client import client_options
from hub.publishing import prepare_event, publish_events
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
    a, b, c, garbage_key = nums_on(owned_partitions(port), 4, settings.kafka.partitions)
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

    def settled() -> dict[tuple[str, frozenset[tuple[str, str]]], float] | None:
        now = scrape(port)
        done = sample(now, "passerelle_feed_records_out_total", actor=havre, kind="DEMANDE") == 1
        return now if done else None

    after = wait_for(settled)
    assert after, "the feed record of the MOD never showed in /metrics"

    def delta(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert sample(after, "passerelle_feed_records_out_total", actor=sott, kind="DEMANDE") == 3
    assert sample(after, "passerelle_feed_records_out_total", actor=sott, kind="RETRAIT") == 1
    assert sample(after, "passerelle_feed_records_out_total", actor=havre, kind="DEMANDE") == 1
    # global counters: at least this workload (other test sessions may share the worker)
    assert delta("passerelle_events_in_total", topic=topics.DEMANDES, operation="CRE") >= 3
    assert delta("passerelle_events_in_total", topic=topics.DEMANDES, operation="MOD") >= 1
    assert delta("passerelle_events_in_total", topic=topics.DEMANDES, operation="UNDECODABLE") >= 1
    assert delta("passerelle_dead_letters_total", reason="undecodable") >= 1
    # the hour-old event is the one observation above the 600 s bucket
    count = delta("passerelle_dispatch_latency_seconds_count")
    assert count >= 4
    assert count - delta("passerelle_dispatch_latency_seconds_bucket", le="600.0") == 1
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
