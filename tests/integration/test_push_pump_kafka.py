"""``hub deliver``'s long-running service on the real broker: the shared feed pump copies
the feeds of several push actors (one created only after the service started) into the
outbox, wakes their tasks, and each receiver gets its whole feed once, in order, while
records keep arriving; a feed that appears late is followed once it exists."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from connectors.outbound.pump import FeedPump
from connectors.outbound.service import IDLE_S, PushService
from connectors.outbound.webhook import WebhookDelivery
from hub.core import topics
from hub.core.db import make_engine, migrate
from hub.core.kafka.admin import ensure_topics, feed_spec
from hub.core.kafka.client import new_producer
from hub.core.settings import ApiSettings, HubSettings
from hub.domain.actors import Actor, ActorFilters, Delivery
from hub.stores.audit.store import AuditStore
from hub.stores.delivery.outbox import Outbox
from schemas import get_codec
from tests.integration.test_push_scale import Receivers
from tests.support.sne import serve

pytestmark = pytest.mark.kafka


def _feed_record(i: int) -> dict[str, Any]:
    now = int(time.time() * 1000)
    return {
        "kind": "RETRAIT",
        "eventId": f"ev-{i}",
        "numUnique": f"076540{i % 5:012d}",
        "operation": "MOD",
        "demandeVersion": i + 1,
        "occurredAt": now,
        "dispatchedAt": now,
        "profile": "bailleur",
        "reason": "hors_territoire",
        "changedFields": [],
        "demande": None,
        "evenement": None,
    }


async def _produce(settings: HubSettings, actor_id: str, start: int, n: int) -> None:
    codec = get_codec()
    producer = new_producer(settings)
    await producer.start()
    try:
        for i in range(start, start + n):
            rec = _feed_record(i)
            await producer.send(
                topics.feed_topic(actor_id),
                codec.encode("FeedRecord", rec),
                key=rec["numUnique"].encode(),
            )
        await producer.flush()
    finally:
        await producer.stop()


def test_service_pumps_feeds_and_delivers_each_actor_in_order(
    settings: HubSettings, tmp_path: Path
) -> None:
    s = settings.model_copy(
        update={
            "api": ApiSettings(
                webhook_secret=SecretStr("pump-master"),
                webhook_backoff_initial_s=0.05,
                webhook_backoff_max_s=0.1,
            )
        }
    )
    engine = make_engine(f"sqlite:///{tmp_path / 'pump.db'}")
    migrate(engine)
    outbox = Outbox(engine)
    receivers = Receivers()
    with serve(receivers.app) as base:
        names = ["pa", "pb", "late"]
        actors = [
            Actor(
                id=f"{n}-{uuid.uuid4().hex[:8]}",
                name="ERP",
                kind="bailleur",
                filters=ActorFilters(communes=["76540"]),
                delivery=Delivery(
                    channel="webhook",
                    options={"url": f"{base}/hook/{n}", "batch": "true" if n == "pb" else "false"},
                ),
            )
            for n in names
        ]

        async def scenario() -> None:
            await ensure_topics(s, [feed_spec(a.id) for a in actors[:2]])
            for a in actors[:2]:
                await _produce(s, a.id, 0, 300)
            service = PushService(
                s,
                [WebhookDelivery(s, outbox, AuditStore(engine))],
                FeedPump(s, outbox),
                interval=0.2,
            )
            stop = asyncio.Event()
            service.list_actors = lambda: actors
            task = asyncio.create_task(service.run(stop))
            await asyncio.sleep(1.0)
            # the late actor's feed appears while the service runs; more records arrive
            await ensure_topics(s, [feed_spec(actors[2].id)])
            await asyncio.sleep(1.0)  # the actors' tasks are idle now, asleep for IDLE_S
            produced = time.monotonic()
            for a in actors:
                await _produce(s, a.id, 300 if a is not actors[2] else 0, 200)
            deadline = time.monotonic() + 60
            want = {"pa": 500, "pb": 500, "late": 200}
            while time.monotonic() < deadline and (
                any(len(_event_ids(receivers, n)) < w for n, w in want.items())
                or any(service.delivered.get(a.id, 0) < want[a.id.split("-")[0]] for a in actors)
            ):  # answered and settled
                await asyncio.sleep(0.1)
            took.append(time.monotonic() - produced)
            stop.set()
            await asyncio.wait_for(task, 15)

        took: list[float] = []
        asyncio.run(scenario())
    # new records woke the sleeping tasks (they sleep IDLE_S between wake-ups otherwise)
    assert took[0] < IDLE_S / 2, took
    for name, n in {"pa": 500, "pb": 500, "late": 200}.items():
        assert _event_ids(receivers, name) == [f"ev-{i}" for i in range(n)], name
    assert all(outbox.undelivered(a.id) == 0 for a in actors)
    assert len(receivers.got["pb"]) < 100  # arrays, not one request per record


def _event_ids(receivers: Receivers, name: str) -> list[str]:
    out: list[str] = []
    for _, _, body in receivers.got.get(name, []):
        parsed = json.loads(body)
        out += [r["eventId"] for r in parsed] if isinstance(parsed, list) else [parsed["eventId"]]
    return out


def test_cli_deliver_once_takes_the_batch_option_from_yaml(
    hub_env: dict[str, str], settings: HubSettings, tmp_path: Path
) -> None:
    """``hub actors import`` of ``batch: true`` (a YAML boolean), then ``hub deliver
    --once``: the actor's feed arrives as signed arrays, the count is printed."""
    import hashlib
    import hmac
    import subprocess
    import sys

    env = {**hub_env, "HUB_HOME": str(tmp_path / "home"), "HUB_API__WEBHOOK_SECRET": "cli-master"}
    actor_id = f"yaml-{uuid.uuid4().hex[:8]}"
    receivers = Receivers()
    with serve(receivers.app) as base:
        path = tmp_path / "actors.yaml"
        path.write_text(
            "actors:\n"
            # Mende: a commune no other test's demands wish (the session's worker would copy
            # their demands to this new actor's feed ahead of the records produced below)
            f"  - {{id: {actor_id}, name: ERP, kind: bailleur, filters: {{communes: ['48095']}},"
            f" delivery: {{channel: webhook, options: {{url: '{base}/hook/yaml',"
            " batch: true}}}\n"
        )

        def hub(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-c", "from hub.cli import main; main()", *args],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )

        res = hub("actors", "import", str(path))
        assert res.returncode == 0, res.stderr
        asyncio.run(ensure_topics(settings, [feed_spec(actor_id)]))
        asyncio.run(_produce(settings, actor_id, 0, 30))
        res = hub("deliver", "--once")
        assert res.returncode == 0, res.stderr
    delivered = int(res.stdout.split()[0])
    assert delivered >= 30 and len(_event_ids(receivers, "yaml")) == delivered
    assert _event_ids(receivers, "yaml")[:30] == [f"ev-{i}" for i in range(30)]
    key = hmac.new(b"cli-master", f"webhook:{actor_id}".encode(), hashlib.sha256).digest()
    for _, headers, body in receivers.got["yaml"]:
        assert body.startswith(b"[")  # arrays: the YAML boolean was taken as the option
        expected = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["x-passerelle-signature"], expected)
