"""The SNE poller against the simulator and the real broker: CRE once, nothing when
unchanged, MOD with changed fields, RAD, and watermarks/snapshots surviving a restart."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from pathlib import Path

import pytest

from connectors.ingress.publishing import PreparedEvent, publish_events
from connectors.sne.client import SneClient
from connectors.sne.poller import SnePoller
from hub.core.db import make_engine, migrate
from hub.core.settings import HubSettings, SneSettings
from hub.dev.sne_simulator import create_app
from tests.support.sne import new_demande_xml, serve

pytestmark = pytest.mark.kafka
COMMUNE = "76451"  # Montivilliers: a commune of its own, so this test sees only its demands


def _poll_config(settings: HubSettings, base: str) -> SneSettings:
    """The SNE section polling the simulator at ``base`` for COMMUNE, without retries."""
    return settings.sne.model_copy(
        update={
            "url": f"{base}/sne",
            "retries": 0,
            "poll_communes": (COMMUNE,),
            "poll_since": "2025-01-01",
        }
    )


def test_poller_publishes_changes_once(settings: HubSettings, tmp_path: Path) -> None:
    published: list[PreparedEvent] = []

    def publish(events: list[PreparedEvent]) -> int:
        published.extend(events)
        return asyncio.run(publish_events(settings, events))

    with serve(create_app(f"sqlite:///{tmp_path / 'sim.db'}")) as base:
        cfg = _poll_config(settings, base)
        client = SneClient(cfg)
        g = "P" + uuid.uuid4().hex[:4].upper()
        nums = [
            client.register_demande(new_demande_xml(g, [COMMUNE], nom=f"{n}{g}"))[0]
            for n in ("A", "B")
        ]
        engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
        migrate(engine)
        poller = SnePoller(cfg, client, engine, publish)
        today = date(2026, 11, 23)

        first = poller.poll_once(today)
        assert sorted((e["numUnique"], e["operation"]) for e in first.published) == sorted(
            (n, "CRE") for n in nums
        )
        assert poller.poll_once(today).published == []  # seen twice unchanged: nothing

        mod = new_demande_xml(
            g, [COMMUNE, "76540"], operation="MOD", num_unique=nums[0], nom=f"A{g}"
        )
        assert client.register_demande(mod)[1].ok
        rad = new_demande_xml(g, [COMMUNE], operation="RAD", num_unique=nums[1], nom=f"B{g}")
        assert client.register_demande(rad)[1].ok

        restarted = SnePoller(cfg, client, engine, publish)  # state from the database only
        changes = {e["numUnique"]: e for e in restarted.poll_once(today).published}
        assert changes[nums[0]]["operation"] == "MOD"
        assert (
            "demandeLogement.logementRecherche.listeLocalisationSouhaite"
            in changes[nums[0]]["changedFields"]
        )
        assert changes[nums[1]]["operation"] == "RAD"
        assert restarted.watermark("radiations") == today.isoformat()
        assert restarted.poll_once(today).published == []
    assert len(published) == 4


def test_run_serves_passes_until_stop_and_backs_off(settings: HubSettings, tmp_path: Path) -> None:
    """The connector shape: ``run(stop)`` makes passes on the event loop (the async
    publisher awaited there), backs off while the SNE is down, and returns on ``stop``."""
    from connectors.shape import Connector
    from tests.support.sne import free_port

    published: list[PreparedEvent] = []

    async def publish(events: list[PreparedEvent]) -> int:
        published.extend(events)
        return await publish_events(settings, events)

    with serve(create_app(f"sqlite:///{tmp_path / 'sim.db'}")) as base:
        cfg = _poll_config(settings, base)
        client = SneClient(cfg)
        g = "R" + uuid.uuid4().hex[:4].upper()
        num = client.register_demande(new_demande_xml(g, [COMMUNE], nom=f"A{g}"))[0]
        engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
        migrate(engine)
        reports: list[int] = []
        poller = SnePoller(
            cfg,
            client,
            engine,
            publish,
            interval=0.2,
            on_pass=lambda r: reports.append(len(r.published)),
        )
        assert isinstance(poller, Connector) and poller.section == "sne"

        async def scenario(p: SnePoller, until: int) -> None:
            stop = asyncio.Event()
            task = asyncio.create_task(p.run(stop))
            for _ in range(300):
                if p.stats.passes + p.stats.failures >= until:
                    break
                await asyncio.sleep(0.05)
            stop.set()
            await asyncio.wait_for(task, 30)

        asyncio.run(scenario(poller, 2))
    assert num in {e.event["numUnique"] for e in published}
    assert reports[0] >= 1 and reports[1] == 0  # the next pass finds nothing new
    assert poller.stats.counts["published"] == reports[0]

    down = cfg.model_copy(update={"url": f"http://127.0.0.1:{free_port()}/sne"})
    dead = SnePoller(down, SneClient(down), engine, publish, interval=0.2)
    asyncio.run(scenario(dead, 2))
    assert dead.stats.passes == 0 and dead.stats.failures >= 2
    assert dead.stats.last_error is not None and "SNE" in dead.stats.last_error
