"""Fault runs on a private broker (never the shared one): a small mixed run in the default
suite, every scenario at full size on demand (``HUB_RELIABILITY_FULL=1`` or
``python -m reliability run --full``)."""

from __future__ import annotations

import os
import shutil

import pytest

from reliability.__main__ import run, run_on
from reliability.cluster import PrivateHub
from reliability.runner import BAD_EVENTS, SCENARIOS

pytestmark = [pytest.mark.kafka, pytest.mark.faults]

needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="no JDK for the broker")


def _assert_clean(results: list) -> None:  # type: ignore[type-arg]
    for r in results:
        f = r.figures
        assert f["owed"] > 0 and f["delivered_raw"] >= f["owed"], r
        assert (f["lost"], f["duplicated_after_dedup"], f["reordered"], f["out_of_scope"]) == (
            0, 0, 0, 0), f["examples"]  # fmt: skip
        assert r.pii_leaks == [], r.pii_leaks
        assert r.dead_lettered == BAD_EVENTS  # bad input is dead-lettered, never lost
        assert len(r.faults) == len(SCENARIOS[r.scenario].schedule) or SCENARIOS[r.scenario].cycle


@pytest.mark.timeout(400)
def test_mixed_faults_small_backfill(private_hub: PrivateHub) -> None:
    """kill -9, a second worker joining, SIGTERM, the worker leaving:
    after dedup by (eventId, kind) nothing is lost, reordered or out of scope, and no
    person datum of the 3,000 demands is in any worker log."""
    _assert_clean(run_on(private_hub, ["mixed"], events=3_000, seed=7))


@needs_java
@pytest.mark.faults_full
@pytest.mark.skipif(not os.environ.get("HUB_RELIABILITY_FULL"), reason="HUB_RELIABILITY_FULL=1")
@pytest.mark.timeout(4 * 3600)
def test_full_size_scenarios() -> None:
    events = int(os.environ.get("HUB_RELIABILITY_EVENTS", "200000"))
    _assert_clean(run(["kill9", "sigterm", "broker", "rebalance"], events=events, seed=1,
                      keep=False))  # fmt: skip
