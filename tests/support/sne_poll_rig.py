"""One SNE poller on a misbehaving SNE (tests/support/sne_faults.py), its memory in a
fresh SQLite database and its events sent to the real broker: the rig the poller's fault
tests share (unanswered demands, refused searches, hostile answers)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from connectors.ingress.publishing import PreparedEvent, publish_events
from connectors.sne.client import SneClient
from connectors.sne.poller import SnePoller
from hub.core.db import make_engine, migrate
from hub.core.settings import HubSettings, SneSettings
from hub.dev.sne_simulator import create_app
from tests.support.sne import new_demande_xml
from tests.support.sne_faults import FaultySne, Served, served

#: the commune every rig's demands wish
COMMUNE = "76451"


@dataclass
class Rig:
    settings: HubSettings
    cfg: SneSettings
    client: SneClient  # the poller's
    registrar: SneClient  # for the test's registrations (a patient client where needed)
    sne: FaultySne  # the simulator behind the faults
    served: Served
    engine: Engine
    g: str  # the guichet of this test's demands (their applicants' names carry it too)
    sent: list[PreparedEvent] = field(default_factory=list)  # acknowledged by the broker

    def poller(self, cfg: SneSettings | None = None, **kwargs: float) -> SnePoller:
        """A poller on this rig's memory (a new one: as after a restart)."""
        return SnePoller(cfg or self.cfg, self.client, self.engine, self.publish, **kwargs)

    def publish(self, events: list[PreparedEvent]) -> int:
        acked = asyncio.run(publish_events(self.settings, events))
        assert acked == len(events)
        self.sent.extend(events)
        return acked

    def register(self, tag: str) -> str:
        """Register a new demand wishing COMMUNE at the simulator; its numéro."""
        num, answer = self.registrar.register_demande(
            new_demande_xml(self.g, [COMMUNE], nom=f"{tag}{self.g}")
        )
        assert answer.ok and num, answer.anomalies
        return num


@contextmanager
def rig_of(settings: HubSettings, tmp_path: Path, tag: str, *,
           registrar: dict[str, Any] | None = None, **cfg: Any) -> Iterator[Rig]:  # fmt: skip
    """A :class:`Rig` whose poller's SNE settings are ``settings.sne`` with ``cfg`` (the
    URL set to the faulty SNE); ``registrar``: settings of the registering client, if it
    must differ from the poller's; ``tag``: the first letter of the test's guichet."""
    sne = FaultySne(create_app(f"sqlite:///{tmp_path / 'sim.db'}"))
    with served(sne) as server:
        sne_cfg = settings.sne.model_copy(update={"url": f"{server.base}/sne", **cfg})
        engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
        migrate(engine)
        client = SneClient(sne_cfg)
        reg = client if registrar is None else SneClient(sne_cfg.model_copy(update=registrar))
        g = tag + uuid.uuid4().hex[:4].upper()
        yield Rig(settings, sne_cfg, client, reg, sne, server, engine, g)
