"""SNE client against the real simulator (uvicorn on loopback) and against servers that fail:
MTOM and inline, anomalies, faults never retried, transport errors retried with backoff;
getNumUnique's attestation (a PDF a PDF parser opens, an MTOM/XOP attachment), getDoublons,
getDeclarationNouveauDalo and getNouveauxDaloDepuisLe with their refusals as SOAP Faults."""

from __future__ import annotations

import base64
import io
import socket
import threading
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from requests_toolbelt.multipart.decoder import MultipartDecoder

from connectors.sne.client import SneClient
from connectors.sne.errors import SneFault, SneUnavailable, SneUnknownDemande
from connectors.sne.soap import mtom_package
from hub.core.settings import SneSettings
from hub.dev.sne_simulator import create_app
from tests.support.sne import ROUEN, dalo_xml, free_port, new_demande_xml, serve

WS = "http://ws.metier.nuu.application.i2/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"


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


def pdf_text(data: bytes) -> str:
    """The text of a one-page PDF, read by a real PDF parser (strict: a broken
    cross-reference table fails)."""
    pypdf = pytest.importorskip("pypdf")
    return str(pypdf.PdfReader(io.BytesIO(data), strict=True).pages[0].extract_text())


@pytest.mark.parametrize("mtom", [True, False], ids=["mtom", "inline"])
def test_register_answers_the_attestation_pdf(
    simulator: tuple[str, Counting], mtom: bool, tmp_path: Path
) -> None:
    url, _ = simulator
    client = SneClient(SneSettings(url=url, retries=0), mtom=mtom)
    g = guichet()
    num, answer = client.register_demande(new_demande_xml(g, [ROUEN], nom=f"A{g}"))
    assert num is not None and answer.attestation is not None
    assert answer.attestation.name == f"attestation_enregistrement_{num}.pdf"
    text = pdf_text(answer.attestation.pdf)
    assert "Attestation d'enregistrement" in text
    assert f"{num[:3]} {num[3:7]} {num[7:13]} {num[13:]}" in text
    assert f"Guichet enregistreur : {g}" in text
    saved = answer.attestation.save(tmp_path / "attestations")
    assert saved == tmp_path / "attestations" / answer.attestation.name
    assert saved.read_bytes() == answer.attestation.pdf
    assert saved.stat().st_mode & 0o777 == 0o600
    # a modification registers no new deposit: no attestation
    _, mod = client.register_demande(
        new_demande_xml(g, [ROUEN], operation="MOD", num_unique=num, nom=f"A{g}")
    )
    assert mod.ok and mod.attestation is None


def test_attestation_travels_as_an_mtom_xop_pdf_attachment(
    simulator: tuple[str, Counting]
) -> None:
    url, _ = simulator
    g = guichet()
    cid = "flux@test"
    envelope = (
        f'<soap:Envelope xmlns:soap="{SOAP12}" xmlns:ws="{WS}"><soap:Body><ws:getNumUnique>'
        f'<fluxXml><xop:Include xmlns:xop="http://www.w3.org/2004/08/xop/include" '
        f'href="cid:{cid}"/></fluxXml></ws:getNumUnique></soap:Body></soap:Envelope>'
    ).encode()
    body, ctype = mtom_package(
        envelope, [(cid, new_demande_xml(g, [ROUEN], nom=f"X{g}"))], action=""
    )
    resp = requests.post(f"{url}/DemandeLogementImplService", data=body,
                         headers={"Content-Type": ctype}, timeout=30)
    assert resp.status_code == 200
    parts = MultipartDecoder(resp.content, resp.headers["Content-Type"]).parts
    root = parts[0].content.decode()
    assert "<nomAttestation>attestation_enregistrement_" in root
    assert "<attestation><xop:Include" in root
    pdfs = [p for p in parts[1:] if p.headers[b"Content-Type"] == b"application/pdf"]
    assert len(pdfs) == 1 and pdfs[0].content.startswith(b"%PDF-1.4")
    assert "Attestation" in pdf_text(pdfs[0].content)
    # inline, the same PDF is base64 in the envelope
    inline = (
        f'<soap:Envelope xmlns:soap="{SOAP12}" xmlns:ws="{WS}"><soap:Body><ws:getNumUnique>'
        f"<fluxXml>{base64.b64encode(new_demande_xml(g, [ROUEN], nom=f'Y{g}')).decode()}"
        f"</fluxXml></ws:getNumUnique></soap:Body></soap:Envelope>"
    ).encode()
    resp = requests.post(f"{url}/DemandeLogementImplService", data=inline, timeout=30,
                         headers={"Content-Type": "application/soap+xml; charset=utf-8"})
    text = resp.content.decode()
    pdf = base64.b64decode(text.split("<attestation>")[1].split("</attestation>")[0])
    assert pdf.startswith(b"%PDF-") and "Attestation" in pdf_text(pdf)


def test_doublons(simulator: tuple[str, Counting]) -> None:
    url, counting = simulator
    client = SneClient(SneSettings(url=url, retries=3, backoff_s=0.01))
    g = guichet()
    num, _ = client.register_demande(new_demande_xml(g, [ROUEN], nom=f"D{g}"))
    assert num
    # a new demand of the same applicant: the registered one is its duplicate
    found = client.doublons(new_demande_xml(g, ["76351"], nom=f"D{g}"))
    assert [d["numUnique"] for d in found] == [num]
    assert found[0]["demandeur"]["nom"] == f"D{g}"
    assert found[0]["demandeur"]["adressePostale"]["etranger"] is False
    assert found[0]["listeLocalisationSouhaitee"] == [{"commune": ROUEN, "quartier": None}]
    # the demand itself is not its own duplicate; another applicant has none
    assert client.doublons(
        new_demande_xml(g, [ROUEN], operation="MOD", num_unique=num, nom=f"D{g}")) == []
    assert client.doublons(new_demande_xml(g, [ROUEN], nom=f"E{g}")) == []
    # refusals are SOAP Faults, never retried
    before = counting.posts
    with pytest.raises(SneUnknownDemande):
        client.doublons(new_demande_xml(g, [ROUEN], operation="MOD",
                                        num_unique=f"0761125999999{g}", nom=f"D{g}"))
    bad = new_demande_xml(g, [ROUEN]).replace(b"<precision", b"<precisionX", 1).replace(
        b"</precision>", b"</precisionX>", 1)
    with pytest.raises(SneFault) as err:
        client.doublons(bad)
    assert err.value.code == "XSD" and not err.value.retriable
    assert counting.posts - before == 2


def test_dalo_declaration_and_new_dalo_since(simulator: tuple[str, Counting]) -> None:
    url, counting = simulator
    client = SneClient(SneSettings(url=url, retries=3, backoff_s=0.01))
    g = guichet()
    num, _ = client.register_demande(new_demande_xml(g, [ROUEN], nom=f"L{g}"))
    assert num
    today = date.today()
    assert num not in client.new_dalo_since(today)
    doc = client.declare_dalo(dalo_xml(g, num, nom=f"L{g}"))
    assert b'<statutDalo code="ACTIF"/>' in doc and num.encode() in doc
    assert b'code="ACTIF"' in client.get_demande(num)
    assert num in client.new_dalo_since(today)
    # the statut withdrawn: no longer a new DALO
    client.declare_dalo(dalo_xml(g, num, statut="CADUC", nom=f"L{g}"))
    assert num not in client.new_dalo_since(today)
    before = counting.posts
    refusals: list[tuple[Any, str]] = [
        (lambda: client.declare_dalo(dalo_xml(g, num, decided=None, nom=f"L{g}")), "DALO"),
        (lambda: client.declare_dalo(dalo_xml(g, num, statut="XX", nom=f"L{g}")), "DALO"),
        (lambda: client.declare_dalo(dalo_xml(g, f"0761125999999{g}")), "NUMINCONNU"),
        (lambda: client.new_dalo_since(today + timedelta(days=1)), "DATES"),
    ]
    for call, code in refusals:
        with pytest.raises((SneFault, SneUnknownDemande)) as err:
            call()
        assert err.value.code == code and not err.value.retriable
    assert counting.posts - before == len(refusals)  # faults are answers: never retried
    client.register_demande(
        new_demande_xml(g, [ROUEN], operation="RAD", num_unique=num, nom=f"L{g}"))
    with pytest.raises(SneFault) as err:
        client.declare_dalo(dalo_xml(g, num, nom=f"L{g}"))
    assert err.value.code == "RADIEE"
