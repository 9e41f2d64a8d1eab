"""The one connector shape (connectors/shape.py): every connector is a Connector (name,
settings section, async run(stop), one ConnectorStats); stats, the stop wait, the audit
call and a served app stopping on its event."""

from __future__ import annotations

import asyncio
import socket
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from connectors.files.scan import FileInbox
from connectors.outbound.file_service import FileOutbox
from connectors.outbound.service import PushService
from connectors.shape import Connector, ConnectorStats, ServedApp, audit_rows, wait_or_stop
from hub.core.errors import TransientError
from hub.core.settings import HubSettings


def test_every_connector_has_the_shape() -> None:
    settings = HubSettings()
    connectors: list[Connector] = [
        FileInbox(settings),
        FileOutbox(settings),
        PushService(settings, [], None),
    ]
    for c in connectors:
        assert isinstance(c, Connector)
        assert c.name and c.section in ("files", "api") and isinstance(c.stats, ConnectorStats)


def test_stats_count_passes_failures_and_kinds() -> None:
    stats = ConnectorStats()
    assert stats.failed(TransientError("broker down")) == 0
    assert stats.failed(ValueError("secret value")) == 1
    assert stats.last_error == "ValueError"  # never the text of a foreign exception
    stats.succeeded(published=2, rejected=0)
    stats.add(published=1)
    assert (stats.passes, stats.failures, stats.failing) == (1, 2, 0)
    assert dict(stats.counts) == {"published": 3} and stats.last_success is not None
    assert str(stats) == "1 pass(es), 2 failed; 3 published"


def test_wait_or_stop() -> None:
    async def scenario() -> tuple[bool, bool, float]:
        stop = asyncio.Event()
        first = await wait_or_stop(stop, 0.01)
        asyncio.get_running_loop().call_later(0.05, stop.set)
        start = time.monotonic()
        second = await wait_or_stop(stop, 30)
        return first, second, time.monotonic() - start

    first, second, took = asyncio.run(scenario())
    assert not first and second and took < 5


def _record(num: str, demande: Any) -> dict[str, Any]:
    return {
        "numUnique": num,
        "demandeVersion": 3,
        "profile": "full",
        "kind": "DEMANDE",
        "eventId": f"ev-{num}",
        "dispatchedAt": 0,
        "demande": demande,
    }


def test_the_one_audit_call() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    records = [_record("1", {"x": 1}), _record("2", None)]
    rows = audit_rows("a1", "webhook", records, at)
    assert [r["num_unique"] for r in rows] == ["1"] and rows[0]["event_id"] is None
    again = audit_rows("a1", "file", records, at, replayable=True)
    assert [(r["num_unique"], r["event_id"], r["channel"]) for r in again] == [
        ("1", "ev-1", "file")
    ]


def test_a_served_app_serves_until_stop() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    served = ServedApp("probe", "api", app, "127.0.0.1", port)
    assert isinstance(served, Connector)

    async def scenario() -> str:
        stop = asyncio.Event()
        task = asyncio.create_task(served.run(stop))
        async with httpx.AsyncClient() as client:
            for _ in range(100):
                try:
                    body = (await client.get(f"http://127.0.0.1:{port}/")).text
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 10)
        return body

    assert asyncio.run(scenario()) == "ok"
    assert served.stats.passes == 1
