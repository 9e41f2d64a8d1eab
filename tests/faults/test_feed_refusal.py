"""Audit S, S-F2 and S-F7: a feed topic that refused a record, then accepts records again.

On the faults lane's private broker, a real worker; one demand matching two actors, A and
B, while A's feed refuses records (its ``max.message.bytes`` lowered, as the auditor did):

* S-F2: once A's feed accepts records again, the worker recovers by itself: the event
  reaches A's feed once, B's feed holds it once (not once per resend), every input is
  committed and ``/health`` answers 200. Before the fix, the worker's idempotent producer
  failed every resend with ``OutOfOrderSequenceNumber`` for ever ("again in 30.0 s", 503)
  and each resend added one more copy to B's feed;
* S-F7: the worker's "batch not acknowledged" line names A's feed topic and actor (the
  ``PasserelleAgentStalled`` runbook sends the operator to that line).

One module-scoped run (about 40 s) checked by the two tests. A's feed receives one record
from the worker first: the broker then knows the producer's sequence on it (the auditor's
feeds had records; on a partition it never wrote to, the broker takes any sequence and
the worker recovered even before the fix).
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from hub.core import topics
from hub.core.kafka.reader import read_to_end, standalone_consumer
from hub.domain.actors import Actor, ActorFilters
from reliability.cluster import PrivateHub, health
from schemas import get_codec
from tests.support.demandes import demande_event, new_num_unique
from tests.support.refusing_topic import PROBE_KEY, RefusingTopic

pytestmark = [pytest.mark.kafka, pytest.mark.faults]

ROUEN = "76540"
#: how long the worker has to recover once the feed accepts records again: its resend
#: back-off is 0.5, 1, 2... s, and the feed is fixed after its second failure
RECOVERY_S = 45


def _feed_events(hub: PrivateHub, actor_id: str) -> list[str]:
    """The event ids on ``actor_id``'s feed (the refusal probes left out)."""

    async def read() -> list[str]:
        async with standalone_consumer(hub.settings, "test-feed-refusal") as consumer:
            return [get_codec().decode_as(m.value, "FeedRecord")["eventId"]
                    async for m in read_to_end(consumer, topics.feed_topic(actor_id),
                                               timeout_s=20)
                    if m.key != PROBE_KEY]  # fmt: skip

    return asyncio.run(read())


def _refused_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if "not acknowledged" in line]


def _until(pred: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


@pytest.fixture(scope="module")
def refused_then_accepted(private_hub: PrivateHub) -> Iterator[dict[str, Any]]:
    hub = private_hub
    tag = uuid.uuid4().hex[:6]
    a, b = (Actor(id=f"refuse-{x}-{tag}", name=x, kind="bailleur",
                  filters=ActorFilters(communes=[ROUEN])) for x in ("a", "b"))  # fmt: skip
    hub.register([a, b])
    worker = hub.start_worker()
    try:
        log = worker.log
        # the worker's producer writes A's feed once first: from then on the broker holds
        # its sequence there (a partition it never wrote to would take any sequence)
        first = demande_event(new_num_unique(), [ROUEN])
        asyncio.run(hub.publish([first]))
        written = _until(lambda: first["eventId"] in _feed_events(hub, a.id), 120)
        assert written and worker.alive(), log.read_text(errors="replace")[-3000:]
        feed_a = RefusingTopic(hub.settings, topics.feed_topic(a.id))
        asyncio.run(feed_a.refuse())
        event = demande_event(new_num_unique(), [ROUEN])
        asyncio.run(hub.publish([event]))
        # refused, and sent again once in vain: the producer's state after a failure
        failed = _until(lambda: len(_refused_lines(log.read_text(errors="replace"))) >= 3, 90)
        assert failed and worker.alive(), log.read_text(errors="replace")[-3000:]
        asyncio.run(feed_a.accept())  # the cause is fixed
        port = int(worker.env["HUB_WORKER__WEB_PORT"])
        on_a = lambda: _feed_events(hub, a.id).count(event["eventId"])  # noqa: E731
        recovered = _until(lambda: on_a() >= 1, RECOVERY_S)
        if recovered:
            hub.wait_drained(30)
            recovered = _until(lambda: health(port)[0] == 200, 30)
        yield {
            "a": a.id,
            "recovered": recovered,
            "on_a": on_a(),
            "on_b": _feed_events(hub, b.id).count(event["eventId"]),
            "health": health(port)[0],
            "log": log.read_text(errors="replace"),
        }
    finally:
        worker.signal(signal.SIGTERM)


@pytest.mark.timeout(300)
def test_the_worker_recovers_once_the_feed_accepts_records_again(
    refused_then_accepted: dict[str, Any],
) -> None:
    run = refused_then_accepted
    tail = [line[:300] for line in _refused_lines(run["log"])][-2:]
    assert run["recovered"], (
        f"{RECOVERY_S} s after the feed accepts records again: /health {run['health']}, the "
        f"event {run['on_a']} time(s) on the refusing feed, {run['on_b']} on the other; "
        f"log: {tail}"
    )
    # once each: the resends went to the refusing feed only
    assert (run["on_a"], run["on_b"]) == (1, 1), (run["on_a"], run["on_b"], tail)


@pytest.mark.timeout(300)
def test_the_refused_batch_line_names_the_feed_and_its_actor(
    refused_then_accepted: dict[str, Any],
) -> None:
    lines = _refused_lines(refused_then_accepted["log"])
    actor = refused_then_accepted["a"]
    assert lines and all(f"{topics.feed_topic(actor)} (actor {actor})" in line
                         for line in lines), lines[:2]  # fmt: skip
