"""The outbox records of an actor removed from the registry (audit of the push channels,
point 3), on SQLite and PostgreSQL with a real webhook receiver:

* while ``hub deliver`` runs, removing an actor whose receiver refuses everything closes
  its undelivered records (``last_error`` "not sent: actor removed from the registry",
  an audit row ``unsent``/``actor_removed`` each, counted in
  ``passerelle_records_closed_undelivered_total``), the other actor is served as usual;
* ``hub status`` shows the removed actor as pending (``unregistered``) until then, and
  no more afterwards;
* the actor added again is served again from its next records; the closed ones stay
  closed;
* ``hub deliver --once`` (``PushChannel.run_once``) closes them too.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from pydantic import SecretStr
from sqlalchemy import Engine, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.outbound.push import record_body
from connectors.outbound.service import PushService
from connectors.outbound.webhook import WebhookDelivery
from hub.core.settings import ApiSettings, DatabaseSettings, HubSettings
from hub.domain.actors import Actor, ActorFilters, Delivery
from hub.services.status import _db_outboxes
from hub.services.status_model import Brokers, Status
from hub.stores.audit import chain
from hub.stores.audit.store import AuditStore
from hub.stores.delivery.outbox import Outbox
from hub.stores.delivery.tables import webhook_outbox
from hub.stores.registry.store import ActorStore
from tests.support.connector_metrics import sample
from tests.support.demandes import demande_event, new_num_unique
from tests.support.sne import serve

CLOSED = "passerelle_records_closed_undelivered_total"


def _receiver() -> tuple[Starlette, list[str]]:
    """Refuses (500) every POST to ``/down``, accepts those to ``/up``; ``got``: accepted
    event ids."""
    got: list[str] = []

    async def down(request: Request) -> Response:
        return Response(status_code=500)

    async def up(request: Request) -> Response:
        got.append(request.headers["x-passerelle-event-id"])
        return Response(status_code=204)

    routes = [Route("/down", down, methods=["POST"]), Route("/up", up, methods=["POST"])]
    return Starlette(routes=routes), got


def _actor(name: str, url: str) -> Actor:
    return Actor(id=f"{name}-{uuid.uuid4().hex[:8]}", name=name, kind="bailleur",
                 profile="consultant_demande", filters=ActorFilters(communes=["76540"]),
                 delivery=Delivery(channel="webhook", options={"url": url}))  # fmt: skip


def _fill(outbox: Outbox, actor_id: str, offsets: range) -> list[str]:
    nums, rows = [], []
    for offset in offsets:
        num, now = new_num_unique(), int(time.time() * 1000)
        record = {"kind": "DEMANDE", "eventId": str(uuid.uuid4()), "numUnique": num,
                  "operation": "CRE", "demandeVersion": 1, "occurredAt": now,
                  "dispatchedAt": now, "profile": "consultant_demande", "reason": None,
                  "changedFields": [], "demande": demande_event(num, ["76540"])["demande"],
                  "evenement": None}  # fmt: skip
        nums.append(num)
        rows.append((offset, num, record_body(record)))
    outbox.add(actor_id, rows)
    return nums


def _settings(url: str) -> HubSettings:
    return HubSettings().model_copy(update={
        "database": DatabaseSettings(url=SecretStr(url)),
        "api": ApiSettings(webhook_secret=SecretStr("removed"), webhook_backoff_initial_s=0.1,
                           webhook_backoff_max_s=0.2, webhook_timeout_s=5)})  # fmt: skip


def _pending(settings: HubSettings, engine: Engine) -> dict[str, tuple[str, int, int]]:
    """``hub status``'s outboxes: actor -> (channel, depth, closed with an error)."""
    registry = {a.id: a.delivery.channel for a in ActorStore(engine).list()}
    found = _db_outboxes(settings, registry, set(), Status(0, "g", Brokers("")))
    assert found is not None
    return {o.actor: (o.channel, o.depth, o.closed_with_error) for o in found}


def _closed_rows(engine: Engine, actor_id: str) -> list[tuple[Any, str | None]]:
    t = webhook_outbox
    with engine.connect() as conn:
        return [(r.delivered_at, r.last_error) for r in conn.execute(
            select(t.c.delivered_at, t.c.last_error).where(t.c.actor_id == actor_id)
            .order_by(t.c.feed_offset))]  # fmt: skip


def test_hub_deliver_closes_the_records_of_a_removed_actor(
        migrated_db: tuple[str, Engine]) -> None:  # fmt: skip
    url, engine = migrated_db
    s = _settings(url)
    outbox, audit, registry = Outbox(engine), AuditStore(engine), ActorStore(engine)
    app, got = _receiver()
    with serve(app) as base:
        gone, kept = _actor("gone", f"{base}/down"), _actor("kept", f"{base}/up")
        for a in (gone, kept):
            registry.save(a)
        nums = _fill(outbox, gone.id, range(3))
        _fill(outbox, kept.id, range(2))
        channel = WebhookDelivery(s, outbox, audit)
        service = PushService(s, [channel], None, interval=0.1, list_actors=registry.list)

        async def scenario() -> dict[str, tuple[str, int, int]]:
            stop = asyncio.Event()
            task = asyncio.create_task(service.run(stop))
            try:
                await _until(lambda: len(got) == 2 and outbox.head(gone.id) is not None
                             and outbox.head(gone.id).attempts > 0)  # type: ignore[union-attr]
                registry.remove(gone.id)
                seen = _pending(s, engine)  # pending until hub deliver closes them
                await _until(lambda: outbox.undelivered(gone.id) == 0)
                return seen
            finally:
                stop.set()
                await task

        seen = asyncio.run(scenario())
    assert seen[gone.id] == ("unregistered", 3, 0)
    after = _pending(s, engine)
    assert gone.id not in after and after[kept.id] == ("webhook", 0, 0)
    assert [e for _, e in _closed_rows(engine, gone.id)] == [
        "not sent: actor removed from the registry"] * 3
    entries = [(e.num_unique, e.channel, e.outcome, e.reason)
               for e in audit.query(actor_id=gone.id)]  # fmt: skip
    assert entries == [(n, "webhook", "unsent", "actor_removed") for n in nums]
    assert sample(CLOSED, channel="webhook", reason="actor_removed", actor=gone.id) == 3
    assert chain.verify(engine).intact

    # added again: served from its next records, the closed ones stay closed
    registry.save(gone)
    _fill(outbox, gone.id, range(3, 5))
    with serve(app) as base:
        again = gone.model_copy(update={"delivery": Delivery(
            channel="webhook", options={"url": f"{base}/up"})})  # fmt: skip
        assert asyncio.run(_send(channel, again)) == 2
    assert [e for _, e in _closed_rows(engine, gone.id)][3:] == [None, None]
    assert sample(CLOSED, channel="webhook", reason="actor_removed", actor=gone.id) == 3


def test_hub_deliver_once_closes_them_too(migrated_db: tuple[str, Engine]) -> None:
    url, engine = migrated_db
    s = _settings(url)
    outbox, registry = Outbox(engine), ActorStore(engine)
    gone = _actor("gone", "https://erp.example/hook")
    registry.save(gone)
    _fill(outbox, gone.id, range(2))
    registry.remove(gone.id)
    assert _pending(s, engine)[gone.id] == ("unregistered", 2, 0)
    # `hub deliver --once`: a round over the registry's actors (none left)
    assert asyncio.run(WebhookDelivery(s, outbox, AuditStore(engine)).run_once([])) == 0
    assert outbox.undelivered(gone.id) == 0 and gone.id not in _pending(s, engine)
    assert sample(CLOSED, channel="webhook", reason="actor_removed", actor=gone.id) == 2


async def _send(channel: WebhookDelivery, actor: Actor) -> int:
    import httpx

    async with httpx.AsyncClient() as client:
        return await channel.send_due(actor, client)


async def _until(done: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)
