"""The DIS outbox of one actor: a consumer of ``hub.feed.<actor_id>`` writing DIS files.

Per batch of feed records (one partition, offsets ``first..last``):

1. the records are decoded (a record that does not decode stops this actor's outbox with
   a :class:`DecodeError`: nothing is skipped silently). A record whose writer schema
   this process cannot resolve (``unknown_schema``: a schema registry answering 404 for
   its id, an empty ``HUB_REGISTRY__URL``, a newer release's FeedRecord) is a deployment
   problem, not bad input: the batch ends before it, and that partition stops at it (at
   the batch's first record when the batch replays a pending intent, written whole or
   not at all) with one error line naming the feed, the offset and what to fix, said
   again every 5 min (:mod:`hub.core.kafka.feed_stops`). The long-running outbox asks
   again with the hub's back-off (5 s doubling to 60 s) and resumes there, with a line,
   once it resolves (:class:`hub.core.kafka.feed_holds.FeedHolds`); ``once`` writes the
   other partitions to their end, then raises :class:`~hub.core.errors.ConfigError`
   (code ``unknown_schema``) with that line. The gauge
   ``passerelle_outbox_feeds_stopped{channel="file"}`` counts the partitions held;
2. the range is saved as an *intent* in ``<root>/.state/outbox-<actor>.json`` (fsynced);
3. the records are cut to the actor's profile as the registry holds it now, read once per
   file (:func:`prepare_batch`; independent audit F1): a record written for a wider
   profile before a downgrade is written cut to the new one, never wider than its own cut
   (:func:`hub.domain.recut.recut`); an actor the registry holds removed gets no file (its
   outbox stops with a :class:`~hub.core.errors.NotFoundError`);
4. each record carrying personal data (``demande`` not null) is appended to the audit trail
   (``audit_deliveries``, channel ``file``, time = now, hub.stores.audit.recorder.insert_rows) in
   the hub's database (``settings.database_url``), *before* the file exists: no file is
   ever readable by the receiver without its audit rows. A replay of the same range finds
   them recorded (key: event id, kind, actor, channel) and adds none. A record XML cannot
   hold (:func:`connectors.files.disfile.check_renderable`) is written without its
   document, with a ``nonRendu`` attribute giving the reason (one error line logged): no
   personal data of it left the hub, so its audit row says so (outcome ``unsent``, reason
   ``unrenderable``, with its event id: a replay adds none), it counts one
   ``passerelle_records_closed_undelivered_total{channel="file"}`` (once: when that row
   is new), and it never stops the outbox;
5. the file ``DIS_<actor>_p<partition>_<first>-<last>.xml`` is written atomically (temp
   file in the same folder, fsync, rename, folder fsync), owner-only (0600; a missing
   outbox folder is created 0700);
6. only then offset ``last + 1`` is committed for group ``passerelle-files-<actor_id>``.

After a crash the consumer restarts at the committed offset. If the intent starts there,
exactly the intent's range is read again and the same name rewritten with the same bytes
(the batch boundaries do not depend on what the broker returns this time): no record is
lost and none lands in two different files (the same bytes unless the actor's profile
changed in between: the range is then cut to the profile of the replay, never wider, and
keeps the audit rows of the first write). A receiver that already took the first copy
sees the same name again and must treat a name it has seen as already processed.

Metrics: each DIS file (write and commit) counts one connector call ``connector="files"``,
operation ``outbox``; at each round ``passerelle_outbox_depth`` of the actor is set to the
feed records not yet written (end offsets minus positions, at the start of the round);
``passerelle_records_delivered_total{channel="file"}`` counts the records written (those
written without their document are counted closed undelivered instead).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from datetime import UTC, datetime
from functools import partial
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from connectors.files import layout
from connectors.files.disfile import check_renderable, render_batch
from connectors.files.fsutil import exclusive_lock, remove_stale_tmp, write_atomic
from connectors.outbound.recut import current_profile
from connectors.shape import ConnectorStats, audit_rows, wait_or_stop
from hub.core import topics
from hub.core.db import make_engine, migrate
from hub.core.errors import (
    ConfigError,
    DecodeError,
    NotFoundError,
    TransientError,
    UnrenderableError,
)
from hub.core.kafka.client import client_options, topic_partitions
from hub.core.kafka.feed_holds import FeedHolds
from hub.core.kafka.feed_stops import UNRESOLVED, Reader, Stops, is_unresolved
from hub.core.private import private_dir
from hub.core.settings import HubSettings
from hub.domain.actors import Actor
from hub.domain.recut import recut
from hub.stores.audit.recorder import insert_rows
from hub.stores.audit.store import UNSENT, closed_row
from monitoring import recorder
from schemas import get_codec

log = logging.getLogger(__name__)

#: longest wait for the records of a pending intent before giving up (TransientError)
REPLAY_TIMEOUT_S = 60.0
#: the reason of a record written without its document (audit row, metric label)
NOT_RENDERED = "unrenderable"
#: the outbox's words in its stop lines
DIS = Reader(what="DIS outbox of", command="hub files outbox", done="written")
#: where a partition stops: the offset read again, the record asked for, why
Held = tuple[int, bytes, DecodeError]


def group_id(actor_id: str) -> str:
    return f"passerelle-files-{actor_id}"


class _Intents:
    """The pending range per partition, persisted before each DIS file is written."""

    def __init__(self, settings: HubSettings, actor_id: str) -> None:
        self.folder = layout.state_dir(settings)
        self.name = f"outbox-{actor_id}.json"
        try:
            raw = json.loads((self.folder / self.name).read_bytes())
            self.ranges = {int(p): (int(r[0]), int(r[1])) for p, r in raw.items()}
        except (FileNotFoundError, ValueError, TypeError, AttributeError, IndexError):
            self.ranges = {}

    def save(self, partition: int, first: int, last: int) -> None:
        self.ranges[partition] = (first, last)
        data = json.dumps({str(p): list(r) for p, r in self.ranges.items()}).encode()
        write_atomic(self.folder, self.name, data)


async def _take(
    consumer: AIOKafkaConsumer,
    tp: TopicPartition,
    position: int,
    intent: tuple[int, int] | None,
    max_records: int,
) -> list[ConsumerRecord]:
    """The next batch of ``tp``: the pending intent's exact range if it starts at
    ``position``, else what one fetch returns (at most ``max_records``; may be empty)."""
    if intent is None or intent[0] != position:
        batch = await consumer.getmany(tp, timeout_ms=500, max_records=max_records)
        return list(batch.get(tp, []))
    last = intent[1]
    records: list[ConsumerRecord] = []
    deadline = time.monotonic() + REPLAY_TIMEOUT_S
    while True:
        batch = await consumer.getmany(tp, timeout_ms=500, max_records=max_records)
        msgs = batch.get(tp, [])
        records += [m for m in msgs if m.offset <= last]
        if msgs and msgs[-1].offset >= last:
            consumer.seek(tp, last + 1)  # what was read past the range opens the next batch
            return records
        if time.monotonic() > deadline:
            raise TransientError(f"feed {tp.topic}: offsets up to {last} not readable")


def _decode(
    codec: Any, msgs: list[ConsumerRecord], replay: bool
) -> tuple[list[tuple[int, dict[str, Any]]], Held | None]:
    """The records of a batch that decode, up to the first whose writer schema cannot be
    resolved, and where the partition then stops (None: all decode): at that record, or
    with nothing decoded at the batch's first when ``replay`` (a pending intent's range is
    written whole: a shorter file would put its records in two files). A record that
    does not decode at all raises its :class:`DecodeError`."""
    decoded: list[tuple[int, dict[str, Any]]] = []
    for m in msgs:
        try:
            decoded.append((m.offset, codec.decode_as(m.value, "FeedRecord")))
        except DecodeError as exc:
            if not is_unresolved(exc):
                raise
            if replay:
                return [], (msgs[0].offset, m.value or b"", exc)
            return decoded, (m.offset, m.value or b"", exc)
    return decoded, None


def _unrendered(decoded: list[tuple[int, dict[str, Any]]]) -> dict[int, str]:
    """Offset -> reason of the records of a batch XML cannot hold (written without their
    document: see the module doc)."""
    reasons: dict[int, str] = {}
    for offset, rec in decoded:
        try:
            check_renderable(rec)
        except UnrenderableError as exc:
            reasons[offset] = exc.message
    return reasons


def _audit(
    engine: Engine,
    actor_id: str,
    decoded: list[tuple[int, dict[str, Any]]],
    unrendered: dict[int, str],
) -> None:
    """Record the deliveries of personal data of one DIS file (channel ``file``) and its
    records written without their document (outcome ``unsent``), counting those once."""
    now = datetime.now(UTC)
    sent = (rec for offset, rec in decoded if offset not in unrendered)
    insert_rows(engine, audit_rows(actor_id, "file", sent, now, replayable=True))
    closed = [closed_row(actor_id, "file", rec, now, UNSENT, NOT_RENDERED, replayable=True)
              for offset, rec in decoded if offset in unrendered]  # fmt: skip
    recorder.records_closed("file", NOT_RENDERED, actor_id, insert_rows(engine, closed))


def prepare_batch(
    engine: Engine, actor: Actor, decoded: list[tuple[int, dict[str, Any]]]
) -> tuple[list[tuple[int, dict[str, Any]]], dict[int, str]]:
    """The records of one DIS file as ``actor`` may receive them now, audited: each cut
    to the actor's profile read from the registry at this call
    (:func:`connectors.outbound.recut.current_profile`, :func:`hub.domain.recut.recut`),
    then their audit rows written (:func:`_audit`: the profile applied, before the file
    exists). Returns the cut records (what :func:`render_batch` writes) and the reasons of
    those written without their document. :class:`~hub.core.errors.NotFoundError` when
    the registry holds the actor removed: nothing is written."""
    profile = current_profile(engine, actor)
    if profile is None:
        raise NotFoundError(f"actor {actor.id!r} was removed from the registry: no DIS file")
    cut = [(offset, recut(rec, profile)) for offset, rec in decoded]
    unrendered = _unrendered(cut)
    _audit(engine, actor.id, cut, unrendered)
    return cut, unrendered


async def run_actor(
    settings: HubSettings,
    actor: Actor,
    *,
    once: bool,
    stop: asyncio.Event | None = None,
    engine: Engine | None = None,
    totals: ConnectorStats | None = None,
) -> ConnectorStats:
    """Write ``actor``'s feed as DIS files until caught up (``once``) or ``stop`` is set,
    auditing each delivery in ``engine`` (default: a migrated engine on
    ``settings.database_url``). Kafka and database failures raise :class:`TransientError`;
    the next run resumes where this stopped. Returns the stats of this run
    (``counts``: ``files`` written and their ``records``); ``totals``: the connector's
    stats, counting them too as each DIS file is written."""
    own = engine is None
    if engine is None:
        engine = make_engine(settings.database_url)
        try:
            await asyncio.to_thread(migrate, engine)
        except OperationalError as exc:
            engine.dispose()
            raise TransientError(
                f"outbox of actor {actor.id!r}: database unavailable ({type(exc.orig).__name__})"
            ) from None
    try:
        return await _run_actor(
            settings, actor, engine, once=once, stop=stop or asyncio.Event(), totals=totals
        )
    except KafkaError as exc:
        raise TransientError(
            f"outbox of actor {actor.id!r}: Kafka error {type(exc).__name__}"
        ) from exc
    finally:
        if own:
            engine.dispose()


async def _run_actor(
    settings: HubSettings,
    actor: Actor,
    engine: Engine,
    *,
    once: bool,
    stop: asyncio.Event,
    totals: ConnectorStats | None,
) -> ConnectorStats:
    stats = ConnectorStats()
    folder = layout.outbox_dir(settings, actor)
    private_dir(folder)  # missing folders 0700; DIS files are written 0600 (fsutil)
    state = layout.state_dir(settings)
    with exclusive_lock(state / f"outbox-{actor.id}.lock", f"outbox of actor {actor.id!r}"):
        remove_stale_tmp(folder)
        intents = _Intents(settings, actor.id)
        codec = get_codec()
        gauge = partial(recorder.outbox_feeds_stopped, "file", owner=actor.id)
        holds = FeedHolds(settings, DIS, log, Stops(gauge=gauge))
        consumer = AIOKafkaConsumer(
            **client_options(settings),
            group_id=group_id(actor.id),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            client_id=f"hub-files-{uuid.uuid4().hex[:8]}",
        )
        await consumer.start()
        try:
            tps = await topic_partitions(consumer, topics.feed_topic(actor.id))
            while tps is None:  # no feed yet: the actor was never dispatched anything
                if once or await wait_or_stop(stop, settings.files.poll_interval_s):
                    return stats
                tps = await topic_partitions(consumer, topics.feed_topic(actor.id))
            consumer.assign(tps)
            for tp in tps:
                committed = await consumer.committed(tp)
                if committed is None:
                    await consumer.seek_to_beginning(tp)
                else:
                    consumer.seek(tp, committed)
            while not stop.is_set():
                if not once:
                    await holds.retry(consumer)
                ends = await consumer.end_offsets(tps)
                progressed = behind = False
                positions = {tp: await consumer.position(tp) for tp in tps}
                recorder.outbox_depth(actor.id, sum(max(ends[tp] - positions[tp], 0) for tp in tps))
                for tp in tps:
                    position = positions[tp]
                    if position >= ends[tp] or tp in holds.stops:
                        continue  # a held partition waits for its retry (``once``: done)
                    behind = True
                    intent = intents.ranges.get(tp.partition)
                    max_records = settings.files.outbox_batch_max
                    msgs = await _take(consumer, tp, position, intent, max_records)
                    if not msgs:
                        continue
                    replay = intent is not None and intent[0] == position
                    decoded, held = _decode(codec, msgs, replay)
                    if held is not None:  # the file ends before it; the partition stops there
                        holds.hold(consumer, tp, *held)
                        msgs = msgs[: len(decoded)]
                        if not msgs:
                            continue
                    first, last = msgs[0].offset, msgs[-1].offset
                    if intents.ranges.get(tp.partition) != (first, last):
                        intents.save(tp.partition, first, last)
                    name = layout.dis_name(actor.id, tp.partition, first, last)
                    decoded, unrendered = await asyncio.to_thread(
                        prepare_batch, engine, actor, decoded
                    )
                    with recorder.connector_call("files", "outbox"):
                        write_atomic(folder, name, render_batch(actor.id, tp.partition, decoded))
                        await consumer.commit({tp: last + 1})
                    stats.add(files=1, records=len(msgs))
                    recorder.records_delivered("file", actor.id, len(msgs) - len(unrendered))
                    if totals is not None:
                        totals.add(files=1, records=len(msgs))
                    progressed = True
                    log.info("actor %s: wrote %s (%d records)", actor.id, name, len(msgs))
                    for offset, reason in unrendered.items():  # an operator must hear of it
                        log.error(
                            "actor %s: %s: feed offset %d written without its document: %s",
                            actor.id,
                            name,
                            offset,
                            reason,
                        )
                if once:
                    if not behind:
                        break  # caught up with the end offsets read at this round
                elif not progressed and await wait_or_stop(stop, settings.files.poll_interval_s):
                    break
            if once and holds.stops:  # every other partition is written to its end
                raise ConfigError(holds.stops.summary(), code=UNRESOLVED)
        finally:
            gauge(0)  # this run no longer holds anything: a next run says so again
            await consumer.stop()
    stats.succeeded()
    return stats
