"""The bounds of one push request (independent audit F, points 2 and 5;
connectors/outbound/bounded_http.py), against a real receiver on the loopback that
misbehaves on purpose (tests/support/hostile_receiver.py, after the auditor's rig):

* a receiver answering its headers at once, then one byte of body every 0.2 s (F2), or
  never answering, costs its actor one deadline (``api.webhook_timeout_s``) per request,
  not for ever: the SOAP push retries the record with the back-off (outcome ``timeout``),
  the webhook takes the status it got (a 2xx is a delivery); one warning line each;
* a receiver answering a body of 64 MiB (F5) has at most the cap
  (``api.delivery_answer_max_bytes``) and one network read of it read by the client,
  counted on the client's transport: a SOAP answer that large is a transport error
  (retried), a webhook's status decides; a compressed body is held to the same cap
  once decompressed;
* the actor's client serves the next requests after a request cut short (nothing leaks
  from its two-connection pool), and actors next to a slow one are not held back.

No timing is asserted but "returns within the deadline plus a margin" (a loaded machine
may be slow; without the bounds these requests last 5.5 hours).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from pydantic import SecretStr, ValidationError
from sqlalchemy import select

from connectors.outbound import bounded_http
from connectors.outbound.push import PushChannel, actor_client
from connectors.outbound.soap import SoapDelivery
from connectors.outbound.soap_envelope import SOAP12
from connectors.outbound.soap_fault import MAX_ANSWER
from connectors.outbound.webhook import WebhookDelivery
from hub.core.db import make_engine, migrate
from hub.core.errors import HubError
from hub.core.settings import ApiSettings, HubSettings
from hub.domain.actors import Actor, ActorFilters, Delivery
from hub.stores.audit.store import AuditStore
from hub.stores.delivery.outbox import Outbox
from hub.stores.delivery.tables import webhook_outbox
from tests.support.connector_metrics import calls, delta
from tests.support.hostile_receiver import CountingTransport, Mode, hostile_receiver
from tests.support.outbox_records import demande_record

T = TypeVar("T")

DEADLINE = 1.0
#: how much later than its deadline a request may return on a loaded machine
MARGIN = 5.0
CAP = ApiSettings().delivery_answer_max_bytes
#: what one network read may bring past the cap (httpcore reads 64 kB at a time)
ONE_READ = 64 << 10
BIG = 64 << 20
TRICKLE = Mode(200, trickle_s=0.2)  # 100,000 bytes at 5 a second: 5.5 hours
#: the pool of an actor's client (connectors.outbound.push.actor_client)
ACTOR_POOL = httpx.Limits(max_connections=2, max_keepalive_connections=1)
ACK = (f'<env:Envelope xmlns:env="{SOAP12}"><env:Body><ok xmlns="urn:erp"/></env:Body>'
       "</env:Envelope>").encode()  # fmt: skip


def _fault(padding: int = 0) -> bytes:
    """A SOAP 1.2 Sender fault (closes its record), its Detail padded with ``padding``
    bytes of text."""
    return (f'<env:Envelope xmlns:env="{SOAP12}"><env:Body><env:Fault><env:Code>'
            "<env:Value>env:Sender</env:Value></env:Code><env:Reason>"
            '<env:Text xml:lang="fr">demande refusée</env:Text></env:Reason>'
            f"<env:Detail>{'p' * padding}</env:Detail></env:Fault></env:Body>"
            "</env:Envelope>").encode()  # fmt: skip


def _settings() -> HubSettings:
    return HubSettings().model_copy(update={"api": ApiSettings(
        webhook_secret=SecretStr("bounds"), webhook_backoff_initial_s=0.2,
        webhook_backoff_max_s=0.3, webhook_timeout_s=DEADLINE)})  # fmt: skip


def _within(awaitable: Awaitable[T], deadlines: float = 1) -> T:
    """Run ``awaitable``; it must end within ``deadlines`` deadlines plus the margin."""

    async def run() -> T:
        return await asyncio.wait_for(awaitable, deadlines * DEADLINE + MARGIN)

    return asyncio.run(run())


async def _post(url: str, need_body: bool, transport: httpx.AsyncBaseTransport | None = None,
                **kw: Any) -> bounded_http.Reply:  # fmt: skip
    async with httpx.AsyncClient(transport=transport) as client:
        return await bounded_http.post(client, url, b"{}", {}, deadline_s=DEADLINE,
                                       max_bytes=CAP, need_body=need_body, **kw)  # fmt: skip


# --- the exchange itself ------------------------------------------------------------


def test_a_trickling_answer_ends_at_the_deadline() -> None:
    with hostile_receiver({"/t": TRICKLE}) as rx:
        with pytest.raises(bounded_http.DeadlineExceeded) as err:
            _within(_post(f"{rx.base}/t", need_body=True))
        assert str(err.value) == "HTTP 200, its body not read in full within the 1 s deadline"
        reply = _within(_post(f"{rx.base}/t", need_body=False))  # the status is enough
    assert reply.status_code == 200 and reply.content == b""
    assert reply.cut == "not read in full within the 1 s deadline"


def test_no_answer_at_all_ends_at_the_deadline() -> None:
    with hostile_receiver({"/h": Mode(hang=True)}) as rx:
        for need_body in (True, False):
            with pytest.raises(bounded_http.DeadlineExceeded, match=r"^no answer within the 1 s"):
                _within(_post(f"{rx.base}/h", need_body))


@pytest.mark.parametrize("need_body", [True, False])
def test_a_huge_answer_is_read_up_to_the_cap_and_the_client_goes_on(need_body: bool) -> None:
    with hostile_receiver({"/big": Mode(500, big=BIG), "/ok": Mode(200, b"ok")}) as rx:
        transport = CountingTransport()

        async def run() -> list[int]:
            async with httpx.AsyncClient(transport=transport, limits=ACTOR_POOL) as client:
                post = bounded_http.post
                if need_body:
                    with pytest.raises(bounded_http.AnswerTooLarge) as err:
                        await post(client, f"{rx.base}/big", b"{}", {}, deadline_s=DEADLINE,
                                   max_bytes=CAP)  # fmt: skip
                    assert str(err.value) == f"HTTP 500, its body larger than {CAP} bytes"
                else:
                    reply = await post(client, f"{rx.base}/big", b"{}", {}, deadline_s=DEADLINE,
                                       max_bytes=CAP, need_body=False)  # fmt: skip
                    assert (reply.status_code, reply.cut) == (500, f"larger than {CAP} bytes")
                read = transport.read
                statuses = []  # the pool of two connections lost none of them
                for _ in range(3):
                    r = await post(client, f"{rx.base}/ok", b"{}", {}, deadline_s=DEADLINE,
                                   max_bytes=CAP)  # fmt: skip
                    statuses.append(r.status_code)
                    assert r.content == b"ok"
                return [read, *statuses]

        read, *statuses = _within(run(), 4)
    assert CAP < read <= CAP + ONE_READ  # not the 64 MiB the receiver offered
    assert statuses == [200, 200, 200]


def test_the_hub_asks_for_no_compression_and_reads_a_compressed_answer_under_the_cap() -> None:
    bomb = gzip.compress(b"\0" * (8 << 20))  # 8 kB that would be 8 MiB
    modes = {"/gz": Mode(500, gzip.compress(_fault()), gzip=True),
             "/bomb": Mode(500, bomb, gzip=True),
             "/br": Mode(500, b"\x0b", headers={"content-encoding": "br"})}  # fmt: skip
    with hostile_receiver(modes) as rx:
        assert _within(_post(f"{rx.base}/gz", True)).content == _fault()
        with pytest.raises(bounded_http.AnswerTooLarge, match="once decompressed"):
            _within(_post(f"{rx.base}/bomb", True))
        with pytest.raises(bounded_http.AnswerNotRead, match="content coding 'br'"):
            _within(_post(f"{rx.base}/br", True))
        assert _within(_post(f"{rx.base}/bomb", False)).status_code == 500  # not decoded
    assert {h["accept-encoding"] for _p, h, _b in rx.requests} == {"identity"}


def test_waiting_for_a_request_slot_is_not_part_of_the_deadline() -> None:
    with hostile_receiver({"/ok": Mode(204)}) as rx:

        async def run() -> int:
            slots = asyncio.Semaphore(1)
            await slots.acquire()  # another actor's request holds the only slot
            waiting = asyncio.create_task(_post(f"{rx.base}/ok", True, gate=slots))
            await asyncio.sleep(DEADLINE * 1.5)
            assert not waiting.done()
            slots.release()
            return (await waiting).status_code

        assert _within(run(), 3) == 204


def test_the_errors_are_retriable_transport_errors() -> None:
    for error in (bounded_http.DeadlineExceeded("x"), bounded_http.AnswerTooLarge("x")):
        assert isinstance(error, httpx.TransportError) and isinstance(error, HubError)
        assert error.retriable and error.message == "x"
    assert isinstance(bounded_http.DeadlineExceeded("x"), httpx.TimeoutException)
    assert not isinstance(bounded_http.AnswerTooLarge("x"), httpx.TimeoutException)


def test_the_cap_is_a_setting_no_larger_than_what_the_fault_reader_parses(
        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("HUB_API__DELIVERY_ANSWER_MAX_BYTES", "65536")
    assert HubSettings().api.delivery_answer_max_bytes == 65536
    assert ApiSettings().delivery_answer_max_bytes == 262144
    with pytest.raises(ValidationError):
        ApiSettings(delivery_answer_max_bytes=MAX_ANSWER + 1)
    with pytest.raises(ValidationError):
        ApiSettings(webhook_timeout_s=0)


# --- through the channels ------------------------------------------------------------


def _actor(channel: str, url: str) -> Actor:
    return Actor(id=f"bnd-{uuid.uuid4().hex[:8]}", name="ERP", kind="bailleur",
                 profile="consultant_demande", filters=ActorFilters(communes=["76540"]),
                 delivery=Delivery(channel=channel, options={"url": url}))  # fmt: skip


def _fill(outbox: Outbox, actor_id: str, n: int) -> None:
    """``n`` demand records (offsets 0..n-1) in the actor's outbox."""
    rows = []
    for offset in range(n):
        record = demande_record()
        body = json.dumps(record, ensure_ascii=False, sort_keys=True).encode()
        rows.append((offset, record["numUnique"], body))
    outbox.add(actor_id, rows)


def _rows(outbox: Outbox, actor_id: str) -> list[tuple[bool, str | None, int]]:
    """(delivered, last_error, attempts) of the actor's records, in feed order."""
    t = webhook_outbox
    with outbox.engine.connect() as conn:
        return [(r.delivered_at is not None, r.last_error, r.attempts) for r in conn.execute(
            select(t.c.delivered_at, t.c.last_error, t.c.attempts)
            .where(t.c.actor_id == actor_id).order_by(t.c.feed_offset))]  # fmt: skip


def _channel(kind: type[PushChannel], tmp_path: Path) -> PushChannel:
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    migrate(engine)
    return kind(_settings(), Outbox(engine), AuditStore(engine))


def _lines(caplog: pytest.LogCaptureFixture, actor: Actor) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and f"actor {actor.id}:" in r.getMessage()]  # fmt: skip


async def _send(channel: PushChannel, actor: Actor, transport: CountingTransport | None = None,
                rounds: int = 1) -> list[int]:  # fmt: skip
    """``rounds`` of ``send_due`` on one client (with an actor's pool), each once the
    head's back-off is over."""
    sent = []
    async with httpx.AsyncClient(transport=transport, limits=ACTOR_POOL) as client:
        for _ in range(rounds):
            retry_at = channel.retry_at.get(actor.id)
            if retry_at is not None:
                await asyncio.sleep(max(0.0, (retry_at - datetime.now(UTC)).total_seconds()))
            sent.append(await channel.send_due(actor, client))
    return sent


def test_soap_a_trickling_answer_is_retried_after_the_deadline_then_delivered(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    caplog.set_level(logging.WARNING)
    soap = _channel(SoapDelivery, tmp_path)
    modes = {"/erp": Mode(200, trickle_s=0.2, content_type="application/soap+xml")}
    with hostile_receiver(modes) as rx:
        actor = _actor("soap", f"{rx.base}/erp")
        _fill(soap.outbox, actor.id, 2)
        before = calls("soap_push", "post")
        assert _within(_send(soap, actor)) == [0]
        error = "HTTP 200, its body not read in full within the 1 s deadline"
        assert _rows(soap.outbox, actor.id) == [(False, error, 1), (False, None, 0)]
        assert delta(before, calls("soap_push", "post")) == {"timeout": 1, "duration": 1}
        assert _lines(caplog, actor) == [
            f"hub deliver: actor {actor.id}: SOAP, feed offset 0: {error}; retried after the "
            "back-off"]  # fmt: skip
        modes["/erp"] = Mode(200, ACK, content_type="application/soap+xml")  # fixed
        assert _within(_send(soap, actor)) == [2]
    assert rx.paths() == ["/erp"] * 3
    assert [r[:2] for r in _rows(soap.outbox, actor.id)] == [(True, None), (True, None)]


def test_soap_a_huge_answer_is_a_transport_error_read_no_further_than_the_cap(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    caplog.set_level(logging.WARNING)
    soap = _channel(SoapDelivery, tmp_path)
    modes = {"/erp": Mode(500, big=BIG)}
    with hostile_receiver(modes) as rx:
        actor = _actor("soap", f"{rx.base}/erp")
        _fill(soap.outbox, actor.id, 2)
        transport = CountingTransport()
        before = calls("soap_push", "post")
        assert _within(_send(soap, actor, transport)) == [0]
        assert CAP < transport.read <= CAP + ONE_READ
        error = f"HTTP 500, its body larger than {CAP} bytes"
        assert _rows(soap.outbox, actor.id) == [(False, error, 1), (False, None, 0)]
        assert delta(before, calls("soap_push", "post")) == {"transport_error": 1, "duration": 1}
        assert len(_lines(caplog, actor)) == 1 and error in _lines(caplog, actor)[0]
        modes["/erp"] = Mode(200, big=BIG)  # a 2xx that large: no telling it from a Fault
        assert _within(_send(soap, actor, transport, rounds=2)) == [0, 0]
        assert transport.read <= 3 * (CAP + ONE_READ)
        assert _rows(soap.outbox, actor.id)[0] == (False, error.replace("500", "200"), 3)


def test_soap_a_fault_up_to_the_cap_is_read_and_one_past_it_is_retried(tmp_path: Path) -> None:
    soap = _channel(SoapDelivery, tmp_path)
    at_cap = _fault(CAP - len(_fault()))
    assert len(at_cap) == CAP
    xml = "application/soap+xml"
    answers = [Mode(400, at_cap, xml), Mode(400, _fault(CAP + 1 - len(_fault())), xml),
               Mode(200, ACK, xml)]  # fmt: skip
    with hostile_receiver({"/erp": answers}) as rx:
        actor = _actor("soap", f"{rx.base}/erp")
        _fill(soap.outbox, actor.id, 2)
        # record 0 refused by a Fault of the cap's size, record 1's one byte more: retried
        assert _within(_send(soap, actor, rounds=2), 2) == [0, 1]
    assert rx.paths() == ["/erp"] * 3
    assert _rows(soap.outbox, actor.id) == [
        (True, "SOAP Fault env:Sender: demande refusée", 1),
        (True, None, 2),
    ]


def test_webhook_the_status_decides_however_the_body_comes(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    caplog.set_level(logging.WARNING)
    webhook = _channel(WebhookDelivery, tmp_path)
    modes = {"/trickle": TRICKLE, "/echo": Mode(200, big=BIG), "/big500": Mode(500, big=BIG)}
    with hostile_receiver(modes) as rx:
        trickle, echo, big500 = (_actor("webhook", f"{rx.base}{p}") for p in modes)
        for actor in (trickle, echo, big500):
            _fill(webhook.outbox, actor.id, 2)
        before = calls("webhook", "post")
        # headers and a 200 at once, then a byte every 0.2 s: delivered at the deadline
        assert _within(_send(webhook, trickle), 2) == [2]
        transport = CountingTransport()
        assert _within(_send(webhook, echo, transport)) == [2]  # 200 and 64 MiB: delivered
        assert transport.read <= 2 * (CAP + ONE_READ)
        transport = CountingTransport()
        assert _within(_send(webhook, big500, transport)) == [0]  # 500 and 64 MiB: retried
        assert transport.read <= CAP + ONE_READ
        assert delta(before, calls("webhook", "post")) == {
            "ok": 4,
            "transport_error": 1,
            "duration": 5,
        }
    assert [r[:2] for r in _rows(webhook.outbox, trickle.id)] == [(True, None)] * 2
    assert _rows(webhook.outbox, big500.id) == [(False, "HTTP 500", 1), (False, None, 0)]
    lines = _lines(caplog, trickle)
    assert lines == [f"hub deliver: actor {trickle.id}: webhook, feed offset {o}: HTTP 200 "
                     "answered, its body not read in full within the 1 s deadline: "
                     "connection closed, the status decides" for o in (0, 1)]  # fmt: skip
    assert len(_lines(caplog, echo)) == 2 and len(_lines(caplog, big500)) == 1
    assert f"larger than {CAP} bytes" in _lines(caplog, big500)[0]


def test_webhook_no_answer_is_a_timeout_logged_once_and_retried(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    caplog.set_level(logging.WARNING)
    webhook = _channel(WebhookDelivery, tmp_path)
    with hostile_receiver({"/h": Mode(hang=True)}) as rx:
        actor = _actor("webhook", f"{rx.base}/h")
        _fill(webhook.outbox, actor.id, 2)
        before = calls("webhook", "post")
        assert _within(_send(webhook, actor, rounds=2), 3) == [0, 0]
        assert delta(before, calls("webhook", "post")) == {"timeout": 2, "duration": 2}
    error = "no answer within the 1 s deadline"
    assert _rows(webhook.outbox, actor.id) == [(False, error, 2), (False, None, 0)]
    assert _lines(caplog, actor) == [
        f"hub deliver: actor {actor.id}: webhook, feed offset 0: {error}; retried after the "
        "back-off"] * 2  # fmt: skip


@pytest.mark.parametrize("slots", [64, 1])
def test_a_slow_receiver_holds_back_only_its_own_actor(slots: int, tmp_path: Path) -> None:
    """Three actors served at once, each on its own client, as ``hub deliver`` serves
    them: a SOAP actor whose receiver trickles, a webhook actor whose receiver never
    answers, and a webhook actor whose receiver is fine. With request slots for all, the
    fine one gets its ten records while the others wait for their deadline; with a single
    slot (``api.delivery_concurrency`` 1), each slow one holds it one deadline, no more."""
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    migrate(engine)
    outbox, audit = Outbox(engine), AuditStore(engine)
    soap = SoapDelivery(_settings(), outbox, audit)
    webhook = WebhookDelivery(_settings(), outbox, audit)
    modes = {"/slow": TRICKLE, "/hang": Mode(hang=True), "/ok": Mode(204)}
    with hostile_receiver(modes) as rx:
        slow = _actor("soap", f"{rx.base}/slow")
        hang = _actor("webhook", f"{rx.base}/hang")
        fine = _actor("webhook", f"{rx.base}/ok")
        for actor, n in ((slow, 2), (hang, 2), (fine, 10)):
            _fill(outbox, actor.id, n)
        done: list[str] = []

        async def serve(channel: PushChannel, actor: Actor) -> int:
            async with actor_client() as client:
                sent = await channel.send_due(actor, client)
            done.append(actor.id)
            return sent

        async def run() -> list[int]:
            soap.slots = webhook.slots = asyncio.Semaphore(slots)  # shared, as in run_once
            return list(await asyncio.gather(serve(soap, slow), serve(webhook, hang),
                                             serve(webhook, fine)))  # fmt: skip

        assert _within(run(), 1 if slots > 1 else 2) == [0, 0, 10]
    if slots > 1:
        assert done[0] == fine.id
    assert rx.paths().count("/ok") == 10
    assert outbox.undelivered(fine.id) == 0 and outbox.undelivered(slow.id) == 2
