"""Simulated ``DemandeLogementImplService`` and ``RechercheDemandeImplService``.

Contracts: malformed or hostile XML is a SOAP Fault. ``getNumUnique`` answers a well-formed
document breaking the XSD or a business rule with ``listeAnomalie/anomalie`` (code ≤ 10
chars + message naming the element, never personal values) and stores nothing; an accepted
CRE/CRS/REN also answers its attestation (``nomAttestation`` + PDF, :mod:`.attestation`).
Codes: ``XSD``, ``VERSION``, ``TYPEFICH``, ``LOCALISAT``, ``COMMUNE``, ``NUMPRESENT``,
``NUMABSENT``, ``NUMINCONNU``, ``RADIEE``, ``MOTIFRAD``, ``DOUBLON``, ``CRITERE``, ``DATES``.

The other operations register nothing: they refuse with a SOAP Fault
(``demandeLogementException``) — ``getDoublons``: ``XSD``/``VERSION``/``TYPEFICH``, or
``NUMINCONNU`` for a numbered demand the SNE does not know; ``getDeclarationNouveauDalo``:
the same, ``RADIEE``, ``DALO`` (``informationDalo`` without ``statutDalo``/
``dateDecisionDalo``, or an unknown statut); ``get*DepuisLe``: ``DATE`` (not an ISO date),
``DATES`` (a date in the future).
"""

from __future__ import annotations

import copy
import hashlib
from datetime import date
from typing import Any

from lxml import etree

from connectors.interfacenuu.mapping import parse_demande_xml, render_demande_xml
from connectors.sne import documents
from connectors.sne.documents import Anomaly, q
from connectors.sne.soap import SoapFault
from connectors.sne.tables import sim_demandes as t
from hub.core.errors import InputError, UnknownCommuneError
from hub.dev.sne_simulator.attestation import attestation
from hub.dev.sne_simulator.store import SimulatorStore

OPERATIONS = ("CRE", "CRS", "MOD", "REN", "RAD")
MOTIFS = ("RADATT", "RADABA", "RADIRR", "RADCON", "RADREN")
STATUTS_DALO = ("NON", "ACTIF", "CADUC", "ACTREL")
#: statuts of a demand recognised DALO (listed by getNouveauxDaloDepuisLe)
DALO_RECONNU = ("ACTIF", "ACTREL")
_AFTER_ANOMALIES = ("listeDoublons", "dateDerniereModificationPiece", "incrementFichier")


class Rejected(Exception):
    def __init__(self, found: list[Anomaly]) -> None:
        super().__init__(found[0].message)
        self.found = found


def reject_demande(data: bytes, found: list[Anomaly]) -> bytes:
    """The request document answered back with ``listeAnomalie`` in ``demandeLogement``."""
    root = copy.deepcopy(documents.load(data, "demande", validate=False))
    dl = root.find(f"{q('demande')}/{q('demandeLogement')}")
    if dl is None:
        demande = root.find(q("demande"))
        demande = etree.SubElement(root, q("demande")) if demande is None else demande
        dl = etree.SubElement(demande, q("demandeLogement"))
    for old in dl.findall(q("listeAnomalie")):
        dl.remove(old)
    new = documents.element("listeAnomalie", documents.anomaly_items(found))
    nxt = next((c for c in dl if etree.QName(c).localname in _AFTER_ANOMALIES), None)
    if nxt is None:
        dl.append(new)
    else:
        nxt.addprevious(new)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def identity(dl: dict[str, Any]) -> str:
    """SHA-256 of the applicant's identity (duplicate key; the identity is not stored)."""
    p = (dl.get("personnePhysique") or {}).get("demandeur") or {}
    a = dl.get("association") or {}
    key = "|".join(
        str(v or "").strip().upper()
        for v in (p.get("nom") or a.get("nom"), p.get("prenom"), p.get("dateNaissance"))
    )
    return hashlib.sha256(key.encode()).hexdigest()


def iso_date(value: str, what: str) -> str:
    """``value`` as an ISO date not in the future, else a SOAP Fault (``DATE``, ``DATES``)."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise SoapFault("DATE", f"{what}: not an ISO date (YYYY-MM-DD)") from None
    if day > date.today():
        raise SoapFault("DATES", f"{what}: in the future")
    return day.isoformat()


class DemandeService:
    def __init__(self, store: SimulatorStore) -> None:
        self.store = store

    def _read(self, data: bytes) -> dict[str, Any]:
        """The demand event of a request document; Rejected on XSD or business errors."""
        try:
            documents.load(data, "demande")
            event = parse_demande_xml(data, validate=False, source="sne-simulator")
        except InputError as exc:
            if exc.code in ("HOSTILE", "XML"):
                raise SoapFault(exc.code, exc.message) from None
            raise Rejected(
                [Anomaly(exc.code if exc.code in ("XSD", "VERSION") else "TYPEFICH", exc.message)]
            ) from None
        return event

    def _check(self, event: dict[str, Any]) -> tuple[list[Anomaly], dict[str, Any] | None]:
        from hub.domain.geo import get_geography

        found: list[Anomaly] = []
        dl = event["demande"]["demandeLogement"]
        locs = (dl.get("logementRecherche") or {}).get("listeLocalisationSouhaite") or []
        if not locs:
            found.append(
                Anomaly(
                    "LOCALISAT",
                    "logementRecherche/listeLocalisationSouhaite: "
                    "at least one wished commune is required",
                )
            )
        for loc in locs:
            try:
                get_geography().resolve(loc["commune"] or "")  # a former code too
            except UnknownCommuneError:
                found.append(
                    Anomaly(
                        "COMMUNE",
                        f"localisationSouhaite/commune {loc['commune']!r}"
                        " is not an INSEE commune code",
                    )
                )
        op, num = event["operation"], (dl.get("numUnique") or "").strip()
        current = None
        if op in ("CRE", "CRS"):
            if num:
                found.append(Anomaly("NUMPRESENT", f"{op}: a new demand carries no numUnique"))
            elif not dl.get("forcerDoublon") and self.store.search(
                [t.c.identite == identity(dl), t.c.etat == "A"], limit=1
            ):
                found.append(
                    Anomaly(
                        "DOUBLON",
                        "an active demand has the same applicant: "
                        "check getDoublons, or set forcerDoublon",
                    )
                )
        elif not num:
            found.append(Anomaly("NUMABSENT", f"{op}: demandeLogement/numUnique is required"))
        else:
            current = self.store.get(num)
            if current is None:
                found.append(Anomaly("NUMINCONNU", f"numUnique {num} unknown"))
            elif current["etat"] == "R":
                found.append(
                    Anomaly(
                        "RADIEE", f"numUnique {num} is radiated since {current['date_radiation']}"
                    )
                )
        if op == "RAD":
            rad = dl.get("radiation") or {}
            if rad.get("motifRadiation") not in MOTIFS:
                found.append(
                    Anomaly(
                        "MOTIFRAD", f"radiation/motifRadiation must be one of {', '.join(MOTIFS)}"
                    )
                )
        return found, current

    def getNumUnique(self, p: dict[str, Any]) -> dict[str, Any]:
        data = p["fluxXml"]
        try:
            event = self._read(data)
            found, current = self._check(event)
            if found:
                raise Rejected(found)
        except Rejected as r:
            return {"return": reject_demande(data, r.found)}
        dl = event["demande"]["demandeLogement"]
        communes = [loc["commune"] for loc in dl["logementRecherche"]["listeLocalisationSouhaite"]]
        row: dict[str, Any] = {"communes": communes, "identite": identity(dl)}
        if event["operation"] == "REN":
            row["date_renouvellement"] = (dl.get("renouvellement") or {}).get(
                "dateRenouvellement"
            ) or date.today().isoformat()
        if event["operation"] == "RAD":
            rad = dl["radiation"]
            row.update(
                etat="R", date_radiation=rad["dateRadiation"], motif_radiation=rad["motifRadiation"]
            )

        def render(num: str) -> bytes:
            return render_demande_xml(
                {
                    **event,
                    "numUnique": num,
                    "demande": {**event["demande"], "demandeLogement": {**dl, "numUnique": num}},
                }
            )

        if current is None:
            row.update(guichet=dl["numGuichet"], etat="A", date_depot=dl["dateCreationDemande"])
            num = self.store.create(row, communes[0], render)
        else:
            num = current["num_unique"]
            self.store.update(num, {**row, "document": render(num)})
        stored = (self.store.get(num) or {})["document"]
        answer: dict[str, Any] = {"return": stored}
        made = attestation(
            event["operation"],
            num,
            parse_demande_xml(stored, validate=False)["demande"]["demandeLogement"],
        )
        if made is not None:
            answer["nomAttestation"], answer["attestation"] = made
        return answer

    def getDemandeLogement(self, p: dict[str, Any]) -> dict[str, Any]:
        row = self.store.get(p["numUnique"])
        if row is None:
            raise SoapFault("NUMINCONNU", f"numUnique {p['numUnique'][:18]!r} unknown")
        return {"return": row["document"]}

    def _read_or_fault(self, data: bytes) -> dict[str, Any]:
        """The demand event of a request document; its first problem as a SOAP Fault."""
        try:
            return self._read(data)
        except Rejected as r:
            raise SoapFault(r.found[0].code, r.found[0].message) from None

    def getDoublons(self, p: dict[str, Any]) -> dict[str, Any]:
        """The request's demand answered back with ``listeDoublons``: the active demands of
        the same applicant (name, first name, birth date), other than the demand itself —
        each as Doublon_V0200 has it (applicant, co-holders, wished communes)."""
        event = self._read_or_fault(p["fluxXml"])
        dl = event["demande"]["demandeLogement"]
        num = (dl.get("numUnique") or "").strip()
        if num and self.store.get(num) is None:
            raise SoapFault("NUMINCONNU", f"numUnique {num[:18]} unknown")
        rows = self.store.search(
            [
                t.c.identite == identity(dl),
                t.c.etat == "A",
                t.c.num_unique != num,
            ]
        )
        doublons = [_doublon(r) for r in rows]
        answer = {
            **event,
            "demande": {
                **event["demande"],
                "demandeLogement": {**dl, "listeDoublons": doublons or None},
            },
        }
        return {"return": render_demande_xml(answer)}

    def getDeclarationNouveauDalo(self, p: dict[str, Any]) -> dict[str, Any]:
        """Records the request's ``informationDalo`` on the stored demand (a MOD) and answers
        the demand as stored; a recognised statut (ACTIF, ACTREL) lists it in
        ``getNouveauxDaloDepuisLe`` from today, another statut takes it off."""
        event = self._read_or_fault(p["fluxXml"])
        num = (event["demande"]["demandeLogement"].get("numUnique") or "").strip()
        if not num:
            raise SoapFault("NUMABSENT", "demandeLogement/numUnique is required")
        current = self.store.get(num)
        if current is None:
            raise SoapFault("NUMINCONNU", f"numUnique {num[:18]} unknown")
        if current["etat"] == "R":
            raise SoapFault("RADIEE", f"numUnique {num} is radiated")
        dalo = event["demande"].get("informationDalo") or {}
        if not dalo.get("statutDalo") or not dalo.get("dateDecisionDalo"):
            raise SoapFault("DALO", "informationDalo/statutDalo and dateDecisionDalo are required")
        if dalo["statutDalo"] not in STATUTS_DALO:
            raise SoapFault(
                "DALO", f"informationDalo/statutDalo must be one of {', '.join(STATUTS_DALO)}"
            )
        stored = parse_demande_xml(current["document"], validate=False)
        stored.update(
            operation="MOD", occurredAt=event["occurredAt"], changedFields=["informationDalo"]
        )
        stored["demande"]["informationDalo"] = event["demande"]["informationDalo"]
        document = render_demande_xml(stored)
        declared = date.today().isoformat() if dalo["statutDalo"] in DALO_RECONNU else None
        self.store.update(num, {"document": document, "dalo_declared_on": declared})
        return {"return": document}

    def _numbers(self, typ: str, guichet: str, criteria: dict[str, Any], where: list[Any]) -> bytes:
        nums = [r["num_unique"] for r in self.store.search(where)]
        return documents.document(
            typ,
            guichet[:5],
            {"operation": {"demandeMulticritere": criteria}, "listeDemandes": nums or None},
        )

    def getDemandesRadieesDepuisLe(self, p: dict[str, Any]) -> dict[str, Any]:
        since = iso_date(p["date"], "date")
        return {
            "return": self._numbers(
                "RAD",
                p["codeGuichet"],
                {"dateRadiationDebut": since},
                [t.c.etat == "R", t.c.date_radiation >= since],
            )
        }

    def getNouveauxDaloDepuisLe(self, p: dict[str, Any]) -> dict[str, Any]:
        since = iso_date(p["date"], "date")
        return {
            "return": self._numbers(
                "DALO",
                p["codeGuichet"],
                {},
                [t.c.dalo_declared_on >= since, t.c.etat == "A"],
            )
        }


def _doublon(row: dict[str, Any]) -> dict[str, Any]:
    dl = parse_demande_xml(row["document"], validate=False)["demande"]["demandeLogement"]
    p = (dl.get("personnePhysique") or {}).get("demandeur") or {}
    keys = (
        "etranger",
        "appartement",
        "etage",
        "escalier",
        "batiment",
        "compAdresse",
        "numero",
        "voie",
        "lieuDit",
        "codePostal",
        "commune",
        "codePostalEtranger",
        "communeEtranger",
        "pays",
        "nomHebergeant",
    )
    ident = ("civilite", "nom", "nomPatronymique", "prenom", "dateNaissance")

    def address(value: dict[str, Any] | None) -> dict[str, Any] | None:
        if not value:
            return None
        out = {k: v for k, v in value.items() if k in keys}
        out["etranger"] = bool(out.get("etranger"))
        return out

    pp = dl.get("personnePhysique") or {}
    cotitulaires = [{k: c.get(k) for k in ident} for c in (pp.get("listeCotitulaire") or [])]
    return {
        "numUnique": row["num_unique"],
        "demandeur": {k: p.get(k) for k in ident}
        | {
            "adressePostale": address(p.get("adressePostale")) or {"etranger": False},
            "adresseLogement": address(pp.get("adresseLogement")),
        },
        "listeCotitulaire": cotitulaires or None,
        "listeLocalisationSouhaitee": [{"commune": c, "quartier": None} for c in row["communes"]],
    }
