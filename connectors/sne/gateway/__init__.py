"""The hub's SOAP gateway: the SNE's services, served by the hub (``hub soap-gateway``).

An ERP built for the SNE points at ``http://<hub>/sne/<Service>`` instead of the SNE:

1. the request is decoded (MTOM or inline) and its business document checked against the
   XSD — an invalid one gets a SOAP Fault (``Sender``) whose code says why (``XSD``,
   ``XML``, ``HOSTILE``, ``VERSION``, ``BASE64``, ``TAILLE`` ...), nothing is forwarded;
2. it is forwarded unchanged to the configured SNE (or simulator) by :class:`SneClient`;
   SNE faults are relayed with their code, SNE unavailability is a ``Receiver`` fault, HTTP
   503, code ``sne_unavailable`` (the ERP may retry later);
3. when the SNE accepted a demand (``getNumUnique`` without anomaly) the demand event
   (the request's operation and ``modifie`` flags, the SNE's numéro, and the caller's
   access profile: the worker keeps, from the stored snapshot, what that profile does not
   see — ``hub.domain.profiles.restore_withheld``) is owed to
   ``hub.demandes``; an accepted GP event (add/modify/delete) is owed to ``hub.evenements``
   as ``EvenementGP`` (kept, then published: below); the SNE's answer goes back to the
   ERP as is.

Gestion partagée events the CAL rules read or govern (designation, examination,
priority, CAL decision, answer) take another path (:mod:`connectors.sne.gateway.cal`):
checked with the hub's CAL rules against the hub's GP store *before* step 2 (a refusal is
the Fault ``REGLE_CAL``, nothing forwarded nor published), then stored in that store and
published through :class:`hub.stores.gp.service.GPService` once the SNE accepted them — one
history whatever the route (``/cal``, REST, SOAP). Modifying or deleting them by SOAP is
refused (``REGLE_CAL`` ``R441-3/historique``).

What the SNE accepted is owed to Kafka before the ERP gets its answer
(:mod:`connectors.sne.gateway.owed`): the records are written to the hub's database
(``sne_gateway_unpublished``) and then published in store order per demand; those Kafka
does not acknowledge stay owed and are published by the gateway itself, at its start and
every ``sne.gateway_republish_interval_s``, keeping each demand's order. The ERP's answer
is the SNE's whatever Kafka does (the SNE has acted; refusing now would make the ERP
register twice). Only when the database cannot be written either is a record published
without being kept, and lost if Kafka fails too (logged at ``ERROR`` with the numéro).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from anyio import to_thread
from sqlalchemy import Engine
from starlette.applications import Starlette

from connectors.interfacenuu.mapping import parse_demande_xml
from connectors.sne import documents
from connectors.sne.client import SneClient
from connectors.sne.errors import SneFault
from connectors.sne.gateway.authz import SoapAuthorizer
from connectors.sne.gateway.cal import CalRoute
from connectors.sne.gateway.events import accepted_records
from connectors.sne.gateway.owed import OwedRecords
from connectors.sne.gateway.owed_store import OwedStore, Record
from connectors.sne.operations import DOCUMENT
from connectors.sne.server import public_base, soap_routes
from connectors.sne.soap import Request, SoapFault
from hub.core import topics
from hub.core.db import make_engine, migrate
from hub.core.errors import HubError, InputError, TransientError
from hub.core.kafka.publisher import KafkaPublisher
from hub.core.settings import HubSettings
from hub.stores.gp.service import GPService
from hub.stores.gp.store import GPStore

log = logging.getLogger(__name__)
PUBLISH_TIMEOUT_S = 15.0
#: what becomes of a record the SNE accepted that neither the database nor Kafka took
CATCH_UP = {
    topics.DEMANDES: "hub sne-poll publishes the demand at its next pass if it reads it",
    topics.EVENEMENTS: "no poller reads the SNE's GP events: not published unless sent again",
}


class Gateway:
    def __init__(
        self, settings: HubSettings, client: SneClient | None = None, engine: Engine | None = None
    ) -> None:
        self.settings = settings
        self.client = client or SneClient(settings.sne)
        #: the hub's request-driven producer (hub.core.kafka.publisher)
        self.publisher = KafkaPublisher(settings, timeout_s=PUBLISH_TIMEOUT_S)
        if engine is None:  # the hub's database, as the REST API's (migrated now)
            settings.private_dir(settings.home)
            engine = make_engine(settings.database_url)
            migrate(engine)
        # callers authenticate with the REST API's keys; checks per demand (authz.py)
        self.authz = SoapAuthorizer.on_database(settings, engine)
        # the CAL history: the REST API's GP store, published through this producer
        self.cal = CalRoute(GPService(GPStore(engine), _LoggedPublisher(self)))
        # the records of what the SNE accepted, owed to Kafka until acknowledged (owed.py)
        self.owed = OwedRecords(OwedStore(engine), _Current(self))
        self._republisher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """The hub's topics created, the producer started, and the republisher of owed
        records running (the app's startup)."""
        await self.publisher.start()
        interval = self.settings.sne.gateway_republish_interval_s
        self._republisher = asyncio.create_task(self.owed.run(interval))

    async def stop(self) -> None:
        if self._republisher is not None:
            self._republisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._republisher
            self._republisher = None
        await self.publisher.close()
        if self.authz.holders.pages is not None:
            await self.authz.holders.pages.close()

    async def handle(self, req: Request) -> dict[str, Any]:
        actor = await self.authz.authenticate(req)
        flux = req.params.get("fluxXml")
        event = None
        if flux is not None:
            try:
                documents.load(flux, DOCUMENT[req.operation])
                if req.operation == "getNumUnique":
                    event = parse_demande_xml(flux, validate=False, source="soap-gateway")
                    event["profile"] = actor.profile  # its write keeps what it does not see
            except InputError as exc:
                raise SoapFault(exc.code, exc.message) from None
        await self.authz.check(actor, req, event)
        if await to_thread.run_sync(self.cal.concerns, req):
            if req.operation != "ajouterEvenementDemande":
                raise self.cal.refuse_change(req)
            parts = await self.cal.add(actor, req, self._forward)
        else:
            parts = await self._forward(req.operation, req.params)
        answer = parts.get("return")
        if isinstance(answer, bytes):
            await self._publish(req, event, answer)
        return await self.authz.answer(actor, req, event, parts)

    async def _forward(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        try:
            parts: dict[str, Any] = await to_thread.run_sync(
                lambda: self.client.call(operation, **params)
            )
        except SneFault as fault:
            raise SoapFault(fault.code, fault.message) from None
        return parts

    async def _publish(self, req: Request, event: dict[str, Any] | None, answer: bytes) -> None:
        """Keep and publish what the SNE's ``answer`` owes Kafka (module doc). Never raises:
        the ERP gets the SNE's answer whatever happens here."""
        try:
            records = accepted_records(req.operation, event, req.params.get("fluxXml"), answer)
        except Exception as exc:  # an SNE answer the hub cannot make a record of
            log.error("SOAP gateway: %s accepted by the SNE, but its answer makes no record "
                      "(%s): nothing published", req.operation, _code(exc))  # fmt: skip
            return
        try:
            await self.owed.publish(records)
        except HubError as exc:  # the database is down: the records cannot be kept
            await self._publish_unkept(records, exc)

    async def _publish_unkept(self, records: list[Record], cause: HubError) -> None:
        """The records published as before the owed queue, when the database cannot keep
        them: a Kafka failure now loses them (logged with the numéro)."""
        for r in records:
            try:
                await self._send(r.topic, r.key, r.value)
            except Exception as exc:  # Kafka client errors have no common base worth naming
                log.error(
                    "SOAP gateway: %s of %s accepted by the SNE but neither kept (%s) nor "
                    "published (%s); %s",
                    r.operation, r.num_unique, cause.code, _code(exc), CATCH_UP[r.topic],
                )  # fmt: skip

    async def _send(self, topic: str, key: bytes, value: bytes) -> None:
        await self.publisher.publish(topic, key, value)


def _code(exc: Exception) -> str:
    return exc.code if isinstance(exc, HubError) else type(exc).__name__


class _Current:
    """The owed records' publisher: the gateway's producer of the moment (tests and
    operators' probes may replace ``gateway.publisher``)."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def publish(self, topic: str, key: bytes, value: bytes) -> None:
        await self.gateway._send(topic, key, value)


class _LoggedPublisher:
    """``GPService``'s publisher on the gateway's producer. A failed publication is logged
    and raised as :class:`TransientError`, so that the store keeps the event owed to Kafka
    (``hub api`` publishes it later); :meth:`CalRoute.add` does not change the ERP's answer
    for it (the SNE has acted and the event is stored)."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def publish(self, topic: str, key: bytes, value: bytes) -> None:
        try:
            await self.gateway._send(topic, key, value)
        except Exception as exc:  # Kafka client errors have no common base worth naming
            log.error(
                "SOAP gateway: a CAL history event of %s stored but not published (%s); "
                "hub api publishes it",
                key.decode(errors="replace")[:18],
                type(exc).__name__,
            )
            raise TransientError(f"publish to {topic} failed: {type(exc).__name__}") from None


def create_app(
    settings: HubSettings,
    client: SneClient | None = None,
    engine: Engine | None = None,
    *,
    public_url: str | None = None,
) -> Starlette:
    """The gateway app: services under ``/sne/<Service>``, ``?wsdl`` served with the
    address ``<public_url>/<Service>`` (default: settings ``sne.gateway_public_url``, else
    derived from ``sne.gateway_host``/``gateway_port``; never from the request). Callers
    authenticate with API keys, stored in ``engine`` (default: the hub's database)."""
    gateway = Gateway(settings, client, engine)
    sne = settings.sne
    base = public_url or public_base(sne.gateway_public_url, sne.gateway_host, sne.gateway_port)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await gateway.start()
        try:
            yield
        finally:
            await gateway.stop()

    app = Starlette(routes=soap_routes(gateway.handle, base), lifespan=lifespan)
    app.state.gateway = gateway  # its publisher and services, for operators' probes and tests
    return app
