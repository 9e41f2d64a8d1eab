"""The hub's CAL rules on the gestion partagée events an ERP sends by SOAP (issue 19).

The events the CAL rules read or govern (:data:`hub.stores.cal.guard.HISTORY_CODES`:
``DESIGCAL``, ``EXAMCAL``, ``PRIORITE``, ``DECISCAL``, ``ACCEPTDEM``, ``REFUSDEM``) go
through the hub's :class:`~hub.stores.gp.service.GPService` and its store, as on the REST routes,
so that a CAL decision or answer is checked against one history whatever route brought
it. Order for an ``ajouterEvenementDemande`` holding such events (:meth:`CalRoute.add`):

1. each such event of the request becomes a hub ``EvenementGP`` record: validated against
   the hub's catalogue (:meth:`GPService.prepare`, source ``soap-gateway``, ``auteur`` the
   authenticated actor), then checked with the CAL rules against the hub's store
   (:func:`hub.stores.cal.guard.check_cal_records`). A refusal is a SOAP Fault — code
   ``REGLE_CAL``, message starting with the rule id (``R441-3/...``); a record the
   catalogue refuses is a Fault with the validation code (``missing_field`` ...). Nothing
   is forwarded, recorded nor published;
2. the request is forwarded unchanged to the SNE;
3. only if the SNE accepted it (an answer without anomaly) are the records stored and
   published to ``hub.evenements`` by ``GPService.record_all``, which checks them again
   inside the storing transaction (stored but not acknowledged by Kafka: the ERP's answer
   is the SNE's all the same, and ``hub api``'s republisher publishes them later).
   ``idEvenement`` is the SNE's; ``eventId`` derives from the numéro and that id. If the
   SNE refuses (anomalies, Fault, unavailable),
   nothing is recorded and the ERP gets the SNE's answer.

Concurrency: one gateway process runs steps 1-3 one request at a time (an asyncio lock),
so two SOAP answers to one decision cannot both pass. A write by another process (the
REST API, another gateway) between steps 1 and 3 can still make the re-check of step 3
fail after the SNE accepted: the gateway then deletes the events it just added at the
SNE (``supprimerEvenementDemande`` with their ``idEvenement``) and answers the Fault of
step 1 (``REGLE_CAL``), or a ``Receiver`` Fault if the hub's database is down. A failed
deletion is logged (``ERROR``, numéro and ids): the SNE then holds an event the hub
refused, to be removed by hand.

``modifierEvenementDemande`` and ``supprimerEvenementDemande`` of such an event (its code
in the request, or its ``idEvenement`` recorded by the hub with such a code) get the Fault
``REGLE_CAL`` ``R441-3/historique``: the hub's store is append-only and the CAL rules
read it; a decision is corrected by a new decision.

Other event types (the SNE's own codes, which the hub's catalogue may not know) are
relayed and published as before, without the hub's store (:func:`gp_records`).
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from anyio import to_thread
from lxml import etree

from connectors.sne import documents
from connectors.sne.documents import q
from connectors.sne.gateway.events import caracteristiques, gp_events
from connectors.sne.soap import Request, SoapFault
from hub.core.errors import ForbiddenError, HubError, InputError, PublishError
from hub.domain.actors import Actor
from hub.domain.cal_rules import CALRuleError
from hub.domain.gp.validation import GPInput
from hub.stores.cal.guard import HISTORY_CODES, check_cal_records
from hub.stores.gp.service import GPService

log = logging.getLogger(__name__)
FAULT_CODE = "REGLE_CAL"
_NS = uuid.uuid5(uuid.NAMESPACE_URL, "urn:passerelle:sne-gateway:gp-cal")
#: calls the SNE with ``(operation, params)`` and returns the answer's parts
Forward = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


def fault(exc: CALRuleError) -> SoapFault:
    """The SOAP Fault of a CAL rule refusal (``REGLE_CAL``, the rule id first)."""
    return SoapFault(FAULT_CODE, exc.message)


def cal_events(flux: bytes) -> tuple[str, list[dict[str, Any]]]:
    """(numéro, the request's events whose type the CAL rules read or govern)."""
    num, _, events = gp_events(flux)
    return num, [ev for ev in events if (ev.get("codeTypeEvenement") or "") in HISTORY_CODES]


def _day(ev: dict[str, Any]) -> date:
    try:
        return date.fromisoformat(str(ev.get("dateSurvenance") or ""))
    except ValueError:
        raise InputError(
            "evenement/dateSurvenance is required (ISO date)", code="invalid_gp_event"
        ) from None


def _input(num: str, ev: dict[str, Any], event_id: str) -> GPInput:
    return GPInput(
        num_unique=num,
        code=str(ev.get("codeTypeEvenement")),
        date_survenance=_day(ev),
        caracteristiques=caracteristiques(ev),
        commentaire=ev.get("commentaire") or None,
        event_id=event_id,
    )


def _pending_id(flux: bytes, i: int) -> str:
    return str(uuid.uuid5(_NS, f"pending|{hashlib.sha256(flux).hexdigest()}|{i}"))


def _recorded_id(num: str, ident: str, flux: bytes, i: int) -> str:
    seed = f"{num}|{ident}|AJO" if ident else f"{num}|{hashlib.sha256(flux).hexdigest()}|{i}"
    return str(uuid.uuid5(_NS, seed))


def deletion(flux: bytes, idents: list[str]) -> bytes:
    """The ``supprimerEvenementDemande`` document removing ``idents`` from the demand the
    ``ajouterEvenementDemande`` document ``flux`` names (same entete and operation)."""
    root = copy.deepcopy(documents.load(flux, "evenement", validate=False))
    for el in list(root):
        if etree.QName(el).localname not in ("entete", "operation"):
            root.remove(el)
    kind = root.find(f"{q('entete')}/{q('typeFichier')}")
    if kind is not None:
        kind.text = "SUP"
    root.append(documents.element("listeEvenements", [{"idEvenement": i} for i in idents]))
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


class CalRoute:
    """Applies the CAL rules to a gateway request before and after the SNE (module doc)."""

    def __init__(self, gp: GPService) -> None:
        self.gp = gp
        self._lock = asyncio.Lock()

    def concerns(self, req: Request) -> bool:
        """Whether ``req`` is a GP write naming an event the CAL rules read or govern."""
        flux = req.params.get("fluxXml")
        if not isinstance(flux, bytes) or req.operation not in (
            "ajouterEvenementDemande",
            "modifierEvenementDemande",
            "supprimerEvenementDemande",
        ):
            return False
        num, found = cal_events(flux)
        if found:
            return True
        if req.operation == "ajouterEvenementDemande":
            return False
        return bool(self._stored_cal_ids(num) & _ids(flux))

    def _stored_cal_ids(self, num: str) -> set[str]:
        return {
            str(e.get("idEvenement"))
            for e in self.gp.store.timeline(num, codes=tuple(sorted(HISTORY_CODES)))
            if e.get("idEvenement") is not None
        }

    def _prepare(self, auteur: str, flux: bytes) -> tuple[str, list[dict[str, Any]]]:
        num, events = cal_events(flux)
        records = [
            self.gp.prepare(_input(num, ev, _pending_id(flux, i)), auteur, source="soap-gateway")
            for i, ev in enumerate(events)
        ]
        check_cal_records(records, self.gp.store.timeline, self.gp.store.decision_events)
        return num, records

    async def add(self, author: Actor, req: Request, forward: Forward) -> dict[str, Any]:
        """Check, forward, record (module doc); the SNE's answer parts, or a SoapFault
        (``ACCES`` for an answer by another actor than the decision's)."""
        flux: bytes = req.params["fluxXml"]
        async with self._lock:
            try:
                num, records = await to_thread.run_sync(self._prepare, author.id, flux)
            except CALRuleError as exc:
                raise fault(exc) from None
            except ForbiddenError as exc:
                raise SoapFault("ACCES", exc.message, status=403) from None
            parts = await forward(req.operation, req.params)
            answer = parts.get("return")
            if not isinstance(answer, bytes) or documents.anomalies(
                documents.load(answer, "evenement", validate=False)
            ):
                return parts  # the SNE refused: nothing recorded
            _, _, answered = gp_events(answer)
            idents = [
                str(ev.get("idEvenement") or "")
                for ev in answered
                if (ev.get("codeTypeEvenement") or "") in HISTORY_CODES
            ]
            final = []
            for i, record in enumerate(records):
                ident = idents[i] if i < len(idents) else ""
                final.append(
                    {
                        **record,
                        "eventId": _recorded_id(num, ident, flux, i),
                        "idEvenement": int(ident) if ident.isdigit() else None,
                    }
                )
            try:
                await self.gp.record_all(final, author)
            except PublishError:
                # stored and owed to Kafka: hub api publishes it (logged by the publisher);
                # the SNE has acted, the ERP's answer stays the SNE's
                return parts
            except HubError as exc:  # CAL rule, conflict, database down
                await self._undo(forward, num, flux, [i for i in idents if i])
                if isinstance(exc, CALRuleError):
                    raise fault(exc) from None
                if isinstance(exc, ForbiddenError):
                    raise SoapFault("ACCES", exc.message, status=403) from None
                raise
            return parts

    async def _undo(self, forward: Forward, num: str, flux: bytes, idents: list[str]) -> None:
        for ident in idents:  # one event per request: what the SNE accepts
            try:
                parts = await forward(
                    "supprimerEvenementDemande", {"fluxXml": deletion(flux, [ident])}
                )
                answer = parts.get("return")
                if isinstance(answer, bytes) and not documents.anomalies(
                    documents.load(answer, "evenement", validate=False)
                ):
                    continue
                failure = "anomalies"
            except (HubError, SoapFault, OSError) as exc:
                failure = getattr(exc, "code", type(exc).__name__)
            log.error(
                "SOAP gateway: event %s of demand %s accepted by the SNE, refused by "
                "the hub at recording, and not deleted at the SNE (%s): delete it by "
                "hand",
                ident,
                num[:18],
                failure,
            )

    @staticmethod
    def refuse_change(req: Request) -> SoapFault:
        """The Fault of a modification or deletion of an event of the CAL history."""
        return fault(CALRuleError("R441-3/historique", req.operation))


def _ids(flux: bytes) -> set[str]:
    _, _, events = gp_events(flux)
    return {str(ev.get("idEvenement")) for ev in events if ev.get("idEvenement")}
