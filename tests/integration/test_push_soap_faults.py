"""A SOAP Fault answered for a record (audit of the push channels, point 1): a real SOAP
receiver on the loopback answers the hand-written Faults of the SOAP 1.1 and 1.2
specifications (tests/support/soap_faults.py) for the first record of an actor's outbox,
and accepts everything else.

* a business Fault closes its record with its reason (``last_error``, an audit row
  ``refused``, one count of ``passerelle_records_closed_undelivered_total``) and the next
  records go at once, in order;
* a fault that says "try again later" (Server/Receiver with HTTP 503, ``sne_unavailable``),
  a fault about the envelope rather than the record (VersionMismatch, MustUnderstand) and
  anything that is no Fault (a malformed or non-XML 500, a proxy's HTML 502) are transport
  errors: the record is retried with the channel's back-off, nothing after it overtakes
  it, and it is delivered once the receiver accepts it;
* a receiver refusing record 0 on every try does not keep records 1..n from being
  delivered (SQLite and PostgreSQL), and the audit chain stays intact.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.outbound.push import record_body
from connectors.outbound.soap import SoapDelivery
from connectors.outbound.soap_envelope import NS, SOAP12
from hub.core import xmlsafe
from hub.core.db import make_engine, migrate
from hub.core.settings import ApiSettings, HubSettings
from hub.domain.actors import Actor, ActorFilters, Delivery
from hub.stores.audit import chain
from hub.stores.audit.store import AuditStore
from hub.stores.delivery.outbox import Outbox
from hub.stores.delivery.tables import webhook_outbox
from tests.support.connector_metrics import sample
from tests.support.outbox_records import demande_record
from tests.support.sne import serve
from tests.support.soap_faults import CASES, SOAP_XML, Case

ACK = (f'<env:Envelope xmlns:env="{SOAP12}"><env:Body><ok xmlns="urn:erp"/></env:Body>'
       "</env:Envelope>").encode()  # fmt: skip
CLOSED = "passerelle_records_closed_undelivered_total"


class Erp:
    """Answers ``case`` for feed offset 0 (``times`` times, or always when None), 200 with
    an acknowledgement otherwise; ``got``: the offsets POSTed, in order."""

    def __init__(self, case: Case, times: int | None) -> None:
        self.case, self.times = case, times
        self.got: list[int] = []

        async def endpoint(request: Request) -> Response:
            root = xmlsafe.parse(await request.body())
            diffusion = root.find(f"{{{SOAP12}}}Header/{{{NS}}}diffusion")
            assert diffusion is not None
            offset = int(diffusion.get("offset") or -1)
            self.got.append(offset)
            if offset == 0 and (self.times is None or self.times > 0):
                self.times = None if self.times is None else self.times - 1
                c = self.case
                return Response(c.body, c.status, headers={"content-type": c.content_type})
            return Response(ACK, 200, media_type=SOAP_XML)

        self.app = Starlette(routes=[Route("/erp", endpoint, methods=["POST"])])


def _settings() -> HubSettings:
    return HubSettings().model_copy(update={"api": ApiSettings(
        webhook_secret=SecretStr("faults"), webhook_backoff_initial_s=0.2,
        webhook_backoff_max_s=0.3, webhook_timeout_s=5)})  # fmt: skip


def _fill(outbox: Outbox, actor_id: str, n: int) -> list[str]:
    """``n`` demand records (offsets 0..n-1) in the actor's outbox; their numéros."""
    nums, rows = [], []
    for offset in range(n):
        record = demande_record()
        nums.append(record["numUnique"])
        rows.append((offset, record["numUnique"], record_body(record)))
    outbox.add(actor_id, rows)
    return nums


def _rows(engine: Engine, actor_id: str) -> list[tuple[int, Any, str | None, int]]:
    t = webhook_outbox
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(  # type: ignore[misc]
            select(t.c.feed_offset, t.c.delivered_at, t.c.last_error, t.c.attempts)
            .where(t.c.actor_id == actor_id).order_by(t.c.feed_offset))]


async def _rounds(delivery: SoapDelivery, actor: Actor, n: int) -> list[int]:
    """``n`` rounds of ``send_due``, each once the head's back-off is over."""
    sent = []
    async with httpx.AsyncClient() as client:
        for _ in range(n):
            retry_at = delivery.retry_at.get(actor.id)
            if retry_at is not None:
                await asyncio.sleep(max(0.0, (retry_at - datetime.now(UTC)).total_seconds()))
            sent.append(await delivery.send_due(actor, client))
    return sent


def _actor(url: str) -> Actor:
    return Actor(id=f"fault-{uuid.uuid4().hex[:8]}", name="ERP", kind="bailleur",
                 profile="consultant_demande", filters=ActorFilters(communes=["76540"]),
                 delivery=Delivery(channel="soap", options={"url": url}))  # fmt: skip


@pytest.mark.parametrize("name", list(CASES))
def test_a_business_fault_closes_its_record_and_the_rest_is_retried(
        name: str, tmp_path: Path) -> None:  # fmt: skip
    case = CASES[name]
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    migrate(engine)
    outbox, audit = Outbox(engine), AuditStore(engine)
    erp = Erp(case, times=1)
    with serve(erp.app) as base:
        actor = _actor(f"{base}/erp")
        nums = _fill(outbox, actor.id, 3)
        before = sample(CLOSED, channel="soap", reason="soap_fault", actor=actor.id)
        delivery = SoapDelivery(_settings(), outbox, audit)
        first = asyncio.run(_rounds(delivery, actor, 1))
        rows = _rows(engine, actor.id)
        if case.closed_as is None:  # retried: nothing overtook record 0
            assert first == [0] and erp.got == [0]
            assert rows[0][1] is None and rows[0][3] == 1 and rows[0][2]
            assert all(r[1] is None and r[3] == 0 for r in rows[1:])
            assert asyncio.run(_rounds(delivery, actor, 1)) == [3]  # accepted now, in order
            assert erp.got == [0, 0, 1, 2]
            assert all(r[1] is not None and r[2] is None for r in _rows(engine, actor.id))
            outcomes = [(e.num_unique, e.outcome) for e in audit.query(actor_id=actor.id)]
            assert outcomes == [(n, None) for n in nums]
            assert sample(CLOSED, channel="soap", reason="soap_fault", actor=actor.id) == before
            return
        # closed with its reason, the next records went in the same round, in order
        assert first == [2] and erp.got == [0, 1, 2]
        assert rows[0][1] is not None and rows[0][2] == case.closed_as and rows[0][3] == 1
        assert all(r[1] is not None and r[2] is None for r in rows[1:])
        entries = [(e.num_unique, e.outcome, e.reason) for e in audit.query(actor_id=actor.id)]
        assert entries == [(nums[0], "refused", "soap_fault"), (nums[1], None, None),
                           (nums[2], None, None)]  # fmt: skip
        assert sample(CLOSED, channel="soap", reason="soap_fault", actor=actor.id) == before + 1
        assert asyncio.run(_rounds(delivery, actor, 1)) == [0] and erp.got == [0, 1, 2]


def test_a_receiver_refusing_record_0_forever_does_not_hold_back_the_next_ones(
        migrated_db: tuple[str, Engine]) -> None:
    engine = migrated_db[1]
    outbox, audit = Outbox(engine), AuditStore(engine)
    erp = Erp(CASES["1.1 Client fault"], times=None)  # every try of record 0: a Fault
    with serve(erp.app) as base:
        actor = _actor(f"{base}/erp")
        nums = _fill(outbox, actor.id, 5)
        delivery = SoapDelivery(_settings(), outbox, audit)
        assert asyncio.run(_rounds(delivery, actor, 3)) == [4, 0, 0]
    assert erp.got == [0, 1, 2, 3, 4]  # record 0 once, then the others in feed order
    assert outbox.undelivered(actor.id) == 0
    assert [r[2] for r in _rows(engine, actor.id)] == [
        "SOAP Fault SOAP-ENV:Client: Client Error", None, None, None, None]
    entries = [(e.num_unique, e.outcome) for e in audit.query(actor_id=actor.id)]
    assert entries == [(nums[0], "refused"), *((n, None) for n in nums[1:])]
    report = chain.verify(engine)
    assert report.intact, report.problems


@pytest.mark.parametrize("body", [ACK, b"", b"OK", b"\n" + ACK])
def test_an_erp_labelling_its_answers_text_html_is_delivered(body: bytes, tmp_path: Path) -> None:
    """Many ERP endpoints (PHP, ASP) label every answer ``text/html``: an envelope, an
    empty 200 or a plain "OK" so labelled is the ERP's acceptance, never retried (only an
    HTML page is: independent review I, F1)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    migrate(engine)
    outbox, audit = Outbox(engine), AuditStore(engine)
    got: list[int] = []

    async def endpoint(request: Request) -> Response:
        got.append(len(await request.body()))
        return Response(body, 200, headers={"content-type": "text/html; charset=UTF-8"})

    app = Starlette(routes=[Route("/erp", endpoint, methods=["POST"])])
    with serve(app) as base:
        actor = _actor(f"{base}/erp")
        _fill(outbox, actor.id, 2)
        delivery = SoapDelivery(_settings(), outbox, audit)
        assert asyncio.run(_rounds(delivery, actor, 1)) == [2]
    assert len(got) == 2
    assert all(r[1] is not None and r[2] is None and r[3] == 1 for r in _rows(engine, actor.id))
    engine.dispose()
