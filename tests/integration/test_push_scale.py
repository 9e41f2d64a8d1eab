"""Push channels at scale (issue 22 point 4), on SQLite and PostgreSQL, against a real HTTP
receiver on 127.0.0.1: actors are served independently (a receiver answering in 5 s, or
one refusing connections, holds back only its own actor), records go in batches per
transaction and, for an actor declaring ``batch: true``, per request (JSON arrays in
feed order, one valid signature), a receiver failing mid-way gets every record at least
once, in order, each record closed and audited only after its 2xx, and a settling that
fails is retried without sending again. The shared feed pump is tested on the real
broker (test_push_pump_kafka.py)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.outbound.push import actor_client
from connectors.outbound.service import PushService
from connectors.outbound.webhook import WebhookDelivery, actor_key
from hub.core.settings import ApiSettings, HubSettings
from hub.domain.actors import Actor, ActorFilters, Delivery
from hub.stores.audit.store import AuditStore
from hub.stores.delivery.outbox import Outbox
from hub.stores.delivery.tables import webhook_outbox
from tests.support.sne import free_port, serve

MASTER = "push-scale-master"


class Receivers:
    """``/hook/<name>``: records what it gets; ``slow`` names answer after ``delay`` s;
    ``fail[name]`` lists the request numbers (1-based) answered 500."""

    def __init__(
        self,
        slow: set[str] = frozenset(),
        delay: float = 2.0,  # type: ignore[assignment]
        fail: dict[str, set[int]] | None = None,
    ) -> None:
        self.slow, self.delay, self.fail = slow, delay, fail or {}
        self.got: dict[str, list[tuple[float, dict[str, str], bytes]]] = {}
        self.calls: dict[str, int] = {}

        async def hook(request: Request) -> Response:
            name = request.path_params["name"]
            body = await request.body()
            self.calls[name] = n = self.calls.get(name, 0) + 1
            if name in self.slow:
                await asyncio.sleep(self.delay)
            if n in self.fail.get(name, set()):
                return Response(status_code=500)
            self.got.setdefault(name, []).append((time.monotonic(), dict(request.headers), body))
            return Response(status_code=204)

        self.app = Starlette(routes=[Route("/hook/{name}", hook, methods=["POST"])])


def _settings(**api: Any) -> HubSettings:
    return HubSettings().model_copy(
        update={
            "api": ApiSettings(
                webhook_secret=SecretStr(MASTER),
                webhook_backoff_initial_s=0.05,
                webhook_backoff_max_s=0.1,
                webhook_timeout_s=10,
                **api,
            )
        }
    )


def _actor(base: str, name: str, **options: str) -> Actor:
    return Actor(
        id=f"{name}-{uuid.uuid4().hex[:8]}",
        name="ERP",
        kind="bailleur",
        filters=ActorFilters(communes=["76540"]),
        delivery=Delivery(channel="webhook", options={"url": f"{base}/hook/{name}", **options}),
    )


def _records(n: int, demands: int = 7) -> list[tuple[int, str, bytes]]:
    """``n`` outbox rows; demand ``i % demands``, versions growing per demand."""
    rows = []
    for o in range(n):
        num = f"07654{o % demands:013d}"
        rec = {
            "kind": "DEMANDE",
            "eventId": f"ev-{o}",
            "numUnique": num,
            "operation": "MOD",
            "demandeVersion": o // demands + 1,
            "profile": "bailleur",
            "demande": {"numUnique": num, "nom": "X"},
            "reason": None,
        }
        rows.append((o, num, json.dumps(rec, sort_keys=True).encode()))
    return rows


@contextmanager
def _receivers(r: Receivers) -> Iterator[str]:
    with serve(r.app) as base:
        yield base


async def _serve_until(
    service: PushService, actors: list[Actor], done: Any, timeout: float
) -> float:
    """Run ``service`` until ``done()`` or ``timeout``; return the seconds it took."""
    stop = asyncio.Event()
    service.list_actors = lambda: actors
    task = asyncio.create_task(service.run(stop))
    start = time.monotonic()
    while not done() and time.monotonic() - start < timeout:
        await asyncio.sleep(0.02)
    took = time.monotonic() - start
    stop.set()
    await asyncio.wait_for(task, 15)
    return took


def test_a_slow_receiver_holds_back_only_its_own_actor(migrated_db: tuple[str, Any]) -> None:
    _, engine = migrated_db
    settings = _settings(delivery_batch_rows=10)
    outbox = Outbox(engine)
    receivers = Receivers(slow={"slow"}, delay=5.0)
    with _receivers(receivers) as base:
        slow = _actor(base, "slow")
        fast = [_actor(base, f"fast{i}") for i in range(3)]
        for a in [slow, *fast]:
            outbox.add(a.id, _records(40))
        service = PushService(
            settings, [WebhookDelivery(settings, outbox, AuditStore(engine))], None, interval=0.2
        )
        took = asyncio.run(
            _serve_until(
                service,
                [slow, *fast],
                # delivered = answered and settled (the receiver sees a record before that)
                lambda: all(service.delivered.get(a.id, 0) >= 40 for a in fast),
                30,
            )
        )
    # the fast actors are done before the slow receiver's first answer (5 s): in a single
    # loop they would have waited behind its 40 records (200 s)
    assert took < 4.0, took
    assert all(outbox.undelivered(a.id) == 0 for a in fast)
    # its first request was still waiting (the receiver's shutdown let it finish)
    assert len(receivers.got.get("slow", [])) <= 1 and outbox.undelivered(slow.id) == 40
    for i in range(3):
        offsets = [int(h["x-passerelle-offset"]) for _, h, _ in receivers.got[f"fast{i}"]]
        assert offsets == list(range(40))


def test_a_dead_receiver_holds_back_only_its_own_actor(migrated_db: tuple[str, Any]) -> None:
    _, engine = migrated_db
    settings = _settings(delivery_batch_rows=10)
    outbox = Outbox(engine)
    receivers = Receivers()
    with _receivers(receivers) as base:
        dead = _actor(f"http://127.0.0.1:{free_port()}", "dead")  # nothing listens there
        fast = [_actor(base, f"alive{i}") for i in range(3)]
        for a in [dead, *fast]:
            outbox.add(a.id, _records(40))
        service = PushService(
            settings, [WebhookDelivery(settings, outbox, AuditStore(engine))], None, interval=0.2
        )
        asyncio.run(
            _serve_until(
                service,
                [dead, *fast],
                lambda: all(service.delivered.get(a.id, 0) >= 40 for a in fast),
                30,
            )
        )
    assert all(outbox.undelivered(a.id) == 0 for a in fast)
    head = outbox.head(dead.id)  # retried with its own backoff, nothing skipped
    assert head is not None and head.feed_offset == 0 and head.attempts >= 1
    assert outbox.undelivered(dead.id) == 40


def test_batch_mode_posts_signed_arrays_in_feed_order(migrated_db: tuple[str, Any]) -> None:
    _, engine = migrated_db
    settings = _settings(delivery_batch_rows=200, webhook_batch_max_records=64)
    outbox = Outbox(engine)
    receivers = Receivers()
    with _receivers(receivers) as base:
        actor = _actor(base, "batched", batch="true")
        single = _actor(base, "single")
        outbox.add(actor.id, _records(450))
        outbox.add(single.id, _records(5))
        delivery = WebhookDelivery(settings, outbox, AuditStore(engine))
        assert asyncio.run(delivery.run_once([actor, single])) == 455
    requests = receivers.got["batched"]
    # 450 records in requests of at most 64, rows read 200 at a time: 64,64,64,8 per read
    assert [int(h["x-passerelle-count"]) for _, h, _ in requests] == [64, 64, 64, 8] * 2 + [50]
    key = actor_key(MASTER, actor.id)
    seen: list[dict[str, Any]] = []
    for _, headers, body in requests:
        expected = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["x-passerelle-signature"], expected)
        records = json.loads(body)
        assert isinstance(records, list) and len(records) == int(headers["x-passerelle-count"])
        assert records[0]["offset"] == int(headers["x-passerelle-offset"])
        seen += records
    assert [r["offset"] for r in seen] == list(range(450))
    assert [r["eventId"] for r in seen] == [f"ev-{o}" for o in range(450)]
    for num in {r["numUnique"] for r in seen}:  # per demand: versions never go back
        versions = [r["demandeVersion"] for r in seen if r["numUnique"] == num]
        assert versions == sorted(versions)
    # an actor without the option still gets one record per request
    assert [json.loads(b)["eventId"] for _, _, b in receivers.got["single"]] == [
        f"ev-{o}" for o in range(5)
    ]
    assert outbox.undelivered(actor.id) == 0
    audited = AuditStore(engine).query(actor_id=actor.id, limit=1000)
    assert len(audited) == 450 and {a.channel for a in audited} == {"webhook"}


@pytest.mark.parametrize("batch", ["true", "false"])
def test_a_failure_mid_batch_loses_nothing_and_closes_nothing_early(
    migrated_db: tuple[str, Any], batch: str
) -> None:
    _, engine = migrated_db
    settings = _settings(delivery_batch_rows=50, webhook_batch_max_records=10)
    outbox = Outbox(engine)
    # batch mode: the 3rd request (records 20-29) fails; single: the 23rd record's request
    failing = 3 if batch == "true" else 23
    receivers = Receivers(fail={"flaky": {failing}})
    with _receivers(receivers) as base:
        actor = _actor(base, "flaky", batch=batch)
        outbox.add(actor.id, _records(100))
        delivery = WebhookDelivery(settings, outbox, AuditStore(engine))
        first = asyncio.run(delivery.run_once([actor]))
        # the answered records are closed and audited, the rest waits, none is skipped
        assert first == 20 if batch == "true" else first == 22
        with engine.connect() as conn:
            rows = conn.execute(
                select(
                    webhook_outbox.c.feed_offset,
                    webhook_outbox.c.delivered_at,
                    webhook_outbox.c.attempts,
                )
                .where(webhook_outbox.c.actor_id == actor.id)
                .order_by(webhook_outbox.c.feed_offset)
            ).all()
        assert [r.feed_offset for r in rows if r.delivered_at is not None] == list(range(first))
        assert rows[first].attempts == 1 and rows[first + 1].attempts == 0
        assert len(AuditStore(engine).query(actor_id=actor.id)) == first
        deadline = time.monotonic() + 20
        while outbox.undelivered(actor.id) and time.monotonic() < deadline:
            time.sleep(0.12)  # past the backoff
            asyncio.run(delivery.run_once([actor]))
    assert outbox.undelivered(actor.id) == 0
    offsets: list[int] = []
    for _, headers, body in receivers.got["flaky"]:
        parsed = json.loads(body)
        offsets += (
            [r["offset"] for r in parsed]
            if batch == "true"
            else [int(headers["x-passerelle-offset"])]
        )
    # the failed request was not accepted: each record answered 2xx exactly once, in order
    assert offsets == list(range(100))
    assert len(AuditStore(engine).query(actor_id=actor.id, limit=1000)) == 100


def test_run_once_serves_actors_concurrently(migrated_db: tuple[str, Any]) -> None:
    _, engine = migrated_db
    settings = _settings()
    outbox = Outbox(engine)
    receivers = Receivers(slow={"s0", "s1", "s2", "s3"}, delay=1.0)
    with _receivers(receivers) as base:
        actors = [_actor(base, f"s{i}") for i in range(4)]
        for a in actors:
            outbox.add(a.id, _records(1))
        delivery = WebhookDelivery(settings, outbox, AuditStore(engine))
        start = time.monotonic()
        assert asyncio.run(delivery.run_once(actors)) == 4
        took = time.monotonic() - start
    assert took < 2.5, took  # one after the other: 4 s


class FlakyOutbox(Outbox):
    """An outbox whose second settling fails, before or after its commit."""

    def __init__(self, engine: Any, when: str) -> None:
        super().__init__(engine)
        self.when, self.calls = when, 0

    def settle(self, *args: Any, **kwargs: Any) -> bool:
        self.calls += 1
        if self.calls == 2 and self.when == "before":
            raise OperationalError("settle", {}, Exception("database down"))
        done = super().settle(*args, **kwargs)
        if self.calls == 2:  # committed, but the client never heard of it
            raise OperationalError("commit", {}, Exception("connection lost"))
        return done


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_failed_settling_is_retried_without_sending_again(
    migrated_db: tuple[str, Any], when: str
) -> None:
    _, engine = migrated_db
    settings = _settings(delivery_batch_rows=10, webhook_batch_max_records=5)
    outbox = FlakyOutbox(engine, when)
    receivers = Receivers()
    with _receivers(receivers) as base:
        actor = _actor(base, "settle", batch="true")
        outbox.add(actor.id, _records(30))
        delivery = WebhookDelivery(settings, outbox, AuditStore(engine))

        async def rounds() -> None:
            async with actor_client() as http:
                with pytest.raises(OperationalError):  # the second batch's settling
                    await delivery.send_due(actor, http)
                assert await delivery.send_due(actor, http) == 20  # 10 held + 10 new

        asyncio.run(rounds())
    offsets = [r["offset"] for _, _, b in receivers.got["settle"] for r in json.loads(b)]
    assert offsets == list(range(30))  # each record POSTed once: the answers were kept
    assert outbox.undelivered(actor.id) == 0
    # one audit row per record: the retry of a settling that did commit was skipped
    assert len(AuditStore(engine).query(actor_id=actor.id, limit=1000)) == 30


def test_the_service_follows_the_registry(migrated_db: tuple[str, Any]) -> None:
    """A changed URL is used from the next request, a removed actor is no longer served."""
    _, engine = migrated_db
    settings = _settings()
    outbox = Outbox(engine)
    receivers = Receivers()
    with _receivers(receivers) as base:
        actor = _actor(base, "old")
        moved = actor.model_copy(
            update={"delivery": Delivery(channel="webhook", options={"url": f"{base}/hook/new"})}
        )
        rows = _records(15)
        registry: list[Actor] = [actor]
        service = PushService(
            settings, [WebhookDelivery(settings, outbox, AuditStore(engine))], None, interval=0.1
        )

        async def scenario() -> None:
            stop = asyncio.Event()
            service.list_actors = lambda: list(registry)
            task = asyncio.create_task(service.run(stop))
            outbox.add(actor.id, rows[:5])
            await _until(
                lambda: len(receivers.got.get("old", [])) == 5 and outbox.undelivered(actor.id) == 0
            )
            registry[:] = [moved]
            await asyncio.sleep(0.3)
            outbox.add(actor.id, rows[5:10])
            await _until(
                lambda: len(receivers.got.get("new", [])) == 5 and outbox.undelivered(actor.id) == 0
            )
            registry.clear()
            await asyncio.sleep(0.3)
            assert actor.id not in service.tasks
            outbox.add(actor.id, rows[10:])
            await asyncio.sleep(0.5)
            stop.set()
            await asyncio.wait_for(task, 15)

        asyncio.run(scenario())
    assert [int(h["x-passerelle-offset"]) for _, h, _ in receivers.got["old"]] == list(range(5))
    assert [int(h["x-passerelle-offset"]) for _, h, _ in receivers.got["new"]] == list(range(5, 10))
    assert outbox.undelivered(actor.id) == 5  # removed: its records wait, kept


async def _until(done: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)
