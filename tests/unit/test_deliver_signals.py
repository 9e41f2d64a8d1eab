"""What ``hub deliver`` tells the operator about records it does not deliver (independent
audit S), with a SQLite registry and outbox and real HTTP (no broker: the records are in
the outbox already, as the feed pump leaves them):

* S-F4: an actor hub deliver does not serve (``HUB_API__WEBHOOK_SECRET`` unset, here; an
  unusable URL or SOAP mapping from an older registry likewise) exported nothing, no
  ``passerelle_outbox_depth``, no retry, while its records piled up: no alert could
  fire. Now ``passerelle_actor_not_served{actor} 1`` and its depth (the real ``hub
  deliver`` process, scraped on its ``--metrics-port``);
* S-F5: ``passerelle_outbox_depth`` was set only after a delivery attempt (not while the
  actor waits out its back-off: the audit saw 23 while 31 waited), and an actor removed
  from the registry kept its last value for the life of the process;
* S-F6: a receiver refusing connections left hub deliver's log silent, retry after retry:
  now one warning line naming the actor per failure kind, not one per retry."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import SecretStr

from connectors.outbound.service import PushService
from connectors.outbound.webhook import WebhookDelivery
from hub.core.db import make_engine, migrate
from hub.core.settings import ApiSettings, HubSettings
from hub.domain.actors import Actor, ActorFilters, Delivery
from hub.stores.audit.store import AuditStore
from hub.stores.delivery.outbox import Outbox
from hub.stores.registry.store import ActorStore
from monitoring.metrics import REGISTRY
from tests.support.outbox_records import demande_record


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _actor(url: str) -> Actor:
    return Actor(id=f"sig-{uuid.uuid4().hex[:8]}", name="ERP", kind="bailleur",
                 filters=ActorFilters(communes=["76540"]),
                 delivery=Delivery(channel="webhook", options={"url": url}))  # fmt: skip


def _records(outbox: Outbox, actor_id: str, first: int, n: int) -> None:
    rows = []
    for offset in range(first, first + n):
        record = demande_record()
        rows.append((offset, record["numUnique"], json.dumps(record).encode()))
    outbox.add(actor_id, rows)


def _scrape(port: int) -> dict[str, float]:
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3).read()
    except OSError:
        return {}
    out = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def test_an_actor_not_served_is_visible_in_hub_deliver_metrics(tmp_path: Path) -> None:
    home = tmp_path / ".hub"
    home.mkdir()
    engine = make_engine(f"sqlite:///{home / 'hub.db'}")
    migrate(engine)
    actor = _actor(f"http://127.0.0.1:{_closed_port()}/hook")
    ActorStore(engine).save(actor)
    _records(Outbox(engine), actor.id, 0, 14)
    engine.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}  # no secret
    env.update(HUB_HOME=str(home), HUB_KAFKA__BOOTSTRAP_SERVERS=f"127.0.0.1:{_closed_port()}")
    port = _closed_port()
    log = (tmp_path / "deliver.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-c", "from hub.cli import main; main()", "deliver",
                             "--metrics-port", str(port), "--interval", "0.5"], env=env,
                            stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    key = f'passerelle_outbox_depth{{actor="{actor.id}"}}'
    try:
        deadline = time.monotonic() + 30
        while key not in (m := _scrape(port)) and time.monotonic() < deadline:
            time.sleep(0.3)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    text = (tmp_path / "deliver.log").read_text()
    assert f"actor {actor.id} not served: HUB_API__WEBHOOK_SECRET is empty" in text, text[-2000:]
    mine = {k: v for k, v in m.items() if actor.id in k}
    assert mine.get(key) == 14, f"14 records wait for {actor.id}; its metrics: {mine or text}"
    assert mine.get(f'passerelle_actor_not_served{{actor="{actor.id}"}}') == 1, mine
    delivered = f'passerelle_records_delivered_total{{actor="{actor.id}",channel="webhook"}}'
    assert mine.get(delivered) == 0, mine


def _service(tmp_path: Path, **api: float) -> tuple[PushService, Outbox, ActorStore, Actor]:
    settings = HubSettings().model_copy(update={"api": ApiSettings(
        webhook_secret=SecretStr("signals"), webhook_timeout_s=2, **api)})  # fmt: skip
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    migrate(engine)
    outbox, store = Outbox(engine), ActorStore(engine)
    actor = _actor(f"http://127.0.0.1:{_closed_port()}/hook")  # refuses connections
    store.save(actor)
    channel = WebhookDelivery(settings, outbox, AuditStore(engine))
    service = PushService(settings, [channel], None, interval=0.1, list_actors=store.list)
    return service, outbox, store, actor


def _run(service: PushService, scenario: Callable[[], object]) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))
        try:
            await scenario()  # type: ignore[misc]
        finally:
            stop.set()
            await task

    asyncio.run(main())


async def _until(what: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def _depth(actor: Actor) -> float | None:
    return REGISTRY.get_sample_value("passerelle_outbox_depth", {"actor": actor.id})


def _retries(actor: Actor) -> float:
    return REGISTRY.get_sample_value("passerelle_webhook_retries_total", {"actor": actor.id}) or 0


def test_outbox_depth_follows_the_outbox_during_back_off_and_goes_with_the_actor(
    tmp_path: Path,
) -> None:
    # a long back-off: after its first failure the actor waits, records keep coming
    service, outbox, store, actor = _service(tmp_path, webhook_backoff_initial_s=60,
                                             webhook_backoff_max_s=60)  # fmt: skip
    _records(outbox, actor.id, 0, 23)
    seen: list[float | None] = []

    async def scenario() -> None:
        channel = service.channels["webhook"]
        await _until(lambda: outbox.undelivered(actor.id) == 23 and _depth(actor) == 23
                     and channel.retry_at.get(actor.id) is not None)  # fmt: skip
        _records(outbox, actor.id, 23, 8)  # the pump copies 8 more, and wakes the actor
        service.wake[actor.id].set()
        await asyncio.sleep(1.0)
        seen.append(_depth(actor))
        store.remove(actor.id)  # hub actors remove: its records are closed
        await _until(lambda: outbox.undelivered(actor.id) == 0 and actor.id not in service.tasks)
        await asyncio.sleep(0.5)
        seen.append(_depth(actor))

    _run(service, scenario)
    assert seen == [31, None], (
        f"passerelle_outbox_depth while 31 records waited out the back-off, then after the "
        f"actor's removal closed every one: {seen}"
    )


def test_a_receiver_refusing_connections_is_one_log_line_per_failure_kind(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    service, outbox, _, actor = _service(tmp_path, webhook_backoff_initial_s=0.02,
                                             webhook_backoff_max_s=0.05)  # fmt: skip
    _records(outbox, actor.id, 0, 3)

    async def scenario() -> None:
        await _until(lambda: _retries(actor) >= 10)

    with caplog.at_level(logging.INFO):
        _run(service, scenario)
    mine = [r for r in caplog.records if actor.id in r.getMessage()]
    loud = [r.getMessage() for r in mine if r.levelno >= logging.WARNING]
    assert len(loud) == 1, (
        f"the receiver of {actor.id} refused {_retries(actor):.0f}+ retried posts; hub "
        f"deliver's warnings or errors naming the actor: {loud}"
    )
    line = f"hub deliver: actor {actor.id}: webhook, feed offset 0: ConnectError; receiver failing"
    assert loud[0].startswith(line), loud
