"""The SNE poller when the SNE refuses a search otherwise than as too large (TROPRESULT:
test_sne_poller_many_results.py): over HTTP against the simulator, which answers a search
for a code that is no INSEE commune with the anomaly COMMUNE and one whose dates are
reversed with DATES, and behind tests/support/sne_faults.py for a SOAP Fault refusing the
caller (ACCES, HTTP 403, written by hand); events to the real broker.

A refused commune is given up for the pass, named in one line with the SNE's code and
message, counted; the other communes are searched and every demand read; the pass is
incomplete and ``run`` goes on (it ended on the first such refusal before). A refusal of
the caller stops the searches at once; refused everything, the pass fails (retriable)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from connectors.sne.poll_calls import SneUnusable
from connectors.sne.poller import POLLER, PollReport
from hub.core.settings import HubSettings
from monitoring.metrics import REGISTRY
from tests.support.sne import new_demande_xml
from tests.support.sne_faults import fault
from tests.support.sne_poll_rig import COMMUNE, Rig, rig_of

pytestmark = pytest.mark.kafka
UNKNOWN = "99999"
DAY1, DAY2 = date(2026, 11, 23), date(2026, 11, 24)
SEARCH = "rechercheDemandeMulticritere"


@pytest.fixture()
def rig(settings: HubSettings, tmp_path: Path) -> Iterator[Rig]:
    # the unknown commune first: before the fix, nothing was read after it
    with rig_of(settings, tmp_path, "R", retries=0, poll_communes=(UNKNOWN, COMMUNE),
                poll_since="2025-01-01") as r:  # fmt: skip
        yield r


def ops(report: PollReport) -> dict[str, str]:
    return {str(e["numUnique"]): str(e["operation"]) for e in report.published}


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, {"poller": POLLER, **labels}) or 0.0


def refused_searches() -> float:
    return sample("passerelle_sne_poller_skipped_total", what="search_refused")


def test_an_unknown_commune_is_given_up_and_the_others_polled(rig: Rig) -> None:
    a, b = rig.register("A"), rig.register("B")
    before = refused_searches()
    last_success = sample("passerelle_sne_poller_last_success_timestamp_seconds")

    report = rig.poller().poll_once(DAY1)  # raised SneFault (COMMUNE) before the fix
    assert ops(report) == {a: "CRE", b: "CRE"}
    [line] = report.incomplete
    assert line.startswith(f"commune {UNKNOWN}: search refused by the SNE (SNE anomalies: COMMUNE:")
    assert "is not an INSEE commune code" in line and "check this code in sne.poll_communes" in line
    assert refused_searches() - before == 1  # once for the commune, not per dépôt window
    assert sum(1 for op, _ in rig.sne.calls if op == SEARCH) == 1 + 2  # 2 yearly windows
    assert rig.poller().watermark("radiations") == DAY1.isoformat()
    # incomplete: no success for PasserelleSnePollerBehind
    assert sample("passerelle_sne_poller_last_success_timestamp_seconds") == last_success


def test_run_goes_on_past_a_refused_search(rig: Rig) -> None:
    a = rig.register("A")
    poller = rig.poller(interval=0.05)

    async def passes(n: int) -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(poller.run(stop))
        for _ in range(400):
            if task.done() or poller.stats.passes >= n:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 30)  # re-raises what ended run: the SneFault before

    asyncio.run(passes(2))
    assert poller.stats.passes >= 2 and poller.stats.failures == 0
    assert poller.stats.counts["incomplete"] == poller.stats.passes
    assert [e.key.decode() for e in rig.sent] == [a]


def test_hub_sne_poll_once_names_the_refused_commune(
    rig: Rig, hub_env: dict[str, str], tmp_path: Path
) -> None:
    """What an operator sees: exit status 1, the line on stderr, the rest done."""
    rig.register("A")
    env = {
        **os.environ,
        **hub_env,
        "HUB_SNE__URL": rig.cfg.url,
        "HUB_SNE__RETRIES": "0",
        "HUB_SNE__POLL_COMMUNES": f'["{UNKNOWN}", "{COMMUNE}"]',
        "HUB_SNE__POLL_SINCE": "2025-01-01",
        "HUB_DATABASE__URL": f"sqlite:///{tmp_path / 'cli.db'}",
    }
    done = subprocess.run(
        [sys.executable, "-c", "from hub.cli import main; main()", "sne-poll", "--once"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr[-2000:]
    assert "published 1, " in done.stdout
    assert f"incomplete: commune {UNKNOWN}: search refused by the SNE" in done.stderr
    assert "Traceback" not in done.stderr


def test_reversed_dates_are_refused_without_ending_the_pass(rig: Rig) -> None:
    """``sne.poll_since`` after today: the simulator answers DATES to a search window from
    after to before (no longer asked) and to the radiation listing (a date in the future)."""
    future = rig.cfg.model_copy(update={"poll_since": "2099-01-01"})
    report = rig.poller(future).poll_once(DAY1)
    assert report.published == []
    assert any("sne.poll_since (2099-01-01) is after today" in line for line in report.incomplete)
    assert any(line.startswith("radiations since 2099-01-01 not listed") and "DATES" in line
               for line in report.incomplete)  # fmt: skip
    assert rig.poller(future).watermark("radiations") is None  # not listed: not moved


def test_a_refusal_of_the_hub_itself_stops_the_searches_for_the_pass(rig: Rig) -> None:
    a = rig.register("A")
    rig.poller().poll_once(DAY1)
    assert rig.client.register_demande(
        new_demande_xml(rig.g, [COMMUNE, "76540"], operation="MOD", num_unique=a, nom=f"A{rig.g}")
    )[1].ok
    b = rig.register("B")
    rig.sne.answers[SEARCH] = fault("ACCES", "guichet PASSR non habilite a la recherche",
                                    status=403)  # fmt: skip
    rig.sne.calls.clear()
    before = refused_searches()

    report = rig.poller().poll_once(DAY2)  # raised SneFault (ACCES) before the fix
    assert ops(report) == {a: "MOD"}  # published before: still read; b: not found
    [line] = report.incomplete
    assert line.startswith("every search refused by the SNE (SNE fault ACCES: guichet PASSR")
    assert "check sne.guichet" in line
    assert [c for c in rig.sne.calls if c[0] == SEARCH] == [(SEARCH, "")]  # not per commune
    assert refused_searches() - before == 1
    assert rig.poller().watermark("radiations") == DAY2.isoformat()
    assert b


def test_an_sne_refusing_everything_fails_the_pass(rig: Rig) -> None:
    rig.register("A")
    refusal = fault("ACCES", "certificat inconnu", status=403)
    for op in (SEARCH, "getDemandesRadieesDepuisLe", "getDemandeLogement"):
        rig.sne.answers[op] = refusal
    poller = rig.poller(interval=0.05)
    with pytest.raises(SneUnusable) as failed:
        poller.poll_once(DAY1)
    assert failed.value.retriable and "ACCES" in failed.value.message
    assert not [c for c in rig.sne.calls if c[0] == "getDemandeLogement"]  # no read tried

    async def a_while() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(poller.run(stop))
        for _ in range(100):
            if task.done() or poller.stats.failures >= 2:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 30)

    asyncio.run(a_while())
    assert poller.stats.failures >= 2 and poller.stats.passes == 0
    assert rig.sent == []
