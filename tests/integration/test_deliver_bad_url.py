"""``hub deliver`` facing actors an older registry holds with an unusable URL (audit
finding 6: ``https://[::1/hook`` made ``--once`` die with a traceback and the service
log "ValueError (outage?)" every 30 s; a space inside failed silently): one line "actor X
not served: ..." each, and the other actors are served. The real CLI, the real broker
and a real HTTP receiver."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.outbound import service as service_module
from connectors.outbound.service import PushService
from connectors.outbound.soap import SoapDelivery
from connectors.outbound.webhook import WebhookDelivery
from hub.core.db import make_engine, migrate
from hub.core.kafka.admin import ensure_topics, feed_spec
from hub.core.settings import ApiSettings, HubSettings
from hub.domain.actors import Actor, ActorFilters, Delivery
from hub.stores.audit.store import AuditStore
from hub.stores.delivery.outbox import Outbox
from hub.stores.registry.store import ActorStore
from tests.integration.test_push_pump_kafka import _produce as _produce_records
from tests.support.sne import serve

pytestmark = pytest.mark.kafka
BAD = {"bracket": ("webhook", "https://[::1/hook", "does not parse as a URL (Invalid IPv6 URL)"),
       "space": ("soap", "https://exa mple.invalid/hook", "holds a space or a control character"),
       "port": ("webhook", "https://erp.example:99999/hook",
                "does not parse as a URL (Port out of range 0-65535)")}  # fmt: skip


def _actor(name: str, channel: str, url: str) -> Actor:
    return Actor(id=f"{name}-{uuid.uuid4().hex[:8]}", name=name, kind="bailleur",
                 filters=ActorFilters(communes=["76540"]),
                 delivery=Delivery(channel=channel, options={"url": url}))  # type: ignore[arg-type]


def _registry(tmp_path: Path, base: str) -> tuple[str, dict[str, Actor], Actor]:
    """An older registry: actors saved as they were, past today's checks."""
    db = f"sqlite:///{tmp_path / 'hub.db'}"
    engine = make_engine(db)
    migrate(engine)
    bad = {k: _actor(f"bad-{k}", channel, url) for k, (channel, url, _) in BAD.items()}
    good = _actor("good", "webhook", f"{base}/hook")
    for actor in [*bad.values(), good]:
        ActorStore(engine).save(actor)
    return db, bad, good


def _feeds(settings: HubSettings, actors: list[Actor]) -> None:
    """Three records in each actor's feed."""
    asyncio.run(ensure_topics(settings, [feed_spec(a.id) for a in actors]))
    for actor in actors:
        asyncio.run(_produce_records(settings, actor.id, 0, 3))


def _receiver() -> tuple[Starlette, list[bytes]]:
    got: list[bytes] = []

    async def hook(request: Request) -> Response:
        got.append(await request.body())
        return Response(status_code=204)

    return Starlette(routes=[Route("/hook", hook, methods=["POST"])]), got


def test_deliver_once_names_each_unusable_actor_in_one_line_and_serves_the_others(
        settings: HubSettings, hub_env: dict[str, str], tmp_path: Path) -> None:  # fmt: skip
    app, got = _receiver()
    with serve(app) as base:
        db, bad, good = _registry(tmp_path, base)
        _feeds(settings, [*bad.values(), good])
        env = {**hub_env, "HUB_DATABASE__URL": db, "HUB_API__WEBHOOK_SECRET": "bad-url-test"}
        res = subprocess.run([sys.executable, "-c", "from hub.cli import main; main()",
                              "deliver", "--once"], env=env, capture_output=True, text=True,
                             timeout=180)  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Traceback" not in res.stderr and "outage" not in res.stderr, res.stderr[-3000:]
    assert res.stdout.strip() == "3 record(s) delivered"
    assert len(got) == 3  # the good actor's whole feed
    for key, actor in bad.items():
        lines = [ln for ln in res.stderr.splitlines() if actor.id in ln]
        assert len(lines) == 1, res.stderr
        assert lines[0].endswith(f"actor {actor.id} not served: delivery.options.url "
                                 f"{BAD[key][2]}"), lines  # fmt: skip


def test_the_service_logs_one_line_per_unusable_actor_never_an_outage(
        settings: HubSettings, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setattr(service_module, "MAX_PAUSE_S", 0.2)  # re-checked 5 times a second
    s = settings.model_copy(update={"api": ApiSettings(webhook_secret=SecretStr("bad-url"))})
    app, got = _receiver()
    with serve(app) as base:
        db, bad, good = _registry(tmp_path, base)
        engine = make_engine(db)
        _feeds(s, [*bad.values(), good])
        outbox, audit = Outbox(engine), AuditStore(engine)
        # no feed pump: each round copies the feeds (as `--once` does)
        channels: list[Any] = [WebhookDelivery(s, outbox, audit), SoapDelivery(s, outbox, audit)]
        service = PushService(s, channels, None, interval=0.1,
                              list_actors=ActorStore(engine).list)  # fmt: skip

        async def scenario() -> None:
            for c in channels:
                c.slots = asyncio.Semaphore(4)
            stop = asyncio.Event()
            task = asyncio.create_task(service.run(stop))
            deadline = time.monotonic() + 30
            while len(got) < 3 and time.monotonic() < deadline:
                await asyncio.gather(*(c.pump(good) for c in channels[:1]))
                await asyncio.sleep(0.2)
            await asyncio.sleep(1.0)  # several re-checks of the bad actors
            stop.set()
            await task

        with caplog.at_level(logging.INFO, logger="connectors.outbound.service"):
            asyncio.run(scenario())
    assert len(got) == 3
    messages = [r.getMessage() for r in caplog.records]
    assert not [m for m in messages if "outage" in m or "retrying" in m], messages
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    for key, actor in bad.items():
        mine = [m for m in messages if actor.id in m]
        assert mine == [f"hub deliver: actor {actor.id} not served: delivery.options.url "
                        f"{BAD[key][2]}"], mine  # one line, though re-checked many times
