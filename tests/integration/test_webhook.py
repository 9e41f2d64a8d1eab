"""Webhook delivery through the real worker and broker: a receiver down, then back, gets
every record once, in order, HMAC-signed; the outbox survives a restart of the deliverer;
deliveries are audited."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import threading
import time
import uuid
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.ingress.publishing import prepare_event, publish_events
from connectors.outbound.webhook import WebhookDelivery, actor_key
from hub.core.backoff import Backoff
from hub.core.db import make_engine, migrate
from hub.core.settings import ApiSettings, HubSettings
from hub.domain.actors import Actor, ActorFilters, Delivery
from hub.stores.audit.store import AuditStore
from hub.stores.delivery.outbox import Outbox
from tests.integration.conftest import collect_feed
from tests.support.demandes import demande_event, new_num_unique

pytestmark = pytest.mark.kafka


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    def __init__(self, port: int) -> None:
        self.port = port
        self.got: list[tuple[dict[str, str], bytes]] = []

        async def hook(request: Request) -> Response:
            self.got.append((dict(request.headers), await request.body()))
            return Response(status_code=204)

        self.server = uvicorn.Server(uvicorn.Config(
            Starlette(routes=[Route("/hook", hook, methods=["POST"])]),
            host="127.0.0.1", port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def test_backoff_grows_with_jitter_and_a_cap() -> None:
    values = [Backoff(1.0, 300.0).delay(a) for a in range(12)]
    assert 0.5 <= values[0] <= 1.0 and 4.0 <= values[3] <= 8.0
    assert all(v <= 300.0 for v in values) and values[11] >= 150.0


def test_receiver_down_then_back_gets_everything_in_order(
        worker: Any, actor_service: Any, settings: HubSettings, tmp_path: Any) -> None:
    s = settings.model_copy(update={"api": ApiSettings(
        webhook_secret="test-master", webhook_backoff_initial_s=0.2, webhook_backoff_max_s=0.5,
        webhook_timeout_s=5)})
    port = _free_port()
    # a commune other tests do not use: few copies of the topic's history (but tolerated)
    actor = Actor(id=f"wh-{uuid.uuid4().hex[:10]}", name="ERP", kind="bailleur",
                  profile="consultant_simple", filters=ActorFilters(communes=["27229"]),
                  delivery=Delivery(channel="webhook",
                                    options={"url": f"http://127.0.0.1:{port}/hook"}))
    actor_service.add_or_update(actor)
    nums = [new_num_unique(), new_num_unique()]
    events = [demande_event(n, ["27229"], handicap=True) for n in nums]
    events += [demande_event(n, ["27229"], operation="MOD") for n in nums]
    time.sleep(1.0)  # let the worker take the new actor before the demands
    asyncio.run(publish_events(s, [prepare_event(e) for e in events]))
    ours = set(nums)
    feed = collect_feed(s, actor.id, worker=worker,
                        until=lambda rs: sum(r["numUnique"] in ours for r in rs) >= 4)
    total = len(feed)
    assert sum(r["numUnique"] in ours for r in feed) >= 4

    engine = make_engine(f"sqlite:///{tmp_path / 'delivery.db'}")
    migrate(engine)
    first = WebhookDelivery(s, Outbox(engine), AuditStore(engine))
    assert asyncio.run(first.run_once([actor])) == 0  # receiver down: nothing lost
    assert Outbox(engine).undelivered(actor.id) >= total
    head = Outbox(engine).head(actor.id)
    assert head is not None and head.attempts == 1

    receiver = Receiver(port)
    receiver.start()
    try:
        restarted = WebhookDelivery(s, Outbox(engine), AuditStore(engine))  # a new process
        deadline = time.monotonic() + 30
        while Outbox(engine).undelivered(actor.id) and time.monotonic() < deadline:
            asyncio.run(restarted.run_once([actor]))
            time.sleep(0.1)
    finally:
        receiver.stop()
    assert Outbox(engine).undelivered(actor.id) == 0
    offsets = [int(h["x-passerelle-offset"]) for h, _ in receiver.got]
    # every record once, in feed order (records dispatched meanwhile may follow)
    assert len(offsets) >= total and offsets == list(range(len(offsets)))
    key = actor_key("test-master", actor.id)
    bodies = []
    for headers, body in receiver.got:
        expected = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["x-passerelle-signature"], expected)
        bodies.append(json.loads(body))
    for n in nums:
        ops = [b["operation"] for b in bodies if b["numUnique"] == n]
        assert ops == ["CRE", "MOD"]
    # cut to the profile on this channel too: consultant_simple never gets listeHandicap
    assert all((b["demande"] or {}).get("demandeLogement", {}).get("listeHandicap") is None
               for b in bodies)
    audited = AuditStore(engine).query(actor_id=actor.id)
    assert {(a.num_unique, a.channel) for a in audited} >= {(n, "webhook") for n in nums}
    assert all(a.profile == "consultant_simple" for a in audited)
