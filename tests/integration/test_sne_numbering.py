"""A CRE the SNE has not numbered yet, as a person publishes it (issue 17 point 5): ``hub
publish`` has it numbered by the SNE simulator, saves the attestation, and the real worker
dispatches it on the real broker under that number; without an SNE it is one line."""

from __future__ import annotations

import io
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.sne.client import SneClient
from hub.core.settings import HubSettings, SneSettings
from hub.dev.sne_simulator import create_app
from hub.domain.actors import Actor, ActorFilters
from tests.integration.conftest import collect_feed
from tests.support.sne import ROUEN, new_demande_xml, serve

pytestmark = pytest.mark.kafka


def hub(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from hub.cli import main; main()", *args],
                          env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(create_app(f"sqlite:///{tmp_path_factory.mktemp('sim') / 'sim.db'}")) as base:
        yield f"{base}/sne"


def test_cre_without_number_is_numbered_by_the_sne_and_dispatched_under_it(
    simulator: str, hub_env: dict[str, str], hub_home: Path, settings: HubSettings,
    worker: Any, actor_service: Any, tmp_path: Path,
) -> None:
    actor = f"num-{uuid.uuid4().hex[:8]}"
    actor_service.add_or_update(
        Actor(id=actor, name=actor, kind="bailleur", filters=ActorFilters(communes=[ROUEN])))
    g = "K" + uuid.uuid4().hex[:4].upper()
    path = tmp_path / "nouvelle-demande.xml"
    path.write_bytes(new_demande_xml(g, [ROUEN], nom=f"K{g}"))
    env = {**hub_env, "HUB_SNE__URL": simulator, "HUB_SNE__RETRIES": "0"}
    client = SneClient(SneSettings(url=simulator, retries=0))

    dry = hub(env, "publish", "--dry-run", str(path))
    assert dry.returncode == 0, dry.stderr
    assert "1 valid event(s), 1 would be numbered by the SNE" in dry.stdout
    assert client.search(communeSouhaitee=ROUEN) == []  # the dry run called nothing

    res = hub(env, "publish", str(path))
    assert res.returncode == 0, res.stderr
    assert "published 1 event(s)" in res.stdout
    [num] = client.search(communeSouhaitee=ROUEN)  # the SNE numbered it
    assert len(num) == 18 and num.startswith("076") and num.endswith(g)
    records = collect_feed(settings, actor, worker=worker,
                           until=lambda rs: any(r["numUnique"] == num for r in rs))
    mine = [r for r in records if r["numUnique"].endswith(g)]
    assert [(r["numUnique"], r["operation"]) for r in mine] == [(num, "CRE")]
    assert all(r["numUnique"] for r in records)  # nothing keyed by an empty number
    # the attestation the SNE answered, kept under its name in the hub's home
    folder = hub_home / "sne-attestations" / num
    pdf = (folder / f"attestation_enregistrement_{num}.pdf").read_bytes()
    pypdf = pytest.importorskip("pypdf")
    text = pypdf.PdfReader(io.BytesIO(pdf), strict=True).pages[0].extract_text()
    assert f"{num[:3]} {num[3:7]} {num[7:13]} {num[13:]}" in text


def test_without_sne_the_refusal_is_one_line(hub_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "nouvelle-demande.xml"
    path.write_bytes(new_demande_xml("K0000", [ROUEN]))
    for args in (["publish", str(path)], ["publish", "--dry-run", str(path)]):
        res = hub({**hub_env, "HUB_SNE__URL": ""}, *args)
        assert res.returncode == 1
        assert "Traceback" not in res.stderr and "malformed" not in res.stderr
        first = res.stderr.strip().splitlines()[0]
        assert first == (f"{path}: CRE without numéro unique: only the SNE numbers a new "
                         "demand and no SNE is configured (set HUB_SNE__URL)")


def test_rest_api_creation_without_number_is_numbered(
    settings: HubSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The REST API reaches the same numbering step: a CRE posted with an empty numUnique
    is published under the SNE's number, and the submitter holds it; without an SNE, 422."""
    import asyncio

    from aiokafka import AIOKafkaConsumer
    from fastapi.testclient import TestClient

    from connectors.interfacenuu.mapping import parse_demande_xml
    from hub.api.app import create_app as api_app
    from hub.core.db import make_engine, migrate
    from hub.core.kafka.client import client_options
    from hub.core.settings import get_settings
    from schemas import get_codec
    from tests.integration.api_support import register

    engine = make_engine(f"sqlite:///{tmp_path / 'api.db'}")
    migrate(engine)
    who = register(engine)
    g = "R" + uuid.uuid4().hex[:4].upper()
    event = parse_demande_xml(new_demande_xml(g, [ROUEN], nom=f"R{g}"))
    event.pop("eventId")
    event.pop("source")
    assert event["numUnique"] == ""
    monkeypatch.setenv("HUB_HOME", str(tmp_path / "home"))
    with serve(create_app(f"sqlite:///{tmp_path / 'sim.db'}")) as sim, \
            TestClient(api_app(settings, engine)) as client:
        monkeypatch.setenv("HUB_SNE__URL", "")
        get_settings.cache_clear()
        r = client.post("/demandes/evenements", headers=who.headers, json=[event])
        assert r.status_code == 422, r.text
        assert "no SNE is configured" in r.json()["detail"]
        monkeypatch.setenv("HUB_SNE__URL", f"{sim}/sne")
        get_settings.cache_clear()
        try:
            r = client.post("/demandes/evenements", headers=who.headers, json=[event])
        finally:
            get_settings.cache_clear()
        assert r.status_code == 202, r.text
        [num] = SneClient(SneSettings(url=f"{sim}/sne")).search(communeSouhaitee=ROUEN)
    assert num.endswith(g)

    async def find() -> dict[str, Any] | None:
        consumer = AIOKafkaConsumer("hub.demandes", **client_options(settings), group_id=None,
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        try:
            await consumer.getmany(timeout_ms=1000)
            for tp in consumer.assignment():
                end = (await consumer.end_offsets([tp]))[tp]
                consumer.seek(tp, max(0, end - 200))
            for _ in range(20):
                for msgs in (await consumer.getmany(timeout_ms=500)).values():
                    for m in msgs:
                        if m.key == num.encode():
                            return dict(get_codec().decode_as(m.value, "DemandeEvent"))
            return None
        finally:
            await consumer.stop()

    published = asyncio.run(find())
    assert published is not None and published["numUnique"] == num
    assert published["source"] == f"api:{who.actor.id}"
    engine.dispose()
