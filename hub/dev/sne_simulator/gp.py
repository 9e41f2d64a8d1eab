"""Simulated ``GestionPartageeEVTImplService``: event types and the events of a demand.

Anomaly codes: ``XSD``, ``VERSION``, ``TERRITOIRE``, ``NUMABSENT``, ``NUMINCONNU``,
``EVENEMENT`` (not exactly one event), ``TYPEINCONN`` (unknown or expired type code),
``DATESURV`` (missing or future occurrence date), ``CARACOBL`` (mandatory specific field
missing), ``CARACINC`` (specific field unknown for the type), ``EVTINCONNU``.
"""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

from lxml import etree

from connectors.sne import documents
from connectors.sne.documents import Anomaly, q
from connectors.sne.soap import SoapFault
from hub.core.errors import InputError
from hub.dev.sne_simulator import catalogue
from hub.dev.sne_simulator.store import SimulatorStore

EVENT_ORDER = (
    "idEvenement",
    "codeTypeEvenement",
    "libelleTypeEvenement",
    "auteurCreation",
    "dateCreation",
    "auteurModification",
    "dateModification",
    "natureModification",
    "dateSurvenance",
    "commentaire",
    "reglementaire",
    "listeCaracteristiquesSpecifiques",
)


class Rejected(Exception):
    def __init__(self, *found: Anomaly) -> None:
        super().__init__(found[0].message)
        self.found = list(found)


def _answer(root: etree._Element, body: dict[str, Any]) -> bytes:
    """The request document with its lists replaced by ``body``'s (appended in order)."""
    out = copy.deepcopy(root)
    for el in list(out):
        if etree.QName(el).localname not in ("entete", "operation"):
            out.remove(el)
    for name, value in body.items():
        if value:
            out.append(documents.element(name, value))
    return bytes(etree.tostring(out, xml_declaration=True, encoding="UTF-8"))


def _ordered(event: dict[str, Any]) -> dict[str, Any]:
    return {k: event.get(k) for k in EVENT_ORDER if event.get(k) not in (None, "", [])}


class GpService:
    def __init__(self, store: SimulatorStore) -> None:
        self.store = store

    def _load(self, data: bytes, kind: str) -> etree._Element:
        try:
            return documents.load(data, kind)
        except InputError as exc:
            if exc.code in ("HOSTILE", "XML"):
                raise SoapFault(exc.code, exc.message) from None
            raise Rejected(Anomaly(exc.code, exc.message)) from None

    def _run(self, data: bytes, kind: str, work: Any) -> dict[str, Any]:
        try:
            root = self._load(data, kind)
            return {"return": _answer(root, work(root))}
        except Rejected as r:
            root = documents.load(data, kind, validate=False)
            return {"return": _answer(root, {"listeAnomalies": documents.anomaly_items(r.found)})}

    def listerTypesEvenementsNationaux(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._run(
            p["fluxXml"], "typeEvenement", lambda root: {"listeTypesEvenements": catalogue.NATIONAL}
        )

    def listerTypesEvenementsTerritoriaux(self, p: dict[str, Any]) -> dict[str, Any]:
        def work(root: etree._Element) -> dict[str, Any]:
            terr = root.findtext(f"{q('operation')}/{q('codeTerritoire')}")
            if not terr:
                raise Rejected(Anomaly("TERRITOIRE", "operation/codeTerritoire is required"))
            return {
                "listeTypesEvenements": [
                    t for t in catalogue.TERRITORIAL if t["codeTerritoire"] == terr.strip()
                ]
            }

        return self._run(p["fluxXml"], "typeEvenement", work)

    def _demand(self, root: etree._Element) -> tuple[str, str]:
        num = (root.findtext(f"{q('operation')}/{q('numUnique')}") or "").strip()
        if not num:
            raise Rejected(Anomaly("NUMABSENT", "operation/numUnique is required"))
        if self.store.get(num) is None:
            raise Rejected(Anomaly("NUMINCONNU", f"numUnique {num} unknown"))
        return num, (root.findtext(f"{q('entete')}/{q('codeGuichet')}") or "").strip()

    def _event(self, root: etree._Element) -> dict[str, Any]:
        events = (
            documents.to_dict(root.find(q("listeEvenements")))
            if root.find(q("listeEvenements")) is not None
            else []
        )
        if len(events) != 1:
            raise Rejected(Anomaly("EVENEMENT", "listeEvenements must hold exactly one evenement"))
        return dict(events[0])

    def _validate(self, ev: dict[str, Any]) -> dict[str, Any]:
        typ = catalogue.find(ev.get("codeTypeEvenement") or "")
        if typ is None:
            raise Rejected(
                Anomaly("TYPEINCONN", "evenement/codeTypeEvenement is not a known event type")
            )
        found = []
        when = ev.get("dateSurvenance")
        if not when or when > date.today().isoformat():
            found.append(
                Anomaly(
                    "DATESURV", "evenement/dateSurvenance is required and cannot be in the future"
                )
            )
        given = {c["code"]: c for c in ev.get("listeCaracteristiquesSpecifiques") or []}
        specs = {c["code"]: c for c in typ.get("listeCaracteristiquesSpecifiques") or []}
        for code, spec in specs.items():
            if spec["obligatoire"] and not (given.get(code) or {}).get(
                "valeurCaracteristiqueSpecifique"
            ):
                found.append(
                    Anomaly(
                        "CARACOBL",
                        f"caracteristiqueSpecifique {code} is mandatory"
                        f" for {typ['codeTypeEvenement']}",
                    )
                )
        for code in given:
            if code not in specs:
                found.append(
                    Anomaly(
                        "CARACINC",
                        f"caracteristiqueSpecifique {code} is unknown "
                        f"for {typ['codeTypeEvenement']}",
                    )
                )
        if found:
            raise Rejected(*found)
        return typ

    def listerEvenementsDemande(self, p: dict[str, Any]) -> dict[str, Any]:
        def work(root: etree._Element) -> dict[str, Any]:
            num, _ = self._demand(root)
            return {
                "listeEvenements": [
                    _ordered({**r["data"], "idEvenement": r["id"]}) for r in self.store.events(num)
                ]
            }

        return self._run(p["fluxXml"], "evenement", work)

    def ajouterEvenementDemande(self, p: dict[str, Any]) -> dict[str, Any]:
        def work(root: etree._Element) -> dict[str, Any]:
            num, guichet = self._demand(root)
            ev = self._event(root)
            typ = self._validate(ev)
            ev.pop("idEvenement", None)
            ev.update(
                libelleTypeEvenement=typ["libelleTypeEvenement"]["libelle"],
                auteurCreation=guichet,
                dateCreation=documents.now_iso(),
                reglementaire=typ["reglementaire"],
            )
            ident = self.store.add_event(num, ev)
            return {"listeEvenements": [_ordered({**ev, "idEvenement": ident})]}

        return self._run(p["fluxXml"], "evenement", work)

    def _existing(self, root: etree._Element) -> tuple[str, str, dict[str, Any], int]:
        num, guichet = self._demand(root)
        ev = self._event(root)
        ident = str(ev.get("idEvenement") or "")
        row = self.store.get_event(num, int(ident)) if ident.isdigit() else None
        if row is None:
            raise Rejected(
                Anomaly("EVTINCONNU", "evenement/idEvenement is not an event of this demand")
            )
        return guichet, ident, {**row["data"], **ev}, row["id"]

    def modifierEvenementDemande(self, p: dict[str, Any]) -> dict[str, Any]:
        def work(root: etree._Element) -> dict[str, Any]:
            guichet, _, ev, ident = self._existing(root)
            self._validate(ev)
            ev.update(
                auteurModification=guichet,
                dateModification=documents.now_iso(),
                natureModification="MOD",
            )
            ev.pop("idEvenement", None)
            self.store.set_event(ident, data=ev)
            return {"listeEvenements": [_ordered({**ev, "idEvenement": ident})]}

        return self._run(p["fluxXml"], "evenement", work)

    def supprimerEvenementDemande(self, p: dict[str, Any]) -> dict[str, Any]:
        def work(root: etree._Element) -> dict[str, Any]:
            guichet, _, ev, ident = self._existing(root)
            self.store.set_event(ident, deleted=True)
            ev.update(
                auteurModification=guichet,
                dateModification=documents.now_iso(),
                natureModification="SUP",
                idEvenement=ident,
            )
            return {"listeEvenements": [_ordered(ev)]}

        return self._run(p["fluxXml"], "evenement", work)
