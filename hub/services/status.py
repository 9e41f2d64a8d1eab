"""What ``hub status`` shows an operator, gathered as plain data (issue 21 point 5).

:func:`gather` reads, each part bounded by ``timeout_s`` and none stopping the others:

* **brokers**: reachable or not, cluster id, controller, the nodes (DescribeCluster);
* **worker group** (``worker.app_id`` unless told): its state, its assignment protocol
  (``faust`` for ``hub worker``s) and members, each with the partitions assigned to it
  (DescribeGroups, the consumer protocol's assignment) and, for a faust worker, the
  address of its web server from the metadata it joined with: every faust worker has the
  same client id (``faust-<version>``), its address tells them apart;
* **lag** per partition of the inputs (hub.demandes, hub.evenements): committed offset
  of the group, end offset, ``lag = end - committed`` (``end`` minus the log's first
  offset when the group never committed), and the member holding the partition (None:
  nobody reads it: its worker address, else its client id, and its member id), read
  from the broker
  (:class:`monitoring.offsets.GroupOffsets`, as ``/health``);
* **DLQ**: letters by reason, and how many are pending (neither replayed nor a
  duplicate of another letter, and replayable); records that are no readable letter
  count under ``unreadable``, never pending (:func:`hub.services.dlq.read_letters`);
* **outboxes** per channel and actor, every actor of the registry delivering by
  ``webhook``, ``soap`` or ``file`` (a depth of 0 included, so each channel shows):
  for webhook and SOAP actors, the undelivered rows of the database outbox **plus** the
  feed records the pump (``hub deliver``) has not copied into it yet (feed end offset
  minus one past the last copied offset; while the pump is down or behind, they wait
  there), and apart the records closed with an error (a SOAP Fault, a record XML cannot
  hold: closed, not delivered, their reason in ``last_error``); an actor removed from
  the registry is shown (channel ``unregistered``) only while it has undelivered rows,
  which ``hub deliver`` closes (reason ``actor_removed``); for file actors, the
  feed records not yet written as DIS files (end offset minus the committed offset of
  group ``passerelle-files-<actor>``). Computed only when
  the feeds' end offsets could be read;
* **feeds**: per ``hub.feed.<actor>`` topic, the end offset and the time of its last
  record (its Kafka timestamp) with its age;
* **gestion partagée events owed to Kafka**: stored but not acknowledged yet (``hub api``
  publishes them: :mod:`hub.services.gp_republish`), and the age of the oldest; read
  from the database, so shown when the broker is down too.
* **SOAP gateway records owed to Kafka**: what the SNE accepted through ``hub
  soap-gateway`` and Kafka has not acknowledged yet, the age of the oldest, and the
  records Kafka refused for good with their error (:mod:`hub.services.status_gateway`);
  from the database too.

What could not be read is said in :attr:`Status.problems` (one line each) and the part
is None (unknown, never shown as zero or empty): a status command must answer when
things are broken. A broker that cannot be reached is said as
:func:`hub.core.kafka.client.unavailable_message`. Nothing is written anywhere.

``actors`` that the registry does not know (never registered) are a
:class:`~hub.core.errors.NotFoundError`, raised before anything is read from Kafka; when
the registry cannot be read they are not checked (the problem says why).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Sequence
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.group import MemberAssignment

from hub.core import topics
from hub.core.errors import KafkaUnavailableError, NotFoundError, TransientError
from hub.core.kafka.client import client_options, start_client, unavailable_message
from hub.core.kafka.reader import read_partitions
from hub.core.settings import HubSettings
from hub.services import status_gateway, status_probe
from hub.services.status_model import Brokers, Feed, Lag, Member, Outbox, Status

__all__ = ["Brokers", "Feed", "Lag", "Member", "Outbox", "Status", "gather"]
T = TypeVar("T")
INPUTS = (topics.DEMANDES, topics.EVENEMENTS)
#: channels whose records wait in the database outbox (``hub deliver``)
PUSH_CHANNELS = ("webhook", "soap")


async def gather(settings: HubSettings, *, group: str | None = None,
                 actors: Sequence[str] = (), timeout_s: float = 10.0) -> Status:  # fmt: skip
    """The status of the hub (module doc). ``actors``: only these actors' feeds and
    outboxes (default: every one); NotFoundError when the registry has none of that id."""
    status = Status(generated_at_ms=int(time.time() * 1000),
                    group=group or settings.worker.app_id,
                    brokers=Brokers(settings.kafka.bootstrap_servers))  # fmt: skip
    wanted = set(actors)
    registry, known = _registry(settings, status)
    _gp_unpublished(settings, status)
    status_gateway.read(settings, status)
    unknown = sorted(wanted - known) if registry is not None else []
    if unknown:
        raise NotFoundError(f"no actor{'s' if len(unknown) > 1 else ''} "
                            f"{', '.join(map(repr, unknown))} in the registry "
                            "(hub actors list)")  # fmt: skip
    admin = AIOKafkaAdminClient(**client_options(settings),
                                request_timeout_ms=int(timeout_s * 1000))  # fmt: skip
    consumer = AIOKafkaConsumer(**client_options(settings), group_id=None,
                                enable_auto_commit=False, request_timeout_ms=int(timeout_s * 1000),
                                client_id=f"hub-status-{uuid.uuid4().hex[:8]}")  # fmt: skip
    names: list[str] | None = None
    ends: bool | None = None
    try:
        # a broker that does not answer: nothing else to ask it
        if not await _bounded(status, "brokers", _start(settings, admin, consumer, timeout_s),
                              timeout_s * 3):  # fmt: skip
            return status
        if not await _bounded(status, "brokers", _brokers(admin, status), timeout_s):
            return status
        await _bounded(status, "worker group", _group(admin, status), timeout_s)
        await status_probe.probe(status.members or (), min(timeout_s, 2.0))
        await _bounded(status, "lag", _lag(settings, admin, status, timeout_s), timeout_s * 2)
        _never_seen(status)
        names = await _bounded(status, "feeds", _feed_topics(admin, wanted), timeout_s)
        if names is not None:
            ends = await _bounded(status, "feeds", _feeds(consumer, names, status), timeout_s)
        await _bounded(status, "DLQ", _dlq(settings, status, timeout_s), timeout_s * 3)
        if registry is not None and ends is not None:
            # the outboxes are known when both their parts are (a depth is never guessed)
            status.outboxes = await _bounded(status, "file outboxes",
                                             _file_outboxes(admin, registry, wanted, status),
                                             timeout_s)  # fmt: skip
    finally:
        for close in (admin.close(), consumer.stop()):
            with contextlib.suppress(Exception):  # clients of a dead broker: nothing to do
                await asyncio.wait_for(close, timeout_s)
    if status.outboxes is not None and registry is not None:
        pushed = _db_outboxes(settings, registry, wanted, status)
        status.outboxes = None if pushed is None else sorted(
            status.outboxes + pushed, key=lambda o: (o.channel, o.actor))  # fmt: skip
    return status


async def _start(settings: HubSettings, admin: AIOKafkaAdminClient,
                 consumer: AIOKafkaConsumer, timeout_s: float) -> bool:  # fmt: skip
    """Both clients started (True); no answer in ``timeout_s`` each is a
    KafkaUnavailableError, reported as :func:`unavailable_message`."""
    await start_client(admin, settings, timeout_s=timeout_s)
    await start_client(consumer, settings, timeout_s=timeout_s)
    return True


async def _bounded(status: Status, part: str, call: Awaitable[T], timeout_s: float) -> T | None:
    """``call``'s result, or None with one line in ``status.problems``."""
    try:
        return await asyncio.wait_for(call, timeout_s)
    except Exception as exc:  # any failure of one part is reported, not raised
        text = str(exc) or type(exc).__name__
        if isinstance(exc, KafkaUnavailableError):
            text = unavailable_message(exc.bootstrap_servers)
        line = f"{part}: {text.splitlines()[0][:300]}"
        if line not in status.problems:
            status.problems.append(line)
        return None


async def _brokers(admin: AIOKafkaAdminClient, status: Status) -> bool:
    cluster = await admin.describe_cluster()
    b = status.brokers
    b.reachable, b.cluster_id = True, str(cluster["cluster_id"])
    b.controller = cluster.get("controller_id")
    b.nodes = [f"{n['node_id']} {n['host']}:{n['port']}" for n in cluster["brokers"]]
    return True


async def _group(admin: AIOKafkaAdminClient, status: Status) -> None:
    members: list[Member] = []
    for response in await admin.describe_consumer_groups([status.group]):
        for g in response.to_object()["groups"]:
            if g["group"] != status.group:
                continue
            status.group_state = g["state"] or None
            status.group_protocol = g["protocol"] or None
            for m in g["members"]:
                member = Member(m["member_id"], m["client_id"], m["client_host"])
                if m["member_assignment"]:
                    assignment = MemberAssignment.decode(m["member_assignment"])
                    member.partitions = [f"{t}:{p}" for t, parts in assignment.assignment
                                         for p in sorted(parts)]  # fmt: skip
                if status.group_protocol == "faust":
                    member.worker_url = _faust_url(m["member_metadata"])
                members.append(member)
    status.members = sorted(members, key=lambda m: (m.name, m.member_id))


def _never_seen(status: Status) -> None:
    """A problem line when the group is one the broker never saw (no member, not one
    committed offset on the inputs): a typo of ``--group`` or a host without the
    deployment's ``HUB_WORKER__APP_ID`` looked exactly like "no worker running, every
    record waiting" (audit S, S-F8)."""
    if status.members or status.lag is None or status.group_state not in (None, "Dead"):
        return
    if any(lag.committed is not None for lag in status.lag):
        return
    status.problems.append(
        f"worker group {status.group!r}: unknown to the broker (no member, nothing ever "
        "committed): its lag counts every record; is it the workers' group? "
        "(--group, or HUB_WORKER__APP_ID as the workers have it)"
    )


def _faust_url(metadata: bytes) -> str | None:
    """The web address a faust worker joined with (its subscription's user data is the
    JSON of faust's ``ClientMetadata``); None when absent or unreadable."""
    from aiokafka.coordinator.protocol import ConsumerProtocolMemberMetadata

    try:
        data = json.loads(ConsumerProtocolMemberMetadata.decode(metadata).user_data or b"{}")
    except Exception:  # another client's metadata under the same protocol name: no address
        return None
    url = data.get("url") if isinstance(data, dict) else None
    return url if isinstance(url, str) and url else None


async def _lag(settings: HubSettings, admin: AIOKafkaAdminClient, status: Status,
               timeout_s: float) -> None:  # fmt: skip
    from monitoring.offsets import GroupOffsets

    parts = [(t["topic"], int(p["partition"])) for t in await admin.describe_topics(list(INPUTS))
             if not t.get("error_code") for p in t.get("partitions") or ()]  # fmt: skip
    reader = GroupOffsets(settings, status.group, timeout_s=timeout_s)
    try:
        offsets = await reader.read(parts)
    finally:
        await reader.close()
    if offsets is None:
        raise TransientError(f"committed and end offsets not read within {timeout_s:g}s")
    owners = {p: m for m in status.members or () for p in m.partitions}
    lags: list[Lag] = []
    for (topic, partition), (committed, end, start) in sorted(offsets.items()):
        lag = end - (start if committed is None else committed)
        owner = owners.get(f"{topic}:{partition}")
        lags.append(Lag(topic, partition, committed, end, max(lag, 0),
                        owner.name if owner else None,
                        owner.member_id if owner else None))  # fmt: skip
    status.lag = lags


async def _feed_topics(admin: AIOKafkaAdminClient, wanted: set[str]) -> list[str]:
    names = [t for t in await admin.list_topics() if t.startswith(topics.FEED_PREFIX)]
    if wanted:
        names = [t for t in names if t[len(topics.FEED_PREFIX) :] in wanted]
    return sorted(names)


async def _feeds(consumer: AIOKafkaConsumer, names: list[str], status: Status) -> bool:
    """End offset and last record time of each feed (its partition 0: one per feed)."""
    if not names:
        status.feeds = []
        return True
    from hub.core.kafka.admin import known_partitions

    tps = await known_partitions(consumer, names)
    ends = await consumer.end_offsets(tps)
    last: dict[TopicPartition, int] = {}
    # the last few offsets: the very last one may be a control record
    tails = {tp: max(0, ends[tp] - 3) for tp in tps if ends[tp] > 0}
    async for r in read_partitions(consumer, tails, ends=ends):
        tp = TopicPartition(r.topic, r.partition)
        last[tp] = max(last.get(tp, 0), r.timestamp)
    now = status.generated_at_ms
    feeds: list[Feed] = []
    for tp in sorted(tps, key=lambda tp: tp.topic):
        at = last.get(tp)
        feeds.append(
            Feed(
                tp.topic[len(topics.FEED_PREFIX) :],
                tp.topic,
                ends[tp],
                at,
                None if at is None else round(max(0, now - at) / 1000, 1),
            )
        )
    status.feeds = feeds
    return True


async def _dlq(settings: HubSettings, status: Status, timeout_s: float) -> None:
    from hub.services.dlq import read_letters

    letters = await read_letters(settings, timeout_s=timeout_s)
    total = Counter(letter.reason for letter in letters)
    # an unreadable record or a letter that can never be replayed is no one's to-do
    pending = Counter(letter.reason for letter in letters if letter.pending)
    status.dlq = {r: {"letters": total[r], "pending": pending[r]} for r in sorted(total)}


def _registry(settings: HubSettings,
              status: Status) -> tuple[dict[str, str] | None, set[str]]:  # fmt: skip
    """(Actor id -> delivery channel of the registered actors, every id ever registered,
    removed ones included) from the registry; (None, empty) with a problem if unreadable."""
    from hub.core.db import make_engine
    from hub.stores.registry.store import ActorStore

    try:
        engine = make_engine(settings.database_url)
        states = ActorStore(engine).states()
    except Exception as exc:  # the database down or never migrated
        status.problems.append(f"database: {str(exc).splitlines()[0][:300]}")
        return None, set()
    return ({s.actor.id: s.actor.delivery.channel for s in states if not s.deleted},
            {s.actor.id for s in states})  # fmt: skip


def _gp_unpublished(settings: HubSettings, status: Status) -> None:
    """The gestion partagée events owed to Kafka (module doc); a problem if unreadable."""
    from datetime import UTC

    from hub.core.db import make_engine
    from hub.stores.gp.store import GPStore

    try:
        count, oldest = GPStore(make_engine(settings.database_url)).unpublished_summary()
    except Exception as exc:  # the database down or never migrated: reported, not raised
        status.problems.append(f"gestion partagée: {str(exc).splitlines()[0][:300]}")
        return
    status.gp_unpublished = count
    if oldest is not None:
        at = oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)  # SQLite drops it
        status.gp_unpublished_age_s = round(
            max(0.0, status.generated_at_ms / 1000 - at.timestamp()), 1
        )


def _db_outboxes(settings: HubSettings, registry: dict[str, str], wanted: set[str],
                 status: Status) -> list[Outbox] | None:  # fmt: skip
    """Webhook and SOAP actors: undelivered rows plus feed records not copied (module doc);
    None, with a problem, when the database cannot be read."""
    from sqlalchemy import and_, case, func, select

    from hub.core.db import make_engine
    from hub.stores.delivery.tables import webhook_outbox as t

    closed_with_error = and_(t.c.delivered_at.is_not(None), t.c.last_error.is_not(None))
    try:
        with make_engine(settings.database_url).connect() as conn:
            rows = conn.execute(
                select(
                    t.c.actor_id,
                    func.count(t.c.delivered_at),
                    func.count(),
                    func.max(t.c.feed_offset),
                    func.count(case((closed_with_error, 1))),
                ).group_by(t.c.actor_id)
            ).all()
    except Exception as exc:  # reported, the rest of the status stands
        status.problems.append(f"outboxes: {str(exc).splitlines()[0][:300]}")
        return None
    ends = {f.actor: f.end_offset for f in status.feeds or ()}
    # actor -> (undelivered, next offset to copy, closed with an error)
    known: dict[str, tuple[int, int, int]] = {}
    for actor, delivered, total, last, errors in rows:
        known[str(actor)] = (
            int(total) - int(delivered),
            -1 if last is None else int(last) + 1,
            int(errors),
        )
    push = {a for a, channel in registry.items() if channel in PUSH_CHANNELS}
    found: list[Outbox] = []
    for actor in sorted(push | set(known)):
        if wanted and actor not in wanted:
            continue
        undelivered, copied, errors = known.get(actor, (0, 0, 0))
        if actor not in registry:  # removed: nothing more is copied, nor owed once closed
            if undelivered:  # until hub deliver closes them (reason actor_removed)
                found.append(Outbox("unregistered", actor, undelivered, 0, errors))
            continue
        not_copied = max(0, ends.get(actor, 0) - copied)
        channel = registry.get(actor, "unregistered")
        found.append(Outbox(channel, actor, undelivered + not_copied, not_copied, errors))
    return found


async def _file_outboxes(admin: AIOKafkaAdminClient, registry: dict[str, str],
                         wanted: set[str], status: Status) -> list[Outbox]:  # fmt: skip
    """File actors: feed records not written as DIS files (module doc)."""
    from connectors.outbound.file import group_id

    ends = {f.actor: f.end_offset for f in status.feeds or ()}
    outboxes: list[Outbox] = []
    for actor, channel in sorted(registry.items()):
        if channel != "file" or (wanted and actor not in wanted):
            continue
        done = 0
        if ends.get(actor):
            tp = TopicPartition(topics.feed_topic(actor), 0)
            committed = await admin.list_consumer_group_offsets(group_id(actor), partitions=[tp])
            meta = committed.get(tp)
            done = 0 if meta is None or meta.offset < 0 else int(meta.offset)
        outboxes.append(Outbox("file", actor, max(0, ends.get(actor, 0) - done)))
    return outboxes
