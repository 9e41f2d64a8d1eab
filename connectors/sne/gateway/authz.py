"""Who calls the SOAP gateway, and what it may touch (issue 7.5).

Authentication: the REST API's keys (:class:`hub.stores.access.keys.KeyStore`), presented either as

* the HTTP header ``Authorization: Bearer hk_<id>.<secret>`` (zeep: a ``requests.Session``
  with that header, passed through ``zeep.Transport(session=...)``), or
* a WS-Security ``UsernameToken`` in the SOAP header, ``Username`` = the actor id,
  ``Password`` (``#PasswordText``) = the key (zeep: ``wsse=UsernameToken(actor, key)``).
  ``PasswordDigest`` is not accepted: keys are stored hashed, a digest cannot be checked.

No credentials, a bad key, or a UsernameToken whose user is not the key's actor →
Fault ``AUTHENTIFICATION`` (HTTP 401); two ``Authorization`` headers → the same Fault
with HTTP 400, none of them used (as the REST API). Nothing is forwarded to the SNE.

Authorization, per object, with the REST API's notion of holding
(:class:`hub.stores.access.holders.Holders`: the demands the actor received on its feed or created):

* an operation on one demand — ``getDemandeLogement``, ``getDeclarationNouveauDalo``,
  ``getNumUnique`` other than a creation (MOD, REN, RAD ...), ``getDoublons`` of a
  numbered demand, ``listerEvenementsDemande``, ``ajouter/modifier/supprimerEvenement
  Demande`` — needs the actor to hold that demand, else Fault ``ACCES`` (HTTP 403), the same
  whether the demand exists or not, and nothing is forwarded;
* writing a demand — ``getNumUnique`` whatever its operation (CRE, CRS, MOD, REN, RAD,
  SUP), ``getDeclarationNouveauDalo`` — needs the write right of a registering office
  (:func:`hub.domain.rights.require_demand_writer`), checked first, else Fault
  ``ACCES`` (HTTP 403) naming the rule; nothing is forwarded;
* a creation (``getNumUnique`` CRE/CRS) by such an actor needs no holding; the numéro the
  SNE assigns becomes held by the caller;
* an ``ajouter``/``modifierEvenementDemande`` naming a CAL act (``ORDREJCAL``,
  ``EXAMCAL``, ``DECISCAL``) needs a ``bailleur`` (:func:`hub.domain.rights.require_cal_author`),
  else Fault ``ACCES``, whatever route records it afterwards;
* list answers (``getDemandesRadieesDepuisLe``, ``getNouveauxDaloDepuisLe``,
  ``rechercheDemandeMulticritere``: ``listeDemandes``; ``getDoublons``: ``listeDoublons``)
  are cut to the demands the caller holds;
* the event-type catalogues (``listerTypesEvenements*``) concern no demand: authenticated
  callers only.

``codeGuichet`` is not checked against the caller: actors carry no guichet code
(:class:`hub.domain.actors.Actor`); the per-numéro check above is what protects the demands.
"""

from __future__ import annotations

from typing import Any

from anyio import to_thread
from lxml import etree
from sqlalchemy import Engine

from connectors.sne import documents
from connectors.sne.documents import q
from connectors.sne.gateway.events import gp_events
from connectors.sne.operations import DOCUMENT
from connectors.sne.soap import Request, SoapFault
from hub.core import xmlsafe
from hub.core.db import make_engine, migrate
from hub.core.errors import AuthenticationError, ForbiddenError
from hub.core.kafka.feed_pool import FeedPages
from hub.core.settings import HubSettings
from hub.domain.actors import Actor
from hub.domain.rights import require_cal_author, require_demand_writer
from hub.stores.access.holders import Holders
from hub.stores.access.keys import KeyStore

WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
PASSWORD_TEXT = (
    "http://docs.oasis-open.org/wss/2004/01/"
    "oasis-200401-wss-username-token-profile-1.0#PasswordText"
)
_CREATIONS = ("CRE", "CRS")
#: operations that write the demand itself: a registering office's (module doc)
_DEMAND_WRITES = {"getNumUnique", "getDeclarationNouveauDalo"}
#: GP operations whose events carry their type: a CAL act needs a bailleur
_GP_WRITES = {"ajouterEvenementDemande", "modifierEvenementDemande"}
#: operations whose request names one demand in its business document
_ONE_DEMAND_DOC = {
    "getDeclarationNouveauDalo",
    "listerEvenementsDemande",
    "ajouterEvenementDemande",
    "modifierEvenementDemande",
    "supprimerEvenementDemande",
}
#: operations whose answer lists demands (wrapper, item): cut to the caller's
_LISTS = {
    "getDemandesRadieesDepuisLe": ("listeDemandes", "numUnique"),
    "getNouveauxDaloDepuisLe": ("listeDemandes", "numUnique"),
    "rechercheDemandeMulticritere": ("listeDemandes", "numUnique"),
    "getDoublons": ("listeDoublons", "doublon"),
}


def denied(num: str) -> SoapFault:
    return SoapFault("ACCES", f"this actor does not hold demand {num[:18]}", status=403)


def username_token(header: etree._Element | None) -> tuple[str, str] | None:
    """(Username, Password) of a WS-Security UsernameToken in the SOAP header, if any."""
    token = None if header is None else header.find(f"{{{WSSE}}}Security/{{{WSSE}}}UsernameToken")
    if token is None:
        return None
    password = token.find(f"{{{WSSE}}}Password")
    if password is not None and password.get("Type", PASSWORD_TEXT) != PASSWORD_TEXT:
        raise SoapFault(
            "AUTHENTIFICATION", "only #PasswordText UsernameTokens are accepted", status=401
        )
    return (
        (token.findtext(f"{{{WSSE}}}Username") or "").strip(),
        (password.text or "").strip() if password is not None else "",
    )


class SoapAuthorizer:
    """Authenticates a gateway request and checks it per demand (module docstring)."""

    def __init__(self, keys: KeyStore, holders: Holders) -> None:
        self.keys, self.holders = keys, holders

    @classmethod
    def on_database(cls, settings: HubSettings, engine: Engine | None = None) -> SoapAuthorizer:
        """On the API's tables in ``engine`` (default: ``settings.database_url``, migrated)."""
        if engine is None:
            settings.private_dir(settings.home)
            engine = make_engine(settings.database_url)
            migrate(engine)
        return cls(KeyStore(engine), Holders(engine, settings, FeedPages(settings)))

    async def authenticate(self, req: Request) -> Actor:
        """The caller's actor, from its Bearer header or its UsernameToken."""
        header = req.http_headers.get("authorization", "")
        if "," in header:  # two headers, combined by the server (an API key has no comma)
            raise SoapFault(
                "AUTHENTIFICATION", "more than one Authorization header: send one", status=400
            )
        scheme, _, key = header.strip().partition(" ")
        token = username_token(req.header)
        user = None
        if scheme.lower() != "bearer" or not key.strip():
            if token is None:
                raise SoapFault(
                    "AUTHENTIFICATION",
                    "no credentials: send Authorization: "
                    "Bearer hk_... or a WS-Security UsernameToken",
                    status=401,
                )
            user, key = token
        try:
            actor: Actor = await to_thread.run_sync(self.keys.authenticate, key.strip())
        except AuthenticationError as exc:
            raise SoapFault("AUTHENTIFICATION", exc.message, status=401) from None
        if user is not None and user != actor.id:
            raise SoapFault(
                "AUTHENTIFICATION", "UsernameToken user is not the key's actor", status=401
            )
        return actor

    async def _require(self, actor: Actor, num: str) -> None:
        if not num or not await self.holders.holds(actor.id, num):
            raise denied(num)

    async def check(self, actor: Actor, req: Request, event: dict[str, Any] | None) -> None:
        """Before forwarding: :class:`SoapFault` ``ACCES`` unless ``actor`` may do ``req``.
        ``event`` is the parsed demand of a ``getNumUnique`` (None otherwise)."""
        op, flux = req.operation, req.params.get("fluxXml")
        try:
            if op in _DEMAND_WRITES:
                require_demand_writer(actor)
            elif op in _GP_WRITES and isinstance(flux, bytes):
                _, _, events = gp_events(flux)
                require_cal_author(actor, (str(e.get("codeTypeEvenement") or "") for e in events))
        except ForbiddenError as exc:
            raise SoapFault("ACCES", exc.message, status=403) from None
        if op == "getDemandeLogement":
            await self._require(actor, str(req.params.get("numUnique") or "").strip())
        elif op == "getNumUnique" and event is not None:
            if event["operation"] not in _CREATIONS:
                await self._require(actor, event["numUnique"] or "")
        elif op == "getDoublons" and isinstance(flux, bytes):
            num = _doc_num(flux, "demande")
            if num:
                await self._require(actor, num)
        elif op in _ONE_DEMAND_DOC and isinstance(flux, bytes):
            await self._require(actor, _doc_num(flux, DOCUMENT[op]))

    async def answer(
        self, actor: Actor, req: Request, event: dict[str, Any] | None, parts: dict[str, Any]
    ) -> dict[str, Any]:
        """After the SNE answered: the caller holds the demand it created; list answers
        are cut to the demands it holds."""
        answer = parts.get("return")
        if not isinstance(answer, bytes):
            return parts
        if event is not None and event["operation"] in _CREATIONS:
            root = documents.load(answer, "demande", validate=False)
            num = "" if documents.anomalies(root) else _doc_num(answer, "demande")
            if num:
                await to_thread.run_sync(self.holders.add, actor.id, num)
        wrapper = _LISTS.get(req.operation)
        if wrapper is None:
            return parts
        await self.holders.sync(actor.id)
        root = xmlsafe.parse(answer)
        for lst in list(root.iter(q(wrapper[0]))):
            for item in list(lst):
                num = (
                    item.text if wrapper[1] == "numUnique" else item.findtext(q("numUnique"))
                ) or ""
                if not await self.holders.holds(actor.id, num.strip()):
                    lst.remove(item)
            if len(lst) == 0:
                parent = lst.getparent()
                if parent is not None:
                    parent.remove(lst)  # the XSD wants at least one item in a list
        cut = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
        return {**parts, "return": cut}


def _doc_num(flux: bytes, kind: str) -> str:
    """The numéro unique a business document names (``demande/demandeLogement/numUnique``
    of a demand, ``operation/numUnique`` of a GP document); "" when absent."""
    root = documents.load(flux, kind, validate=False)
    path = (
        f"{q('demande')}/{q('demandeLogement')}/{q('numUnique')}"
        if kind == "demande"
        else f"{q('operation')}/{q('numUnique')}"
    )
    return (root.findtext(path) or "").strip()
