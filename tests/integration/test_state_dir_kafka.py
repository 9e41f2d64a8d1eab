"""Real workers on the shared broker (independent audit G, G1, G2, G3).

* Two app ids on one home and one web port: the state folder was
  ``<home>/faust/<cluster>/w<port>`` whatever the app id, so the second app id's worker
  opened the first one's RocksDB and faust stopped it at every start (ConsistencyError:
  the persisted offsets above the end of its own, new, changelog). Each app id now has
  its folder (dispatch/runtime/statedir.py).
* The upgrade from that layout: the former folder goes to the app id whose changelog it
  matches, by a rename; another app id leaves it alone.
* A fresh worker's ``/metrics`` holds, before anything happened, the series the alerts
  need: the removed-records and dead-letter counters at 0, the last-event gauge at the
  process's start.

Each worker group starts at the current end of the inputs (offsets committed before its
first start): it reads only what this test publishes, not the shared broker's history.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from connectors.ingress.publishing import prepare_event, publish_events
from dispatch.runtime.statedir import app_folder, databases, persisted_offsets
from hub.core import topics
from hub.core.kafka.admin import cluster_id, core_topics, ensure_topics
from hub.core.kafka.client import client_options
from hub.core.settings import HubSettings
from monitoring.recorder import DEAD_LETTER_REASONS
from tests.integration.conftest import WorkerProcess, _free_port
from tests.support.demandes import demande_event, new_num_unique
from tests.support.worker_metrics import scrape

pytestmark = pytest.mark.kafka

ROUEN = "76540"
INPUTS = (topics.DEMANDES, topics.EVENEMENTS)


def _tps(settings: HubSettings, names: tuple[str, ...] = INPUTS) -> list[TopicPartition]:
    return [TopicPartition(t, p) for t in names for p in range(settings.kafka.partitions)]


async def _ends(settings: HubSettings) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(**client_options(settings), group_id=None)
    await consumer.start()
    try:
        return dict(await consumer.end_offsets(_tps(settings)))
    finally:
        await consumer.stop()


async def _commit_at_end(settings: HubSettings, group: str) -> None:
    """The group starts where the inputs end now (it has no member yet)."""
    ends = await _ends(settings)
    consumer = AIOKafkaConsumer(**client_options(settings), group_id=group,
                                enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    try:
        consumer.assign(list(ends))
        await consumer.commit(ends)
    finally:
        await consumer.stop()


async def _committed(settings: HubSettings, group: str) -> dict[TopicPartition, int]:
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        done = await admin.list_consumer_group_offsets(group)
        return {tp: meta.offset for tp, meta in done.items()}
    finally:
        await admin.close()


def _publish(settings: HubSettings, count: int) -> dict[TopicPartition, int]:
    """``count`` new demands on hub.demandes; the inputs' ends after them."""
    events = [demande_event(new_num_unique(), [ROUEN]) for _ in range(count)]
    asyncio.run(publish_events(settings, [prepare_event(e) for e in events]))
    return asyncio.run(_ends(settings))


def _tail(worker: WorkerProcess) -> str:
    return worker.log.read_text(errors="replace")[-4000:]


def _wait_committed(settings: HubSettings, group: str, ends: dict[TopicPartition, int],
                    worker: WorkerProcess, timeout: float = 120) -> None:  # fmt: skip
    deadline = time.monotonic() + timeout
    while True:
        assert worker.alive(), f"worker of {group} exited:\n{_tail(worker)}"
        done = asyncio.run(_committed(settings, group))
        late = {tp: (done.get(tp), end) for tp, end in ends.items()
                if tp.topic == topics.DEMANDES and (done.get(tp) or 0) < end}  # fmt: skip
        if not late:
            return
        assert time.monotonic() < deadline, f"{group} not committed: {late}\n{_tail(worker)}"
        time.sleep(1)


def _wait_log(worker: WorkerProcess, text: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while text not in worker.log.read_text(errors="replace"):
        assert worker.alive(), f"worker exited before logging {text!r}:\n{_tail(worker)}"
        assert time.monotonic() < deadline, f"{text!r} never logged:\n{_tail(worker)}"
        time.sleep(0.5)


def _metrics(port: int, worker: WorkerProcess, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return scrape(port)
        except OSError:
            assert worker.alive(), f"worker exited:\n{_tail(worker)}"
            assert time.monotonic() < deadline, f"/metrics never answered:\n{_tail(worker)}"
            time.sleep(0.5)


def _assigned(port: int, worker: WorkerProcess, timeout: float = 90) -> None:
    """Wait until the worker holds input partitions (its state recovered)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if any(name == "passerelle_consumer_lag" for name, _ in scrape(port)):
                return
        except OSError:
            pass
        assert worker.alive(), f"worker exited:\n{_tail(worker)}"
        assert time.monotonic() < deadline, f"no partition assigned:\n{_tail(worker)}"
        time.sleep(0.5)


def test_two_app_ids_on_one_home_and_port(
    settings: HubSettings, hub_env: dict[str, str], tmp_path: Path
) -> None:
    asyncio.run(ensure_topics(settings, core_topics(settings)))
    home = tmp_path / "home"
    port = _free_port()
    run = uuid.uuid4().hex[:8]
    a_id, b_id = f"statedir-a-{run}", f"statedir-b-{run}"
    workers: list[WorkerProcess] = []

    def start(app_id: str) -> WorkerProcess:
        env = {**hub_env, "HUB_HOME": str(home), "HUB_WORKER__APP_ID": app_id}
        w = WorkerProcess(env, tmp_path / f"worker-{len(workers)}-{app_id}.log")
        w.env["HUB_WORKER__WEB_PORT"] = str(port)  # the same port for every worker
        workers.append(w)
        w.start()
        return w

    try:
        # -- app id A: a fresh worker, then some state --------------------------------
        asyncio.run(_commit_at_end(settings, a_id))
        a = start(a_id)
        fresh = _metrics(port, a)
        for topic in INPUTS:  # G2: the counters exist, at 0, before anything happened
            assert ("passerelle_input_records_removed_total",
                    frozenset({("topic", topic)})) in fresh, topic  # fmt: skip
        for reason in DEAD_LETTER_REASONS:
            assert ("passerelle_dead_letters_total", frozenset({("reason", reason)})) in fresh
        # G3: the last event is the process's start until a first record is finished
        started = fresh[("process_start_time_seconds", frozenset())]
        last = fresh.get(("passerelle_agent_last_event_timestamp_seconds",
                          frozenset({("agent", "dispatch")})))  # fmt: skip
        assert last is not None and started <= last <= time.time() + 1, (started, last)

        _wait_committed(settings, a_id, _publish(settings, 12), a)
        a.stop()
        port_dir = home / "faust" / asyncio.run(cluster_id(settings)) / f"w{port}"
        a_dir = port_dir / app_folder(a_id)
        persisted_a = persisted_offsets(databases(a_dir))
        assert persisted_a, f"no state persisted under {a_dir}"

        # -- app id B on the same home and port: it used to crash on A's databases -----
        asyncio.run(_commit_at_end(settings, b_id))
        b = start(b_id)
        _wait_committed(settings, b_id, _publish(settings, 12), b)
        assert b.alive()
        assert "ConsistencyError" not in b.log.read_text(errors="replace")
        b.stop()
        b_dir = port_dir / app_folder(b_id)
        assert persisted_offsets(databases(b_dir))
        assert persisted_offsets(databases(a_dir)) == persisted_a  # A's state untouched

        # -- the upgrade: A's state as the former layout left it (w<port>/v1) ----------
        (a_dir / "v1").rename(port_dir / "v1")
        a_dir.rmdir()
        for p in sorted(b_dir.rglob("*"), reverse=True):  # B never ran with the new layout
            p.rmdir() if p.is_dir() else p.unlink()
        b_dir.rmdir()
        inode = (port_dir / "v1" / "tables").stat().st_ino

        # B finds it first: A's state does not match B's changelog, left in place
        b = start(b_id)
        _wait_log(b, "does not match")
        _assigned(port, b)
        assert (port_dir / "v1" / "tables").stat().st_ino == inode
        _wait_committed(settings, b_id, _publish(settings, 4), b)
        b.stop()
        assert persisted_offsets(databases(port_dir)) == persisted_a

        # A finds it: its own, moved (renamed, not rebuilt), and A dispatches on
        a = start(a_id)
        _wait_log(a, "moved from")
        assert not (port_dir / "v1").exists()
        assert (a_dir / "v1" / "tables").stat().st_ino == inode
        _wait_committed(settings, a_id, _publish(settings, 4), a)
        assert "ConsistencyError" not in a.log.read_text(errors="replace")
        a.stop()
    finally:
        for w in workers:
            w.stop()
