"""Hub events of what the SNE accepted through the gateway (pure functions).

* :func:`demande_event`: the ``DemandeEvent`` of an accepted ``getNumUnique`` — the
  request's event (operation, ``modifie`` flags → ``changedFields``, snapshot) with the
  numéro the SNE answered; None when the answer carries anomalies.
* :func:`accepted_records`: every record the gateway owes Kafka for an SNE answer (the
  two below, each a :class:`~connectors.sne.gateway.owed_store.Record`); none when the
  SNE refused (anomalies) or the operation publishes nothing.
* :func:`gp_records`: ``EvenementGP`` records of an accepted GP operation:
  one per event the SNE answered, ``operation`` AJO/MOD/SUP, ``auteur`` the request's
  guichet, specific fields as a ``code → value`` map; events whose type is in ``exclude``
  are left out (the gateway records and publishes the CAL history itself, see
  :mod:`connectors.sne.gateway.cal`).
* :func:`gp_events`: (numéro, guichet, events as plain dicts) of a GP document, request
  or answer; :func:`caracteristiques` the ``code → value`` map of one event.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import Any

from connectors.ingress.publishing import PreparedEvent, prepare_event
from connectors.sne import documents
from connectors.sne.documents import q
from connectors.sne.gateway.owed_store import Record
from hub.core import topics
from hub.stores.cal.guard import HISTORY_CODES
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


def gp_events(document: bytes) -> tuple[str, str, list[dict[str, Any]]]:
    """(``operation/numUnique``, ``entete/codeGuichet``, the ``listeEvenements`` items)."""
    root = documents.load(document, "evenement", validate=False)
    num = (root.findtext(f"{q('operation')}/{q('numUnique')}") or "").strip()
    guichet = (root.findtext(f"{q('entete')}/{q('codeGuichet')}") or "").strip()
    wrapper = root.find(q("listeEvenements"))
    items = documents.to_dict(wrapper) if wrapper is not None else []
    return num, guichet, [dict(ev) for ev in items if isinstance(ev, dict)]


def caracteristiques(ev: dict[str, Any]) -> dict[str, str]:
    """The ``code → value`` map of one event's specific fields."""
    return {
        c["code"]: c.get("valeurCaracteristiqueSpecifique") or ""
        for c in ev.get("listeCaracteristiquesSpecifiques") or []
    }


def accepted_records(
    operation: str, event: dict[str, Any] | None, request: bytes | None, answer: bytes
) -> list[Record]:
    """The records of ``operation`` answered ``answer`` (module doc): ``event`` is the
    request's demand event for ``getNumUnique``; the CAL history an ``ajouter`` holds is
    left out (:mod:`connectors.sne.gateway.cal` records and publishes it). Raises
    :class:`~hub.core.errors.InputError` when the hub cannot make a record of the answer."""
    if event is not None:
        prepared = demande_event(event, answer)
        if prepared is None:
            return []
        event_id = str(prepared.event.get("eventId") or "")
        return [Record(topics.DEMANDES, prepared.key, prepared.value, event_id, operation)]
    if operation in GP_OPERATION and request is not None:
        exclude = HISTORY_CODES if operation == "ajouterEvenementDemande" else frozenset()
        return gp_records(operation, request, answer, exclude=exclude)
    return []


def gp_records(
    operation: str, request: bytes, answer: bytes, exclude: frozenset[str] = frozenset()
) -> list[Record]:
    root = documents.load(answer, "evenement", validate=False)
    if documents.anomalies(root):
        return []
    num, guichet, _ = gp_events(request)
    _, _, answered = gp_events(answer)
    out: list[Record] = []
    for ev in answered:
        if (ev.get("codeTypeEvenement") or "") in exclude:
            continue
        ident = str(ev.get("idEvenement") or "")
        seed = f"{num}|{ident}|{operation}|{hashlib.sha256(answer).hexdigest()}"
        event_id = str(uuid.uuid5(_NS, seed))
        record = {
            "eventId": event_id,
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
            "caracteristiques": caracteristiques(ev),
            "occurredAt": int(time.time() * 1000),
            "source": "soap-gateway",
        }
        value = get_codec().encode("EvenementGP", record)
        out.append(Record(topics.EVENEMENTS, num.encode(), value, event_id, operation))
    return out
