"""The SOAP gateway end to end: an ERP's zeep client generated from the hub's served WSDL →
gateway → simulator → Kafka hub.demandes → a registered actor's feed (real worker); GP
events to hub.evenements; invalid and hostile requests get SOAP Faults, never a 500;
getNumUnique's attestation PDF relayed (inline and MTOM/XOP), getDoublons and both DALO
operations end to end with their refusals as SOAP Faults."""

from __future__ import annotations

import asyncio
import base64
import io
import uuid
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import pytest
import requests
import zeep
from lxml import etree
from zeep.exceptions import Fault
from zeep.transports import Transport

from connectors.sne.gateway import create_app as gateway_app
from hub.core import xmlsafe
from hub.core.db import make_engine
from hub.core.settings import HubSettings
from hub.dev.sne_simulator import create_app as simulator_app
from hub.domain.actors import Actor, ActorFilters
from tests.integration.api_support import register
from tests.integration.conftest import collect_feed
from tests.support.sne import ROUEN, dalo_xml, new_demande_xml, serve, serve_at

pytestmark = pytest.mark.kafka
WS = "http://ws.metier.nuu.application.i2/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"


@pytest.fixture(scope="module")
def servers(
    settings: HubSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    db = tmp_path_factory.mktemp("sim") / "sim.db"
    with serve(simulator_app(f"sqlite:///{db}")) as sim:
        cfg = settings.model_copy(
            update={
                "sne": settings.sne.model_copy(
                    update={"url": f"{sim}/sne", "retries": 1, "timeout_s": 10}
                )
            }
        )
        with serve_at(lambda base: gateway_app(cfg, public_url=f"{base}/sne")) as gw:
            # the gateway authenticates its callers with API keys (hub's database)
            caller = register(make_engine(settings.database_url), kind="guichet")
            yield {"simulator": f"{sim}/sne", "gateway": f"{gw}/sne",
                   "auth": caller.headers["Authorization"]}


def erp(servers: dict[str, str], service: str) -> Any:
    """The ERP's view: a zeep client generated from the WSDL the hub serves, sending its
    API key as a Bearer header."""
    session = requests.Session()
    session.headers["Authorization"] = servers["auth"]
    transport = Transport(session=session)  # type: ignore[no-untyped-call]
    return zeep.Client(f"{servers['gateway']}/{service}?wsdl",  # type: ignore[no-untyped-call]
                       transport=transport).service


def num_of(answer: Any) -> str:
    """The numéro of a getNumUnique answer (zeep gives an object: return + attestation)."""
    root = xmlsafe.parse(answer if isinstance(answer, bytes) else answer["return"])
    return root.findtext(".//{http://nuu.application.i2/}numUnique") or ""


def test_erp_registers_through_gateway_and_actor_receives(  # type: ignore[no-untyped-def]
    servers,
    settings,
    worker,
    actor_service,
) -> None:
    actor = f"soap-{uuid.uuid4().hex[:8]}"
    actor_service.add_or_update(
        Actor(id=actor, name=actor, kind="bailleur", filters=ActorFilters(communes=[ROUEN]))
    )
    g = "G" + uuid.uuid4().hex[:4].upper()
    answer = erp(servers, "DemandeLogementImplService").getNumUnique(
        fluxXml=new_demande_xml(g, [ROUEN], nom=f"E{g}")
    )
    num = num_of(answer)
    assert len(num) == 18 and num.endswith(g)
    records = collect_feed(
        settings, actor, worker=worker, until=lambda rs: any(r["numUnique"] == num for r in rs)
    )
    assert [r["numUnique"] for r in records if r["numUnique"] == num] == [num]
    # the demand is in the simulator too: read back through the gateway
    assert num.encode() in erp(servers, "DemandeLogementImplService").getDemandeLogement(
        codeGuichet=g, numUnique=num
    )


def test_gp_event_through_gateway_reaches_hub_evenements(servers, settings) -> None:  # type: ignore[no-untyped-def]
    from aiokafka import AIOKafkaConsumer

    from schemas import get_codec

    g = "H" + uuid.uuid4().hex[:4].upper()
    num = num_of(
        erp(servers, "DemandeLogementImplService").getNumUnique(
            fluxXml=new_demande_xml(g, [ROUEN], nom=f"E{g}")
        )
    )
    doc = (
        f'<interfaceNuu xmlns="http://nuu.application.i2/" versionInterface="02.00"><entete>'
        f"<typeFichier>AJO</typeFichier><dateFichier>2026-11-23T10:00:00</dateFichier>"
        f"<codeGuichet>{g}</codeGuichet></entete><operation><numUnique>{num}</numUnique>"
        f"</operation><listeEvenements><evenement><codeTypeEvenement>REFUS</codeTypeEvenement>"
        f"<dateSurvenance>2026-11-02</dateSurvenance><listeCaracteristiquesSpecifiques>"
        f"<caracteristiqueSpecifique><code>MOTIF</code><valeurCaracteristiqueSpecifique>loin"
        f"</valeurCaracteristiqueSpecifique></caracteristiqueSpecifique>"
        f"</listeCaracteristiquesSpecifiques></evenement></listeEvenements></interfaceNuu>"
    )
    erp(servers, "GestionPartageeEVTImplService").ajouterEvenementDemande(fluxXml=doc.encode())

    async def find() -> list[dict[str, Any]]:
        consumer = AIOKafkaConsumer(
            "hub.evenements",
            bootstrap_servers=settings.kafka.bootstrap_servers,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        found: list[dict[str, Any]] = []
        try:
            for _ in range(40):
                batch = await consumer.getmany(timeout_ms=500)
                for msgs in batch.values():
                    for m in msgs:
                        if m.key == num.encode():
                            found.append(get_codec().decode_as(m.value, "EvenementGP"))
                if found:
                    return found
        finally:
            await consumer.stop()
        return found

    events = asyncio.run(find())
    assert [(e["operation"], e["codeTypeEvenement"], e["auteur"]) for e in events] == [
        ("AJO", "REFUS", g)
    ]
    assert events[0]["caracteristiques"] == {"MOTIF": "loin"}


def test_invalid_request_gets_fault_with_code(servers) -> None:  # type: ignore[no-untyped-def]
    bad = (
        new_demande_xml("G0000", [ROUEN])
        .replace(b"<precision", b"<precisionX", 1)
        .replace(b"</precision>", b"</precisionX>", 1)
    )
    with pytest.raises(Fault) as err:
        erp(servers, "DemandeLogementImplService").getNumUnique(fluxXml=bad)
    detail = err.value.detail.find(f"{{{WS}}}demandeLogementException")
    assert detail.findtext("code") == "XSD"
    assert "precisionX" in detail.findtext("message")


HOSTILE_DOCS = {
    "xxe": b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    b'<interfaceNuu xmlns="http://nuu.application.i2/" versionInterface="02.01">&e;</interfaceNuu>',
    "billion_laughs": b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
    + b"".join(
        f'<!ENTITY a{i} "{("&a;" if i == 0 else f"&a{i - 1};") * 10}">'.encode() for i in range(9)
    )
    + b"]><x>&a8;</x>",
    "quadratic": b'<?xml version="1.0"?><!DOCTYPE q [<!ENTITY a "'
    + b"A" * 50_000
    + b'">]><x>'
    + b"&a;" * 20_000
    + b"</x>",
    "deep": b"<x>" * 5000 + b"</x>" * 5000,
}


def envelope(op: str, flux: bytes | None = None, raw_body: bytes | None = None) -> bytes:
    inner = (
        raw_body
        if raw_body is not None
        else (
            f"<ws:{op}><fluxXml>{base64.b64encode(flux or b'').decode()}</fluxXml>"
            f"</ws:{op}>".encode()
        )
    )
    return (
        f'<soap:Envelope xmlns:soap="{SOAP12}" xmlns:ws="{WS}"><soap:Body>'.encode()
        + inner
        + b"</soap:Body></soap:Envelope>"
    )


def assert_fault(resp: requests.Response, codes: set[str]) -> None:
    assert resp.status_code in (400, 413), resp.status_code
    root = xmlsafe.parse(resp.content)
    code = root.findtext(f".//{{{WS}}}demandeLogementException/code")
    assert code in codes, (code, root.findtext(f".//{{{WS}}}demandeLogementException/message"))


@pytest.mark.parametrize("target", ["simulator", "gateway"])
@pytest.mark.parametrize("name", sorted(HOSTILE_DOCS))
def test_hostile_business_xml_gets_fault(servers, target: str, name: str) -> None:  # type: ignore[no-untyped-def]
    url = f"{servers[target]}/DemandeLogementImplService"
    headers = {"Content-Type": "application/soap+xml; charset=utf-8",
               "Authorization": servers["auth"]}
    # as the business document (base64) and as the envelope itself
    resp = requests.post(
        url, data=envelope("getNumUnique", HOSTILE_DOCS[name]), headers=headers, timeout=30
    )
    assert_fault(resp, {"HOSTILE", "XML"})
    resp = requests.post(url, data=HOSTILE_DOCS[name], headers=headers, timeout=30)
    assert_fault(resp, {"HOSTILE", "XML"})


@pytest.mark.parametrize("target", ["simulator", "gateway"])
def test_oversized_and_garbage_get_faults(servers, target: str) -> None:  # type: ignore[no-untyped-def]
    url = f"{servers[target]}/DemandeLogementImplService"
    headers = {"Content-Type": "application/soap+xml; charset=utf-8",
               "Authorization": servers["auth"]}
    resp = requests.post(url, data=b"<x>" + b"a" * 9_000_000 + b"</x>", headers=headers, timeout=60)
    assert_fault(resp, {"TAILLE"})
    big_doc = b"<x>" + b"a" * 2_500_000 + b"</x>"
    resp = requests.post(url, data=envelope("getNumUnique", big_doc), headers=headers, timeout=60)
    assert_fault(resp, {"HOSTILE"})
    resp = requests.post(
        url,
        data=envelope(
            "getNumUnique", raw_body=b"<ws:getNumUnique><fluxXml>%%%</fluxXml></ws:getNumUnique>"
        ),
        headers=headers,
        timeout=30,
    )
    assert_fault(resp, {"BASE64"})
    resp = requests.post(url, data=b"not xml at all", headers=headers, timeout=30)
    assert_fault(resp, {"XML"})
    resp = requests.post(
        url,
        data=b"--x\r\n\r\n",
        timeout=30,
        headers={"Content-Type": 'multipart/related; boundary="x"',
                 "Authorization": servers["auth"]},
    )
    assert_fault(resp, {"MIME", "XML"})


def test_wsdl_served_with_own_address(servers) -> None:  # type: ignore[no-untyped-def]
    text = requests.get(
        f"{servers['gateway']}/RechercheDemandeImplService?wsdl", timeout=10
    ).content
    root = xmlsafe.parse(text)
    loc = root.find(".//{http://schemas.xmlsoap.org/wsdl/soap12/}address").get("location")
    assert loc == f"{servers['gateway']}/RechercheDemandeImplService"
    assert etree.QName(root).localname == "definitions"


def fault_code(err: Fault) -> str | None:
    detail = err.detail.find(f"{{{WS}}}demandeLogementException")
    return None if detail is None else detail.findtext("code")


def pdf_text(data: bytes) -> str:
    pypdf = pytest.importorskip("pypdf")
    return str(pypdf.PdfReader(io.BytesIO(data), strict=True).pages[0].extract_text())


def test_attestation_relayed_to_the_erp(servers) -> None:  # type: ignore[no-untyped-def]
    """zeep → gateway → simulator: the attestation comes back with its name, a PDF."""
    g = "P" + uuid.uuid4().hex[:4].upper()
    answer = erp(servers, "DemandeLogementImplService").getNumUnique(
        fluxXml=new_demande_xml(g, [ROUEN], nom=f"P{g}")
    )
    num = num_of(answer)
    assert answer["nomAttestation"] == f"attestation_enregistrement_{num}.pdf"
    assert f"{num[:3]} {num[3:7]} {num[7:13]} {num[13:]}" in pdf_text(answer["attestation"])
    # an ERP speaking MTOM gets the PDF as an application/pdf XOP attachment
    from requests_toolbelt.multipart.decoder import MultipartDecoder

    from connectors.sne.soap import mtom_package

    cid = "flux@erp"
    env = (
        f'<soap:Envelope xmlns:soap="{SOAP12}" xmlns:ws="{WS}"><soap:Body><ws:getNumUnique>'
        f'<fluxXml><xop:Include xmlns:xop="http://www.w3.org/2004/08/xop/include" '
        f'href="cid:{cid}"/></fluxXml></ws:getNumUnique></soap:Body></soap:Envelope>'
    ).encode()
    body, ctype = mtom_package(env, [(cid, new_demande_xml(g, [ROUEN], nom=f"Q{g}"))],
                               action="")
    resp = requests.post(f"{servers['gateway']}/DemandeLogementImplService", data=body,
                         headers={"Content-Type": ctype, "Authorization": servers["auth"]},
                         timeout=30)
    assert resp.status_code == 200, resp.text
    parts = MultipartDecoder(resp.content, resp.headers["Content-Type"]).parts
    assert b"<nomAttestation>attestation_enregistrement_" in parts[0].content
    pdfs = [p.content for p in parts[1:] if p.headers[b"Content-Type"] == b"application/pdf"]
    assert len(pdfs) == 1 and "Attestation" in pdf_text(pdfs[0])


def test_doublons_and_dalo_through_gateway(servers) -> None:  # type: ignore[no-untyped-def]
    """zeep → gateway → simulator for getDoublons, getDeclarationNouveauDalo and
    getNouveauxDaloDepuisLe; refusals come back as SOAP Faults with their code."""
    service = erp(servers, "DemandeLogementImplService")
    g = "Q" + uuid.uuid4().hex[:4].upper()
    num = num_of(service.getNumUnique(fluxXml=new_demande_xml(g, [ROUEN], nom=f"W{g}")))
    nuu = "{http://nuu.application.i2/}"
    # duplicates of a new demand of the same applicant: the caller's registered demand
    answer = xmlsafe.parse(service.getDoublons(fluxXml=new_demande_xml(g, [ROUEN],
                                                                       nom=f"W{g}")))
    assert [d.findtext(f"{nuu}numUnique") for d in answer.iter(f"{nuu}doublon")] == [num]
    assert answer.findtext(f".//{nuu}doublon/{nuu}demandeur/{nuu}nom") == f"W{g}"
    # a DALO recognised: recorded on the demand, listed as a new DALO since today
    doc = service.getDeclarationNouveauDalo(fluxXml=dalo_xml(g, num, nom=f"W{g}"))
    assert b'<statutDalo code="ACTIF"/>' in doc
    listed = xmlsafe.parse(service.getNouveauxDaloDepuisLe(codeGuichet=g, date=date.today()))
    assert num in [n.text for n in listed.iter(f"{nuu}numUnique")]
    refusals: list[tuple[Callable[[], Any], str]] = [
        (lambda: service.getDeclarationNouveauDalo(
            fluxXml=dalo_xml(g, num, decided=None, nom=f"W{g}")), "DALO"),
        (lambda: service.getNouveauxDaloDepuisLe(
            codeGuichet=g, date=date.today() + timedelta(days=1)), "DATES"),
        (lambda: service.getDoublons(fluxXml=new_demande_xml(g, [ROUEN]).replace(
            b"<precision", b"<precisionX", 1).replace(b"</precision>", b"</precisionX>", 1)),
         "XSD"),
    ]
    for call, code in refusals:
        with pytest.raises(Fault) as err:
            call()
        assert fault_code(err.value) == code
