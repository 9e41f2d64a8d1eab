"""Delivery fault runs on a private broker and a private PostgreSQL (never the shared
ones): PostgreSQL down, then the webhook receiver down, while events flow through
``hub worker`` → feeds → ``hub deliver`` → a local receiver. Small in the default suite
(10 s / 20 s down); full size on demand (``HUB_RELIABILITY_FULL=1``, or
``python -m reliability run --full --scenario pg-down --scenario webhook-down``)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from reliability.__main__ import run, run_on
from reliability.cluster import PrivateHub
from reliability.runner import BAD_EVENTS, Result

_HAS_PG = bool(list(Path("/usr/lib/postgresql").glob("*/bin/initdb")) or shutil.which("initdb"))
pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.faults,
              pytest.mark.skipif(not _HAS_PG, reason="no PostgreSQL binaries (private server)")]

EVENTS = 200


def _assert_clean(r: Result) -> None:
    f = r.figures
    assert f["settled"], "the outbox did not drain in time"
    # feeds first: a record missing from Kafka is a dispatch loss, else a delivery one
    assert f["feeds_lost"] == 0, ("lost on the Kafka feeds", f["feeds_examples"], f)
    assert f["owed"] > 0 and f["delivered_raw"] >= f["owed"], ("lost in delivery", f)
    assert (f["lost"], f["duplicated_after_dedup"], f["reordered"], f["out_of_scope"]) == (
        0, 0, 0, 0), f["examples"]  # fmt: skip
    assert (f["bad_signatures"], f["bad_event_id_headers"]) == (0, 0)  # HMAC valid
    assert (f["audit_missing_kafka"], f["audit_missing_webhook"]) == (0, 0)
    # the deliverer and the audit recorder rode the fault: no exit, no restart
    assert (f["deliverer_exits"], f["recorder_exits"]) == (0, 0)
    assert r.pii_leaks == [], r.pii_leaks
    assert r.dead_lettered == BAD_EVENTS
    assert len(r.recoveries_s) == 1 and r.recoveries_s[0] >= 0
    assert r.ok


@pytest.mark.timeout(600)
def test_postgres_down_while_webhooks_flow(private_hub: PrivateHub) -> None:
    """PostgreSQL (registry, outbox, audit) stopped 10 s mid-stream, then started: every
    owed record reaches the receiver, in order per demand, no process exits, and the
    deliverer did meet the outage (it logged retries)."""
    [r] = run_on(private_hub, ["pg-down"], events=EVENTS, seed=11, down_s=10)
    _assert_clean(r)
    assert r.figures["deliverer_retries"] > 0
    # a POST in flight when the database went down may be sent again (same event id)
    assert r.figures["delivered_raw"] - r.figures["owed"] <= 8


@pytest.mark.timeout(600)
def test_webhook_receiver_down_then_back(private_hub: PrivateHub) -> None:
    """The receiver refuses connections for 20 s while deliveries pile up in the outbox,
    then listens again: everything arrives, in order per demand, HMAC-signed, 0 lost."""
    [r] = run_on(private_hub, ["webhook-down"], events=EVENTS, seed=12, down_s=20)
    _assert_clean(r)
    # once the receiver's socket is closed nothing arrives until it listens again
    assert r.figures["delivered_while_down"] == 0
    assert r.recoveries_s[0] < 15  # bounded by the run's webhook backoff cap (10 s)


@pytest.mark.faults_full
@pytest.mark.skipif(shutil.which("java") is None, reason="no JDK for the private broker")
@pytest.mark.skipif(not os.environ.get("HUB_RELIABILITY_FULL"), reason="HUB_RELIABILITY_FULL=1")
@pytest.mark.timeout(4 * 3600)
def test_full_size_delivery_scenarios() -> None:
    """PostgreSQL down 60 s, receiver down 300 s, at 20,000 events each (or
    ``HUB_RELIABILITY_EVENTS``), each on its own private broker and PostgreSQL."""
    events = os.environ.get("HUB_RELIABILITY_EVENTS")
    for r in run(["pg-down", "webhook-down"], events=int(events) if events else None, seed=2,
                 keep=False, full=True):  # fmt: skip
        _assert_clean(r)
