"""The inbox's races on the real broker, a real `hub worker` and the SNE simulator (audit
findings 1 and 3): a file renamed over while its batch is being published is not moved
unpublished, and reaches the actors at the next pass; a new demand is registered at the
SNE once, across a Kafka failure, and reaches the actors under the SNE's number."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.files import layout
from connectors.files.scan import scan_source
from connectors.ingress import publishing
from connectors.sne.client import SneClient
from hub.core.errors import TransientError
from hub.core.settings import FilesSettings, HubSettings, KafkaSettings, SneSettings, get_settings
from hub.dev.sne_simulator import create_app
from hub.domain.actors import Actor, ActorFilters
from tests.integration.conftest import collect_feed
from tests.support.demandes import new_num_unique
from tests.support.legacy_files import drop, legacy_xml
from tests.support.sne import free_port, new_demande_xml, serve

pytestmark = pytest.mark.kafka

COMMUNE = "76017"  # Anglesqueville-l'Esneval: a commune no other test uses
#: a fresh worker recovers the shared test state first (minutes on a long-lived broker)
FEED_TIMEOUT = 240


def _inbox(settings: HubSettings, root: Path,
           **files: Any) -> tuple[HubSettings, layout.InboxPaths]:  # fmt: skip
    source = f"race-{uuid.uuid4().hex[:8]}"
    s = settings.model_copy(update={"files": FilesSettings(
        root=root, sources=(source,), settle_s=0, **files)})  # fmt: skip
    paths = layout.inbox_paths(s, source)
    paths.create()
    return s, paths


def _actor(service: Any) -> str:
    actor = f"frace-{uuid.uuid4().hex[:8]}"
    service.add_or_update(Actor(id=actor, name=actor, kind="bailleur",
                                filters=ActorFilters(communes=[COMMUNE])))  # fmt: skip
    return actor


def _feed(settings: HubSettings, actor: str, worker: Any, nums: set[str]) -> list[str]:
    """The numéros of the demands ``nums`` the actor received, sorted: each once, as a
    ``DEMANDE``, or as a ``COPIE`` if the worker learnt of the new actor after the event
    (the copies of the territory's earlier demands are left out)."""

    def ours(rs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r for r in rs if r["numUnique"] in nums and r["kind"] in ("DEMANDE", "COPIE")]

    records = collect_feed(settings, actor, worker=worker, timeout=FEED_TIMEOUT,
                           until=lambda rs: {r["numUnique"] for r in ours(rs)} == nums)  # fmt: skip
    assert all(r["operation"] == "CRE" for r in ours(records) if r["kind"] == "DEMANDE")
    return sorted(r["numUnique"] for r in ours(records))


def test_a_file_renamed_over_during_its_publication_reaches_the_actors_later(
    settings: HubSettings, worker: Any, actor_service: Any, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    actor = _actor(actor_service)
    s, paths = _inbox(settings, tmp_path / "files")
    n1, n2 = new_num_unique(), new_num_unique()
    first, second = legacy_xml(n1, [COMMUNE]), legacy_xml(n2, [COMMUNE])
    drop(paths.folder, "export.xml", first)
    real = publishing.publish_events
    swaps = [lambda: drop(paths.folder, "export.xml", second)]

    async def publish_then_swap(*args: Any, **kwargs: Any) -> int:
        if swaps:  # the legacy system's next export lands while the batch is being sent
            swaps.pop()()
        return await real(*args, **kwargs)

    monkeypatch.setattr("connectors.files.scan.publish_events", publish_then_swap)
    assert asyncio.run(scan_source(s, paths)).counts["published"] == 1
    assert (paths.done / "export.xml").read_bytes() == first
    assert (paths.folder / "export.xml").read_bytes() == second
    assert asyncio.run(scan_source(s, paths)).counts["published"] == 1
    assert not list(paths.folder.glob("*.xml")) and not list(paths.work.iterdir())
    assert _feed(s, actor, worker, {n1, n2}) == sorted([n1, n2])


class Counting:
    """ASGI wrapper counting the SOAP calls (POST) that reach the simulator."""

    def __init__(self, app: Any) -> None:
        self.app, self.posts = app, 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            self.posts += 1
        await self.app(scope, receive, send)


@pytest.fixture()
def sne(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Counting]]:
    """A fresh SNE simulator, configured as the hub's SNE (HUB_HOME in tmp_path)."""
    app = Counting(create_app(f"sqlite:///{tmp_path / 'sim.db'}"))
    with serve(app) as base:
        monkeypatch.setenv("HUB_HOME", str(tmp_path / "home"))
        monkeypatch.setenv("HUB_SNE__URL", f"{base}/sne")
        monkeypatch.setenv("HUB_SNE__RETRIES", "0")
        get_settings.cache_clear()
        yield f"{base}/sne", app
    get_settings.cache_clear()


def test_a_new_demand_is_registered_once_across_a_kafka_failure(
    settings: HubSettings, worker: Any, actor_service: Any, tmp_path: Path,
    sne: tuple[str, Counting],
) -> None:  # fmt: skip
    """Finding 3: a CRE without numéro, Kafka failing on the first pass: the SNE numbers
    it once; the next pass publishes it under that number; it reaches the actor."""
    url, calls = sne
    actor = _actor(actor_service)
    s, paths = _inbox(settings, tmp_path / "files", publish_timeout_s=3)
    g = "F" + uuid.uuid4().hex[:4].upper()
    drop(paths.folder, "nouvelle.xml", new_demande_xml(g, [COMMUNE], nom=f"INBOX{g}"))
    down = s.model_copy(update={"kafka": KafkaSettings(
        bootstrap_servers=f"127.0.0.1:{free_port()}", request_timeout_ms=1000)})  # fmt: skip

    with pytest.raises(TransientError):
        asyncio.run(scan_source(down, paths))
    assert calls.posts == 1  # registered, then Kafka failed: the file stays for later
    assert not list(paths.done.iterdir()) and not list(paths.error.iterdir())

    stats = asyncio.run(scan_source(s, paths))
    assert (stats.counts["published"], stats.counts["rejected"]) == (1, 0)
    assert calls.posts == 1  # not registered again
    [num] = SneClient(SneSettings(url=url, retries=0)).search(communeSouhaitee=COMMUNE)
    assert num.endswith(g)
    report = json.loads((paths.done / "nouvelle.xml.report.json").read_text())
    assert (report["status"], report["numUnique"], report["operation"]) == (
        "published", num, "CRE")
    assert (tmp_path / "home" / "sne-attestations" / num
            / f"attestation_enregistrement_{num}.pdf").exists()  # fmt: skip
    assert _feed(s, actor, worker, {num}) == [num]
