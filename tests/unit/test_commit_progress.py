"""The committed offset keeps up with the acknowledged records after a seek back.

faust infers "gaps" (offsets absent from the log) from jumps of its read offset, and its
read offset is reset behind the records already handed out whenever a partition is
sought back: its seek to the committed offsets at start-up or after a rebalance, and the
contiguity guard's rewinds. Its commit then merged offsets that exist and were
acknowledged twice, and advanced **one offset per commit interval** (2.8 s): the "idle
worker" of the kill -9 fault tests (records all dispatched, the lag going down by one
record every 2.5 s per partition, for minutes). These tests run faust's real
``_drain_messages`` (its read-offset and gap bookkeeping) and its real commit arithmetic
(``_new_offset``) on the worker's consumer, built without a broker; only the records
fetched are given.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mode.utils.locks import Event

from dispatch.runtime.app import create_app
from hub.core.settings import HubSettings

COMMITTED = 680


class _Record:
    """What faust's drain reads of a fetched record."""

    def __init__(self, tp: Any, offset: int) -> None:
        self.tp, self.offset, self.topic = tp, offset, tp.topic
        self.acked, self.key, self.value = False, b"k", b"v"


class _Fetcher:
    def __init__(self) -> None:
        self._stopped = Event()


def _consumer(home: Path) -> Any:
    import os

    os.environ["HUB_HOME"] = str(home)
    try:
        app = create_app(HubSettings())
    finally:
        del os.environ["HUB_HOME"]
    app.topics.acks_enabled_for = lambda topic: True  # set by the agents when they start
    return app.consumer


Step = tuple[int, int] | int  # a range of offsets fetched [from, to), or a seek to an offset


async def _drain(consumer: Any, tp: Any, steps: Iterable[Step],
                 fetch: Callable[[float], AsyncIterator[tuple[Any, Any]]] | None = None,
                 ) -> list[Any]:  # fmt: skip
    """Run faust's drain loop over ``steps`` (ranges fetched; an int: faust's read offset
    set there, as its seeks do); return the records it handed to the streams."""
    fetcher = _Fetcher()
    handed: list[Any] = []

    async def callback(message: Any) -> None:
        handed.append(message)

    async def fetched(timeout: float) -> AsyncIterator[tuple[Any, Any]]:
        for step in steps:
            if isinstance(step, int):
                consumer._read_offset[tp] = step
                continue
            for offset in range(*step):
                yield tp, _Record(tp, offset)

    async def once(timeout: float) -> AsyncIterator[tuple[Any, Any]]:
        async for item in (fetch or fetched)(timeout):
            yield item
        fetcher._stopped.set()  # the drain loop ends after this fetch

    consumer.callback = callback
    consumer.getmany = once
    await consumer._drain_messages(fetcher)
    return handed


def _commit_once(consumer: Any, tp: Any) -> int | None:
    new = consumer._new_offset(tp)
    if new is not None:
        consumer._committed_offset[tp] = new
    return new


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(first=st.integers(1, 40), more=st.integers(1, 40), after=st.integers(1, 80))
def test_one_commit_covers_every_acknowledged_record_after_a_seek_back(
    tmp_path: Path, first: int, more: int, after: int
) -> None:
    """The sequence of a restart on a backlog: records handed out from the committed
    offset; faust's seek to the committed offset resets its read offset while records of
    the earlier fetch are still handed out; the guard then seeks back and everything is
    read again. Once every record handed out is acknowledged, one commit covers them all
    (faust alone: one offset per commit)."""
    from faust.types import TP

    tp = TP("hub.demandes", 0)
    mid, end = COMMITTED + first, COMMITTED + first + more

    async def scenario() -> int | None:
        consumer = _consumer(tmp_path)  # in the loop: mode's events belong to it
        consumer._committed_offset[tp] = COMMITTED
        steps: list[Step] = [(COMMITTED, mid), COMMITTED,  # faust's seek, mid-stream
                             (mid, end), COMMITTED,  # the guard's seek back
                             (COMMITTED, end + after)]  # fmt: skip
        handed = await _drain(consumer, tp, steps)
        for message in handed:
            consumer.ack(message)
        return _commit_once(consumer, tp)

    assert asyncio.run(scenario()) == end + after


@pytest.mark.asyncio
async def test_offsets_really_absent_from_the_log_are_committed_past(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hole the guard finds again after its rewind (offsets absent from the log) is
    counted as consumed: the commit passes it, now that faust's own gaps are ignored."""
    from faust.types import TP

    consumer = _consumer(tmp_path)
    tp = TP("hub.demandes", 2)
    consumer._committed_offset[tp] = 5
    consumer._contiguity.reset(tp, 5)
    seeks: list[dict[Any, int]] = []

    async def seek_wait(partitions: dict[Any, int]) -> None:
        seeks.append(dict(partitions))
        for p, offset in partitions.items():
            consumer._read_offset[p] = offset

    consumer.seek_wait = seek_wait
    fetches = [[5, 6, 7, 10, 11], [10, 11, 12]]  # 8 and 9 do not exist

    async def client_fetch(self: Any, timeout: float) -> AsyncIterator[tuple[Any, Any]]:
        for offset in fetches.pop(0):
            yield tp, _Record(tp, offset)

    base = type(consumer).__mro__[1]  # faust's consumer, under the guard's getmany
    monkeypatch.setattr(base, "getmany", client_fetch)
    guarded = type(consumer).getmany

    async def two_fetches(timeout: float) -> AsyncIterator[tuple[Any, Any]]:
        while fetches:
            async for item in guarded(consumer, timeout):
                yield item

    handed = await _drain(consumer, tp, [], fetch=two_fetches)
    assert [m.offset for m in handed] == [5, 6, 7, 10, 11, 12]
    assert seeks == [{tp: 8}]
    for message in handed:
        consumer.ack(message)
    assert _commit_once(consumer, tp) == 13


def _faust_add_gap(consumer: Any, tp: Any, first: int, last: int) -> None:
    """faust's own gap recording (what the guard calls for a confirmed hole)."""
    base = type(consumer).__mro__[1]
    asyncio.run(base._add_gap(consumer, tp, first, last))


def test_a_log_ending_on_absent_offsets_is_committed_to_its_end(tmp_path: Path) -> None:
    """Offsets after the last record that hold no committed record (a transactional
    upstream's last commit marker, an aborted transaction): faust merges gaps only below
    an acknowledged offset, so nothing committed them. Counted as consumed, they are."""
    from faust.types import TP

    consumer = _consumer(tmp_path)
    tp = TP("hub.demandes", 1)
    consumer._committed_offset[tp] = 40
    consumer._contiguity.reset(tp, 40)
    assert consumer._new_offset(tp) is None
    _faust_add_gap(consumer, tp, 40, 44)  # faust's gap alone: never merged at a log's end
    assert consumer._new_offset(tp) is None
    consumer._gap[tp].clear()
    assert consumer.skip_absent(tp, 40, 45, committed=40) == 5
    assert _commit_once(consumer, tp) == 45
    assert consumer._contiguity.expected(tp) == 45  # the next record, at 45, is admitted


def test_nothing_committed_and_absent_offsets_from_the_logs_start(tmp_path: Path) -> None:
    """A group that never committed, over a log whose first offsets (from 12, the log's
    start) hold no committed record: counted as consumed from there, committed past; a
    probe that saw another committed offset than faust's changes nothing."""
    from faust.types import TP

    consumer = _consumer(tmp_path)
    tp = TP("hub.demandes", 2)
    consumer._contiguity.reset(tp, 12)  # the seek of a fresh partition to the log's start
    assert consumer.skip_absent(tp, 12, 20, committed=12) == 0  # faust committed nothing
    assert consumer.skip_absent(tp, 12, 20, committed=None) == 8
    assert _commit_once(consumer, tp) == 20
    assert consumer._contiguity.expected(tp) == 20


def test_absent_offsets_the_guard_already_recorded_are_not_counted_twice(tmp_path: Path) -> None:
    """A probe of the committed offset while the worker reads on: the guard recorded the
    same hole (faust's gap) and records after it are acknowledged. Counting its offsets
    again listed them twice at commit and the commit crept (one or two offsets per probe,
    seen on the real broker)."""
    from faust.types import TP

    consumer = _consumer(tmp_path)
    tp = TP("hub.demandes", 1)
    consumer._committed_offset[tp] = 419
    consumer._contiguity.reset(tp, 497)
    _faust_add_gap(consumer, tp, 419, 422)  # the guard's confirmed hole
    for offset in range(423, 497):
        consumer._acked[tp].append(offset)
        consumer._acked_index[tp].add(offset)
    consumer.skip_absent(tp, 419, 423, committed=419)  # the probe's finding: the same offsets
    assert _commit_once(consumer, tp) == 497
    assert consumer._contiguity.expected(tp) == 497  # records handed out past: unchanged


def test_absent_offsets_are_skipped_only_from_fausts_committed_offset(tmp_path: Path) -> None:
    from faust.types import TP

    consumer = _consumer(tmp_path)
    tp = TP("hub.demandes", 0)
    consumer._committed_offset[tp] = 12  # committed moved since the probe read 10
    assert consumer.skip_absent(tp, 10, 15, committed=10) == 0
    assert consumer._new_offset(tp) is None


def test_a_committed_offset_below_the_logs_start_is_reported_and_passed(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    """Records removed (retention, DeleteRecords) while no worker ran, and the guard reset
    past them by a queue clear (seen on the real broker: partition 2 stuck at 1605 with
    1695..1738 dispatched, faust never committing past its gap). The sensor's probe finds
    the committed offset below the log's first one: it reports the 90 removed offsets
    once, as an error and in the counter, and the partition is committed to its end."""
    from faust.types import TP

    from dispatch.runtime.sensor import DispatchSensor
    from monitoring import metrics
    from monitoring.health import PartitionHealth, Verdict
    from monitoring.offsets import Probed

    consumer = _consumer(tmp_path)
    tp = TP("hub.demandes", 2)
    consumer._committed_offset[tp] = 1605
    consumer._contiguity.reset(tp, 1739)
    for offset in range(1695, 1739):  # dispatched and acknowledged
        consumer._acked[tp].append(offset)
        consumer._acked_index[tp].add(offset)
    assert consumer._new_offset(tp) is None  # faust alone: never past 1605

    class Offsets:
        async def first_record(self, key: Any, start: int, end: int) -> Probed:
            assert (key, start, end) == (("hub.demandes", 2), 1605, 1739)
            return Probed(1695, 1695)

    commits: list[Any] = []

    async def commit(tps: Any) -> bool:
        commits.append(tps)
        return True

    consumer.commit = commit
    sensor = DispatchSensor(group="g", agents={"hub.demandes": "dispatch"}, stall_after_s=6)
    health = PartitionHealth("hub.demandes", 2, 1605, 1739, 60.0, True)
    verdict = Verdict((health,), None, False, {"dispatch": (health,)})
    counter = metrics.INPUT_RECORDS_REMOVED.labels(topic="hub.demandes")
    before = counter._value.get()
    with caplog.at_level(logging.ERROR):
        asyncio.run(sensor._probe_absent(verdict, consumer, Offsets()))
    assert commits == [{tp}]
    assert _commit_once(consumer, tp) == 1739
    assert counter._value.get() - before == 90
    assert "offsets 1605..1694 were removed" in caplog.text
    consumer.note_removed(tp, 1605, 1695)  # the guard finding the same: not counted again
    assert counter._value.get() - before == 90
