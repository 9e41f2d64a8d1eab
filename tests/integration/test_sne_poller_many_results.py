"""The SNE poller and searches matching more demands than the SNE answers at once (the
audit's suspicion "hub sne-poll and many results"): the simulator answers the anomaly
TROPRESULT past its limit, lowered here from 5,000 to 3 (``create_app(max_results=)``,
``hub sne-simulator --max-results``) rather than creating 5,001 demands. Over HTTP against
the simulator, events to the real broker: the poller halves its dépôt windows until each
search fits and captures every demand; a single day still too large is given up for the
pass, which goes on and says so; the simulator's limit counts the demands of the commune
searched, not of every commune."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from connectors.ingress.publishing import PreparedEvent, publish_events
from connectors.sne.client import SneClient
from connectors.sne.errors import SneFault
from connectors.sne.poller import SnePoller
from hub.core.db import make_engine, migrate
from hub.core.settings import HubSettings
from hub.dev.sne_simulator import create_app
from tests.support.sne import new_demande_xml, serve

pytestmark = pytest.mark.kafka
COMMUNE, OTHER = "76451", "76540"
LIMIT = 3
TODAY = date(2026, 11, 23)
#: dépôt dates spread over 2026: seven demands in one yearly window, more than LIMIT
SPREAD = ["2026-01-15", "2026-02-10", "2026-03-05", "2026-05-20", "2026-07-01",
          "2026-09-09", "2026-11-02"]  # fmt: skip


@pytest.fixture()
def sne(settings: HubSettings, tmp_path: Path) -> Iterator[tuple[SnePoller, SneClient]]:
    def publish(events: list[PreparedEvent]) -> int:
        acked = asyncio.run(publish_events(settings, events))
        assert acked == len(events)
        return acked

    with serve(create_app(f"sqlite:///{tmp_path / 'sim.db'}", max_results=LIMIT)) as base:
        cfg = settings.sne.model_copy(
            update={
                "url": f"{base}/sne",
                "retries": 0,
                "poll_communes": (COMMUNE,),
                "poll_since": "2026-01-01",
            }
        )
        client = SneClient(cfg)
        engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
        migrate(engine)
        yield SnePoller(cfg, client, engine, publish), client


def deposit(client: SneClient, on: str, commune: str = COMMUNE) -> str:
    """A new demand wishing ``commune``, first deposited ``on`` (its dateCreationDemande);
    its numéro."""
    g = "M" + uuid.uuid4().hex[:4].upper()
    xml = new_demande_xml(g, [commune], nom=f"N{g}").replace(
        b"<dateCreationDemande>2025-11-02</dateCreationDemande>",
        f"<dateCreationDemande>{on}</dateCreationDemande>".encode(),
    )
    assert f"<dateCreationDemande>{on}<".encode() in xml
    num, answer = client.register_demande(xml)
    assert answer.ok and num, answer.anomalies
    return num


def _year(client: SneClient, commune: str) -> list[str]:
    return client.search(etatDemande="A", dateDepotDebut="2026-01-01",
                         dateDepotFin=TODAY.isoformat(), communeSouhaitee=commune)  # fmt: skip


def test_the_poller_narrows_its_windows_until_the_sne_answers(
    sne: tuple[SnePoller, SneClient],
) -> None:
    poller, client = sne
    nums = {deposit(client, on) for on in SPREAD}
    with pytest.raises(SneFault) as too_many:  # the audit's suspicion, reproduced
        _year(client, COMMUNE)
    assert too_many.value.code == "TROPRESULT"

    report = poller.poll_once(TODAY)  # raised the SneFault above before the fix
    assert {e["numUnique"]: e["operation"] for e in report.published} == dict.fromkeys(nums, "CRE")
    assert report.incomplete == []
    assert poller.poll_once(TODAY).published == []  # and every pass after it passes


def test_a_day_above_the_limit_is_given_up_and_the_pass_goes_on(
    sne: tuple[SnePoller, SneClient],
) -> None:
    poller, client = sne
    crowded = "2026-03-03"
    for _ in range(LIMIT + 1):
        deposit(client, crowded)
    others = {deposit(client, on) for on in ("2026-02-01", "2026-06-30")}
    success = ("passerelle_sne_poller_last_success_timestamp_seconds", {"poller": "demandes"})
    before = REGISTRY.get_sample_value(*success)

    report = poller.poll_once(TODAY)
    assert {e["numUnique"] for e in report.published} == others
    assert len(report.incomplete) == 1
    assert f"commune {COMMUNE}" in report.incomplete[0] and crowded in report.incomplete[0]
    assert poller.watermark("radiations") == TODAY.isoformat()
    # incomplete: not a success for the PasserelleSnePollerBehind alert
    assert REGISTRY.get_sample_value(*success) == before


def test_the_simulator_limit_counts_the_demands_of_the_commune_searched(
    sne: tuple[SnePoller, SneClient],
) -> None:
    _, client = sne
    for on in SPREAD[: LIMIT + 1]:
        deposit(client, on, OTHER)
    mine = {deposit(client, on) for on in SPREAD[:2]}
    assert set(_year(client, COMMUNE)) == mine  # TROPRESULT before: OTHER's counted too
    with pytest.raises(SneFault, match="TROPRESULT"):
        _year(client, OTHER)
