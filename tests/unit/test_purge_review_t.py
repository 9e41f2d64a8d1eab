"""hub purge's report and its wait for the worker (review T, T-F4, T-F6), without a
broker: the worker's state and group offsets stood in for."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import CoordinatorLoadInProgressError

from hub.core.settings import HubSettings
from hub.services import purge as P

NUM = "076012500000110691"


def test_the_report_does_not_call_purged_what_the_worker_did_not_reach(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """T-F4: with no worker at the purge's records ("nothing is removed"), the first line
    still said "1 radiated or deleted before the cut-off purged"."""

    async def scan_state(settings: Any, cutoff_ms: int, only: Any = None) -> P.StateScan:
        return P.StateScan(1, [NUM], frozenset({NUM}))  # purgeable, still held: not reached

    async def request(settings: Any, nums: Any, cutoff_ms: int) -> dict[int, int]:
        return {0: 41}

    async def await_worker(settings: Any, last: Any, timeout_s: float) -> bool:
        return False

    def purge_sql(url: str, nums: list[str]) -> dict[str, int]:
        raise AssertionError(nums)

    monkeypatch.setattr(P, "scan_state", scan_state)
    monkeypatch.setattr(P, "request", request)
    monkeypatch.setattr(P, "await_worker", await_worker)
    monkeypatch.setattr(P, "purge_sql", purge_sql)
    report = asyncio.run(P.run_purge(HubSettings(home=tmp_path), worker_wait_s=0))
    assert report.waiting == [NUM]
    first = str(report).splitlines()[0]
    assert "1 radiated or deleted before the cut-off, 0 purged" in first, first


def test_a_kafka_error_reading_the_workers_progress_is_a_wait_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """T-F6: a coordinator moving or loading raised out of the wait, after the purge's
    records were published; `hub purge --every` retries only the hub's errors and died."""

    async def committed_offsets(settings: Any, group: str, topic: str, parts: Any) -> Any:
        raise CoordinatorLoadInProgressError("group coordinator loading")

    monkeypatch.setattr(P, "committed_offsets", committed_offsets)
    assert asyncio.run(P.await_worker(HubSettings(home=tmp_path), {0: 5}, 0)) is False
