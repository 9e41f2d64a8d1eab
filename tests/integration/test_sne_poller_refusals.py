"""The SNE poller when one demand is refused (audit finding 4), against the simulator over
HTTP and the real broker: a demand published before and deleted at the SNE (SUP is the
SNE's deletion, domain reference "Lifecycle"; the simulator then answers NUMINCONNU) is
published as a SUP, once, and the pass goes on for the others and moves the radiation
watermark; an answer the hub cannot read is refused for that demand only; many
"deletions" at once are held back (a wrong SNE); ``run`` never stops on any of these;
``hub sne-poll --once`` as the audit ran it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from connectors.ingress.publishing import PreparedEvent, publish_events
from connectors.sne.client import SneClient
from connectors.sne.poller import PollReport, SnePoller
from connectors.sne.tables import sim_demandes
from hub.core.db import make_engine, migrate
from hub.core.settings import HubSettings, SneSettings
from hub.dev.sne_simulator import create_app
from hub.dev.sne_simulator.store import SimulatorStore
from hub.domain.actors import Actor, ActorFilters
from schemas import get_codec
from tests.integration.conftest import WorkerProcess, collect_feed
from tests.support.sne import new_demande_xml, serve

pytestmark = pytest.mark.kafka
COMMUNE = "76451"
DAY1, DAY2, DAY3 = date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 25)


@dataclass
class Rig:
    cfg: SneSettings
    client: SneClient
    sne: SimulatorStore  # the simulator's own store: deletions happen there, not by SOAP
    poller: SnePoller
    sent: list[dict[str, object]]  # the events the broker acknowledged, decoded back

    #: the guichet of this test's demands (their applicants' names carry it too)
    g: str = ""

    def register(self, tag: str) -> str:
        """Register a new demand wishing COMMUNE at the simulator; its numéro."""
        num, answer = self.client.register_demande(
            new_demande_xml(self.g, [COMMUNE], nom=f"{tag}{self.g}")
        )
        assert answer.ok and num, answer.anomalies
        return num


@pytest.fixture()
def rig(settings: HubSettings, tmp_path: Path) -> Iterator[Rig]:
    sent: list[dict[str, object]] = []

    def publish(events: list[PreparedEvent]) -> int:
        acked = asyncio.run(publish_events(settings, events))
        assert acked == len(events)  # on the real broker
        sent.extend(get_codec().decode_as(e.value, "DemandeEvent") for e in events)
        return acked

    sim_url = f"sqlite:///{tmp_path / 'sim.db'}"
    with serve(create_app(sim_url)) as base:
        cfg = settings.sne.model_copy(
            update={
                "url": f"{base}/sne",
                "retries": 0,
                "poll_communes": (COMMUNE,),
                "poll_since": "2025-01-01",
            }
        )
        client = SneClient(cfg)
        engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
        migrate(engine)
        rig = Rig(cfg, client, SimulatorStore(make_engine(sim_url)),
                  SnePoller(cfg, client, engine, publish), sent)  # fmt: skip
        rig.g = "D" + uuid.uuid4().hex[:4].upper()
        yield rig


def ops(report: PollReport) -> dict[str, str]:
    return {str(e["numUnique"]): str(e["operation"]) for e in report.published}


def test_a_demand_deleted_at_the_sne_is_a_sup_and_the_pass_goes_on(rig: Rig) -> None:
    a, b, c = (rig.register(t) for t in "ABC")
    assert ops(rig.poller.poll_once(DAY1)) == {a: "CRE", b: "CRE", c: "CRE"}

    row_b = rig.sne.get(b)
    assert rig.sne.delete(b)  # deleted at the SNE; meanwhile a new demand and a radiation
    d = rig.register("D")
    assert rig.client.register_demande(
        new_demande_xml(rig.g, [COMMUNE], operation="RAD", num_unique=c, nom=f"C{rig.g}")
    )[1].ok
    report = rig.poller.poll_once(DAY2)  # raised SneUnknownDemande before the fix
    assert ops(report) == {b: "SUP", c: "RAD", d: "CRE"}
    assert report.deleted == 1 and report.refused == 0 and report.incomplete == []
    assert rig.poller.watermark("radiations") == DAY2.isoformat()
    sup = [e for e in rig.sent if e["numUnique"] == b][-1]
    assert sup["operation"] == "SUP" and sup["demande"] is None

    third = rig.poller.poll_once(DAY3)  # the deletion is told once
    assert third.published == [] and third.deleted == 0
    assert rig.poller.watermark("radiations") == DAY3.isoformat()

    # restored at the SNE (a deletion undone): new again to the recipients, under an event
    # id of its own (the first CRE's would be taken for a duplicate by consumers)
    with rig.sne.engine.begin() as conn:
        conn.execute(sim_demandes.insert().values(**(row_b or {})))
    back = rig.poller.poll_once(DAY3)
    assert ops(back) == {b: "CRE"}
    first_cre, _sup, again = [e for e in rig.sent if e["numUnique"] == b]
    assert again["operation"] == "CRE" and again["eventId"] != first_cre["eventId"]


def test_the_sup_reaches_the_actors_as_a_withdrawal(
    rig: Rig,
    settings: HubSettings,
    worker: WorkerProcess,
    actor_service: Any,
) -> None:
    """Across the real worker: the actor wishing COMMUNE got the demand from the poller's
    CRE; once the SNE deleted it, the poller's SUP withdraws it (RETRAIT
    ``demande_supprimee``, docs/lifecycle.md)."""
    actor = f"poll-{uuid.uuid4().hex[:8]}"
    actor_service.add_or_update(
        Actor(id=actor, name=actor, kind="bailleur", filters=ActorFilters(communes=[COMMUNE]))
    )
    a = rig.register("A")
    rig.poller.poll_once(DAY1)
    # generous timeouts: the worker may still be catching up with the shared broker
    collect_feed(settings, actor, worker=worker, timeout=180,
                 until=lambda rs: any(r["numUnique"] == a for r in rs))  # fmt: skip
    rig.sne.delete(a)
    assert ops(rig.poller.poll_once(DAY2)) == {a: "SUP"}

    def withdrawn(records: list[dict[str, Any]]) -> bool:
        return any(r["numUnique"] == a and r["kind"] == "RETRAIT" for r in records)

    records = collect_feed(settings, actor, worker=worker, timeout=180, until=withdrawn)
    mine = [(r["kind"], r.get("reason")) for r in records if r["numUnique"] == a]
    assert mine == [("DEMANDE", None), ("RETRAIT", "demande_supprimee")]


def test_run_goes_on_past_a_deleted_demand(rig: Rig) -> None:
    """The audit's crash loop: ``run`` (``hub sne-poll --interval``) ended on the first
    pass after the deletion, and every restart did the same."""
    a, b = rig.register("A"), rig.register("B")
    rig.poller.poll_once(DAY1)
    rig.sne.delete(a)
    poller = SnePoller(rig.cfg, rig.client, rig.poller.engine, rig.poller.publish,
                       interval=0.1)  # fmt: skip

    async def two_passes() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(poller.run(stop))
        for _ in range(400):
            if task.done() or poller.stats.passes >= 2:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 30)  # re-raises what ended run

    asyncio.run(two_passes())
    assert poller.stats.passes >= 2 and poller.stats.failures == 0
    assert poller.stats.counts["deleted"] == 1
    assert [e["operation"] for e in rig.sent if e["numUnique"] == a] == ["CRE", "SUP"]
    assert [e["operation"] for e in rig.sent if e["numUnique"] == b] == ["CRE"]


def test_an_answer_the_hub_cannot_read_refuses_that_demand_only(rig: Rig) -> None:
    a, b = rig.register("A"), rig.register("B")
    rig.poller.poll_once(DAY1)
    good = rig.sne.get(a)
    assert good is not None
    rig.sne.update(a, {"document": b"<interfaceNuu>cut short"})  # not well-formed XML
    c = rig.register("C")
    mod = new_demande_xml(rig.g, [COMMUNE, "76540"], operation="MOD", num_unique=b, nom=f"B{rig.g}")
    assert rig.client.register_demande(mod)[1].ok
    report = rig.poller.poll_once(DAY2)
    assert ops(report) == {b: "MOD", c: "CRE"}
    assert report.refused == 1 and report.incomplete == []
    assert rig.poller.watermark("radiations") == DAY2.isoformat()
    rig.sne.update(a, {"document": good["document"]})  # answered again: nothing changed
    again = rig.poller.poll_once(DAY3)
    assert again.published == [] and again.refused == 0


def test_more_deletions_than_the_limit_publish_no_sup(rig: Rig) -> None:
    """Demands published before and all unknown at once: the poller pointed at another SNE
    (or an emptied simulator) rather than a wave of deletions."""
    nums = [rig.register(t) for t in "ABC"]
    rig.poller.poll_once(DAY1)
    for num in nums[:2]:
        rig.sne.delete(num)
    d = rig.register("D")
    guarded = SnePoller(rig.cfg.model_copy(update={"poll_max_deletions": 1}), rig.client,
                        rig.poller.engine, rig.poller.publish)  # fmt: skip
    report = guarded.poll_once(DAY2)
    assert ops(report) == {d: "CRE"} and report.deleted == 0
    assert len(report.incomplete) == 1 and "poll_max_deletions (1)" in report.incomplete[0]
    assert guarded.watermark("radiations") == DAY2.isoformat()
    # the operator confirms (the SNE did delete them): raised limit, both told
    report = rig.poller.poll_once(DAY3)
    assert ops(report) == {nums[0]: "SUP", nums[1]: "SUP"} and report.incomplete == []


def test_hub_sne_poll_once_as_the_audit_ran_it(
    rig: Rig, hub_env: dict[str, str], tmp_path: Path
) -> None:
    a, b = rig.register("A"), rig.register("B")
    env = {
        **hub_env,
        "HUB_SNE__URL": rig.cfg.url,
        "HUB_SNE__RETRIES": "0",
        "HUB_SNE__POLL_COMMUNES": f'["{COMMUNE}"]',
        "HUB_SNE__POLL_SINCE": "2025-01-01",
        "HUB_DATABASE__URL": f"sqlite:///{tmp_path / 'cli.db'}",
    }

    def sne_poll() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", "from hub.cli import main; main()", "sne-poll", "--once"],
            env={**os.environ, **env}, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    first = sne_poll()
    assert first.returncode == 0, first.stderr[-2000:]
    assert "published 2, " in first.stdout
    rig.sne.delete(a)
    told = sne_poll()  # "Error: SNE: numUnique ... unknown", exit 1, before the fix
    assert told.returncode == 0, told.stderr[-2000:]
    assert "published 1, unchanged 1, refused 0, deleted 1" in told.stdout  # b unchanged
    again = sne_poll()  # and at every restart
    assert again.returncode == 0, again.stderr[-2000:]
    assert "published 0, unchanged 1, refused 0, deleted 0" in again.stdout
    assert b
