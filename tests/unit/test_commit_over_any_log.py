"""Any input log, any fetch sizes, probes and commits at any moment: the worker's consumer
hands every record out once, in order, never commits past a record not yet
acknowledged, and commits to the log's end once everything is acknowledged.

The log comes from the Kafka record model, not from the hub: each offset holds a record
or nothing a committed read returns (a transaction's commit or abort marker, an aborted
record, a compacted one), in any pattern — holes between records, at the start, and at
the end. The client is modelled as aiokafka's: a fetch returns the records from its
position on, and its position passes the absent offsets it read over, the trailing ones
of the log included. The consumer is the worker's (its contiguity guard, its gap
handling, :meth:`BoundedConsumer.skip_absent` fed with what the sensor's probe would
find), over faust's real drain loop and commit arithmetic.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mode.utils.locks import Event

from tests.unit.test_commit_progress import _commit_once, _consumer, _Record


class _Fetcher:
    def __init__(self) -> None:
        self._stopped = Event()


@st.composite
def logs_and_plans(draw: Any) -> tuple[list[bool], list[tuple[int, bool, bool]]]:
    """A log (True: a record at that offset) and a plan of fetch rounds: (records at
    most in the fetch, commit after it, probe after it)."""
    log = draw(st.lists(st.booleans(), min_size=1, max_size=60))
    plan = draw(st.lists(st.tuples(st.integers(1, 12), st.booleans(), st.booleans()),
                         min_size=1, max_size=40))  # fmt: skip
    return log, plan


def _first_record(log: list[bool], start: int) -> int:
    """What the sensor's committed read finds from ``start``: the first record's offset,
    or the log's end."""
    for offset in range(start, len(log)):
        if log[offset]:
            return offset
    return len(log)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(case=logs_and_plans())
def test_any_log_is_read_in_order_once_and_committed_to_its_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: tuple[list[bool], list[Any]]
) -> None:
    from faust.types import TP

    log, plan = case
    records = [o for o, present in enumerate(log) if present]
    tp = TP("hub.demandes", 0)

    async def scenario() -> None:
        consumer = _consumer(tmp_path)
        consumer._committed_offset[tp] = 0
        consumer._contiguity.reset(tp, 0)
        client = {"position": 0}
        handed: list[Any] = []
        commits: list[tuple[int, int]] = []

        async def seek_wait(partitions: dict[Any, int]) -> None:
            for p, offset in partitions.items():
                client["position"] = offset
                consumer._read_offset[p] = offset

        consumer.seek_wait = seek_wait

        def fetch(limit: int) -> list[int]:
            """aiokafka: up to ``limit`` records from the position; the position passes
            the absent offsets read over (those after the last record returned too, when
            the fetch reached the log's end)."""
            got: list[int] = []
            offset = client["position"]
            while offset < len(log) and len(got) < limit:
                if log[offset]:
                    got.append(offset)
                offset += 1
            client["position"] = offset if len(got) < limit else got[-1] + 1
            return got

        rounds = list(plan)

        async def client_fetch(self: Any, timeout: float) -> AsyncIterator[tuple[Any, Any]]:
            limit = rounds[0][0] if rounds else 50
            for offset in fetch(limit):
                yield tp, _Record(tp, offset)

        base = type(consumer).__mro__[1]  # faust's consumer, under the guard's getmany
        monkeypatch.setattr(base, "getmany", client_fetch)
        guarded = type(consumer).getmany

        def ack_and_maybe(commit: bool, probe: bool) -> None:
            for message in handed:
                if not message.acked:
                    consumer.ack(message)
            if probe:
                committed = consumer._committed_offset[tp]
                consumer.skip_absent(
                    tp, committed, _first_record(log, committed), committed=committed
                )
            if commit:
                # the first record not handed out yet is not acknowledged: never passed
                unhanded = records[len(handed)] if len(handed) < len(records) else len(log)
                new = _commit_once(consumer, tp)
                if new is not None:
                    commits.append((new, unhanded))

        async def fetches(timeout: float) -> AsyncIterator[tuple[Any, Any]]:
            # the plan's rounds, then rounds until the client is at the log's end
            for _ in range(len(plan) + 2 * len(log) + 2):
                async for item in guarded(consumer, timeout):
                    yield item
                if rounds:
                    _, commit, probe = rounds.pop(0)
                    ack_and_maybe(commit, probe)
                elif client["position"] >= len(log):
                    break
            fetcher._stopped.set()

        async def callback(message: Any) -> None:
            handed.append(message)

        fetcher = _Fetcher()
        consumer.callback = callback
        consumer.getmany = fetches
        await consumer._drain_messages(fetcher)

        assert [m.offset for m in handed] == records  # every record, once, in order
        for offset, unhanded in commits:
            assert offset <= unhanded, (log, plan, commits)
        # everything acknowledged: the commit, then the probe the sensor makes of a
        # partition with input waiting, reach the log's end
        ack_and_maybe(commit=True, probe=False)
        ack_and_maybe(commit=True, probe=True)
        assert consumer._committed_offset[tp] == len(log), (log, plan)

    asyncio.run(scenario())
