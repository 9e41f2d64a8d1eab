"""The SOAP gateway's CAL route when another process writes the history between the check
and the recording (issue 19): the SNE accepted the event, the hub's re-check inside the
storing transaction refuses it, so the gateway deletes it at the SNE and answers the
Fault ``REGLE_CAL``; nothing is recorded nor published. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

import pytest
from lxml import etree
from sqlalchemy import Engine

from connectors.sne import documents
from connectors.sne.gateway.cal import CalRoute
from connectors.sne.gateway.events import gp_events
from connectors.sne.soap import Request, SoapFault
from hub.domain.actors import Actor
from hub.domain.gp.validation import GPInput
from hub.stores.gp.service import GPService
from hub.stores.gp.store import GPStore
from tests.integration.test_sne_gateway_cal import gp_doc
from tests.support.demandes import new_num_unique

DAY = date.today() - timedelta(days=5)
#: the landlord of the decision, writing through both processes (an answer to a decision
#: is its author's to record)
LANDLORD = Actor(id="landlord-race", name="L", kind="bailleur")


class Outbox:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def publish(self, topic: str, key: bytes, value: bytes) -> None:
        self.sent.append(key)


def test_a_write_between_check_and_recording_undoes_the_sne_event(
        migrated_db: tuple[str, Engine]) -> None:
    engine = migrated_db[1]
    rest = GPService(GPStore(engine), Outbox())  # stands for the REST API's process
    outbox = Outbox()
    route = CalRoute(GPService(GPStore(engine), outbox))
    num = new_num_unique()
    decision = {"CODECAL": "C", "LOGEMENT": "L", "DECISIONID": f"d-{num}", "DECISION": "ATTR",
                "RANG": "1", "DATEDEC": DAY.isoformat()}
    for code, fields in (("DESIGCAL", {"CODECAL": "C", "LOGEMENT": "L", "DESIGPREF": "true"}),
                         ("EXAMCAL", {"CODECAL": "C", "DATECAL": DAY.isoformat()}),
                         ("DECISCAL", decision)):
        asyncio.run(rest.record(GPInput(num, code, DAY, fields), LANDLORD))
    calls: list[tuple[str, list[dict[str, Any]]]] = []

    async def sne(operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """The SNE accepts; on the first call the REST process records an answer first."""
        documents.load(params["fluxXml"], "evenement")  # XSD-valid, the deletion included
        _, _, events = gp_events(params["fluxXml"])
        calls.append((operation, events))
        if operation == "ajouterEvenementDemande":
            await rest.record(GPInput(num, "REFUSDEM", DAY + timedelta(days=1),
                                      {"DECISIONID": f"d-{num}", "MOTIF": "loin"}), LANDLORD)
            root = documents.load(params["fluxXml"], "evenement", validate=False)
            root.find(documents.q("listeEvenements"))[0].insert(  # type: ignore[index]
                0, documents.element("idEvenement", "4242"))
            return {"return": etree.tostring(root, xml_declaration=True, encoding="UTF-8")}
        return {"return": params["fluxXml"]}

    flux = gp_doc("G0000", num, [("ACCEPTDEM", DAY + timedelta(days=2),
                                  {"DECISIONID": f"d-{num}"})])
    req = Request("GestionPartageeEVTImplService", "ajouterEvenementDemande",
                  {"fluxXml": flux}, mtom=False)
    with pytest.raises(SoapFault) as err:
        asyncio.run(route.add(LANDLORD, req, sne))
    assert err.value.code == "REGLE_CAL"
    assert err.value.message.startswith("R441-3/reponse-unique")
    # relayed once, then deleted at the SNE by its id
    assert [op for op, _ in calls] == ["ajouterEvenementDemande", "supprimerEvenementDemande"]
    assert calls[1][1] == [{"idEvenement": "4242"}]
    assert [e["codeTypeEvenement"] for e in GPStore(engine).timeline(num)] == [
        "DESIGCAL", "EXAMCAL", "DECISCAL", "REFUSDEM"]
    assert outbox.sent == []
