"""The CAL rules on the SOAP route (issue 19): an ERP's zeep client → the hub's SOAP
gateway → the SNE simulator, the gateway's GP store on SQLite and PostgreSQL. A forged
CAL decision is a Fault ``REGLE_CAL`` that reaches neither the SNE nor Kafka; a valid
sequence is relayed, recorded in the hub's store and published; REST and SOAP read and
write one history."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
import requests
import zeep
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from zeep.exceptions import Fault
from zeep.transports import Transport

from connectors.sne.gateway import create_app as gateway_app
from hub.api.app import create_app as api_app
from hub.core import xmlsafe
from hub.core.settings import HubSettings
from hub.dev.sne_simulator import create_app as simulator_app
from hub.stores.gp.store import GPStore
from tests.integration.api_support import Caller, register
from tests.support.sne import ROUEN, new_demande_xml, serve_at

pytestmark = pytest.mark.kafka
WS = "http://ws.metier.nuu.application.i2/"
NUU = "{http://nuu.application.i2/}"
GP = "GestionPartageeEVTImplService"
TODAY = date.today()
DESIGNATED, EXAMINED, DECIDED, ANSWERED = (TODAY - timedelta(days=d) for d in (6, 5, 4, 2))


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = tmp_path_factory.mktemp("sim-cal") / "sim.db"
    with serve_at(lambda base: simulator_app(f"sqlite:///{db}", public_url=f"{base}/sne")) as sim:
        yield f"{sim}/sne"


@dataclass
class Hub:
    gateway: str
    simulator: str
    caller: Caller
    store: GPStore
    rest: TestClient
    settings: HubSettings

    def erp(self, service: str = GP) -> Any:
        session = requests.Session()
        session.headers["Authorization"] = self.caller.headers["Authorization"]
        return zeep.Client(f"{self.gateway}/{service}?wsdl",  # type: ignore[no-untyped-call]
                           transport=Transport(session=session)  # type: ignore[no-untyped-call]
                           ).service

    def sne_events(self, num: str) -> list[str]:
        """The event codes the SNE simulator holds for ``num`` (asked directly)."""
        sim = zeep.Client(f"{self.simulator}/{GP}?wsdl").service  # type: ignore[no-untyped-call]
        answer = sim.listerEvenementsDemande(fluxXml=gp_doc("G0000", num, []))
        root = xmlsafe.parse(answer)
        return [e.findtext(f"{NUU}codeTypeEvenement") or "" for e in root.iter(f"{NUU}evenement")]

    def new_demand(self) -> str:
        """A demand registered through the gateway (so the caller holds it)."""
        g = "C" + uuid.uuid4().hex[:4].upper()
        answer = self.erp("DemandeLogementImplService").getNumUnique(
            fluxXml=new_demande_xml(g, [ROUEN], nom=f"E{g}"))
        root = xmlsafe.parse(answer if isinstance(answer, bytes) else answer["return"])
        num = root.findtext(f".//{NUU}numUnique") or ""
        assert len(num) == 18
        return num


@pytest.fixture
def hub(migrated_db: tuple[str, Engine], settings: HubSettings, simulator: str) -> Iterator[Hub]:
    url, engine = migrated_db
    cfg = settings.model_copy(update={
        "database_url": url,
        "sne": settings.sne.model_copy(update={"url": simulator, "retries": 1,
                                               "timeout_s": 10})})
    caller = register(engine, kind="bailleur")
    with serve_at(lambda base: gateway_app(cfg, engine=engine, public_url=f"{base}/sne")) as gw, \
            TestClient(api_app(cfg, engine)) as rest:
        yield Hub(f"{gw}/sne", simulator, caller, GPStore(engine), rest, cfg)


def gp_doc(guichet: str, num: str, events: list[tuple[str, date, dict[str, str]]],
           ident: int | None = None) -> bytes:
    """A GestionPartagee business document on ``num`` with ``events`` (code, date, fields)."""
    items = ""
    for code, on, fields in events:
        carac = "".join(
            f"<caracteristiqueSpecifique><code>{k}</code><valeurCaracteristiqueSpecifique>{v}"
            f"</valeurCaracteristiqueSpecifique></caracteristiqueSpecifique>"
            for k, v in fields.items())
        items += (f"<evenement>{f'<idEvenement>{ident}</idEvenement>' if ident else ''}"
                  f"<codeTypeEvenement>{code}</codeTypeEvenement>"
                  f"<dateSurvenance>{on.isoformat()}</dateSurvenance>"
                  + (f"<listeCaracteristiquesSpecifiques>{carac}"
                     f"</listeCaracteristiquesSpecifiques>" if carac else "")
                  + "</evenement>")
    return (f'<interfaceNuu xmlns="http://nuu.application.i2/" versionInterface="02.00">'
            f"<entete><typeFichier>AJO</typeFichier><dateFichier>2026-11-23T10:00:00"
            f"</dateFichier><codeGuichet>{guichet}</codeGuichet></entete><operation>"
            f"<numUnique>{num}</numUnique></operation>"
            + (f"<listeEvenements>{items}</listeEvenements>" if items else "")
            + "</interfaceNuu>").encode()


def add(hub: Hub, num: str, code: str, on: date, fields: dict[str, str]) -> bytes:
    answer: bytes = hub.erp().ajouterEvenementDemande(
        fluxXml=gp_doc("G0000", num, [(code, on, fields)]))
    return answer


def soap_fault(hub: Hub, num: str, code: str, on: date, fields: dict[str, str]) -> str:
    """The Fault code and message answered to adding that event by SOAP."""
    with pytest.raises(Fault) as err:
        add(hub, num, code, on, fields)
    detail = err.value.detail.find(f"{{{WS}}}demandeLogementException")
    return f"{detail.findtext('code')}: {detail.findtext('message')}"


def decision(num: str, cal: str = "CAL1", logement: str = "LGT1") -> dict[str, str]:
    return {"CODECAL": cal, "LOGEMENT": logement, "DECISIONID": f"d-{num}", "DECISION": "ATTR",
            "RANG": "1", "DATEDEC": DECIDED.isoformat()}


def designate_and_examine(hub: Hub, num: str) -> None:
    """A prefect designation (a decision may have one candidate) and the examination."""
    add(hub, num, "DESIGCAL", DESIGNATED, {"CODECAL": "CAL1", "LOGEMENT": "LGT1",
                                            "DESIGPREF": "true"})
    add(hub, num, "EXAMCAL", EXAMINED, {"CODECAL": "CAL1", "DATECAL": EXAMINED.isoformat()})


def published(settings: HubSettings, num: str) -> list[dict[str, Any]]:
    """Every ``EvenementGP`` on ``hub.evenements`` keyed ``num`` (read to the end)."""
    from aiokafka import AIOKafkaConsumer

    from hub.core.kafka.client import client_options, topic_partitions
    from schemas import get_codec

    async def read() -> list[dict[str, Any]]:
        consumer = AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False)
        await consumer.start()
        try:
            parts = await topic_partitions(consumer, "hub.evenements") or []
            consumer.assign(parts)
            await consumer.seek_to_beginning(*parts)
            end = await consumer.end_offsets(parts)
            found: list[dict[str, Any]] = []
            async def behind() -> bool:
                return any([await consumer.position(tp) < end[tp] for tp in parts])

            while await behind():
                batch = await consumer.getmany(timeout_ms=1000)
                for msgs in batch.values():
                    found += [get_codec().decode_as(m.value, "EvenementGP")
                              for m in msgs if m.key == num.encode()]
            return found
        finally:
            await consumer.stop()

    return asyncio.run(read())


def test_forged_decision_by_soap_is_a_fault_and_reaches_neither_sne_nor_kafka(
        hub: Hub) -> None:
    num = hub.new_demand()
    # no designation, no examination, one candidate
    answer = soap_fault(hub, num, "DECISCAL", DECIDED, decision(num))
    assert answer.startswith("REGLE_CAL: R441-3/designation"), answer
    assert hub.sne_events(num) == []
    assert hub.store.timeline(num) == []
    assert published(hub.settings, num) == []
    # designated and examined, but alone and not prefect-designated: three candidates needed
    add(hub, num, "DESIGCAL", DESIGNATED, {"CODECAL": "CAL1", "LOGEMENT": "LGT1"})
    add(hub, num, "EXAMCAL", EXAMINED, {"CODECAL": "CAL1", "DATECAL": EXAMINED.isoformat()})
    answer = soap_fault(hub, num, "DECISCAL", DECIDED, decision(num))
    assert answer.startswith("REGLE_CAL: R441-3/trois-candidats"), answer
    assert hub.sne_events(num) == ["DESIGCAL", "EXAMCAL"]
    assert [e["codeTypeEvenement"] for e in published(hub.settings, num)] == [
        "DESIGCAL", "EXAMCAL"]
    # an answer to a decision that was never made
    answer = soap_fault(hub, num, "ACCEPTDEM", ANSWERED, {"DECISIONID": f"d-{num}"})
    assert answer.startswith("REGLE_CAL: R441-3/reponse-decision"), answer
    assert hub.sne_events(num) == ["DESIGCAL", "EXAMCAL"]


def test_valid_sequence_by_soap_is_relayed_recorded_and_published(hub: Hub) -> None:
    num = hub.new_demand()
    designate_and_examine(hub, num)
    add(hub, num, "DECISCAL", DECIDED, decision(num))
    add(hub, num, "ACCEPTDEM", ANSWERED, {"DECISIONID": f"d-{num}", "LOGEMENT": "LGT1"})
    codes = ["DESIGCAL", "EXAMCAL", "DECISCAL", "ACCEPTDEM"]
    assert hub.sne_events(num) == codes
    stored = hub.store.timeline(num)
    assert [e["codeTypeEvenement"] for e in stored] == codes
    assert {(e["source"], e["auteur"], e["operation"]) for e in stored} == {
        ("soap-gateway", hub.caller.actor.id, "AJO")}
    assert all(isinstance(e["idEvenement"], int) for e in stored)  # the SNE's ids
    sent = published(hub.settings, num)
    assert [e["eventId"] for e in sent] == [e["eventId"] for e in stored]
    # answered once: a second answer by SOAP is refused, and not relayed
    answer = soap_fault(hub, num, "REFUSDEM", ANSWERED, {"DECISIONID": f"d-{num}",
                                                         "MOTIF": "trop loin"})
    assert answer.startswith("REGLE_CAL: R441-3/reponse-unique"), answer
    assert hub.sne_events(num) == codes
    # the recorded decision cannot be changed by SOAP either
    ident = stored[2]["idEvenement"]
    with pytest.raises(Fault) as err:
        hub.erp().modifierEvenementDemande(fluxXml=gp_doc(
            "G0000", num, [("DECISCAL", DECIDED, {**decision(num), "DECISION": "NONATTR",
                                                  "MOTIF": "x"})], ident=ident))
    detail = err.value.detail.find(f"{{{WS}}}demandeLogementException")
    assert detail.findtext("code") == "REGLE_CAL"
    assert "R441-3/historique" in detail.findtext("message")
    assert [e["codeTypeEvenement"] for e in hub.store.timeline(num)] == codes


def test_an_event_the_sne_refuses_is_not_recorded(hub: Hub) -> None:
    num = hub.new_demand()
    # the hub's rules pass, the SNE refuses (an occurrence date in the future)
    answer = add(hub, num, "DESIGCAL", TODAY + timedelta(days=3),
                 {"CODECAL": "CAL1", "LOGEMENT": "LGT1"})
    assert b"DATESURV" in answer
    assert hub.store.timeline(num) == [] and hub.sne_events(num) == []
    assert published(hub.settings, num) == []


def test_decision_by_rest_answered_by_soap(hub: Hub) -> None:
    num = hub.new_demand()
    auth = hub.caller.headers
    for code, on, fields in (
            ("DESIGCAL", DESIGNATED, {"CODECAL": "CAL1", "LOGEMENT": "LGT1", "DESIGPREF": "true"}),
            ("EXAMCAL", EXAMINED, {"CODECAL": "CAL1", "DATECAL": EXAMINED.isoformat()})):
        r = hub.rest.post(f"/demandes/{num}/evenements-gp", headers=auth, json={
            "codeTypeEvenement": code, "dateSurvenance": on.isoformat(),
            "caracteristiques": fields})
        assert r.status_code == 201, r.text
    r = hub.rest.post("/cal/decisions", headers=auth, json={
        "decisionId": f"d-{num}", "codeCal": "CAL1", "logement": "LGT1",
        "dateDecision": DECIDED.isoformat(),
        "candidats": [{"numUnique": num, "decision": "ATTR", "rang": 1}]})
    assert r.status_code == 201, r.text
    # the SOAP answer is checked against the decision recorded through REST
    answer = soap_fault(hub, num, "ACCEPTDEM", DECIDED + timedelta(days=11),
                        {"DECISIONID": f"d-{num}"})
    assert answer.startswith("REGLE_CAL: R441-3/reponse-delai"), answer
    add(hub, num, "REFUSDEM", ANSWERED, {"DECISIONID": f"d-{num}", "MOTIF": "trop loin"})
    assert hub.sne_events(num) == ["REFUSDEM"]
    assert [e["codeTypeEvenement"] for e in hub.store.timeline(num)] == [
        "DESIGCAL", "EXAMCAL", "DECISCAL", "REFUSDEM"]
    # and REST sees the SOAP answer: a second answer is refused
    r = hub.rest.post(f"/cal/decisions/d-{num}/reponses", headers=auth, json={
        "numUnique": num, "accepte": True, "dateReponse": ANSWERED.isoformat()})
    assert r.status_code == 422 and "R441-3/reponse-unique" in r.text, r.text


def test_decision_by_soap_answered_by_rest(hub: Hub) -> None:
    num = hub.new_demand()
    auth = hub.caller.headers
    designate_and_examine(hub, num)
    # the decision's id is taken: REST cannot add a candidate to the SOAP decision
    add(hub, num, "DECISCAL", DECIDED, decision(num))
    other = hub.new_demand()
    r = hub.rest.post("/cal/decisions", headers=auth, json={
        "decisionId": f"d-{num}", "codeCal": "CAL1", "logement": "LGT1",
        "dateDecision": DECIDED.isoformat(),
        "candidats": [{"numUnique": other, "decision": "NONATTR", "motif": "x"}]})
    assert r.status_code == 422 and "R441-3/decision-entiere" in r.text, r.text
    r = hub.rest.post(f"/cal/decisions/d-{num}/reponses", headers=auth, json={
        "numUnique": num, "accepte": True, "dateReponse": ANSWERED.isoformat()})
    assert r.status_code == 201, r.text
    assert r.json()["evenement"]["caracteristiques"]["LOGEMENT"] == "LGT1"
    # the SOAP route sees the REST answer
    answer = soap_fault(hub, num, "REFUSDEM", ANSWERED, {"DECISIONID": f"d-{num}",
                                                         "MOTIF": "trop loin"})
    assert answer.startswith("REGLE_CAL: R441-3/reponse-unique"), answer
    assert hub.sne_events(num) == ["DESIGCAL", "EXAMCAL", "DECISCAL"]
    assert [e["codeTypeEvenement"] for e in hub.store.timeline(num)] == [
        "DESIGCAL", "EXAMCAL", "DECISCAL", "ACCEPTDEM"]


def test_other_event_types_keep_their_path(hub: Hub) -> None:
    """An event type the CAL rules do not read (the SNE's own ``REFUS``, unknown to the
    hub's catalogue) is relayed and published from the SNE's answer, not stored."""
    num = hub.new_demand()
    add(hub, num, "REFUS", ANSWERED, {"MOTIF": "loin"})
    assert hub.sne_events(num) == ["REFUS"]
    assert hub.store.timeline(num) == []
    sent = published(hub.settings, num)
    assert [(e["codeTypeEvenement"], e["auteur"], e["catalogueVersion"]) for e in sent] == [
        ("REFUS", "G0000", None)]
