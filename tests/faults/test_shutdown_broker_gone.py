"""SIGTERM while the broker is frozen (SIGSTOP: no answer, no closed connection): the
worker stops within its limit instead of waiting for acknowledgements that never come,
and nothing is lost: what was not acknowledged was not committed, so a new worker
dispatches it once the broker is back. Own private broker (it is frozen here)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.domain.actors import Actor, ActorFilters
from reliability.cluster import PrivateHub, Worker
from tests.support.demandes import demande_event, new_num_unique

pytestmark = [
    pytest.mark.kafka,
    pytest.mark.faults,
    pytest.mark.skipif(shutil.which("java") is None, reason="no JDK for the broker"),
]

ROUEN = "76540"
LE_HAVRE = "76351"
LIMIT_S = 3.0
DEMANDS = 3_000
#: enough that the group commits (every 2.8 s) well before the stream is over
BACKLOG = 12_000


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateHub]:
    h = PrivateHub(tmp_path_factory.mktemp("frozen-broker"), partitions=2, batch_size=50)
    h.up()
    try:
        yield h
    finally:
        pid = h.stack._read_pid()
        if pid is not None:
            os.kill(pid, signal.SIGCONT)
        h.down()


def _worker(hub: PrivateHub, name: str) -> Worker:
    env = {**hub.env, "HUB_WORKER__SHUTDOWN_TIMEOUT_S": str(LIMIT_S)}
    w = Worker(env, hub.home / f"{name}.log")
    w.start()
    hub.workers.append(w)
    return w


def _feed_nums(hub: PrivateHub, actor_id: str) -> set[str]:
    from hub.services.feeds import read_feed

    async def read() -> set[str]:
        return {str(r["numUnique"]) async for r in read_feed(
            hub.settings, actor_id, from_beginning=True, idle_timeout_s=1.0)}  # fmt: skip

    return asyncio.run(read())


def _freeze_stop_restart(hub: PrivateHub, commune: str, demands: int, *, after_commit: bool
                         ) -> None:  # fmt: skip
    """Stream ``demands`` to one actor, freeze the broker mid-stream (after the group's
    first commit of the stream when ``after_commit``), SIGTERM the worker, thaw the broker,
    and check that a new worker brings every demand to the feed."""
    actor = Actor(id=f"frozen-{commune}", name="b", kind="bailleur", profile="consultant_simple",
                  filters=ActorFilters(communes=[commune]))  # fmt: skip
    hub.register([actor])
    first = _worker(hub, f"first-{commune}")
    warm = new_num_unique()
    asyncio.run(hub.publish([demande_event(warm, [commune])]))
    deadline = time.monotonic() + 120
    while hub.feed_total([actor.id]) < 1:
        assert first.alive() and time.monotonic() < deadline, f"not dispatched; {first.log}"
        time.sleep(0.5)
    committed_before = hub.progress()[1]
    nums = [new_num_unique() for _ in range(demands)]
    asyncio.run(hub.publish([demande_event(n, [commune]) for n in nums]))
    # freeze the broker while the worker is in the middle of the stream
    while hub.feed_total([actor.id]) < 1 + demands // 10:
        assert time.monotonic() < deadline, f"stream did not start; {first.log}"
        time.sleep(0.05)
    while after_commit and hub.progress()[1] < committed_before + demands // 10:
        assert time.monotonic() < deadline, f"no commit during the stream; {first.log}"
        time.sleep(0.05)
    assert hub.feed_total([actor.id]) < 1 + demands, "stream over before the freeze"
    broker = hub.stack._read_pid()
    assert broker is not None
    os.kill(broker, signal.SIGSTOP)
    try:
        time.sleep(1.0)  # the worker now waits for acknowledgements that do not come
        took = first.signal(signal.SIGTERM, timeout=120)
        assert not first.alive()
    finally:
        os.kill(broker, signal.SIGCONT)
    log = Path(first.log).read_text(errors="replace")
    # each bounded step waits at most LIMIT_S; aiokafka's own close adds a few seconds
    assert took < 10 * LIMIT_S, f"SIGTERM took {took:.1f}s; see {first.log}"
    assert "stopping:" in log, "no step was given up: the broker was not frozen in time"
    time.sleep(2.0)  # requests the stopped worker sent into the frozen broker are served now
    for committed, states in _committed_and_states(hub):
        assert committed <= states, f"inputs committed without their state; see {first.log}"
    second = _worker(hub, f"second-{commune}")
    got: set[str] = set()
    deadline = time.monotonic() + 180
    while not set(nums) <= got:
        assert second.alive() and time.monotonic() < deadline, (
            f"{len(set(nums) - got)} demands never reached the feed; see {second.log}")
        time.sleep(1.0)
        got = _feed_nums(hub, actor.id)
    second.signal(signal.SIGTERM)


def _committed_and_states(hub: PrivateHub) -> list[tuple[int, int]]:
    """Per hub.demandes partition: (offset committed by the group, records in the state
    changelog). Each input of these tests is a new demand, so once an input is committed
    its state is in the changelog: the first never exceeds the second."""
    from hub.core import topics
    from reliability.cluster import APP_ID

    async def read() -> list[tuple[int, int]]:
        inputs = await hub.partition_offsets(topics.DEMANDES)
        states = await hub.partition_offsets(f"{APP_ID}-demande-state-changelog")
        return [(done, end) for (_, done), (end, _) in zip(inputs, states, strict=True)]

    return asyncio.run(read())


def test_sigterm_with_the_broker_frozen_stops_in_time_and_loses_nothing(
    hub: PrivateHub,
) -> None:
    _freeze_stop_restart(hub, ROUEN, DEMANDS, after_commit=False)


def test_same_after_a_commit_with_a_backlog(hub: PrivateHub) -> None:
    """The new worker starts at a committed offset with a backlog behind it: faust hands
    records out during its recovery and its seek, and clears its stream queues after; and
    the stopping worker has inputs in flight but nothing new to commit (its wait for them
    was once unbounded: killed after 120 s)."""
    _freeze_stop_restart(hub, LE_HAVRE, BACKLOG, after_commit=True)
