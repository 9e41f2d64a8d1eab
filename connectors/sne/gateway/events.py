"""Hub events of what the SNE accepted through the gateway (pure functions).

* :func:`demande_event`: the ``DemandeEvent`` of an accepted ``getNumUnique`` — the
  request's event (operation, ``modifie`` flags → ``changedFields``, snapshot) with the
  numéro the SNE answered; None when the answer carries anomalies.
* :func:`gp_records`: ``EvenementGP`` records (key, value) of an accepted GP operation:
  one per event the SNE answered, ``operation`` AJO/MOD/SUP, ``auteur`` the request's
  guichet, specific fields as a ``code → value`` map.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import Any

from connectors.sne import documents
from connectors.sne.documents import q
from hub.publishing import PreparedEvent, prepare_event
from schemas import get_codec

GP_OPERATION = {
    "ajouterEvenementDemande": "AJO",
    "modifierEvenementDemande": "MOD",
    "supprimerEvenementDemande": "SUP",
}
_NS = uuid.uuid5(uuid.NAMESPACE_URL, "urn:passerelle:sne-gateway:gp")


def demande_event(event: dict[str, Any], answer: bytes) -> PreparedEvent | None:
    root = documents.load(answer, "demande", validate=False)
    if documents.anomalies(root):
        return None
    num = (root.findtext(f"{q('demande')}/{q('demandeLogement')}/{q('numUnique')}") or "").strip()
    if not num:
        return None
    dl = {**event["demande"]["demandeLogement"], "numUnique": num}
    return prepare_event(
        {**event, "numUnique": num, "demande": {**event["demande"], "demandeLogement": dl}}
    )


def gp_records(operation: str, request: bytes, answer: bytes) -> list[tuple[bytes, bytes]]:
    root = documents.load(answer, "evenement", validate=False)
    if documents.anomalies(root):
        return []
    req = documents.load(request, "evenement", validate=False)
    num = (req.findtext(f"{q('operation')}/{q('numUnique')}") or "").strip()
    guichet = (req.findtext(f"{q('entete')}/{q('codeGuichet')}") or "").strip()
    wrapper = root.find(q("listeEvenements"))
    out = []
    for ev in documents.to_dict(wrapper) if wrapper is not None else []:
        ident = str(ev.get("idEvenement") or "")
        seed = f"{num}|{ident}|{operation}|{hashlib.sha256(answer).hexdigest()}"
        record = {
            "eventId": str(uuid.uuid5(_NS, seed)),
            "numUnique": num,
            "operation": GP_OPERATION[operation],
            "idEvenement": int(ident) if ident.isdigit() else None,
            "codeTypeEvenement": ev.get("codeTypeEvenement") or "",
            "catalogueVersion": None,
            "dateSurvenance": ev.get("dateSurvenance") or "",
            "auteur": guichet,
            "commentaire": ev.get("commentaire") or None,
            "reglementaire": ev.get("reglementaire") in ("true", "1"),
            "aPublierSurPGP": False,
            "caracteristiques": {
                c["code"]: c.get("valeurCaracteristiqueSpecifique") or ""
                for c in ev.get("listeCaracteristiquesSpecifiques") or []
            },
            "occurredAt": int(time.time() * 1000),
            "source": "soap-gateway",
        }
        out.append((num.encode(), get_codec().encode("EvenementGP", record)))
    return out
