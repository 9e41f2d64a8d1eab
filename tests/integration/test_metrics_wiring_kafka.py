"""Connector metrics of the Kafka-bound paths, read from the hub's registry before and after
a known workload: the SNE poller (its SNE calls, last success, how far behind) against the
simulator, and the file connector (inbox verdicts, DIS files written, outbox depth) with a
real `hub worker` dispatching to a file actor."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
import urllib.request
import uuid
from datetime import date
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from connectors.files import layout
from connectors.files.scan import scan_source
from connectors.ingress.publishing import PreparedEvent, publish_events
from connectors.outbound.file import run_actor
from connectors.sne.client import CONNECTOR, SneClient
from connectors.sne.errors import SneUnavailable
from connectors.sne.poller import POLLER, SnePoller
from hub.core.db import make_engine, migrate
from hub.core.settings import FilesSettings, HubSettings, SneSettings
from hub.dev.sne_simulator import create_app
from hub.domain.actors import Actor, ActorFilters, Delivery
from monitoring.metrics import REGISTRY
from tests.integration.conftest import collect_feed
from tests.support.connector_metrics import calls, delta
from tests.support.demandes import new_num_unique
from tests.support.legacy_files import HUB, drop, legacy_xml, read_dis
from tests.support.sne import free_port, new_demande_xml, serve

pytestmark = pytest.mark.kafka
POLL_COMMUNE = "76451"  # the poller test's commune: a fresh simulator holds only ours
FILES_COMMUNE = "76743"  # no other test uses it: the file actor's feed holds only ours
LAST = "passerelle_sne_poller_last_success_timestamp_seconds"
BEHIND = "passerelle_sne_poller_behind_seconds"
POLL_LABELS = frozenset({("poller", POLLER)})


def gauge(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def last_success() -> float | None:
    return gauge("passerelle_sne_poller_last_success_timestamp_seconds", poller=POLLER)


def behind() -> float | None:
    return gauge("passerelle_sne_poller_behind_seconds", poller=POLLER)


def sne_calls() -> dict[str, dict[str, float]]:
    ops = ("rechercheDemandeMulticritere", "getDemandesRadieesDepuisLe", "getDemandeLogement")
    return {op: calls(CONNECTOR, op) for op in ops}


def test_sne_poller_feeds_the_behind_alert(settings: HubSettings, tmp_path: Path) -> None:
    def publish(events: list[PreparedEvent]) -> int:
        return asyncio.run(publish_events(settings, events))

    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    migrate(engine)
    today = date(2026, 11, 23)  # two yearly dépôt windows from poll_since
    base_cfg = settings.sne.model_copy(update={
        "retries": 0, "poll_communes": (POLL_COMMUNE,), "poll_since": "2025-01-01"})

    # a failed pass (SNE unreachable) feeds neither gauge
    dead = base_cfg.model_copy(update={"url": f"http://127.0.0.1:{free_port()}/sne"})
    before = (last_success(), behind())
    with pytest.raises(SneUnavailable):
        SnePoller(dead, SneClient(dead), engine, publish).poll_once(today)
    assert (last_success(), behind()) == before

    with serve(create_app(f"sqlite:///{tmp_path / 'sim.db'}")) as base:
        cfg = base_cfg.model_copy(update={"url": f"{base}/sne"})
        client = SneClient(cfg)
        g = "W" + uuid.uuid4().hex[:4].upper()
        registered_at = time.time()
        nums = [client.register_demande(new_demande_xml(g, [POLL_COMMUNE], nom=f"{n}{g}"))[0]
                or "" for n in ("A", "B")]
        assert all(nums)
        poller = SnePoller(cfg, client, engine, publish)

        calls0, start = sne_calls(), time.time()
        first = poller.poll_once(today)
        end = time.time()
        assert sorted(e["numUnique"] for e in first.published) == sorted(nums)
        # one search per window, one radiation list, one fetch per demand: all answered
        assert {op: delta(calls0[op], after) for op, after in sne_calls().items()} == {
            "rechercheDemandeMulticritere": {"ok": 2, "duration": 2},
            "getDemandesRadieesDepuisLe": {"ok": 1, "duration": 1},
            "getDemandeLogement": {"ok": 2, "duration": 2},
        }
        success = last_success()
        assert success is not None and start <= success <= end
        newest = max(e["occurredAt"] for e in first.published) / 1000.0
        lag = behind()
        assert lag is not None and lag == pytest.approx(success - newest, abs=1e-6)
        assert 0.0 <= lag <= end - registered_at + 1.0  # dateFichier has ms precision

        time.sleep(0.01)
        assert poller.poll_once(today).published == []  # nothing new: behind kept as is
        second = last_success()
        assert second is not None and second > success
        assert behind() == lag


def test_file_connector_calls_and_outbox_depth(  # type: ignore[no-untyped-def]
        settings: HubSettings, worker, actor_service, tmp_path: Path) -> None:
    source = f"m{uuid.uuid4().hex[:8]}"
    s = settings.model_copy(update={"files": FilesSettings(
        root=tmp_path / "files", sources=(source,), settle_s=0, outbox_batch_max=1)})
    out = tmp_path / "out"
    actor = Actor(id=f"fm-{uuid.uuid4().hex[:8]}", name="legacy", kind="bailleur",
                  filters=ActorFilters(communes=[FILES_COMMUNE]),
                  delivery=Delivery(channel="file", options={"dir": str(out)}))
    actor_service.add_or_update(actor)
    time.sleep(1.0)  # let the worker take the new actor before the demands

    paths = layout.inbox_paths(s, source)
    paths.create()
    nums = [new_num_unique(), new_num_unique()]
    for i, n in enumerate(nums):
        drop(paths.folder, f"{i}-cre.xml", legacy_xml(n, [FILES_COMMUNE]))
    drop(paths.folder, "2-broken.xml", b"<interfaceNuu><entete>")
    drop(paths.folder, "3-unknown-commune.xml", legacy_xml(new_num_unique(), ["76999"]))
    inbox0 = calls("files", "inbox")
    stats = asyncio.run(scan_source(s, paths))
    assert (stats.counts["published"], stats.counts["rejected"]) == (2, 2)
    assert delta(inbox0, calls("files", "inbox")) == {
        "ok": 2, "business_error": 2, "duration": 4}

    ours = set(nums)
    feed = collect_feed(s, actor.id, worker=worker,
                        until=lambda rs: sum(r["numUnique"] in ours for r in rs) >= 2)
    assert sum(r["numUnique"] in ours for r in feed) == 2
    # the first DIS file of each partition cannot be written (a folder holds its name):
    # the round that fails has measured the whole feed as waiting
    out.mkdir()
    blockers = [out / layout.dis_name(actor.id, p, 0, 0) for p in range(16)]
    for b in blockers:
        b.mkdir()
    outbox0 = calls("files", "outbox")
    with pytest.raises(OSError):
        asyncio.run(run_actor(s, actor, once=True))
    assert gauge("passerelle_outbox_depth", actor=actor.id) == len(feed)
    assert delta(outbox0, calls("files", "outbox")) == {"transport_error": 1, "duration": 1}

    for b in blockers:
        shutil.rmtree(b)
    outbox1 = calls("files", "outbox")
    written = asyncio.run(run_actor(s, actor, once=True))
    files = written.counts["files"]
    assert written.counts["records"] == len(feed) == files  # one record per file (batch max 1)
    assert delta(outbox1, calls("files", "outbox")) == {"ok": files, "duration": files}
    assert gauge("passerelle_outbox_depth", actor=actor.id) == 0  # caught up, and set
    assert len(read_dis(out)) == len(feed)


def scrape(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return None
    return {(smp.name, frozenset(smp.labels.items())): smp.value
            for fam in text_string_to_metric_families(text) for smp in fam.samples}


def test_sne_poll_command_serves_its_metrics(hub_env: dict[str, str], tmp_path: Path) -> None:
    with serve(create_app(f"sqlite:///{tmp_path / 'sim.db'}")) as base:
        client = SneClient(SneSettings(url=f"{base}/sne", retries=0))
        g = "X" + uuid.uuid4().hex[:4].upper()
        registered = time.time()
        num = client.register_demande(new_demande_xml(g, [POLL_COMMUNE], nom=f"C{g}"))[0]
        assert num
        port = free_port()
        env = {**hub_env, "HUB_HOME": str(tmp_path / "home"),  # a database of its own
               "HUB_SNE__URL": f"{base}/sne", "HUB_SNE__RETRIES": "0",
               "HUB_SNE__POLL_COMMUNES": f'["{POLL_COMMUNE}"]',
               "HUB_SNE__POLL_SINCE": "2025-01-01"}  # the test demands are of 2025
        start = time.time()
        proc = subprocess.Popen([*HUB, "sne-poll", "--interval", "3600", "--metrics-port",
                                 str(port)], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        try:
            deadline, got = time.monotonic() + 60, None
            while time.monotonic() < deadline and proc.poll() is None:
                got = scrape(port)
                # the last success holds the process's start until the pass succeeds
                # (audit L F2): the pass is done once it has set how far behind it is
                if got and (BEHIND, POLL_LABELS) in got:
                    break
                time.sleep(0.2)
        finally:
            proc.terminate()
            _, err = proc.communicate(timeout=20)
    assert got is not None and (BEHIND, POLL_LABELS) in got, err
    assert start <= got[(LAST, POLL_LABELS)] <= time.time()
    assert got[(LAST, POLL_LABELS)] > got[("process_start_time_seconds", frozenset())]  # no seed
    behind_s = got[(BEHIND, POLL_LABELS)]
    assert 0.0 <= behind_s <= time.time() - registered + 1.0

    def sne(operation: str) -> float:
        labels = {"connector": CONNECTOR, "operation": operation, "outcome": "ok"}
        return got[("passerelle_connector_calls_total", frozenset(labels.items()))]

    # one pass, in a fresh process: exactly its own calls
    assert sne("rechercheDemandeMulticritere") == date.today().year - 2025 + 1  # per year
    assert sne("getDemandesRadieesDepuisLe") == 1
    assert sne("getDemandeLogement") == 1

