"""Three ``hub api`` processes on one PostgreSQL database, the real broker (audit M, F1,
F3, F4): what a deployment with replicas of the API service does, requests spread over
the replicas at once.

* Two actors read their demands on every replica at once while their feeds grow and
  withdraw demands (each request catches the actor's feed up first): never a 5xx, and
  afterwards every replica answers by the whole feed (a withdrawn demand 403, on every
  replica), the stored cursor at the feed's end.
* The same gestion partagée event posted six times at once over the replicas: one 201,
  the others 200 (never 409 nor 5xx), stored once.
* Two actors creating one new numéro at once on two replicas: one 202, one 403, one
  holder.

The feeds are written here (no worker): the test's actors are known to these replicas'
database only. The creations are of Limoges (87085), a commune no other test serves.
"""

from __future__ import annotations

import asyncio
import random
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select

from hub.core import topics
from hub.core.kafka.admin import core_topics, ensure_topics, feed_spec
from hub.core.kafka.client import new_producer
from hub.core.settings import HubSettings
from hub.stores.access.holders import FRESH_S
from hub.stores.access.tables import api_feed_cursors, api_holders
from hub.stores.gp.tables import gp_events
from schemas import get_codec
from tests.integration.api_support import Caller, register
from tests.support.demandes import demande_event, new_num_unique
from tests.support.outbox_records import demande_record
from tests.support.postgres import schema_engine

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
REPLICAS, ROUNDS, READS = 3, 6, 36
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Replicas:
    engine: Engine
    urls: list[str]
    settings: HubSettings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"hub api exited: {log.read_text()[-2000:]}"
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"hub api at {url} not healthy: {log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def replicas(postgres_url: str, hub_env: dict[str, str], settings: HubSettings,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:  # fmt: skip
    """Three ``hub api`` processes (the real command) on one fresh PostgreSQL schema."""
    asyncio.run(ensure_topics(settings, core_topics(settings)))
    home = tmp_path_factory.mktemp("api-replicas")
    with schema_engine(postgres_url, "replicas") as engine:
        env = {**hub_env, "HUB_HOME": str(home), "PYTHONPATH": str(ROOT),
               "HUB_DATABASE__URL": engine.url.render_as_string(hide_password=False)}  # fmt: skip
        ports = [_free_port() for _ in range(REPLICAS)]
        procs, logs = [], [home / f"api-{i}.log" for i in range(REPLICAS)]
        for port, log in zip(ports, logs, strict=True):
            with log.open("ab") as out:
                procs.append(subprocess.Popen(
                    [sys.executable, "-c", "from hub.cli import main; main()", "api",
                     "--port", str(port)],
                    env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT))  # fmt: skip
        try:
            urls = [f"http://127.0.0.1:{p}" for p in ports]
            for url, proc, log in zip(urls, procs, logs, strict=True):
                _wait_healthy(url, proc, log)
            yield Replicas(engine, urls, settings)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def _record(num: str, kind: str) -> dict[str, Any]:
    record = {**demande_record(), "numUnique": num, "kind": kind}
    if kind == "RETRAIT":
        record.update(demande=None, reason="hors_perimetre")
    else:
        record["demande"]["demandeLogement"]["numUnique"] = num
    return record


class Feeds:
    """Writes records to actors' feeds, as the worker would (one producer throughout)."""

    def __init__(self, settings: HubSettings) -> None:
        self.producer = new_producer(settings)
        self.codec = get_codec()

    async def __aenter__(self) -> Feeds:
        await self.producer.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.producer.stop()

    async def append(self, actor_id: str, records: list[dict[str, Any]]) -> None:
        for r in records:
            await self.producer.send_and_wait(topics.feed_topic(actor_id),
                                              self.codec.encode("FeedRecord", r),
                                              key=r["numUnique"].encode())  # fmt: skip


async def _fire(calls: list[Any]) -> list[int]:
    """The statuses of ``calls`` sent at once."""
    answers = await asyncio.gather(*calls)
    return [r.status_code for r in answers]


def test_replicas_catching_up_one_actor_at_once_answer_by_the_whole_feed(
        replicas: Replicas) -> None:  # fmt: skip
    readers = [register(replicas.engine), register(replicas.engine, kind="guichet")]
    asyncio.run(ensure_topics(replicas.settings, [feed_spec(c.actor.id) for c in readers]))
    held: dict[str, set[str]] = {c.actor.id: set() for c in readers}
    gone: dict[str, set[str]] = {c.actor.id: set() for c in readers}
    rng = random.Random()

    async def round_(client: httpx.AsyncClient, feeds: Feeds) -> list[int]:
        for c in readers:  # the feed grows and withdraws an older demand
            me = c.actor.id
            new = [new_num_unique() for _ in range(4)]
            out = rng.sample(sorted(held[me]), 1) if held[me] else []
            records = [_record(n, "DEMANDE") for n in new] + [_record(n, "RETRAIT") for n in out]
            await feeds.append(me, records)
            held[me] = (held[me] | set(new)) - set(out)
            gone[me] |= set(out)
        calls = []
        for i in range(READS):
            c = readers[i % 2]
            num = rng.choice(sorted(held[c.actor.id] | gone[c.actor.id]))
            url = replicas.urls[i % REPLICAS]
            calls.append(client.get(f"{url}/demandes/{num}/timeline", headers=c.headers))
        return await _fire(calls)

    async def settled(client: httpx.AsyncClient) -> list[tuple[str, str, str, int]]:
        """Every demand of each reader asked on every replica (at once), once no catch-up
        is more recent than the documented reuse window."""
        await asyncio.sleep(FRESH_S)
        asked = [(url, c, num) for c in readers for url in replicas.urls
                 for num in sorted(held[c.actor.id] | gone[c.actor.id])]  # fmt: skip
        statuses = await _fire([client.get(f"{url}/demandes/{num}/timeline", headers=c.headers)
                                for url, c, num in asked])  # fmt: skip
        return [(url, c.actor.id, num, s) for (url, c, num), s in zip(asked, statuses, strict=True)]

    async def run() -> tuple[list[int], list[tuple[str, str, str, int]]]:
        statuses: list[int] = []
        limits = httpx.Limits(max_connections=300)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:
            async with Feeds(replicas.settings) as feeds:
                for _ in range(ROUNDS):
                    statuses += await round_(client, feeds)
            return statuses, await settled(client)

    statuses, final = asyncio.run(run())
    assert set(statuses) <= {200, 403}, sorted(set(statuses))
    for url, me, num, status in final:  # a withdrawal revokes access on every replica
        assert status == (200 if num in held[me] else 403), (url, me, num, status)
    for c in readers:
        with replicas.engine.connect() as conn:
            cursor = conn.execute(select(api_feed_cursors.c.next_offset).where(
                api_feed_cursors.c.actor_id == c.actor.id)).scalar_one()  # fmt: skip
        assert cursor == ROUNDS * 4 + len(gone[c.actor.id])  # the feed's end: all folded


def _holding(replicas: Replicas, num: str) -> Caller:
    """A landlord holding ``num`` (received on its feed)."""
    who = register(replicas.engine)
    asyncio.run(ensure_topics(replicas.settings, [feed_spec(who.actor.id)]))

    async def received() -> None:
        async with Feeds(replicas.settings) as feeds:
            await feeds.append(who.actor.id, [_record(num, "DEMANDE")])

    asyncio.run(received())
    return who


def test_one_event_posted_on_every_replica_at_once_is_recorded_once(replicas: Replicas) -> None:
    num = new_num_unique()
    who = _holding(replicas, num)

    async def run() -> list[list[int]]:
        rounds = []
        async with httpx.AsyncClient(timeout=30) as client:
            for _ in range(10):
                body = {"codeTypeEvenement": "VISPROP", "dateSurvenance": "2025-06-01",
                        "caracteristiques": {"DATEVIS": "2025-06-05"},
                        "eventId": f"replicas-{uuid.uuid4()}"}  # fmt: skip
                rounds.append(await _fire([
                    client.post(f"{replicas.urls[i % REPLICAS]}/demandes/{num}/evenements-gp",
                                headers=who.headers, json=body) for i in range(6)]))  # fmt: skip
        return rounds

    for statuses in asyncio.run(run()):
        assert sorted(statuses) == [200] * 5 + [201], statuses
    with replicas.engine.connect() as conn:
        stored = conn.execute(select(func.count(), func.count(gp_events.c.event_id.distinct()))
                              .where(gp_events.c.num_unique == num)).one()  # fmt: skip
    assert tuple(stored) == (10, 10)


def test_two_actors_creating_one_numero_on_two_replicas_at_once_one_holds_it(
        replicas: Replicas) -> None:  # fmt: skip
    first, second = register(replicas.engine), register(replicas.engine, kind="guichet")
    nums = [new_num_unique("087") for _ in range(10)]

    async def run() -> list[list[int]]:
        async with httpx.AsyncClient(timeout=30) as client:
            return [await _fire([
                client.post(f"{replicas.urls[i]}/demandes/evenements", headers=who.headers,
                            json=[demande_event(num, ["87085"])])
                for i, who in enumerate((first, second))]) for num in nums]  # fmt: skip

    for num, statuses in zip(nums, asyncio.run(run()), strict=True):
        assert sorted(statuses) == [202, 403], (num, statuses)
        with replicas.engine.connect() as conn:
            holders = conn.execute(select(api_holders.c.actor_id).where(
                api_holders.c.num_unique == num)).scalars().all()  # fmt: skip
        winner = (first, second)[statuses.index(202)].actor.id
        assert holders == [winner], (num, statuses, holders)
