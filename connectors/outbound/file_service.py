"""Running the DIS outboxes of every actor whose delivery channel is ``file``.

The registry (the database) says which actors deliver by file and where. The long-running
mode re-reads it every ``files.outbox_refresh_s`` seconds: a new file actor gets its
outbox, one removed or switched to another channel loses it (and its
``passerelle_outbox_depth`` and delivered records are no longer exported), and an outbox
that failed (Kafka down) is restarted at the next refresh, resuming from its committed
offset. Each registry read sets
``passerelle_delivery_last_round_timestamp_seconds{channel="file"}`` (the process's
start until the first); each actor taken up exports
``passerelle_records_delivered_total{channel="file",actor}`` from 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from connectors.outbound.file import run_actor
from connectors.shape import ConnectorStats, describe, wait_or_stop
from hub.core.db import make_engine, migrate
from hub.core.errors import ConfigError
from hub.core.kafka.feed_stops import UNRESOLVED
from hub.core.settings import HubSettings
from hub.domain.actors import Actor
from hub.stores.registry.store import ActorStore
from monitoring import recorder

log = logging.getLogger(__name__)


def file_actors(settings: HubSettings, only: str | None = None) -> list[Actor]:
    """The registered actors delivering by file (``only``: that actor, which must)."""
    engine = make_engine(settings.database_url)
    migrate(engine)
    store = ActorStore(engine)
    if only is not None:
        actor = store.get(only)  # NotFoundError names it
        if actor.delivery.channel != "file":
            raise ConfigError(f"actor {only!r} delivers by {actor.delivery.channel}, not by file")
        return [actor]
    return [a for a in store.list() if a.delivery.channel == "file"]


async def run_once(settings: HubSettings, only: str | None = None) -> dict[str, ConnectorStats]:
    """Write every file actor's pending feed records as DIS files, then return. An actor
    whose feed stops at a record whose writer schema cannot be resolved does not hold up
    the others: its :class:`ConfigError` (code ``unknown_schema``) is raised once every
    actor was served."""
    done: dict[str, ConnectorStats] = {}
    held: ConfigError | None = None
    for actor in file_actors(settings, only):
        try:
            done[actor.id] = await run_actor(settings, actor, once=True)
        except ConfigError as exc:
            if exc.code != UNRESOLVED:
                raise
            held = held or exc
    if held is not None:
        raise held
    return done


class FileOutbox:
    """The DIS file outbox connector (``hub files outbox``;
    :class:`connectors.shape.Connector`): one outbox task per file actor (``only``: that
    actor), the registry re-read every ``files.outbox_refresh_s`` seconds (see the module
    doc) until ``stop``. ``stats.counts``: ``files`` and ``records`` written; a pass is
    a refresh, a failure an actor's outbox that stopped (restarted at the next refresh).
    Metrics: one connector call ``files``/``outbox`` per DIS file."""

    name = "files_outbox"
    section = "files"

    def __init__(self, settings: HubSettings, only: str | None = None) -> None:
        self.settings, self.only = settings, only
        self.stats = ConnectorStats()

    async def run(self, stop: asyncio.Event) -> None:
        settings, only = self.settings, self.only
        running: dict[str, tuple[Actor, asyncio.Task[ConnectorStats]]] = {}
        recorder.delivery_round("file", recorder.process_start_time())
        try:
            while not stop.is_set():
                wanted = {a.id: a for a in file_actors(settings, only)}
                recorder.delivery_round("file")
                for actor_id, (actor, task) in list(running.items()):
                    if task.done():
                        if not task.cancelled() and task.exception() is not None:
                            self.stats.failed(task.exception() or Exception())
                            log.warning(
                                "outbox of actor %s stopped: %s",
                                actor_id,
                                describe(task.exception()),
                            )
                    elif wanted.get(actor_id) == actor:
                        continue
                    else:  # removed, or its delivery changed
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError, Exception):
                            await task
                        if actor_id not in wanted:  # not its last depth for ever (S-F5)
                            recorder.outbox_gone(actor_id, ["file"])
                    del running[actor_id]
                for actor_id, actor in wanted.items():
                    if actor_id not in running:
                        recorder.outbox_taken_up("file", actor_id)
                        running[actor_id] = (
                            actor,
                            asyncio.create_task(
                                run_actor(settings, actor, once=False, stop=stop, totals=self.stats)
                            ),
                        )
                self.stats.succeeded()
                await wait_or_stop(stop, settings.files.outbox_refresh_s)
        finally:
            for _, task in running.values():
                task.cancel()
            for _, task in running.values():
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
