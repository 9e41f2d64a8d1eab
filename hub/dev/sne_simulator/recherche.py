"""Simulated ``rechercheDemandeMulticritere``: numéros uniques matching every criterion.

Supported criteria: numUnique, etatDemande (``A`` active, ``R`` radiée), the dépôt /
renouvellement / radiation date windows, motifRadiation, communeSouhaitee (any wished
commune), personneRecherchee (nom + prénom + date de naissance together). Other criteria
are answered with an anomaly ``CRITERE`` rather than silently ignored; a communeSouhaitee
that is not an INSEE commune code (nor a former one) with ``COMMUNE``, as ``getNumUnique``
answers such a wished commune. More than
``max_results`` (:data:`MAX_RESULTS`) matching demands — every criterion counted, the
wished commune included — is answered with the anomaly ``TROPRESULT`` and no list.
"""

from __future__ import annotations

import copy
from typing import Any

from lxml import etree

from connectors.sne import documents
from connectors.sne.documents import Anomaly, q
from connectors.sne.soap import SoapFault
from connectors.sne.tables import sim_demandes as t
from hub.core.errors import InputError
from hub.dev.sne_simulator.demandes import identity
from hub.dev.sne_simulator.store import SimulatorStore

#: most numéros one search answers; beyond, the anomaly ``TROPRESULT`` and no list. The
#: real SNE's limit is not published (the domain reference names none): this one is the
#: project's, settable (``create_app(max_results=)``, ``hub sne-simulator --max-results``)
#: so that tests reach it without thousands of demands
MAX_RESULTS = 5000
WINDOWS = {
    "dateDepot": t.c.date_depot,
    "dateRenouvellement": t.c.date_renouvellement,
    "dateRadiation": t.c.date_radiation,
}


def reject(data: bytes, found: list[Anomaly]) -> bytes:
    """The request answered back with ``listeAnomalies`` (and no ``listeDemandes``)."""
    root = copy.deepcopy(documents.load(data, "recherche", validate=False))
    for old in root.findall(q("listeDemandes")) + root.findall(q("listeAnomalies")):
        root.remove(old)
    root.append(documents.element("listeAnomalies", documents.anomaly_items(found)))
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


class RechercheService:
    def __init__(self, store: SimulatorStore, *, max_results: int = MAX_RESULTS) -> None:
        self.store, self.max_results = store, max_results

    def rechercheDemandeMulticritere(self, p: dict[str, Any]) -> dict[str, Any]:
        data = p["fluxXml"]
        try:
            root = documents.load(data, "recherche")
        except InputError as exc:
            if exc.code in ("HOSTILE", "XML"):
                raise SoapFault(exc.code, exc.message) from None
            return {"return": reject(data, [Anomaly(exc.code, exc.message)])}
        crit = documents.to_dict(root.find(f"{q('operation')}/{q('demandeMulticritere')}"))
        crit = crit if isinstance(crit, dict) else {}
        where, found = self._where(crit)
        if found:
            return {"return": reject(data, found)}
        # the limit counts the demands matching every criterion, the wished commune too
        limit = self.max_results
        nums = self.store.numbers(
            where, commune=crit.get("communeSouhaitee") or None, limit=limit + 1
        )
        if len(nums) > limit:
            return {
                "return": reject(
                    data, [Anomaly("TROPRESULT", f"more than {limit} demands: narrow the search")]
                )
            }
        answer = copy.deepcopy(root)
        for old in answer.findall(q("listeDemandes")):
            answer.remove(old)
        if nums:
            answer.find(q("operation")).addnext(documents.element("listeDemandes", nums))
        return {"return": etree.tostring(answer, xml_declaration=True, encoding="UTF-8")}

    def _where(self, crit: dict[str, Any]) -> tuple[list[Any], list[Anomaly]]:
        from hub.domain.geo import get_geography

        where: list[Any] = []
        found: list[Anomaly] = []
        supported = {
            "numUnique",
            "etatDemande",
            "motifRadiation",
            "communeSouhaitee",
            "personneRecherchee",
        } | {f"{w}{e}" for w in WINDOWS for e in ("Debut", "Fin")}
        for name in crit:
            if name not in supported:
                found.append(
                    Anomaly(
                        "CRITERE",
                        f"demandeMulticritere/{name}: criterion not supported by the simulator",
                    )
                )
        if not crit:
            found.append(Anomaly("CRITERE", "demandeMulticritere: at least one criterion"))
        if crit.get("numUnique"):
            where.append(t.c.num_unique == crit["numUnique"])
        if crit.get("etatDemande"):
            where.append(t.c.etat == crit["etatDemande"])
        if crit.get("motifRadiation"):
            where.append(t.c.motif_radiation == crit["motifRadiation"])
        commune = crit.get("communeSouhaitee")
        if commune and not get_geography().is_known(str(commune)):
            found.append(
                Anomaly(
                    "COMMUNE",
                    f"demandeMulticritere/communeSouhaitee {commune!r} is not an INSEE "
                    "commune code",
                )
            )
        for prefix, column in WINDOWS.items():
            start, end = crit.get(f"{prefix}Debut"), crit.get(f"{prefix}Fin")
            if start and end and start > end:
                found.append(
                    Anomaly("DATES", f"demandeMulticritere/{prefix}Debut is after {prefix}Fin")
                )
            if start:
                where.append(column >= start)
            if end:
                where.append(column <= end)
        person = crit.get("personneRecherchee")
        if person is not None:
            if not (
                isinstance(person, dict)
                and all(person.get(k) for k in ("nom", "prenom", "dateNaissance"))
            ):
                found.append(
                    Anomaly(
                        "CRITERE",
                        "personneRecherchee: nom, prenom and dateNaissance are required together",
                    )
                )
            else:
                where.append(t.c.identite == identity({"personnePhysique": {"demandeur": person}}))
        return where, found
