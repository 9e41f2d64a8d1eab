"""PushChannel.request is bounded too (independent audit F, points 2 and 5): the channels'
own requests go through connectors.outbound.bounded_http, and so does the request helper
of their common base, so that no unbounded POST is left to be called by a new channel.

Needs connectors/outbound/push.py's PushChannel.request to call bounded_http.post (the
replacement given with the commit that added bounded_http.py); before it, this test
fails (the trickle lasts 5.5 hours: cut by the wait below).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from connectors.outbound import bounded_http
from connectors.outbound.webhook import WebhookDelivery
from hub.core.db import make_engine, migrate
from hub.core.settings import ApiSettings, HubSettings
from hub.stores.audit.store import AuditStore
from hub.stores.delivery.outbox import Outbox
from tests.support.hostile_receiver import CountingTransport, Mode, hostile_receiver

DEADLINE = 1.0
MARGIN = 5.0


def test_push_channel_request_has_a_deadline_and_a_cap(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    migrate(engine)
    settings = HubSettings().model_copy(update={"api": ApiSettings(
        webhook_secret=SecretStr("bounds"), webhook_timeout_s=DEADLINE)})  # fmt: skip
    cap = settings.api.delivery_answer_max_bytes
    channel = WebhookDelivery(settings, Outbox(engine), AuditStore(engine))
    modes = {"/trickle": Mode(200, trickle_s=0.2), "/big": Mode(500, big=64 << 20),
             "/ok": Mode(200, b"ok")}  # fmt: skip
    with hostile_receiver(modes) as rx:
        transport = CountingTransport()

        async def run() -> bytes:
            channel.slots = asyncio.Semaphore(1)
            async with httpx.AsyncClient(transport=transport) as client:
                with pytest.raises(bounded_http.DeadlineExceeded):
                    await channel.request(client, f"{rx.base}/trickle", b"{}", {})
                with pytest.raises(bounded_http.AnswerTooLarge):
                    await channel.request(client, f"{rx.base}/big", b"{}", {})
                reply = await channel.request(client, f"{rx.base}/ok", b"{}", {})
                return reply.content

        async def bounded() -> bytes:
            return await asyncio.wait_for(run(), 2 * DEADLINE + MARGIN)

        assert asyncio.run(bounded()) == b"ok"
    assert transport.read <= cap + (64 << 10) + 100  # the cap, a few trickled bytes, "ok"
