"""Client of the SNE web services (zeep + lxml), for the gateway, the poller and scripts.

Contracts:

* Every call has the operation timeout ``settings.sne.timeout_s``.
* Transport errors (connection refused/reset, timeout, HTTP error without a SOAP answer) are
  retried ``retries`` times with exponential backoff (``backoff_s`` × 2ⁿ, capped at
  ``backoff_max_s``, jittered by ×[0.8, 1.2]: :class:`hub.core.backoff.Backoff`),
  then raised as :class:`SneUnavailable` (``retriable``). Exception: a *read* timeout on
  ``getNumUnique`` / ``ajouterEvenementDemande`` is not retried — the SNE may have acted,
  and a blind retry could register the demand or the event twice.
* A SOAP Fault is a business answer: :class:`SneFault` (``SneUnknownDemande`` for
  ``NUMINCONNU``), never retried. An anomaly list is a result, not an error.
* A hostile or oversized answer is refused by the hardened parser (``InputError``).
* ``getNumUnique``'s attestation (``nomAttestation`` + the PDF, an MTOM/XOP attachment that
  zeep resolves, or inline base64) comes back as ``Answer.attestation``
  (:mod:`connectors.sne.attestations`), which the caller saves under its name.
* Every operation call (retries included) counts once in
  ``passerelle_connector_calls_total{connector="sne_soap"}`` with its duration: outcome
  ``ok``, ``anomalies`` (answered with an anomaly list), ``business_error`` (SOAP Fault),
  ``timeout`` / ``transport_error`` (after the retries; a non-XML or hostile answer too).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import requests
import zeep
import zeep.helpers
from lxml import etree
from zeep.exceptions import Fault, TransportError, XMLSyntaxError

from connectors.sne import attestations, documents
from connectors.sne.attestations import Attestation
from connectors.sne.config import SneTransport
from connectors.sne.documents import Anomaly, q
from connectors.sne.errors import SneFault, SneProtocolError, SneUnavailable, SneUnknownDemande
from connectors.sne.operations import DEMANDE, GP, RECHERCHE, SERVICES, WS_NS, service_of
from connectors.sne.server import WSDL_DIR
from hub.core.backoff import Backoff
from hub.core.errors import ConfigError, HubError, InputError
from hub.core.settings import SneSettings
from monitoring import recorder

log = logging.getLogger(__name__)
#: connector label of the SNE calls (the alert runbook and the dashboards name it)
CONNECTOR = "sne_soap"

#: the jitter of the SNE retries: ×[0.8, 1.2] around the exponential delay
SNE_JITTER = (0.8, 1.2)
#: search criteria in the XSD's order (t_demandeMulticritere)
CRITERIA = (
    "numUnique",
    "etatDemande",
    "dateDepotDebut",
    "dateDepotFin",
    "dateRenouvellementDebut",
    "dateRenouvellementFin",
    "dateRadiationDebut",
    "dateRadiationFin",
    "motifDemande",
    "motifRadiation",
    "communeSouhaitee",
    "communeAttribution",
    "estDelaiAnormalementLong",
    "estMultiplesAttributionsSousConditions",
    "association",
    "personneRecherchee",
    "piecesJustificatives",
)
NOT_REPLAYABLE = frozenset({"getNumUnique", "ajouterEvenementDemande"})


@dataclass
class Answer:
    """A business answer: the returned document, its anomalies, other response parts, and
    (``getNumUnique`` of a registration or renewal) the attestation."""

    document: bytes
    anomalies: list[Anomaly]
    extra: dict[str, Any] = field(default_factory=dict)
    attestation: Attestation | None = None

    @property
    def ok(self) -> bool:
        return not self.anomalies


class SneClient:
    """One client per process; thread-safe for calls (zeep services hold no call state).
    Every call raises :class:`ConfigError` when no SNE is configured (``sne.url`` empty)."""

    def __init__(
        self, cfg: SneSettings, *, mtom: bool | None = None, sleep: Any = time.sleep
    ) -> None:
        self.cfg, self._sleep = cfg, sleep
        self._backoff = Backoff(cfg.backoff_s, cfg.backoff_max_s, jitter=SNE_JITTER)
        transport = SneTransport(cfg, mtom=mtom)
        settings = zeep.Settings(
            strict=True,
            xml_huge_tree=False,
            forbid_dtd=True,
            forbid_entities=True,
            forbid_external=True,
        )
        self._services = {}
        for name in SERVICES:
            client = zeep.Client(  # type: ignore[no-untyped-call]
                str(WSDL_DIR / f"{name}.wsdl"), transport=transport, settings=settings
            )
            binding = f"{{{WS_NS}}}{name}SoapBinding"
            address = f"{cfg.url.rstrip('/')}/{name}"
            self._services[name] = client.create_service(  # type: ignore[no-untyped-call]
                binding, address
            )

    # raw call ---------------------------------------------------------------------------
    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        """Response parts of ``operation`` (bytes for documents), with the retry policy;
        counted as one connector call (see the module doc)."""
        return self._metered(operation, params)[0]

    def _metered(
        self, operation: str, params: dict[str, Any]
    ) -> tuple[dict[str, Any], etree._Element | InputError | None]:
        """The one place every operation passes through: the parts and the parsed business
        document (None if the answer has none, the parser's error if it is unusable: the
        raw :meth:`call` relays it as it is, :meth:`_answer` raises it), the call counted
        with its outcome."""
        if not self.cfg.configured:
            raise ConfigError("no SNE configured: set HUB_SNE__URL to the SNE (or simulator)")
        with recorder.connector_call(CONNECTOR, operation) as result:
            parts = self._exchange(operation, params, result)
            doc = parts.get("return")
            if not isinstance(doc, bytes):
                return parts, None
            try:
                root = documents.load(doc, "demande", validate=False)  # kind unused unvalidated
            except InputError as exc:
                result["outcome"] = "transport_error"  # unusable answer: not a business one
                return parts, exc
            if documents.anomalies(root):
                result["outcome"] = "anomalies"
            return parts, root

    def _exchange(
        self, operation: str, params: dict[str, Any], result: dict[str, str]
    ) -> dict[str, Any]:
        method = getattr(self._services[service_of(operation)], operation)
        attempt = 0
        while True:
            try:
                result = method(**params)
                break
            except Fault as fault:
                raise _fault_error(fault) from None
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,  # a connection cut mid-body
                TransportError,
            ) as exc:
                final = attempt >= self.cfg.retries or (
                    operation in NOT_REPLAYABLE and isinstance(exc, requests.ReadTimeout)
                )
                if isinstance(exc, TransportError) and exc.status_code and exc.status_code < 500:
                    final = True  # 4xx without SOAP answer: the request itself is wrong
                log.warning(
                    "SNE %s: transport error (%s), attempt %d",
                    operation,
                    type(exc).__name__,
                    attempt + 1,
                )
                if final:
                    result["outcome"] = (
                        "timeout" if isinstance(exc, requests.Timeout) else "transport_error"
                    )
                    raise SneUnavailable(
                        f"SNE {operation}: {type(exc).__name__} after {attempt + 1} attempt(s)"
                    ) from None
                self._sleep(self._backoff.delay(attempt))
                attempt += 1
            except XMLSyntaxError:
                result["outcome"] = "transport_error"  # e.g. an HTML maintenance page
                raise SneProtocolError(f"SNE {operation}: answer is not XML") from None
            except HubError:
                raise
            except Exception as exc:
                # what a hostile answer makes a third-party parser raise: an empty Body
                # (zeep's IndexError), a multipart or gzip body that is not one (requests,
                # requests_toolbelt). An answer the hub cannot read, for every caller
                # (the gateway, the poller, numbering), never a crash
                result["outcome"] = "transport_error"
                log.debug("SNE %s: answer refused by a parser", operation, exc_info=True)
                raise SneProtocolError(
                    f"SNE {operation}: answer the hub cannot read ({type(exc).__name__})"
                ) from None
        if isinstance(result, bytes):
            return {"return": result}
        return dict(zeep.helpers.serialize_object(result, dict) or {})  # type: ignore[no-untyped-call]

    def _answer(self, operation: str, kind: str, **params: Any) -> Answer:
        parts, root = self._metered(operation, params)
        if isinstance(root, InputError):
            raise root
        doc = parts.pop("return", None)
        if not isinstance(doc, bytes) or root is None:
            raise SneProtocolError(f"SNE {operation}: no business document in the answer")
        return Answer(doc, documents.anomalies(root), parts)

    # demands ----------------------------------------------------------------------------
    def register_demande(self, xml: bytes) -> tuple[str | None, Answer]:
        """``getNumUnique``: (numéro unique or None when refused, the answer, with its
        ``attestation`` when the SNE sent one)."""
        answer = self._answer("getNumUnique", "demande", fluxXml=xml)
        if not answer.ok:
            return None, answer
        root = documents.load(answer.document, "demande", validate=False)
        num = root.findtext(f"{q('demande')}/{q('demandeLogement')}/{q('numUnique')}") or ""
        answer.attestation = attestations.of_parts(answer.extra, num.strip() or None)
        return num.strip() or None, answer

    def get_demande(self, num_unique: str) -> bytes:
        """``getDemandeLogement``: the demand's InterfaceNuu document."""
        return self._answer(
            "getDemandeLogement", "demande", codeGuichet=self.cfg.guichet, numUnique=num_unique
        ).document

    def doublons(self, xml: bytes) -> list[dict[str, Any]]:
        """``getDoublons``: the SNE's active demands of the same applicant as the demand
        ``xml`` (each a ``doublon`` of Doublon_V0200 as a dict: ``numUnique``,
        ``demandeur``, ``listeCotitulaire``, ``listeLocalisationSouhaitee``)."""
        answer = self._answer("getDoublons", "demande", fluxXml=xml)
        if not answer.ok:
            raise _refused(answer)
        return list(_demande_logement(answer.document).get("listeDoublons") or [])

    def declare_dalo(self, xml: bytes) -> bytes:
        """``getDeclarationNouveauDalo``: records ``xml``'s ``informationDalo`` on the
        demand it names; the demand as the SNE now holds it."""
        answer = self._answer("getDeclarationNouveauDalo", "demande", fluxXml=xml)
        if not answer.ok:
            raise _refused(answer)
        return answer.document

    def radiations_since(self, since: date) -> list[str]:
        """``getDemandesRadieesDepuisLe``: numéros radiated on or after ``since``."""
        return self._numbers("getDemandesRadieesDepuisLe", since)

    def new_dalo_since(self, since: date) -> list[str]:
        """``getNouveauxDaloDepuisLe``: numéros recognised DALO on or after ``since``."""
        return self._numbers("getNouveauxDaloDepuisLe", since)

    def _numbers(self, operation: str, since: date) -> list[str]:
        answer = self._answer(
            operation, "recherche", codeGuichet=self.cfg.guichet, date=since.isoformat()
        )
        return _listed(answer)

    def search(self, **criteria: Any) -> list[str]:
        """``rechercheDemandeMulticritere`` with ``criteria`` named as :data:`CRITERIA`.
        Anomalies raise :class:`SneFault` (a search the SNE refuses has no result)."""
        unknown = set(criteria) - set(CRITERIA)
        if unknown:
            raise InputError(f"unknown search criteria: {', '.join(sorted(unknown))}")
        ordered = {k: criteria[k] for k in CRITERIA if k in criteria}
        doc = documents.document(
            "RECH", self.cfg.guichet, {"operation": {"demandeMulticritere": ordered}}
        )
        return _listed(self._answer("rechercheDemandeMulticritere", "recherche", fluxXml=doc))

    # gestion partagée -------------------------------------------------------------------
    def event_types(self, territoire: str | None = None) -> list[dict[str, Any]]:
        """National event types, or the territorial ones of ``territoire``."""
        op = "listerTypesEvenementsTerritoriaux" if territoire else "listerTypesEvenementsNationaux"
        doc = documents.document(
            "LTE",
            self.cfg.guichet,
            {"operation": {"codeTerritoire": territoire} if territoire else None},
        )
        return _items(self._answer(op, "typeEvenement", fluxXml=doc), "listeTypesEvenements")

    def events(self, num_unique: str) -> list[dict[str, Any]]:
        return self._gp("listerEvenementsDemande", "LST", num_unique, None)

    def add_event(self, num_unique: str, event: dict[str, Any]) -> dict[str, Any]:
        """The recorded event (with its ``idEvenement``); ``event`` keys in XSD order."""
        return self._gp("ajouterEvenementDemande", "AJO", num_unique, event)[0]

    def modify_event(self, num_unique: str, event: dict[str, Any]) -> dict[str, Any]:
        return self._gp("modifierEvenementDemande", "MOD", num_unique, event)[0]

    def delete_event(self, num_unique: str, id_evenement: int) -> dict[str, Any]:
        return self._gp(
            "supprimerEvenementDemande", "SUP", num_unique, {"idEvenement": id_evenement}
        )[0]

    def _gp(
        self, op: str, typ: str, num: str, event: dict[str, Any] | None
    ) -> list[dict[str, Any]]:
        doc = documents.document(
            typ,
            self.cfg.guichet,
            {"operation": {"numUnique": num}, "listeEvenements": [event] if event else None},
        )
        return _items(self._answer(op, "evenement", fluxXml=doc), "listeEvenements")


def _refused(answer: Answer) -> SneFault:
    first = answer.anomalies[0]
    return SneFault(
        f"SNE anomalies: {'; '.join(f'{a.code}: {a.message}' for a in answer.anomalies)}",
        code=first.code,
    )


def _demande_logement(document: bytes) -> dict[str, Any]:
    from connectors.interfacenuu.mapping import parse_demande_xml

    event = parse_demande_xml(document, validate=False, source="sne")
    return dict(event["demande"]["demandeLogement"])


def _listed(answer: Answer) -> list[str]:
    if not answer.ok:
        raise _refused(answer)
    root = documents.load(answer.document, "recherche", validate=False)
    return [
        (el.text or "").strip() for el in root.iterfind(f"{q('listeDemandes')}/{q('numUnique')}")
    ]


def _items(answer: Answer, wrapper: str) -> list[dict[str, Any]]:
    if not answer.ok:
        raise _refused(answer)
    el = documents.load(answer.document, "evenement", validate=False).find(q(wrapper))
    return list(documents.to_dict(el)) if el is not None else []


def _fault_error(fault: Fault) -> SneFault | SneUnknownDemande:
    code, message = "sne_fault", str(fault.message or "SOAP Fault")
    if fault.detail is not None:
        exc = fault.detail.find(f"{{{WS_NS}}}demandeLogementException")
        if exc is not None:
            code = (exc.findtext("code") or code).strip()
            message = (exc.findtext("message") or message).strip()
    if code == "NUMINCONNU":
        return SneUnknownDemande(f"SNE: {message}")
    return SneFault(f"SNE fault {code}: {message}", code=code)


__all__ = ["DEMANDE", "GP", "RECHERCHE", "Answer", "SneClient"]
