"""Wiring: the faust app, its topics, the state table and the agents.

Declarations and wiring live here; the logic is in ``dispatch.processor``,
``dispatch.parking``, ``dispatch.evenements`` and ``hub.domain.decisions``. The agent only
turns faust events into plain calls; it reads ``hub.demandes`` and ``hub.evenements``
together (a gestion partagée event is decided against the same states as its demand's
events). Settings reach the faust objects through this factory: the transport gets a
:class:`~dispatch.runtime.transport.RuntimeConfig`, the sensor and the agents their values
as arguments and closures; nothing is hung on the App.
"""

from __future__ import annotations

import functools
import gc
import logging
from typing import Any

import faust
from faust.tables import TableManager
from mode import CrashingSupervisor

from dispatch.actors_loader import load_actors
from dispatch.cotation import install as install_scoring
from dispatch.deadlines import Deadlines
from dispatch.known_letters import recent_letters
from dispatch.letters import record_headers
from dispatch.parking import Parking
from dispatch.pipeline import Pipeline
from dispatch.processor import InputRecord, Processor
from dispatch.runtime.credentials import faust_credentials
from dispatch.runtime.sender import KafkaSender
from dispatch.runtime.statedir import state_dir
from dispatch.runtime.tablestore import ROCKSDB_OPTIONS, table_store
from dispatch.runtime.transport import RuntimeConfig
from dispatch.runtime.transport import install as install_transport
from dispatch.runtime.web import install_monitoring
from dispatch.scoring_ports import worker_scoring
from hub.core import topics
from hub.core.kafka.client import producer_options
from hub.core.settings import HubSettings, WorkerSettings
from hub.domain.geo import get_geography
from hub.domain.matching import TerritoryIndex
from schemas import get_codec

log = logging.getLogger(__name__)


def _millis(seconds: float | None) -> int | None:
    """faust gives a record's Kafka timestamp in seconds (float); None or 0 when absent."""
    return int(seconds * 1000) if seconds else None


def _settled(app: faust.App, sensor: Any, stats: Any, events: Any) -> None:
    """A batch's outputs are acknowledged and its states stored: release its inputs for
    commit (the last reference, see the agent) and count it."""
    for e in events:
        message = e.message
        if message.ack(app.consumer):
            app.sensors.on_message_out(message.tp, message.offset, message)
    sensor.on_batch(stats)
    log.debug("dispatch batch: %s", stats)


class DeclaredTables(TableManager):
    """faust's table manager, without the second its start sleeps first (for tables an
    app would declare once started: the conductor subscribes to nothing until then, so
    every worker start waited it). :func:`create_app` declares the app's one table before
    the worker starts; a table declared later is refused ("Too late to add tables")."""

    async def on_start(self) -> None:
        if not self.should_stop:
            await self._update_channels()
            await self.recovery.start()


def create_app(settings: HubSettings, cluster: str | None = None) -> faust.App:
    k = settings.kafka
    opts = producer_options(settings)
    # One directory per broker cluster (state of a wiped broker is never reused), per
    # worker of this host (its web port: RocksDB locks its files) and per app id (one
    # changelog's state); a folder of the former layout is moved when it is this app id's
    # (dispatch.runtime.statedir). Owner-only: the state store holds personal data.
    datadir = state_dir(settings, cluster)
    app = faust.App(
        settings.worker.app_id,
        # never built from this scheme (install_transport gives the app its transports):
        # a transport faust would build itself fails here instead of running without ours
        broker=f"passerelle://{k.bootstrap_servers}",
        store="rocksdb://" if settings.worker.store == "rocksdict" else "memory://",
        datadir=str(datadir),
        topic_partitions=k.partitions,
        topic_replication_factor=k.replication_factor,
        table_standby_replicas=0,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_linger_ms=opts["linger_ms"],
        producer_compression_type=opts["compression_type"],
        producer_max_batch_size=opts["max_batch_size"],
        # faust's default, named: the processor refuses an input whose record is larger
        # (WorkerSettings bounds max_record_bytes below it; docs/limits.md)
        producer_max_request_size=WorkerSettings.PRODUCER_MAX_REQUEST_BYTES,
        web_enabled=True,
        web_port=settings.worker.web_port,
        web_host=settings.monitoring.web_host,
        # where the server listens (faust's default is every interface, 0.0.0.0)
        web_bind=settings.monitoring.web_host,
        key_serializer="raw",
        value_serializer="raw",
        broker_credentials=faust_credentials(settings),  # SASL/SCRAM when configured
        broker_session_timeout=settings.worker.session_timeout_s,
        broker_heartbeat_interval=settings.worker.heartbeat_interval_s,
        TableManager=DeclaredTables,
    )
    # before anything below touches app.transport (faust would build its own)
    install_transport(app, RuntimeConfig(
        shutdown_timeout_s=settings.worker.shutdown_timeout_s,
        fetch_max_wait_ms=settings.worker.fetch_max_wait_ms,
        # the agents' inputs, whose records BoundedConsumer hands out without a hole
        input_topics=frozenset({topics.DEMANDES, topics.EVENEMENTS})))  # fmt: skip
    # one agent reads both inputs, co-partitioned: a gestion partagée event is decided in
    # the same batches as its demand's events, against the same states (dispatch.parking)
    inputs = app.topic(topics.DEMANDES, topics.EVENEMENTS, key_type=bytes, value_type=bytes,
                       partitions=k.partitions)  # fmt: skip
    table = app.Table(
        "demande-state",
        default=None,
        key_type=bytes,
        value_type=bytes,
        partitions=k.partitions,
        options=dict(ROCKSDB_OPTIONS) if settings.worker.store == "rocksdict" else None,
    )
    codec = get_codec()
    index = TerritoryIndex(get_geography())
    sender = KafkaSender(app)
    # the score in feed records and its clock (dispatch.cotation, dispatch.declarations)
    scoring = worker_scoring(settings.database_url)
    install_scoring(scoring)
    # hub.evenements records of demands not known yet (dispatch.parking)
    parking = Parking(settings.worker.parked_evenements_max,
                      int(settings.worker.parked_evenement_ttl_s * 1000))  # fmt: skip
    processor = Processor(
        index,
        codec,
        table_store(table, k.partitions, settings.worker.store),
        sender,
        max_consecutive_dead_letters=settings.worker.max_consecutive_dead_letters,
        max_record_bytes=settings.worker.max_record_bytes,
        max_output_bytes=WorkerSettings.PRODUCER_MAX_REQUEST_BYTES,
        redispatch_chunk=settings.worker.redispatch_chunk,
        deadlines=Deadlines(settings.clock.notice_months, scoring=scoring),
        due_chunk=settings.clock.due_chunk,
        parking=parking,
    )

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def _forget_revoked(_app: Any, revoked: set[Any], **_: Any) -> None:
        names = (topics.DEMANDES, topics.EVENEMENTS)
        processor.forget_partitions({tp.partition for tp in revoked if tp.topic in names})

    # metrics, lag, /metrics and /health (issue 5): fed by a faust sensor + batch stats
    # the one agent reads both topics: a partition of either that stops moving is a stall
    sensor = install_monitoring(
        app, settings, agents={topics.DEMANDES: "dispatch", topics.EVENEMENTS: "dispatch"}
    )

    # A crashed agent stops the whole worker (non-zero exit; a supervisor restarts it)
    # instead of faust restarting the agent on the next record: what the crashed batch
    # held is neither committed nor skipped, it is read again by the next worker.
    @app.agent(inputs, name="dispatch", supervisor_strategy=CrashingSupervisor)
    async def dispatch(stream: Any) -> None:
        loaded = await load_actors(settings, index)
        log.info("dispatch: %d actors loaded from %s", loaded, topics.ACTORS)
        await sender.warm([topics.feed_topic(a.id) for a in index.actors()])
        # not written twice: what a worker stopped by the dead-letter cap already wrote
        processor.known_letters.add_all(
            await recent_letters(settings, 2 * settings.worker.max_consecutive_dead_letters)
        )
        # The geography, the actor index and faust's own objects live as long as the
        # worker: kept out of the collector's generations, a full collection no longer
        # walks them (pauses of tens of ms otherwise land in the latency tail).
        gc.collect()
        gc.freeze()
        pipeline = Pipeline(processor, functools.partial(_settled, app, sensor))
        try:
            async for events in stream.take_events(
                settings.worker.batch_size, settings.worker.batch_within_s
            ):
                batch = [
                    InputRecord(
                        topic=e.message.topic,
                        partition=e.message.partition,
                        offset=e.message.offset,
                        key=e.message.key,
                        value=e.message.value,
                        headers=record_headers(e.message.headers),
                        timestamp_ms=_millis(e.message.timestamp),
                    )
                    for e in events
                ]
                # faust acks the events when this body returns; one more reference keeps
                # their offsets uncommitted until the batch is settled (_settled)
                for e in events:
                    e.message.incref()
                await pipeline.push(batch, events)
        finally:
            await pipeline.close(settings.worker.shutdown_timeout_s)

    if settings.clock.tick_interval_s > 0:  # the demand's clock (dispatch.ticks)
        from dispatch.ticks import tick_assigned

        @app.timer(settings.clock.tick_interval_s, name="passerelle-clock-tick")  # type: ignore[untyped-decorator]
        async def clock_tick() -> None:
            try:
                # the partitions this worker owns now
                await tick_assigned(app.assignor.assigned_actives(), processor, codec, sender)
            except Exception as exc:  # the next tick tries again; nothing is lost
                log.warning("clock tick not written: %s: %s", type(exc).__name__, exc)

    return app
