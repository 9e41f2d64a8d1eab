"""``hub purge`` end to end on a private broker with a real worker (a private one: workers
of the shared broker may run older code): a demand radiated 400 days ago, and the marker
of one deleted 400 days ago, are tombstoned in the dispatch state (changelog), a recent
radiation, a recent deletion's marker and an active demand are kept, SQL rows of the
purged demand go, a second pass finds nothing, and the CLI runs the same job."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert, select

from hub.domain.actors import Actor, ActorFilters
from hub.services.purge import DAY_MS, run_purge
from reliability.checker import read_feeds
from reliability.cluster import PrivateHub
from tests.support.demandes import demande_event, new_num_unique

pytestmark = [pytest.mark.kafka, pytest.mark.faults]
ROUEN = "76540"
RAD = {"dateRadiation": "2025-01-02", "motifRadiation": "RADATT"}


def _event(num: str, op: str, days_ago: int, **kw: Any) -> dict[str, Any]:
    at = int(time.time() * 1000) - days_ago * DAY_MS
    return demande_event(num, [ROUEN], operation=op, occurred_at=at, **kw)


def _versions(hub: PrivateHub, aid: str, num: str, count: int) -> list[int]:
    deadline = time.monotonic() + 90
    while True:
        feed = asyncio.run(read_feeds(hub.settings, [aid]))[aid]
        got = [r["demandeVersion"] for r in feed if r["numUnique"] == num]
        if len(got) >= count or time.monotonic() > deadline:
            return got
        time.sleep(0.5)


@pytest.mark.timeout(240)
def test_purge_radiated_over_a_year(private_hub: PrivateHub) -> None:
    from hub.core.db import make_engine
    from hub.stores.access.tables import api_holders

    hub = private_hub
    aid = "purge-rouen"
    hub.register([Actor(id=aid, name=aid, kind="bailleur",
                        filters=ActorFilters(communes=[ROUEN]))])  # fmt: skip
    old, recent, active = new_num_unique(), new_num_unique(), new_num_unique()
    # deleted 400 and 10 days ago: their deletion markers (hub.domain.decisions)
    deleted, deleted_recent = new_num_unique(), new_num_unique()
    nums = {old, recent, active, deleted, deleted_recent}
    asyncio.run(hub.publish([_event(old, "CRE", 500), _event(old, "RAD", 400, radiation=RAD),
                             _event(recent, "CRE", 500),
                             _event(recent, "RAD", 10, radiation=RAD),
                             _event(active, "CRE", 500),
                             _event(deleted, "CRE", 500), _event(deleted, "SUP", 400),
                             _event(deleted_recent, "CRE", 500),
                             _event(deleted_recent, "SUP", 10)]))  # fmt: skip
    worker = hub.start_worker()
    try:
        assert _versions(hub, aid, old, 2) == [1, 2]
        assert _versions(hub, aid, deleted, 2) == [1, 1]  # DEMANDE, RETRAIT
        assert _versions(hub, aid, deleted_recent, 2) == [1, 1]
        engine = make_engine(hub.settings.database_url)
        since = datetime(2024, 1, 1, tzinfo=UTC)
        with engine.begin() as conn:
            rows = [{"actor_id": aid, "num_unique": n, "since": since} for n in (old, recent)]
            conn.execute(insert(api_holders), rows)

        dry = asyncio.run(run_purge(hub.settings, only=nums, dry_run=True))
        assert dry.purged == sorted([old, deleted]) and dry.sql_rows == {}
        report = asyncio.run(run_purge(hub.settings, only=nums))
        assert report.purged == sorted([old, deleted])
        assert report.sql_rows.get("api_holders") == 1
        with engine.begin() as conn:
            left = {r.num_unique for r in conn.execute(select(api_holders.c.num_unique))}
        assert old not in left and recent in left

        # the worker applies the purge in stream order; then nothing is left to purge
        deadline = time.monotonic() + 60
        while asyncio.run(run_purge(hub.settings, only=nums, dry_run=True)).purged:
            assert time.monotonic() < deadline, "the worker did not tombstone the state"
            time.sleep(1)
        # forgotten: a new creation under the same numéro starts again at version 1
        asyncio.run(hub.publish([_event(old, "CRE", 0)]))
        assert _versions(hub, aid, old, 3) == [1, 2, 1]
        assert _versions(hub, aid, recent, 2) == [1, 2]  # kept, untouched
        # the purged marker is forgotten too; the recent one still knows its creation
        asyncio.run(hub.publish([_event(deleted, "CRE", 0), _event(deleted_recent, "CRE", 0)]))
        assert _versions(hub, aid, deleted, 3) == [1, 1, 1]
        assert _versions(hub, aid, deleted_recent, 3) == [1, 1, 2]

        cli = subprocess.run([sys.executable, "-c", "from hub.cli import main; main()", "purge",
                              "--dry-run"], env=hub.env, capture_output=True, text=True,
                             timeout=60, check=False)  # fmt: skip
        assert cli.returncode == 0, cli.stderr
        # the private broker is shared with the other fault tests (their ledgers hold old
        # radiations too): the whole-hub count is theirs, the format is the CLI's
        assert re.search(r"^dry run: \d+ demand states scanned, \d+ radiated or deleted "
                         r"before the cut-off, to purge", cli.stdout), cli.stdout
    finally:
        worker.signal(signal.SIGTERM)
