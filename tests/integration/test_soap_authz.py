"""SOAP gateway authorization matrix (issue 7.5): ERPs authenticate with their API key
(HTTP Bearer header or WS-Security UsernameToken, both through zeep clients generated from
the served WSDL) and may only touch the demands they hold.

20 actors each register a demand through the gateway (so they hold it) and record a GP
event on it; then every actor, for every other actor's demand and every operation on one
demand, gets a Fault ``ACCES`` — and the SNE (simulator) shows nothing was forwarded. List
answers are cut to the caller's demands; calls without valid credentials get
``AUTHENTIFICATION``, and so does a request with two ``Authorization`` headers (HTTP 400).

Write rights (independent audit K, F3, F4): the 20 are registering offices (guichets and
bailleurs by their kind, communes and réservataires registered ``enregistreur: true``);
actors that are none, holding a demand, read it but get ``ACCES`` on every operation that
writes it (``getNumUnique`` whatever the operation, ``getDeclarationNouveauDalo``), and a
non-landlord gets ``ACCES`` on a CAL act (``DECISCAL``, ``EXAMCAL``) — nothing reaches
the SNE.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import pytest
import requests
import zeep
from sqlalchemy import Engine
from zeep.exceptions import Fault
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from connectors.sne import documents
from connectors.sne.gateway import create_app as gateway_app
from connectors.sne.operations import DEMANDE, GP, RECHERCHE
from hub.core import xmlsafe
from hub.core.db import make_engine, migrate
from hub.core.settings import HubSettings
from hub.dev.sne_simulator import create_app as simulator_app
from hub.stores.access.holders import Holders
from tests.integration.api_support import register
from tests.support.sne import dalo_xml, new_demande_xml, serve, serve_at

pytestmark = pytest.mark.kafka
WS = "http://ws.metier.nuu.application.i2/"
NUU = "http://nuu.application.i2/"
N_ACTORS = 20
#: communes of several départements no other SOAP test uses
COMMUNES = ["13055", "69123", "33063", "31555", "59350", "44109", "35238", "67482"]


@dataclass
class Erp:
    actor_id: str
    key: str
    guichet: str
    services: dict[str, Any]
    num: str = ""
    event_id: str = ""


def _client(base: str, service: str, *, bearer: str | None = None,
            token: tuple[str, str] | None = None) -> Any:
    session = requests.Session()
    if bearer is not None:
        session.headers["Authorization"] = f"Bearer {bearer}"
    wsse = UsernameToken(*token) if token is not None else None  # type: ignore[no-untyped-call]
    transport = Transport(session=session)  # type: ignore[no-untyped-call]
    return zeep.Client(f"{base}/{service}?wsdl", transport=transport,  # type: ignore[no-untyped-call]
                       wsse=wsse).service


def _services(base: str, **creds: Any) -> dict[str, Any]:
    return {s: _client(base, s, **creds) for s in (DEMANDE, GP, RECHERCHE)}


def _num_of(answer: Any) -> str:
    root = xmlsafe.parse(answer if isinstance(answer, bytes) else answer["return"])
    return root.findtext(f".//{{{NUU}}}numUnique") or ""


def gp_doc(typ: str, guichet: str, num: str, ident: str = "") -> bytes:
    body: dict[str, Any] = {"operation": {"numUnique": num}}
    if typ != "LST":
        ev = {"codeTypeEvenement": "REFUS", "dateSurvenance": "2026-11-02",
              "listeCaracteristiquesSpecifiques": [
                  {"code": "MOTIF", "valeurCaracteristiqueSpecifique": "loin"}]}
        body["listeEvenements"] = [{"idEvenement": ident, **ev} if ident else ev]
    return documents.document(typ, guichet, body)


def search_doc(guichet: str) -> bytes:
    return documents.document("RECH", guichet, {"operation": {"demandeMulticritere": {
        "etatDemande": "A"}}})


def _fault_code(err: Fault) -> str | None:
    detail = err.detail.find(f"{{{WS}}}demandeLogementException")
    return None if detail is None else detail.findtext("code")


@pytest.fixture(scope="module")
def world(settings: HubSettings,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[Erp], Engine]]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('soap-authz') / 'hub.db'}")
    migrate(engine)
    sim_db = tmp_path_factory.mktemp("sim-authz") / "sim.db"
    with serve(simulator_app(f"sqlite:///{sim_db}")) as sim:
        cfg = settings.model_copy(update={"sne": settings.sne.model_copy(
            update={"url": f"{sim}/sne", "retries": 1, "timeout_s": 10})})
        with serve_at(lambda b: gateway_app(cfg, engine=engine,
                                            public_url=f"{b}/sne")) as gw:
            base = f"{gw}/sne"
            erps = []
            for i in range(N_ACTORS):
                kind = ("guichet", "bailleur", "reservataire", "commune")[i % 4]
                # registering offices all: a commune's or réservataire's by its registration
                caller = register(engine, kind=kind, communes=(COMMUNES[i % len(COMMUNES)],),
                                  enregistreur=True if kind in ("reservataire", "commune")
                                  else None)  # fmt: skip
                key = caller.headers["Authorization"].removeprefix("Bearer ")
                # half the ERPs use the Bearer header, half a WS-Security UsernameToken
                creds: dict[str, Any] = ({"bearer": key} if i % 2 == 0
                                         else {"token": (caller.actor.id, key)})
                g = "M" + uuid.uuid4().hex[:4].upper()
                erps.append(Erp(caller.actor.id, key, g, _services(base, **creds)))
            for i, erp in enumerate(erps):
                commune = COMMUNES[i % len(COMMUNES)]
                erp.num = _num_of(erp.services[DEMANDE].getNumUnique(
                    fluxXml=new_demande_xml(erp.guichet, [commune], nom=f"AUTHZ{erp.guichet}")))
                assert erp.num.endswith(erp.guichet), erp.num
                answer = erp.services[GP].ajouterEvenementDemande(
                    fluxXml=gp_doc("AJO", erp.guichet, erp.num))
                root = xmlsafe.parse(answer)
                erp.event_id = root.findtext(f".//{{{NUU}}}idEvenement") or ""
                assert erp.event_id, answer
            yield base, erps, engine
    engine.dispose()


def _holding_reader(base: str, engine: Engine, settings: HubSettings, kind: str, num: str,
                    enregistreur: bool | None = None) -> Erp:  # fmt: skip
    """An actor that holds ``num`` (as its feed would say) and is no registering office."""
    caller = register(engine, kind=kind, communes=(COMMUNES[0],), enregistreur=enregistreur)
    Holders(engine, settings).add(caller.actor.id, num)
    key = caller.headers["Authorization"].removeprefix("Bearer ")
    return Erp(caller.actor.id, key, "R" + uuid.uuid4().hex[:4].upper(),
               _services(base, bearer=key), num=num)


def _events_of(erp: Erp) -> list[str]:
    answer = erp.services[GP].listerEvenementsDemande(fluxXml=gp_doc("LST", erp.guichet, erp.num))
    return [e.text or "" for e in xmlsafe.parse(answer).iter(f"{{{NUU}}}idEvenement")]


Attempt = Callable[[Erp, Erp], Any]  # (caller, owner of the target demand)
#: every operation that names one demand, aimed at the owner's demand by the caller
ATTEMPTS: dict[str, Attempt] = {
    "getDemandeLogement": lambda me, o: me.services[DEMANDE].getDemandeLogement(
        codeGuichet=me.guichet, numUnique=o.num),
    "getNumUnique(MOD)": lambda me, o: me.services[DEMANDE].getNumUnique(
        fluxXml=new_demande_xml(me.guichet, [COMMUNES[0]], operation="MOD", num_unique=o.num,
                                nom=f"AUTHZ{o.guichet}")),
    "getNumUnique(RAD)": lambda me, o: me.services[DEMANDE].getNumUnique(
        fluxXml=new_demande_xml(me.guichet, [COMMUNES[0]], operation="RAD", num_unique=o.num,
                                nom=f"AUTHZ{o.guichet}")),
    "getDoublons": lambda me, o: me.services[DEMANDE].getDoublons(
        fluxXml=new_demande_xml(me.guichet, [COMMUNES[0]], operation="MOD", num_unique=o.num,
                                nom=f"AUTHZ{o.guichet}")),
    "getDeclarationNouveauDalo": lambda me, o: me.services[DEMANDE].getDeclarationNouveauDalo(
        fluxXml=new_demande_xml(me.guichet, [COMMUNES[0]], operation="MOD", num_unique=o.num,
                                nom=f"AUTHZ{o.guichet}")),
    "listerEvenementsDemande": lambda me, o: me.services[GP].listerEvenementsDemande(
        fluxXml=gp_doc("LST", me.guichet, o.num)),
    "ajouterEvenementDemande": lambda me, o: me.services[GP].ajouterEvenementDemande(
        fluxXml=gp_doc("AJO", me.guichet, o.num)),
    "modifierEvenementDemande": lambda me, o: me.services[GP].modifierEvenementDemande(
        fluxXml=gp_doc("MOD", me.guichet, o.num, o.event_id)),
    "supprimerEvenementDemande": lambda me, o: me.services[GP].supprimerEvenementDemande(
        fluxXml=gp_doc("SUP", me.guichet, o.num, o.event_id)),
}


def test_every_operation_on_one_demand_is_in_the_matrix() -> None:
    """A new SNE operation naming a demand must be added to ATTEMPTS (or to the list of
    operations without one / whose answers are cut)."""
    from connectors.sne.operations import SERVICES

    ops = {op for _port, table in SERVICES.values() for op in table}
    no_demand = {"listerTypesEvenementsNationaux", "listerTypesEvenementsTerritoriaux"}
    cut_lists = {"getDemandesRadieesDepuisLe", "getNouveauxDaloDepuisLe",
                 "rechercheDemandeMulticritere"}
    covered = {name.split("(")[0] for name in ATTEMPTS} | no_demand | cut_lists
    assert ops == covered


def test_owners_read_and_write_their_own_demands(world: tuple[str, list[Erp], Engine]) -> None:
    _base, erps, _engine = world
    for erp in erps:
        doc = erp.services[DEMANDE].getDemandeLogement(codeGuichet=erp.guichet, numUnique=erp.num)
        assert erp.num.encode() in doc
        assert _events_of(erp) == [erp.event_id]


def test_out_of_scope_operations_get_acces_fault_and_reach_no_sne(
        world: tuple[str, list[Erp], Engine]) -> None:
    _base, erps, _engine = world
    failures: list[tuple[str, str, str]] = []
    checked = 0
    for i, me in enumerate(erps):
        for j, owner in enumerate(erps):
            if i == j:
                continue
            for name, attempt in ATTEMPTS.items():
                checked += 1
                try:
                    attempt(me, owner)
                    failures.append((me.actor_id, owner.num, f"{name}: answered"))
                except Fault as err:
                    if _fault_code(err) != "ACCES":
                        failures.append((me.actor_id, owner.num, f"{name}: {_fault_code(err)}"))
    assert checked == N_ACTORS * (N_ACTORS - 1) * len(ATTEMPTS)
    assert failures == []
    # nothing reached the SNE: each demand still has only its owner's one event, and is
    # still active and readable as before
    for owner in erps:
        assert _events_of(owner) == [owner.event_id]
        doc = owner.services[DEMANDE].getDemandeLogement(codeGuichet=owner.guichet,
                                                         numUnique=owner.num)
        assert b"dateRadiation" not in doc


def test_list_answers_are_cut_to_the_callers_demands(
        world: tuple[str, list[Erp], Engine]) -> None:
    _base, erps, _engine = world
    everyone = {e.num for e in erps}
    for erp in erps:
        answer = erp.services[RECHERCHE].rechercheDemandeMulticritere(
            fluxXml=search_doc(erp.guichet))
        found = {n.text for n in xmlsafe.parse(answer).iter(f"{{{NUU}}}numUnique")}
        assert found & everyone == {erp.num}, erp.actor_id
    # a radiated demand is listed to its owner only
    owner = erps[0]
    owner.services[DEMANDE].getNumUnique(fluxXml=new_demande_xml(
        owner.guichet, [COMMUNES[0]], operation="RAD", num_unique=owner.num,
        nom=f"AUTHZ{owner.guichet}"))
    for erp in erps[:6]:
        answer = erp.services[DEMANDE].getDemandesRadieesDepuisLe(
            codeGuichet=erp.guichet, date=date(2020, 1, 1))
        found = {n.text for n in xmlsafe.parse(answer).iter(f"{{{NUU}}}numUnique")}
        assert found & everyone == ({owner.num} if erp is owner else set()), erp.actor_id


def test_unauthenticated_or_forged_callers_get_a_fault(
        world: tuple[str, list[Erp], Engine]) -> None:
    base, erps, _engine = world
    victim = erps[1]
    attempts: list[dict[str, Any]] = [
        {},
        {"bearer": "hk_0000.forged"},
        {"bearer": erps[0].key[:-3] + "xyz"},
        {"token": (victim.actor_id, "hk_0000.forged")},
        {"token": (victim.actor_id, erps[0].key)},  # a valid key of another actor
    ]
    for creds in attempts:
        services = _services(base, **creds)
        with pytest.raises(Fault) as err:
            services[DEMANDE].getDemandeLogement(codeGuichet=victim.guichet,
                                                 numUnique=victim.num)
        assert _fault_code(err.value) == "AUTHENTIFICATION", creds.keys()
        with pytest.raises(Fault) as err:
            services[GP].listerTypesEvenementsNationaux(
                fluxXml=documents.document("LTE", victim.guichet, {}))
        assert _fault_code(err.value) == "AUTHENTIFICATION"
    # the event-type catalogue concerns no demand: any authenticated caller reads it
    erps[2].services[GP].listerTypesEvenementsNationaux(
        fluxXml=documents.document("LTE", erps[2].guichet, {}))


def _write_demand(op: str) -> Callable[[Erp], Any]:
    """A ``getNumUnique`` of operation ``op`` on the caller's held demand (CRE: a new one)."""
    def attempt(me: Erp) -> Any:
        num = {} if op == "CRE" else {"num_unique": me.num}
        return me.services[DEMANDE].getNumUnique(fluxXml=new_demande_xml(
            me.guichet, [COMMUNES[0]], operation=op, nom="AUTHZW", **num))
    return attempt


#: every gateway operation that writes the demand itself, aimed at the demand the
#: caller holds (``num``) or creating one
DEMAND_WRITES: dict[str, Callable[[Erp], Any]] = {
    **{f"getNumUnique({op})": _write_demand(op) for op in ("CRE", "MOD", "REN", "RAD")},
    "getDeclarationNouveauDalo": lambda me: me.services[DEMANDE].getDeclarationNouveauDalo(
        fluxXml=dalo_xml(me.guichet, me.num)),
}


def cal_doc(guichet: str, num: str, code: str, fields: dict[str, str]) -> bytes:
    return documents.document("AJO", guichet, {"operation": {"numUnique": num},
                                               "listeEvenements": [{
        "codeTypeEvenement": code, "dateSurvenance": "2026-11-10",
        "listeCaracteristiquesSpecifiques": [
            {"code": k, "valeurCaracteristiqueSpecifique": v} for k, v in fields.items()]}]})


def test_only_registering_offices_write_demands_through_the_gateway(
        world: tuple[str, list[Erp], Engine], settings: HubSettings) -> None:
    """F3 by SOAP: holders that are no registering office read the demand, and get
    ``ACCES`` naming the write right on every operation that writes it; the SNE shows
    nothing changed."""
    base, erps, engine = world
    owner = erps[1]
    readers = [_holding_reader(base, engine, settings, kind, owner.num, right)
               for kind, right in (("commune", None), ("reservataire", None), ("etat", None),
                                   ("epci", None), ("bailleur", False), ("guichet", False))]
    failures = []
    for me in readers:
        doc = me.services[DEMANDE].getDemandeLogement(codeGuichet=me.guichet, numUnique=me.num)
        assert owner.num.encode() in doc  # it holds the demand: reading is open
        for name, attempt in DEMAND_WRITES.items():
            try:
                attempt(me)
                failures.append((me.actor_id, name, "answered"))
            except Fault as err:
                if _fault_code(err) != "ACCES" or "does not write demands" not in err.message:
                    failures.append((me.actor_id, name, f"{_fault_code(err)} {err.message}"))
    assert failures == []
    assert _events_of(owner) == [owner.event_id]
    doc = owner.services[DEMANDE].getDemandeLogement(codeGuichet=owner.guichet,
                                                     numUnique=owner.num)
    assert b"dateRadiation" not in doc and b"AUTHZW" not in doc


def test_a_cal_act_by_a_non_landlord_is_refused_by_the_gateway(
        world: tuple[str, list[Erp], Engine], settings: HubSettings) -> None:
    """F4 by SOAP: ``ajouterEvenementDemande`` of a CAL decision or examination by a holder
    that is no ``bailleur`` (a commune registering office included) is ``ACCES`` before
    anything reaches the SNE or the hub's store."""
    _base, erps, engine = world
    owner = erps[1]
    commune = next(e for e in erps if e.actor_id.startswith("t-comm"))  # enregistreur: true
    Holders(engine, settings).add(commune.actor_id, owner.num)
    decision = {"CODECAL": "CAL-X", "LOGEMENT": "LGT-1", "DECISIONID": f"d-{uuid.uuid4().hex[:8]}",
                "DECISION": "IRREC", "MOTIF": "IRRRES", "DATEDEC": "2026-11-10"}
    for code, fields in (("DECISCAL", decision),
                         ("EXAMCAL", {"CODECAL": "CAL-X", "DATECAL": "2026-11-10"})):
        with pytest.raises(Fault) as err:
            commune.services[GP].ajouterEvenementDemande(
                fluxXml=cal_doc(commune.guichet, owner.num, code, fields))
        assert _fault_code(err.value) == "ACCES", err.value.message
        assert code in err.value.message and "bailleur" in err.value.message
    assert _events_of(owner) == [owner.event_id]


def test_two_authorization_headers_are_refused(world: tuple[str, list[Erp], Engine]) -> None:
    """The gateway uses none of two ``Authorization`` headers (as the REST API): Fault
    ``AUTHENTIFICATION``, HTTP 400, whichever is valid."""
    from tests.integration.test_sne_gateway import envelope

    base, erps, _engine = world
    body = envelope("listerTypesEvenementsNationaux", documents.document("LTE", "G0001", {}))
    valid = f"Bearer {erps[0].key}"
    for pair in ((valid, "Bearer hk_0000.forged"), ("Bearer hk_0000.forged", valid)):
        resp = httpx.post(f"{base}/{GP}", content=body, timeout=30, headers=[
            ("Content-Type", "application/soap+xml; charset=utf-8"),
            ("Authorization", pair[0]), ("Authorization", pair[1])])  # fmt: skip
        assert resp.status_code == 400, resp.text
        root = xmlsafe.parse(resp.content)
        assert root.findtext(f".//{{{WS}}}demandeLogementException/code") == "AUTHENTIFICATION"
    resp = httpx.post(f"{base}/{GP}", content=body, timeout=30, headers={
        "Content-Type": "application/soap+xml; charset=utf-8", "Authorization": valid})
    assert resp.status_code == 200, resp.text
