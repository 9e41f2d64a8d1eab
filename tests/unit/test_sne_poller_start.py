"""``PasserelleSnePollerBehind`` reads ``time() - last success``: a poller that never
succeeds since its start (the SNE unreachable, a certificate expired, restarted during an
outage) must export that series too. Its loop sets it to the process's start until a
first success, as the worker does for its last event (audit L F2; the alert's side is in
monitoring/alerts_test.yml, "SNE poller failing from its start")."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.sne.client import SneClient
from connectors.sne.poller import POLLER, SnePoller
from hub.core.db import make_engine, migrate
from hub.core.settings import SneSettings
from monitoring import metrics as m
from monitoring.metrics import REGISTRY
from monitoring.recorder import process_start_time, sne_poll_succeeded, sne_poller_started
from tests.support.sne import free_port

LAST = "passerelle_sne_poller_last_success_timestamp_seconds"
BEHIND = "passerelle_sne_poller_behind_seconds"
LABELS = {"poller": POLLER}


@pytest.fixture
def fresh_process() -> Iterator[None]:
    """The poller's series as a new process has them (none), put back afterwards: the
    registry is the test process's, shared with other tests."""
    gauges = ((m.SNE_POLLER_LAST_SUCCESS, LAST), (m.SNE_POLLER_BEHIND, BEHIND))
    saved = {name: REGISTRY.get_sample_value(name, LABELS) for _, name in gauges}
    for gauge, name in gauges:
        if saved[name] is not None:
            gauge.remove(POLLER)
    yield
    for gauge, name in gauges:
        value = saved[name]
        if value is not None:
            gauge.labels(**LABELS).set(value)
        elif REGISTRY.get_sample_value(name, LABELS) is not None:
            gauge.remove(POLLER)


def test_a_poller_failing_from_its_start_exports_its_start_as_last_success(
    fresh_process: None, tmp_path: Path
) -> None:
    cfg = SneSettings(url=f"http://127.0.0.1:{free_port()}/sne", retries=0, timeout_s=2,
                      poll_communes=("76540",), poll_since="2025-01-01")  # fmt: skip
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    migrate(engine)
    poller = SnePoller(cfg, SneClient(cfg), engine, lambda events: 0, interval=60.0)

    async def one_failed_pass() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(poller.run(stop))
        deadline = time.monotonic() + 20
        while not (poller.stats.failures or poller.stats.passes):
            assert time.monotonic() < deadline, "no pass ended"
            await asyncio.sleep(0.02)
        stop.set()
        await task

    asyncio.run(one_failed_pass())
    assert poller.stats.last_success is None  # nothing succeeded
    start = process_start_time()
    assert start is not None  # Linux: the process collector has it
    assert REGISTRY.get_sample_value(LAST, LABELS) == start
    assert REGISTRY.get_sample_value(BEHIND, LABELS) is None  # unknown, not 0


def test_a_success_already_recorded_is_kept_at_a_new_loop(fresh_process: None) -> None:
    sne_poll_succeeded(POLLER, None, now=2_000_000_000.0)
    sne_poller_started(POLLER, 1_000.0)
    assert REGISTRY.get_sample_value(LAST, LABELS) == 2_000_000_000.0
