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
  duplicate of another letter) (:func:`hub.services.dlq.read_letters`);
* **outboxes** per channel and actor, every actor of the registry delivering by
  ``webhook``, ``soap`` or ``file`` (a depth of 0 included, so each channel shows):
  for webhook and SOAP actors, the undelivered rows of the database outbox **plus** the
  feed records the pump (``hub deliver``) has not copied into it yet (feed end offset
  minus one past the last copied offset; while the pump is down or behind, they wait
  there); for file actors, the feed records not yet written as DIS files (end offset
  minus the committed offset of group ``passerelle-files-<actor>``). Computed only when
  the feeds' end offsets could be read;
* **feeds**: per ``hub.feed.<actor>`` topic, the end offset and the time of its last
  record (its Kafka timestamp) with its age.

What could not be read is said in :attr:`Status.problems` (one line each), the part left
empty: a status command must answer when things are broken. Nothing is written anywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.group import MemberAssignment

from hub.core import topics
from hub.core.errors import TransientError
from hub.core.kafka.client import client_options
from hub.core.kafka.reader import read_partitions
from hub.core.settings import HubSettings

T = TypeVar("T")
INPUTS = (topics.DEMANDES, topics.EVENEMENTS)
#: channels whose records wait in the database outbox (``hub deliver``)
PUSH_CHANNELS = ("webhook", "soap")


@dataclass(slots=True)
class Brokers:
    bootstrap: str
    reachable: bool = False
    cluster_id: str | None = None
    controller: int | None = None
    #: ``id host:port`` of each node
    nodes: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Member:
    member_id: str
    client_id: str
    host: str
    #: ``topic:partition`` assigned to the member
    partitions: list[str] = field(default_factory=list)
    #: web address of a faust worker (``hub worker``), from its join metadata; else None
    worker_url: str | None = None

    @property
    def name(self) -> str:
        """What tells this member apart for an operator: its worker address, else its
        client id."""
        return self.worker_url or self.client_id


@dataclass(slots=True)
class Lag:
    topic: str
    partition: int
    committed: int | None
    end: int
    lag: int
    #: the member the partition is assigned to (:attr:`Member.name`); None: nobody reads it
    owner: str | None = None
    #: its member id
    member: str | None = None


@dataclass(slots=True)
class Outbox:
    channel: str
    actor: str
    #: records not delivered yet (module doc)
    depth: int
    #: webhook and SOAP: of ``depth``, the feed records not copied into the database
    #: outbox yet; 0 for file actors
    not_copied: int = 0


@dataclass(slots=True)
class Feed:
    actor: str
    topic: str
    end_offset: int
    #: Kafka timestamp (epoch ms) of the last record; None for an empty feed
    last_at_ms: int | None = None
    age_s: float | None = None


@dataclass(slots=True)
class Status:
    generated_at_ms: int
    group: str
    brokers: Brokers
    group_state: str | None = None
    #: the group's assignment protocol (``faust`` for hub workers)
    group_protocol: str | None = None
    members: list[Member] = field(default_factory=list)
    lag: list[Lag] = field(default_factory=list)
    #: reason -> {"letters": n, "pending": m}
    dlq: dict[str, dict[str, int]] = field(default_factory=dict)
    outboxes: list[Outbox] = field(default_factory=list)
    feeds: list[Feed] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def total_lag(self) -> int:
        return sum(p.lag for p in self.lag)

    def as_dict(self) -> dict[str, Any]:
        """The JSON document of ``hub status --json``."""
        out = asdict(self)
        out["total_lag"] = self.total_lag
        out["dlq_letters"] = sum(v["letters"] for v in self.dlq.values())
        out["dlq_pending"] = sum(v["pending"] for v in self.dlq.values())
        channels: dict[str, int] = {}
        for o in self.outboxes:
            channels[o.channel] = channels.get(o.channel, 0) + o.depth
        out["outbox_depths"] = channels
        return out


async def gather(settings: HubSettings, *, group: str | None = None,
                 actors: Sequence[str] = (), timeout_s: float = 10.0) -> Status:  # fmt: skip
    """The status of the hub (module doc). ``actors``: only these actors' feeds and
    outboxes (default: every one)."""
    status = Status(generated_at_ms=int(time.time() * 1000),
                    group=group or settings.worker.app_id,
                    brokers=Brokers(settings.kafka.bootstrap_servers))  # fmt: skip
    wanted = set(actors)
    registry = _registry(settings, status)
    admin = AIOKafkaAdminClient(**client_options(settings),
                                request_timeout_ms=int(timeout_s * 1000))  # fmt: skip
    consumer = AIOKafkaConsumer(**client_options(settings), group_id=None,
                                enable_auto_commit=False, request_timeout_ms=int(timeout_s * 1000),
                                client_id=f"hub-status-{uuid.uuid4().hex[:8]}")  # fmt: skip
    try:
        await _bounded(status, "brokers", admin.start(), timeout_s)
        await _bounded(status, "brokers", consumer.start(), timeout_s)
        if not await _bounded(status, "brokers", _brokers(admin, status), timeout_s):
            return status
        await _bounded(status, "worker group", _group(admin, status), timeout_s)
        await _bounded(status, "lag", _lag(settings, admin, status, timeout_s), timeout_s * 2)
        names = await _bounded(status, "feeds", _feed_topics(admin, wanted), timeout_s)
        ends = await _bounded(status, "feeds", _feeds(consumer, names or [], status), timeout_s)
        await _bounded(status, "DLQ", _dlq(settings, status, timeout_s), timeout_s * 3)
        if registry is not None and names is not None and ends is not None:
            await _bounded(status, "file outboxes",
                           _file_outboxes(admin, registry, wanted, status), timeout_s)  # fmt: skip
    finally:
        for close in (admin.close(), consumer.stop()):
            with contextlib.suppress(Exception):  # clients of a dead broker: nothing to do
                await asyncio.wait_for(close, timeout_s)
    if registry is not None and names is not None and ends is not None:
        _db_outboxes(settings, registry, wanted, status)
    status.outboxes.sort(key=lambda o: (o.channel, o.actor))
    return status


async def _bounded(status: Status, part: str, call: Awaitable[T], timeout_s: float) -> T | None:
    """``call``'s result, or None with one line in ``status.problems``."""
    try:
        return await asyncio.wait_for(call, timeout_s)
    except Exception as exc:  # any failure of one part is reported, not raised
        text = str(exc) or type(exc).__name__
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
                status.members.append(member)
    status.members.sort(key=lambda m: (m.name, m.member_id))


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
    owners = {p: m for m in status.members for p in m.partitions}
    for (topic, partition), (committed, end, start) in sorted(offsets.items()):
        lag = end - (start if committed is None else committed)
        owner = owners.get(f"{topic}:{partition}")
        status.lag.append(Lag(topic, partition, committed, end, max(lag, 0),
                              owner.name if owner else None,
                              owner.member_id if owner else None))  # fmt: skip


async def _feed_topics(admin: AIOKafkaAdminClient, wanted: set[str]) -> list[str]:
    names = [t for t in await admin.list_topics() if t.startswith(topics.FEED_PREFIX)]
    if wanted:
        names = [t for t in names if t[len(topics.FEED_PREFIX) :] in wanted]
    return sorted(names)


async def _feeds(consumer: AIOKafkaConsumer, names: list[str], status: Status) -> bool:
    """End offset and last record time of each feed (its partition 0: one per feed)."""
    if not names:
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
    for tp in sorted(tps, key=lambda tp: tp.topic):
        at = last.get(tp)
        status.feeds.append(
            Feed(
                tp.topic[len(topics.FEED_PREFIX) :],
                tp.topic,
                ends[tp],
                at,
                None if at is None else round(max(0, now - at) / 1000, 1),
            )
        )
    return True


async def _dlq(settings: HubSettings, status: Status, timeout_s: float) -> None:
    from hub.services.dlq import read_letters

    letters = await read_letters(settings, timeout_s=timeout_s)
    total = Counter(letter.reason for letter in letters)
    pending = Counter(letter.reason for letter in letters
                      if letter.replayed is None and letter.duplicate_of is None)  # fmt: skip
    status.dlq = {r: {"letters": total[r], "pending": pending[r]} for r in sorted(total)}


def _registry(settings: HubSettings, status: Status) -> dict[str, str] | None:
    """Actor id -> delivery channel from the registry; None (a problem) if unreadable."""
    from hub.core.db import make_engine
    from hub.stores.registry.store import ActorStore

    try:
        engine = make_engine(settings.database_url)
        return {a.id: a.delivery.channel for a in ActorStore(engine).list()}
    except Exception as exc:  # the database down or never migrated
        status.problems.append(f"database: {str(exc).splitlines()[0][:300]}")
        return None


def _db_outboxes(settings: HubSettings, registry: dict[str, str], wanted: set[str],
                 status: Status) -> None:  # fmt: skip
    """Webhook and SOAP actors: undelivered rows plus feed records not copied (module doc)."""
    from sqlalchemy import func, select

    from hub.core.db import make_engine
    from hub.stores.delivery.tables import webhook_outbox as t

    try:
        with make_engine(settings.database_url).connect() as conn:
            rows = conn.execute(
                select(
                    t.c.actor_id,
                    func.count(t.c.delivered_at),
                    func.count(),
                    func.max(t.c.feed_offset),
                ).group_by(t.c.actor_id)
            ).all()
    except Exception as exc:  # reported, the rest of the status stands
        status.problems.append(f"outboxes: {str(exc).splitlines()[0][:300]}")
        return
    ends = {f.actor: f.end_offset for f in status.feeds}
    known: dict[str, tuple[int, int]] = {}  # actor -> (undelivered, next offset to copy)
    for actor, delivered, total, last in rows:
        known[str(actor)] = (int(total) - int(delivered), -1 if last is None else int(last) + 1)
    push = {a for a, channel in registry.items() if channel in PUSH_CHANNELS}
    for actor in sorted(push | set(known)):
        if wanted and actor not in wanted:
            continue
        undelivered, copied = known.get(actor, (0, 0))
        not_copied = max(0, ends.get(actor, 0) - copied)
        channel = registry.get(actor, "unregistered")
        status.outboxes.append(Outbox(channel, actor, undelivered + not_copied, not_copied))


async def _file_outboxes(admin: AIOKafkaAdminClient, registry: dict[str, str],
                         wanted: set[str], status: Status) -> None:  # fmt: skip
    """File actors: feed records not written as DIS files (module doc)."""
    from connectors.outbound.file import group_id

    ends = {f.actor: f.end_offset for f in status.feeds}
    for actor, channel in sorted(registry.items()):
        if channel != "file" or (wanted and actor not in wanted):
            continue
        done = 0
        if ends.get(actor):
            tp = TopicPartition(topics.feed_topic(actor), 0)
            committed = await admin.list_consumer_group_offsets(group_id(actor), partitions=[tp])
            meta = committed.get(tp)
            done = 0 if meta is None or meta.offset < 0 else int(meta.offset)
        status.outboxes.append(Outbox("file", actor, max(0, ends.get(actor, 0) - done)))
