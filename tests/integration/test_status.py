"""``hub status`` on the real broker (issue 21 point 5), with private names only: a
consumer group of its own, an actor of its own, a DLQ reason of its own and a database
of its own.

The scene: a member of the group holds every partition of hub.demandes but reads
nothing (a stuck worker); a demand is published behind the group's committed offsets, so
its partition lags and its committed offset does not move between two readings; a dead
letter with the test's reason is in hub.dlq; one actor per delivery channel with records
waiting: a webhook actor with one undelivered outbox row for the one record of its feed
(and one row closed with an error, counted apart),
a SOAP actor with three feed records of which the pump copied two (one delivered), a
file actor with two feed records of which one was written as a DIS file, and a file
actor with no feed yet. ``hub status --json`` shows each of them (every channel, its
depth counting the records still in the feed), and the text view at 80 columns shows
every id whole.

Apart, with a real ``hub worker`` (the session's): its group is shown with faust's
protocol, the worker as a member under its own web address (every faust worker has the
same client id), holding the input partitions, whose committed lag names it.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from connectors.ingress.publishing import prepare_event, publish_events
from connectors.outbound.file import group_id
from hub.core import topics
from hub.core.db import make_engine, migrate
from hub.core.kafka.admin import core_topics, ensure_topics, feed_spec
from hub.core.kafka.client import client_options
from hub.core.settings import HubSettings
from hub.domain.actors import Actor, ActorFilters, Delivery
from hub.stores.delivery.outbox import Outbox
from hub.stores.registry.store import ActorStore
from schemas import get_codec
from tests.integration.conftest import WorkerProcess
from tests.support.demandes import demande_event, new_num_unique
from tests.support.worker_metrics import partition_of

pytestmark = pytest.mark.kafka


def hub(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from hub.cli import main; main()", *args],
                          env=env, capture_output=True, text=True, timeout=180)  # fmt: skip


@asynccontextmanager
async def stuck_member(settings: HubSettings, group: str) -> AsyncIterator[str]:
    """A member of ``group`` holding hub.demandes, its offsets committed at the current
    ends, that never reads: yields its client id."""
    client_id = f"stuck-{uuid.uuid4().hex[:6]}"
    consumer = AIOKafkaConsumer(**client_options(settings), group_id=group, client_id=client_id,
                                enable_auto_commit=False, auto_offset_reset="latest")  # fmt: skip
    await consumer.start()
    try:
        consumer.subscribe([topics.DEMANDES])
        async with asyncio.timeout(60):
            while not consumer.assignment():
                await consumer.getmany(timeout_ms=200)  # joins; nothing is there yet
        tps = sorted(consumer.assignment())
        ends = await consumer.end_offsets(tps)
        await consumer.commit({tp: ends[tp] for tp in tps})
        yield client_id
    finally:
        await consumer.stop()


async def _letter(settings: HubSettings, reason: str, num: str) -> None:
    codec = get_codec()
    letter = {"reason": reason, "message": "status test", "sourceTopic": topics.DEMANDES,
              "sourcePartition": 0, "sourceOffset": int(num[-9:]), "key": num.encode(),
              "payload": reason.encode(), "failedAt": int(time.time() * 1000), "attempts": 1,
              "history": []}  # fmt: skip
    producer = AIOKafkaProducer(**client_options(settings))
    await producer.start()
    try:
        await producer.send_and_wait(topics.DLQ, codec.encode("DeadLetter", letter),
                                     key=num.encode())  # fmt: skip
    finally:
        await producer.stop()


async def _feed_record(settings: HubSettings, actor: str, n: int = 1) -> None:
    await ensure_topics(settings, [feed_spec(actor)])
    producer = AIOKafkaProducer(**client_options(settings))
    await producer.start()
    try:
        for _ in range(n):
            await producer.send_and_wait(topics.feed_topic(actor), b"record", key=b"k")
    finally:
        await producer.stop()


async def _written_as_files(settings: HubSettings, actor: str, offset: int) -> None:
    """The DIS file outbox of ``actor`` committed up to ``offset`` (as ``hub files outbox``)."""
    consumer = AIOKafkaConsumer(**client_options(settings), group_id=group_id(actor),
                                enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    try:
        tp = TopicPartition(topics.feed_topic(actor), 0)
        consumer.assign([tp])
        await consumer.commit({tp: offset})
    finally:
        await consumer.stop()


def test_status_shows_a_stuck_partition_a_letter_and_a_pending_outbox(
    hub_env: dict[str, str], settings: HubSettings, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    group, actor, reason = f"status-group-{tag}", f"status-actor-{tag}", f"status_test_{tag}"
    db = f"sqlite:///{tmp_path / 'hub.db'}"
    engine = make_engine(db)
    migrate(engine)
    soap, files, no_feed = f"status-soap-{tag}", f"status-file-{tag}", f"status-nofeed-{tag}"
    store = ActorStore(engine)
    for actor_id, delivery in (
        (actor, Delivery(channel="webhook", options={"url": "http://127.0.0.1:9/hook"})),
        (soap, Delivery(channel="soap", options={"url": "http://127.0.0.1:9/soap"})),
        (files, Delivery(channel="file")),
        (no_feed, Delivery(channel="file")),
    ):
        store.upsert(Actor(id=actor_id, name=actor_id, kind="bailleur", delivery=delivery,
                           filters=ActorFilters(communes=["27229"])))  # fmt: skip
    num = new_num_unique()
    outbox = Outbox(engine)
    outbox.add(actor, [(0, num, b"{}")])
    outbox.add(soap, [(0, num, b"{}"), (1, num, b"{}")])  # the pump copied 2 of 3
    outbox.delivered(outbox.due(soap, 1)[0].seq)  # and the first was delivered
    outbox.add(actor, [(1, num, b"{}")])  # closed with an error: not in the depth
    outbox.settle([(outbox.due(actor, 2)[1], "not sent: demande.x: character U+FFFE ...")],
                  None, [])  # fmt: skip
    env = {**hub_env, "HUB_DATABASE__URL": db}
    asyncio.run(ensure_topics(settings, core_topics(settings)))
    asyncio.run(_letter(settings, reason, num))
    asyncio.run(_feed_record(settings, actor))
    asyncio.run(_feed_record(settings, soap, 3))
    asyncio.run(_feed_record(settings, files, 2))
    asyncio.run(_written_as_files(settings, files, 1))
    part = partition_of(num, settings.kafka.partitions)
    args = ("status", "--json", "--group", group, "--actor", actor, "--actor", soap,
            "--actor", files, "--actor", no_feed)  # fmt: skip

    async def scene() -> tuple[str, list[dict[str, Any]], subprocess.CompletedProcess[str]]:
        async with stuck_member(settings, group) as client_id:
            await publish_events(settings, [prepare_event(demande_event(num, ["27229"]))])
            readings = []
            for _ in range(2):
                res = await asyncio.to_thread(hub, env, *args)
                assert res.returncode == 0, res.stderr[-2000:]
                readings.append(json.loads(res.stdout))
                await asyncio.sleep(2)
            text = await asyncio.to_thread(hub, {**env, "COLUMNS": "80"}, "status",
                                           *args[2:])  # the same, as text  # fmt: skip
            return client_id, readings, text

    client_id, (first, second), text = asyncio.run(scene())
    assert first["brokers"]["reachable"] and first["brokers"]["cluster_id"]
    assert first["problems"] == [], first["problems"]
    [member] = first["members"]
    assert member["client_id"] == client_id
    assert sorted(member["partitions"]) == sorted(
        f"{topics.DEMANDES}:{p}" for p in range(settings.kafka.partitions)
    )
    lags = [{(x["topic"], x["partition"]): x for x in r["lag"]} for r in (first, second)]
    mine = [lag[(topics.DEMANDES, part)] for lag in lags]
    assert all(x["lag"] >= 1 and x["owner"] == client_id for x in mine), mine
    assert mine[0]["committed"] == mine[1]["committed"] is not None  # stuck: not moving
    assert mine[0]["lag"] == mine[0]["end"] - mine[0]["committed"]
    assert first["dlq"][reason] == {"letters": 1, "pending": 1}
    assert first["outboxes"] == [
        {"channel": "file", "actor": files, "depth": 1, "not_copied": 0, "closed_with_error": 0},
        {"channel": "file", "actor": no_feed, "depth": 0, "not_copied": 0,
         "closed_with_error": 0},
        {"channel": "soap", "actor": soap, "depth": 2, "not_copied": 1, "closed_with_error": 0},
        {"channel": "webhook", "actor": actor, "depth": 1, "not_copied": 0,
         "closed_with_error": 1},
    ]
    assert first["outbox_depths"] == {"file": 1, "soap": 2, "webhook": 1}
    feeds = {f["actor"]: f for f in first["feeds"]}
    assert sorted(feeds) == sorted([actor, soap, files])
    feed = feeds[actor]
    assert feed["end_offset"] == 1 and feeds[soap]["end_offset"] == 3
    assert feed["age_s"] is not None and 0 <= feed["age_s"] < 120

    assert text.returncode == 0, text.stderr[-2000:]
    lines = text.stdout.splitlines()
    assert all(len(ln) <= 80 or " " not in ln.strip() for ln in lines), lines
    words = text.stdout.split()
    for name in (
        group,
        actor,
        soap,
        files,
        no_feed,
        reason,
        client_id,
        f"{topics.DEMANDES}:{part}",
        first["brokers"]["cluster_id"],
    ):
        assert name in words, (name, lines)
    assert any(ln.split()[:4] == ["soap", soap, "depth", "2"] and "not copied" in ln
               for ln in lines), lines  # fmt: skip
    assert (f"webhook {actor} depth 1; 1 closed with an error (hub deliver's log)"
            in " ".join(words)), lines  # fmt: skip


def _answers_ok(url: str) -> bool:
    """``url`` answers 200, as ``hub status``'s probe asks it (no proxy either)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=5) as resp:
            return bool(resp.status == 200)
    except OSError:  # not listening yet, or an HTTP error status
        return False


def test_status_shows_the_hub_workers_of_the_group(
    worker: WorkerProcess, hub_env: dict[str, str], settings: HubSettings
) -> None:
    url = f"http://{settings.monitoring.web_host}:{worker.env['HUB_WORKER__WEB_PORT']}"
    inputs = {f"{t}:{p}" for t in (topics.DEMANDES, topics.EVENEMENTS)
              for p in range(settings.kafka.partitions)}  # fmt: skip
    deadline = time.monotonic() + 90
    found: dict[str, Any] = {}
    while time.monotonic() < deadline:  # the worker joins, is assigned, commits
        assert worker.alive(), f"worker died; see {worker.log}"
        if not _answers_ok(f"{url}/health"):
            time.sleep(0.5)  # its health is asserted "ok" below: no `hub status` before
            continue
        res = hub(hub_env, "status", "--json")
        found = json.loads(res.stdout)
        mine = [m for m in found["members"] if m["worker_url"] == url]
        held = {p for m in found["members"] for p in m["partitions"]}
        lag = [x for x in found["lag"] if x["topic"] == topics.DEMANDES]
        if (found["group_state"] == "Stable" and mine and inputs <= held and lag
                and all(x["committed"] is not None for x in lag)):  # fmt: skip
            break
        time.sleep(1)
    else:
        raise AssertionError(f"the worker is not shown in its group: {found}")
    assert found["group"] == settings.worker.app_id and found["group_protocol"] == "faust"
    [member] = mine
    assert member["client_id"].startswith("faust")
    assert member["health"] == "ok", member  # its /health answered this command
    assert {x["owner"] for x in found["lag"]} <= {m["worker_url"] for m in found["members"]}
    for x in found["lag"]:
        if f"{x['topic']}:{x['partition']}" in member["partitions"]:
            assert (x["owner"], x["member"]) == (url, member["member_id"]), x
            if x["committed"] is None:  # never committed (no event yet): from the log start
                assert 0 <= x["lag"] <= x["end"], x
            else:
                assert x["lag"] == max(0, x["end"] - x["committed"])
    text = hub({**hub_env, "COLUMNS": "80"}, "status")
    words = text.stdout.split()
    assert url in words and "faust" in words, text.stdout


def test_status_without_a_broker_says_so(hub_env: dict[str, str], tmp_path: Path) -> None:
    env = {**hub_env, "HUB_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:1",
           "HUB_DATABASE__URL": f"sqlite:///{tmp_path / 'hub.db'}"}  # fmt: skip
    res = hub(env, "status", "--json", "--timeout", "3")
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr[-2000:]
    found = json.loads(res.stdout)
    assert found["brokers"]["reachable"] is False
    assert any(p.startswith("brokers: ") for p in found["problems"]), found["problems"]


def test_status_tells_a_killed_worker_from_a_live_one(
    hub_env: dict[str, str], settings: HubSettings, tmp_path: Path
) -> None:
    """Kafka keeps a worker killed with ``kill -9`` in its group until its session times
    out (audit D, S2): ``hub status`` lists it, reading its partitions, but says its
    ``/health`` address refuses. A group of its own: the session's worker is not disturbed
    by a member that stays dead for a session timeout."""
    group = f"passerelle-probe-{uuid.uuid4().hex[:8]}"
    env = {**hub_env, "HUB_WORKER__APP_ID": group}
    worker = WorkerProcess(env, tmp_path / "worker.log")
    url = f"http://{settings.monitoring.web_host}:{worker.env['HUB_WORKER__WEB_PORT']}"
    worker.start()
    try:
        deadline = time.monotonic() + 120
        found: dict[str, Any] = {}
        while True:
            assert worker.alive(), f"worker died; see {worker.log}"
            assert time.monotonic() < deadline, f"never shown healthy: {found}"
            if not _answers_ok(f"{url}/health"):
                time.sleep(0.5)  # `hub status` cannot show it "ok" yet: no CLI process
                continue
            found = json.loads(hub(env, "status", "--json", "--group", group).stdout)
            mine = [m for m in found["members"] if m["worker_url"] == url and m["partitions"]]
            if mine and mine[0]["health"] == "ok":
                break
            time.sleep(1)
        assert worker.proc is not None
        worker.proc.kill()  # SIGKILL: no leave-group request reaches the broker
        worker.proc.wait(timeout=10)
        res = hub({**env, "COLUMNS": "80"}, "status", "--json", "--group", group)
        after = json.loads(res.stdout)
        [dead] = [m for m in after["members"] if m["worker_url"] == url]
        assert dead["partitions"], dead  # still listed by Kafka: the case at hand
        assert dead["health"] == "refused", dead
        text = hub({**env, "COLUMNS": "80"}, "status", "--group", group).stdout
        assert "health REFUSED" in " ".join(text.split()), text
    finally:
        worker.stop()


def test_status_says_when_the_group_was_never_seen(hub_env: dict[str, str], tmp_path: Path) -> None:
    """Audit S, S-F8: a group the broker never saw (a typo, a host without the workers'
    HUB_WORKER__APP_ID) looked exactly like "no worker running, every record waiting":
    members 0, every partition read by nobody, no problem. Now a problem line says the
    group is unknown; an empty --group is a usage error, not the default group."""
    env = {**hub_env, "HUB_DATABASE__URL": f"sqlite:///{tmp_path / 'hub.db'}"}
    group = f"no-such-group-{uuid.uuid4().hex[:6]}"
    res = hub(env, "status", "--json", "--group", group)
    found = json.loads(res.stdout)
    assert found["members"] == [] and found["lag"], found
    unknown = [p for p in found["problems"] if "unknown to the broker" in p]
    assert len(unknown) == 1 and group in unknown[0], found["problems"]
    empty = hub(env, "status", "--group", " ")
    assert empty.returncode == 2 and "--group must name" in empty.stderr, empty.stderr[-500:]
