"""SOAP push through the real worker and broker to a small real SOAP 1.2 receiver on
127.0.0.1: down at first (nothing lost), then a 503 (retried), then every record once in
feed order as SOAP 1.2 envelopes whose body is the InterfaceNuu document; a SOAP Fault is
recorded on the outbox row and not retried; deliveries are audited (channel soap), the
refused record too (outcome ``refused``). Every kind of Fault: test_push_soap_faults.py."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.ingress.publishing import prepare_event, publish_events
from connectors.outbound.soap import SoapDelivery
from connectors.outbound.soap_envelope import NS, SOAP12
from connectors.outbound.soap_fault import read_fault
from hub.core import xmlsafe
from hub.core.db import make_engine, migrate
from hub.core.settings import ApiSettings, HubSettings
from hub.domain.actors import Actor, ActorFilters, Delivery
from hub.stores.audit.store import AuditStore
from hub.stores.delivery.outbox import Outbox
from hub.stores.delivery.tables import webhook_outbox
from tests.integration.conftest import collect_feed
from tests.support.demandes import demande_event, new_num_unique
from tests.support.sne import free_port

pytestmark = pytest.mark.kafka
NUU = "http://nuu.application.i2/"
#: communes no other test uses
HERE, ELSEWHERE = "76208", "76209"
ACK = (f'<env:Envelope xmlns:env="{SOAP12}"><env:Body><ok xmlns="urn:erp"/></env:Body>'
       "</env:Envelope>").encode()


def _fault(reason: str) -> bytes:
    return (f'<env:Envelope xmlns:env="{SOAP12}" xmlns:e="urn:erp"><env:Body><env:Fault>'
            "<env:Code><env:Value>env:Sender</env:Value><env:Subcode><env:Value>e:DEMREFUS"
            f'</env:Value></env:Subcode></env:Code><env:Reason><env:Text xml:lang="fr">{reason}'
            "</env:Text></env:Reason></env:Fault></env:Body></env:Envelope>").encode()


class Erp:
    """The ERP's endpoint: refuses ``refused`` demands with a Fault, 503 for ``busy`` calls."""

    def __init__(self, refused: set[str], busy: int) -> None:
        self.refused, self.busy = refused, busy
        self.got: list[tuple[str, dict[str, str], Any]] = []

        async def endpoint(request: Request) -> Response:
            body = await request.body()
            if self.busy > 0:
                self.busy -= 1
                return Response("busy", status_code=503)
            root = xmlsafe.parse(body)
            diffusion = root.find(f"{{{SOAP12}}}Header/{{{NS}}}diffusion")
            assert diffusion is not None
            self.got.append((request.headers["content-type"], dict(diffusion.attrib), root))
            ctype = "application/soap+xml; charset=utf-8"
            if diffusion.get("numUnique") in self.refused:
                return Response(_fault("demande refusée par l'ERP"), 500, media_type=ctype)
            return Response(ACK, 200, media_type=ctype)

        self.app = Starlette(routes=[Route("/erp", endpoint, methods=["POST"])])


@contextmanager
def erp_on(port: int, erp: Erp) -> Iterator[None]:
    import threading

    import uvicorn

    server = uvicorn.Server(uvicorn.Config(erp.app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(10)


def test_read_fault_tells_faults_from_the_rest() -> None:
    fault = read_fault(_fault("x"))
    assert fault is not None and fault.code == "e:DEMREFUS" and fault.reason == "x"
    assert fault.kind == "Sender" and not fault.retried(500)
    assert read_fault(ACK) is None and read_fault(b"busy") is None
    assert read_fault(b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>') is None  # hostile: not a fault


def test_soap_push_down_busy_fault_then_everything_in_order(
        worker: Any, actor_service: Any, settings: HubSettings, tmp_path: Path) -> None:
    s = settings.model_copy(update={"api": ApiSettings(
        webhook_backoff_initial_s=0.2, webhook_backoff_max_s=0.5, webhook_timeout_s=5)})
    port = free_port()
    actor = Actor(id=f"soap-{uuid.uuid4().hex[:10]}", name="ERP", kind="bailleur",
                  profile="consultant_simple", filters=ActorFilters(communes=[HERE]),
                  delivery=Delivery(channel="soap", options={
                      "url": f"http://127.0.0.1:{port}/erp", "soap_action": "urn:erp:recevoir",
                      "mapping": "interfacenuu-dis"}))
    actor_service.add_or_update(actor)
    ok, refused, moved = new_num_unique(), new_num_unique(), new_num_unique()
    events = [demande_event(ok, [HERE], handicap=True), demande_event(refused, [HERE]),
              demande_event(moved, [HERE]), demande_event(ok, [HERE], operation="MOD"),
              demande_event(moved, [ELSEWHERE], operation="MOD")]
    time.sleep(1.0)  # let the worker take the new actor before the demands
    asyncio.run(publish_events(s, [prepare_event(e) for e in events]))
    ours = {ok, refused, moved}
    feed = collect_feed(s, actor.id, worker=worker,
                        until=lambda rs: sum(r["numUnique"] in ours for r in rs) >= 5)
    assert sum(r["numUnique"] in ours for r in feed) >= 5
    total = len(feed)

    engine = make_engine(f"sqlite:///{tmp_path / 'soap.db'}")
    migrate(engine)
    assert asyncio.run(SoapDelivery(s, Outbox(engine), AuditStore(engine))
                       .run_once([actor])) == 0  # ERP down: nothing lost
    head = Outbox(engine).head(actor.id)
    assert head is not None and head.attempts == 1 and head.feed_offset == 0

    erp = Erp(refused={refused}, busy=1)
    with erp_on(port, erp):
        delivery = SoapDelivery(s, Outbox(engine), AuditStore(engine))  # a new process
        deadline = time.monotonic() + 30
        while Outbox(engine).undelivered(actor.id) and time.monotonic() < deadline:
            asyncio.run(delivery.run_once([actor]))
            time.sleep(0.1)
    assert Outbox(engine).undelivered(actor.id) == 0
    assert erp.busy == 0  # the 503 was retried
    offsets = [int(d["offset"]) for _, d, _ in erp.got]
    # every record once (the Fault one included: not retried), in feed order
    assert len(offsets) >= total and offsets == list(range(len(offsets)))
    for ctype, _, _ in erp.got:
        assert ctype.startswith("application/soap+xml") and 'action="urn:erp:recevoir"' in ctype
    mine = [(d, root) for _, d, root in erp.got if d["numUnique"] in ours]
    assert [d["nature"] for d, _ in mine if d["numUnique"] == ok] == ["DEMANDE", "DEMANDE"]
    assert [d["nature"] for d, _ in mine if d["numUnique"] == moved] == ["DEMANDE", "RETRAIT"]
    for d, root in mine:
        body = root.find(f"{{{SOAP12}}}Body")
        assert body is not None and len(body) == 1
        if d["nature"] == "RETRAIT":  # no personal data
            assert body[0].tag == f"{{{NS}}}notification" and body[0].get("motif")
            continue
        doc = body[0]
        assert doc.tag == f"{{{NUU}}}interfaceNuu"
        assert doc.findtext(f"{{{NUU}}}entete/{{{NUU}}}typeFichier") == "DIS"
        assert doc.findtext(f".//{{{NUU}}}numUnique") == d["numUnique"]
        # cut to the profile: consultant_simple never gets the handicap list
        assert doc.find(f".//{{{NUU}}}listeHandicap") is None
    with engine.connect() as conn:
        rows = conn.execute(select(webhook_outbox.c.feed_offset, webhook_outbox.c.attempts,
                                   webhook_outbox.c.last_error)
                            .where(webhook_outbox.c.actor_id == actor.id)).all()
    by_offset = {int(d["offset"]): d["numUnique"] for _, d, _ in erp.got}
    faults = [r for r in rows if by_offset[r.feed_offset] == refused]
    # the ERP got the refused demand once: a Fault is an answer, never retried (earlier
    # attempts, if any, met the ERP down or busy, before it answered)
    assert [d["numUnique"] for _, d, _ in erp.got].count(refused) == 1
    assert len(faults) == 1 and faults[0].attempts <= 3
    assert faults[0].last_error.startswith("SOAP Fault e:DEMREFUS: demande refusée")
    assert all(r.last_error is None for r in rows if by_offset[r.feed_offset] != refused)
    audited = {(a.num_unique, a.kind) for a in AuditStore(engine).query(actor_id=actor.id)
               if a.channel == "soap"}
    assert {(ok, "DEMANDE"), (refused, "DEMANDE"), (moved, "DEMANDE")} <= audited
    assert (moved, "RETRAIT") not in audited
    outcomes = {a.outcome for a in AuditStore(engine).query(num_unique=refused)}
    assert outcomes == {"refused"}  # its one row says the ERP refused it
