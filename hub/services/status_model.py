"""The plain data ``hub status`` shows (:func:`hub.services.status.gather` fills it; the
CLI renders it as text or JSON). A part that could not be read is None: unknown, never
zero or empty.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: most refused gateway records listed one by one (all are counted)
REFUSED_SHOWN = 20


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
    #: what its ``/health`` answered to this command (:mod:`hub.services.status_probe`);
    #: None when it has no address or was not asked
    health: str | None = None

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
    #: webhook and SOAP: records closed without being accepted, not counted in ``depth``
    #: (a SOAP Fault, or not sent because XML cannot hold them), each with its reason in
    #: the outbox row's ``last_error`` and in ``hub deliver``'s log; 0 for file actors
    #: (a DIS file names its records not rendered: ``nonRendu``)
    closed_with_error: int = 0


@dataclass(slots=True)
class Feed:
    actor: str
    topic: str
    end_offset: int
    #: Kafka timestamp (epoch ms) of the last record; None for an empty feed
    last_at_ms: int | None = None
    age_s: float | None = None


@dataclass(slots=True)
class RefusedRecord:
    """A record the SOAP gateway owes Kafka that Kafka refused for good (set aside)."""

    topic: str
    num_unique: str
    event_id: str
    #: the SOAP operation the SNE accepted
    operation: str
    #: Kafka's refusal (e.g. ``MessageSizeTooLargeError``)
    error: str
    refused_at_ms: int
    size_bytes: int


@dataclass(slots=True)
class Status:
    """What :func:`gather` read. A part that could not be read (``members``, ``lag``,
    ``dlq``, ``outboxes``, ``feeds``, ``gp_unpublished``, ``gateway_*``) is None, unknown,
    with a line in ``problems``; an empty list or dict is a part read and found empty."""

    generated_at_ms: int
    group: str
    brokers: Brokers
    group_state: str | None = None
    #: the group's assignment protocol (``faust`` for hub workers)
    group_protocol: str | None = None
    members: list[Member] | None = None
    lag: list[Lag] | None = None
    #: reason -> {"letters": n, "pending": m}
    dlq: dict[str, dict[str, int]] | None = None
    outboxes: list[Outbox] | None = None
    feeds: list[Feed] | None = None
    #: gestion partagée events stored but not acknowledged by Kafka (``hub api``
    #: publishes them), and the age of the oldest in seconds (None when there is none)
    gp_unpublished: int | None = None
    gp_unpublished_age_s: float | None = None
    #: records the SOAP gateway owes Kafka for what the SNE accepted (``hub soap-gateway``
    #: publishes them), the age of the oldest (None when there is none), and those Kafka
    #: refused for good: how many, and the first ones (:data:`REFUSED_SHOWN` at most)
    gateway_unpublished: int | None = None
    gateway_unpublished_age_s: float | None = None
    gateway_refused: int | None = None
    gateway_refused_records: list[RefusedRecord] | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def total_lag(self) -> int | None:
        """The lag of every input partition; None when the lag could not be read."""
        return None if self.lag is None else sum(p.lag for p in self.lag)

    def as_dict(self) -> dict[str, Any]:
        """The JSON document of ``hub status --json``: the fields, plus ``total_lag``,
        ``dlq_letters``, ``dlq_pending`` and ``outbox_depths`` (channel -> depth). A part
        not read is ``null``, and so are the totals computed from it."""
        out = asdict(self)
        out["total_lag"] = self.total_lag
        dlq = self.dlq
        out["dlq_letters"] = None if dlq is None else sum(v["letters"] for v in dlq.values())
        out["dlq_pending"] = None if dlq is None else sum(v["pending"] for v in dlq.values())
        channels: dict[str, int] | None = None
        if self.outboxes is not None:
            channels = {}
            for o in self.outboxes:
                channels[o.channel] = channels.get(o.channel, 0) + o.depth
        out["outbox_depths"] = channels
        return out
