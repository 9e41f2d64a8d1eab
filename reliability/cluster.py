"""A private hub for one fault run: its own broker, registry, worker processes.

Nothing here touches the shared development broker: the broker listens on free ports
under a temporary home (its jars are linked from the shared stack's cache when present,
so no download), workers are ``hub worker`` subprocesses whose environment points at it.
Only processes started here are ever signalled, by their pid.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from hub.core import topics
from hub.core.errors import TransientError
from hub.core.kafka.admin import core_topics, ensure_topics
from hub.core.kafka.client import client_options, producer_options
from hub.core.settings import HubSettings
from hub.dev.stack.kafka import KafkaStack
from hub.domain.actors import Actor
from schemas import get_codec

APP_ID = "reliability-dispatch"
REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def health(port: int) -> tuple[int, dict[str, Any]]:
    """HTTP status and body of the ``/health`` of the worker listening on ``port``;
    (0, {}) while it does not listen or does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())
    except OSError:
        return 0, {}


def hold_healthy(worker: Worker, seconds: float) -> None:
    """Assert that ``worker``'s ``/health`` answers 200 throughout ``seconds`` (e.g. past
    its ``stall_after_s``), polled twice a second; the failure shows its log's end."""
    port = int(worker.env["HUB_WORKER__WEB_PORT"])
    since = time.monotonic()
    while time.monotonic() - since < seconds:
        status, _ = health(port)
        assert status == 200, f"/health {status}; log:\n{worker.log.read_text()[-3000:]}"
        time.sleep(0.5)


class Worker:
    """One ``hub worker`` subprocess (its own web port and log file)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = {**env, "HUB_WORKER__WEB_PORT": str(free_port())}
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as fh:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", "from hub.cli import main; main()", "worker",
                 "--loglevel", "info"],
                env=self.env, stdout=fh, stderr=subprocess.STDOUT, cwd=REPO)  # fmt: skip

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: signal.Signals, timeout: float = 60) -> float:
        """Send ``sig`` to this worker (only) and wait for it to exit; return the seconds
        it took. SIGKILL follows if it outlives ``timeout``."""
        if self.proc is None or self.proc.poll() is not None:
            return 0.0
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return time.monotonic() - t0


class PrivateHub:
    """Broker + SQLite registry + workers under ``home`` (see module doc)."""

    def __init__(self, home: Path, *, partitions: int = 4, batch_size: int = 100) -> None:
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        self.stack = KafkaStack(home=home, port=free_port(), controller_port=free_port())
        self._link_jars()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        self.env.update(
            HUB_HOME=str(home), HUB_KAFKA__BOOTSTRAP_SERVERS=self.stack.bootstrap,
            HUB_KAFKA__PARTITIONS=str(partitions), HUB_WORKER__APP_ID=APP_ID,
            HUB_WORKER__BATCH_SIZE=str(batch_size), HUB_WORKER__BATCH_WITHIN_S="0.02",
            HUB_DATABASE__URL=f"sqlite:///{home / 'hub.db'}")  # fmt: skip
        saved = dict(os.environ)
        os.environ.update(self.env)
        try:
            self.settings = HubSettings()
        finally:
            os.environ.clear()
            os.environ.update(saved)
        self.workers: list[Worker] = []

    def _link_jars(self) -> None:
        """Reuse the jars of the shared stack's cache (read-only) instead of fetching."""
        cached = REPO / ".hub" / "kafka" / self.stack.libs_dir.name
        if not self.stack.has_jars and cached.is_dir():
            self.stack.root.mkdir(parents=True, exist_ok=True)
            self.stack.libs_dir.symlink_to(cached)

    # -- broker ------------------------------------------------------------------------
    def up(self) -> None:
        self.stack.up(timeout=120)
        asyncio.run(ensure_topics(self.settings, core_topics(self.settings)))

    def down(self) -> None:
        for w in self.workers:
            w.signal(signal.SIGKILL)
        self.stack.down()

    # -- workers -----------------------------------------------------------------------
    def start_worker(self) -> Worker:
        w = Worker(self.env, self.home / f"worker-{len(self.workers)}.log")
        w.start()
        self.workers.append(w)
        return w

    def worker_logs(self) -> list[Path]:
        return [w.log for w in self.workers]

    # -- data in -----------------------------------------------------------------------
    def register(self, actors: list[Actor]) -> None:
        """Register through the real registry service and Kafka publisher."""
        from hub.core.db import make_engine, migrate
        from hub.domain.geo import get_geography
        from hub.stores.registry.publisher import KafkaActorPublisher
        from hub.stores.registry.service import ActorService
        from hub.stores.registry.store import ActorStore

        engine = make_engine(self.settings.database_url)
        migrate(engine)
        service = ActorService(ActorStore(engine), get_geography(),
                               publisher=KafkaActorPublisher(self.settings))  # fmt: skip
        for actor in actors:
            service.add_or_update(actor)

    async def publish(self, events: list[dict[str, object]]) -> None:
        codec = get_codec()
        producer = AIOKafkaProducer(**producer_options(self.settings))
        await producer.start()
        try:
            for ev in events:
                await producer.send(topics.DEMANDES, codec.encode("DemandeEvent", ev),
                                    key=str(ev["numUnique"]).encode())  # fmt: skip
            await producer.flush()
        finally:
            await producer.stop()

    # -- progress ----------------------------------------------------------------------
    async def partition_offsets(self, topic: str) -> list[tuple[int, int]]:
        """Per partition of ``topic``: (end offset, offset committed by the dispatch group;
        0 when none)."""
        admin = AIOKafkaAdminClient(**client_options(self.settings))
        from aiokafka import AIOKafkaConsumer

        consumer = AIOKafkaConsumer(**client_options(self.settings), group_id=None)
        try:
            await admin.start()
            await consumer.start()
            tps = [TopicPartition(topic, p) for p in range(self.settings.kafka.partitions)]
            ends = await consumer.end_offsets(tps)
            committed = await admin.list_consumer_group_offsets(APP_ID)
            return [(ends[tp], max(committed[tp].offset, 0) if tp in committed else 0)
                    for tp in tps]  # fmt: skip
        finally:
            await consumer.stop()
            await admin.close()

    async def _progress(self) -> tuple[int, int]:
        """(records on hub.demandes, offsets committed by the dispatch group)."""
        offsets = await self.partition_offsets(topics.DEMANDES)
        return sum(end for end, _ in offsets), sum(done for _, done in offsets)

    def progress(self) -> tuple[int, int]:
        try:
            return asyncio.run(self._progress())
        except Exception as exc:  # broker down during a fault: progress unknown
            raise TransientError(f"progress unavailable: {type(exc).__name__}") from exc

    def feed_total(self, actor_ids: list[str]) -> int:
        from hub.services.feeds import feed_sizes

        try:
            return sum(asyncio.run(feed_sizes(self.settings, actor_ids)).values())
        except Exception:
            return -1

    def wait_drained(self, timeout: float) -> float:
        """Wait until the dispatch group committed every input; return the seconds taken."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            try:
                end, done = self.progress()
                if end > 0 and done >= end:
                    return time.monotonic() - t0
            except TransientError:
                pass
            time.sleep(0.5)
        raise TransientError(f"inputs not all committed within {timeout:g}s\n{self.diagnosis()}")

    def diagnosis(self, lines: int = 25) -> str:
        """What a stuck run needs to be understood from a CI log alone: per partition of
        hub.demandes its end and committed offsets, and the tail of each worker's log."""
        try:
            offsets = asyncio.run(self.partition_offsets(topics.DEMANDES))
            parts = ", ".join(f"p{p}: {done}/{end}" for p, (end, done) in enumerate(offsets))
        except Exception as exc:
            parts = f"unavailable ({type(exc).__name__})"
        out = [f"committed/end per partition: {parts}"]
        # a live worker's tasks and threads (mode's SIGUSR1 handler logs their stacks)
        alive = [w for w in self.workers if w.alive()]
        for w in alive:
            if w.proc is not None:
                w.proc.send_signal(signal.SIGUSR1)
        if alive:
            time.sleep(3)
        for w in self.workers:
            state = "alive" if w.alive() else f"exited {w.proc.returncode if w.proc else None}"
            n = lines * 12 if w in alive else lines
            tail = w.log.read_text(errors="replace").splitlines()[-n:] if w.log.exists() else []
            out.append(f"--- {w.log.name} ({state}), last {len(tail)} lines:")
            out.extend(line[:300] for line in tail)
        return "\n".join(out)
