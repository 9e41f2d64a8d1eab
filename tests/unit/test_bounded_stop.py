"""A stopping worker's wait for its inputs in flight is bounded (``worker.shutdown_timeout_s``)
even when nothing can be committed: faust's own wait loop swallows the cancellation of its
one-second ack wait, so wrapping it in a timeout did not bound it (a SIGTERM with the broker
frozen then waited until killed). The consumer is faust's real one, built without a broker."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from dispatch.runtime.app import create_app
from hub.core.settings import HubSettings


class _InFlight:
    """Stands for a faust message handed out and never acknowledged (broker frozen)."""

    acked = False
    refcount = 1


@pytest.fixture
def consumer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("HUB_HOME", str(tmp_path))
    monkeypatch.setenv("HUB_WORKER__SHUTDOWN_TIMEOUT_S", "0.5")
    app = create_app(HubSettings())
    c = app.consumer  # built, never started: no broker involved
    yield c


@pytest.mark.asyncio
async def test_stop_gives_up_on_unacknowledged_inputs_within_the_limit(consumer: Any) -> None:
    consumer.loop = asyncio.get_running_loop()  # faust's own futures on the test's loop
    held = _InFlight()
    consumer._unacked_messages.add(held)
    consumer.app._stopped.set()  # the app is stopping
    began = time.monotonic()
    # asyncio.wait, not wait_for: the latter would hang on a wait that ignores cancellation
    task = asyncio.ensure_future(consumer.wait_empty())
    done, _ = await asyncio.wait({task}, timeout=5)
    if not done:  # what it did before the fix: never returned
        task.cancel()
        pytest.fail("wait_empty at stop still waiting after 5 s (limit 0.5 s)")
    task.result()
    assert time.monotonic() - began < 3
    assert held in consumer._unacked_messages  # not acknowledged: not committed either


@pytest.mark.asyncio
async def test_stop_returns_as_soon_as_the_inputs_are_acknowledged(consumer: Any) -> None:
    consumer.loop = asyncio.get_running_loop()
    held = _InFlight()
    consumer._unacked_messages.add(held)
    consumer.app._stopped.set()

    async def ack_soon() -> None:
        await asyncio.sleep(0.1)
        held.acked = True
        fut = consumer._waiting_for_ack
        if fut is not None and not fut.done():
            fut.set_result(None)

    began = time.monotonic()
    await asyncio.gather(consumer.wait_empty(), ack_soon())
    assert time.monotonic() - began < 0.4  # woken by the ack, not by the limit
    assert not consumer._unacked_messages


@pytest.fixture
def sought(consumer: Any) -> list[dict[Any, int]]:
    """The consumer watching faust's queue clears; its seeks back, recorded."""
    seeks: list[dict[Any, int]] = []

    async def seek_wait(partitions: dict[Any, int]) -> None:
        seeks.append(dict(partitions))

    consumer.seek_wait = seek_wait
    consumer._watch_queue_clears()
    return seeks


class _Message:
    def __init__(self, tp: Any, offset: int) -> None:
        self.tp, self.offset = tp, offset


class _Event:
    def __init__(self, message: _Message) -> None:
        self.message = message


@pytest.mark.asyncio
async def test_input_records_cleared_from_faust_queues_are_read_again(
    consumer: Any, sought: list[dict[Any, int]]
) -> None:
    """faust clears its stream queues when it resumes the flow (after its seek to the
    committed offsets): input records handed out before that and still queued are gone.
    The consumer seeks their partition back to the first of them and expects it next."""
    from faust.types import TP

    consumer.loop = asyncio.get_running_loop()
    tp = TP("hub.demandes", 1)
    queue = consumer.app.FlowControlQueue(maxsize=10, clear_on_resume=True)
    for offset in (201, 202):
        queue.put_nowait(_Event(_Message(tp, offset)))
    consumer._contiguity.reset(tp, 201)
    for offset in (201, 202):  # handed out past the guard, then queued
        consumer._contiguity.check(tp, offset)
    consumer.app.flow_control.resume()  # faust's end of recovery
    await asyncio.sleep(0)
    assert queue.empty()  # faust's clear still happened
    assert sought == [{tp: 201}]
    assert consumer._contiguity.expected(tp) == 201  # 203 next would be a hole: rewind


@pytest.mark.asyncio
async def test_a_record_in_delivery_during_the_clear_is_read_again_too(
    consumer: Any, sought: list[dict[Any, int]]
) -> None:
    """faust may be delivering a record (waiting on a full queue or the producer) when
    the queues are cleared: it then lands in a queue after the clear, ahead of the records
    read again. It counts as dropped and is taken out of the queue."""
    from faust.types import TP

    consumer.loop = asyncio.get_running_loop()
    tp = TP("hub.demandes", 0)
    queue = consumer.app.FlowControlQueue(maxsize=10, clear_on_resume=True)
    late = _Message(tp, 205)
    consumer._delivering = late  # handed out, nothing of this partition queued yet
    consumer.app.flow_control.resume()
    await asyncio.sleep(0)
    assert sought == [{tp: 205}] and consumer._contiguity.expected(tp) == 205
    assert consumer._stray is late
    queue.put_nowait(_Event(late))  # its delivery completes after the clear
    consumer._unqueue(late)
    assert queue.empty()


@pytest.mark.asyncio
async def test_no_commit_at_stop_when_the_changelog_was_not_flushed(
    consumer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """faust flushes the producer (the state changelog) before each commit; at stop that
    flush gives up after the limit, and the commit must not follow it: the inputs would be
    committed while their states are not in the changelog."""
    from faust.transport.drivers import aiokafka as faust_aiokafka
    from faust.types import TP

    consumer.loop = asyncio.get_running_loop()

    async def never_flushes(self: Any) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(faust_aiokafka.Producer, "flush", never_flushes)
    tp = TP("hub.demandes", 0)
    commits: list[Any] = []

    async def commit(offsets: Any) -> bool:
        commits.append(offsets)
        return True

    consumer.assignment = lambda: {tp}
    consumer._commit = commit
    consumer.app._stopped.set()
    assert await consumer._commit_offsets({tp: 42}) is False
    assert commits == []


@pytest.mark.asyncio
async def test_an_input_partition_without_a_commit_is_read_from_its_first_offset(
    consumer: Any,
) -> None:
    """faust drops the records it fetched while a partition was paused (recovery) or the
    generation changed, and counts on its seek to the committed offsets to read them
    again; the client seeks only to a committed offset above 0. So a partition without a
    commit (a group's first worker killed before its first commit there) was left at the
    end of what had been fetched: its next owner read nothing of it (seen on CI:
    tests/faults/test_clock_kill9.py waited for 600 s). Such a partition is now sought to
    the log's first offset, and the contiguity guard expects that offset."""
    from faust.types import TP

    consumer.loop = asyncio.get_running_loop()
    fresh, zero, done = TP("hub.demandes", 0), TP("hub.demandes", 1), TP("hub.demandes", 2)
    changelog = TP("reliability-dispatch-demande-state-changelog", 0)
    client_seeks: list[tuple[Any, int]] = []

    async def seek_to_committed() -> dict[Any, int | None]:  # the client's own answer
        return {fresh: None, zero: 0, done: 57, changelog: None}

    async def earliest_offsets(*tps: Any) -> dict[Any, int]:
        return {tp: 12 if tp == fresh else 0 for tp in tps}  # p0's head was deleted

    async def seek_client(tp: Any, offset: int) -> None:
        client_seeks.append((tp, offset))

    consumer.assignment = lambda: {fresh, zero, done, changelog}
    consumer.seek_to_committed = seek_to_committed
    consumer.earliest_offsets = earliest_offsets
    consumer._seek = seek_client
    await consumer.perform_seek()
    assert sorted(client_seeks) == sorted([(fresh, 12), (zero, 0)])  # not p2, nor a changelog
    assert consumer._contiguity.expected(fresh) == 12
    assert consumer._contiguity.expected(zero) == 0
    assert consumer._contiguity.expected(done) == 57
    assert consumer._read_offset[done] == 57  # faust's own seek result untouched


def test_a_stalled_partition_s_reading_state_names_what_holds_it(consumer: Any) -> None:
    """The stalled-partition log line carries faust's and the guard's view of the partition
    (how a hang on CI is read from its log); on a consumer whose client has not started it
    still answers, and it never raises."""
    from faust.types import TP

    tp = TP("hub.demandes", 3)
    consumer._committed_offset[tp] = 1282
    consumer._read_offset[tp] = 1290
    consumer._contiguity.reset(tp, 1283)
    line = consumer.reading_state(tp)
    assert "committed=1282" in line and "read=1290" in line and "expected=1283" in line
    consumer._read_offset = None  # whatever breaks inside, the sensor still gets a line
    assert "TypeError" in consumer.reading_state(tp) or "Error" in consumer.reading_state(tp)
