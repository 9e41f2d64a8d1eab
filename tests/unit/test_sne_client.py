"""SNE client against the real simulator (uvicorn on loopback) and against servers that fail:
MTOM and inline, anomalies, faults never retried, transport errors retried with backoff."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from connectors.sne.client import SneClient
from connectors.sne.errors import SneFault, SneUnavailable, SneUnknownDemande
from connectors.sne.simulator import create_app
from hub.settings import SneSettings
from tests.support.sne import ROUEN, free_port, new_demande_xml, serve


class Counting:
    """ASGI wrapper counting the POST requests that reach the app."""

    def __init__(self, app: Any) -> None:
        self.app, self.posts = app, 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            self.posts += 1
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Counting]]:
    db = tmp_path_factory.mktemp("sim") / "sim.db"
    app = Counting(create_app(f"sqlite:///{db}"))
    with serve(app) as base:
        yield f"{base}/sne", app


def guichet() -> str:
    return "T" + uuid.uuid4().hex[:4].upper()


@pytest.mark.parametrize("mtom", [True, False], ids=["mtom", "inline"])
def test_register_read_search_radiate(simulator: tuple[str, Counting], mtom: bool) -> None:
    url, _ = simulator
    client = SneClient(SneSettings(url=url, retries=0), mtom=mtom)
    g = guichet()
    num, answer = client.register_demande(new_demande_xml(g, [ROUEN], nom=f"N{g}"))
    assert answer.ok and num is not None
    assert len(num) == 18 and num.startswith("0761125") and num.endswith(g)
    assert num.encode() in client.get_demande(num)
    assert num in client.search(communeSouhaitee=ROUEN, etatDemande="A")
    _, rad = client.register_demande(
        new_demande_xml(g, [ROUEN], operation="RAD", num_unique=num, nom=f"N{g}")
    )
    assert rad.ok
    assert num in client.radiations_since(date(2026, 11, 20))
    assert num not in client.radiations_since(date(2026, 11, 21))


def test_anomalies_are_answers_not_errors(simulator: tuple[str, Counting]) -> None:
    url, counting = simulator
    client = SneClient(SneSettings(url=url, retries=3))
    g = guichet()
    before = counting.posts
    num, answer = client.register_demande(new_demande_xml(g, ["99999"]))
    assert num is None
    assert [a.code for a in answer.anomalies] == ["COMMUNE"]
    assert "99999" in answer.anomalies[0].message
    num, answer = client.register_demande(
        new_demande_xml(g, [ROUEN], operation="MOD", num_unique=f"0761125999999{g}")
    )
    assert num is None and [a.code for a in answer.anomalies] == ["NUMINCONNU"]
    bad = (
        new_demande_xml(g, [ROUEN])
        .replace(b"<precision", b"<precisionX", 1)
        .replace(b"</precision>", b"</precisionX>", 1)
    )
    num, answer = client.register_demande(bad)
    assert num is None and answer.anomalies[0].code == "XSD"
    assert "precisionX" in answer.anomalies[0].message
    assert counting.posts - before == 3  # one request each: anomalies are not retried


def test_fault_is_not_retried(simulator: tuple[str, Counting]) -> None:
    url, counting = simulator
    client = SneClient(SneSettings(url=url, retries=3, backoff_s=0.01))
    before = counting.posts
    with pytest.raises(SneUnknownDemande) as err:
        client.get_demande("076112599999900000")
    assert not err.value.retriable
    assert counting.posts - before == 1


def test_gestion_partagee_events(simulator: tuple[str, Counting]) -> None:
    url, _ = simulator
    client = SneClient(SneSettings(url=url, retries=0))
    g = guichet()
    num, _ = client.register_demande(new_demande_xml(g, [ROUEN], nom=f"G{g}"))
    assert num
    types = {t["codeTypeEvenement"] for t in client.event_types()}
    assert {"DECISCAL", "REFUS"} <= types
    assert [t["codeTypeEvenement"] for t in client.event_types("076")] == ["LABELLOC"]
    added = client.add_event(
        num, {"codeTypeEvenement": "VISITEPROP", "dateSurvenance": "2026-01-02"}
    )
    ident = int(added["idEvenement"])
    modified = client.modify_event(
        num,
        {"idEvenement": ident, "codeTypeEvenement": "VISITEPROP", "dateSurvenance": "2026-01-03"},
    )
    assert modified["natureModification"] == "MOD"
    assert [e["dateSurvenance"] for e in client.events(num)] == ["2026-01-03"]
    client.delete_event(num, ident)
    assert client.events(num) == []
    with pytest.raises(SneFault) as err:
        client.add_event(num, {"codeTypeEvenement": "REFUS", "dateSurvenance": "2026-01-02"})
    assert err.value.code == "CARACOBL"


def test_nothing_listening_is_retried_then_unavailable() -> None:
    delays: list[float] = []
    cfg = SneSettings(
        url=f"http://127.0.0.1:{free_port()}/sne", retries=3, backoff_s=0.1, timeout_s=2
    )
    client = SneClient(cfg, sleep=delays.append)
    with pytest.raises(SneUnavailable) as err:
        client.get_demande("076112500000100000")
    assert err.value.retriable
    assert len(delays) == 3
    assert 0.08 <= delays[0] <= 0.12 and 0.32 <= delays[2] <= 0.48  # exponential


def test_server_closing_sockets_is_retried(tmp_path: Path) -> None:
    accepted = 0
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(10)

    def run() -> None:
        nonlocal accepted
        try:
            while True:
                conn, _ = listener.accept()
                accepted += 1
                conn.recv(1024)
                conn.close()  # drops the request without an answer
        except OSError:
            return

    threading.Thread(target=run, daemon=True).start()
    port = listener.getsockname()[1]
    client = SneClient(
        SneSettings(url=f"http://127.0.0.1:{port}/sne", retries=2, timeout_s=2),
        sleep=lambda _s: None,
    )
    try:
        with pytest.raises(SneUnavailable):
            client.search(communeSouhaitee=ROUEN)
    finally:
        listener.close()
    assert accepted == 3
