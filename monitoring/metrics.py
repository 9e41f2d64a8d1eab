"""Every Prometheus metric of the hub, declared here and only here.

Names follow the Prometheus conventions (``passerelle_`` prefix, base units, ``_total``
for counters, ``_seconds`` for durations). Labels never carry personal data: only topic
names, operation codes, actor ids, feed record kinds, reason codes and connector names,
all bounded sets. The metrics live in :data:`REGISTRY` (not the library's global one);
each process exports its own only, plus the process collectors
(:data:`PROCESS_METRICS`, :func:`process_registry`).

Who feeds what:
- the faust sensor (:mod:`dispatch.runtime.sensor`) and the per-batch recorder
  (:func:`dispatch.recording.record_batch`): events in, feed records out, latency,
  dead letters, consumer lag, last processed event per agent;
- connectors and delivery (issues 3 and 4) through the helpers of
  :mod:`monitoring.recorder`: connector calls, webhook retries, outbox depth, SNE poller.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

#: Latency buckets from 5 ms to 10 min: dispatch is sub-second, a backlog is minutes.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
#: Remote calls (SOAP, webhooks, files): 10 ms to 1 min.
CALL_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

EVENTS_IN = Counter(
    "passerelle_events_in_total",
    "Input records processed by dispatch, by source topic and operation "
    "(CRE/MOD/RAD/... for demand events, CONTROL for actor changes, TICK for the clock, "
    "EVENEMENT for gestion partagée events, UNDECODABLE otherwise).",
    ["topic", "operation"],
    registry=REGISTRY,
)
FEED_RECORDS_OUT = Counter(
    "passerelle_feed_records_out_total",
    "Feed records written (acknowledged by Kafka) to an actor's feed, by actor and kind "
    "(DEMANDE, RETRAIT, COPIE, RADIATION, EVENEMENT).",
    ["actor", "kind"],
    registry=REGISTRY,
)
DISPATCH_LATENCY = Histogram(
    "passerelle_dispatch_latency_seconds",
    "The hub's own latency: from a demand event's ingest (its hub.demandes record's Kafka "
    "timestamp) to the acknowledgement of its feed writes and the storing of its state; "
    "one observation per demand event decided (with or without recipients; not a replay "
    "already stored, not a dead letter).",
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
DOCUMENT_AGE = Histogram(
    "passerelle_document_age_seconds",
    "Age of a demand event's document when dispatched: from its occurredAt (an SNE "
    "file's entete/dateFichier, Europe/Paris when it has no offset) to the same moment as "
    "passerelle_dispatch_latency_seconds; one observation per demand event decided. "
    "Measures the sources (files waiting, SNE delays), not the hub.",
    buckets=(1, 10, 60, 300, 900, 3600, 4 * 3600, 86400, 7 * 86400, 30 * 86400),
    registry=REGISTRY,
)
DISPATCH_BATCH_INPUTS = Histogram(
    "passerelle_dispatch_batch_inputs",
    "Input records per dispatch batch (one observation per batch): small batches under "
    "load mean the worker waits on the batch timer (worker.batch_within_s).",
    buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000),
    registry=REGISTRY,
)
CONSUMER_LAG = Gauge(
    "passerelle_consumer_lag",
    "Records of an assigned input partition not yet committed by the consumer group "
    "(end offset minus the group's committed offset, read from the broker), by topic, "
    "partition and consumer group.",
    ["topic", "partition", "group"],
    registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "passerelle_dead_letters_total",
    "Input records sent to hub.dlq, by reason code (the worker's known reasons exported at "
    "0 from its start: monitoring.recorder.DEAD_LETTER_REASONS).",
    ["reason"],
    registry=REGISTRY,
)
DLQ_REPLAYS = Counter(
    "passerelle_dlq_replays_total",
    "Input records this worker saw that were replayed from hub.dlq (hub dlq replay).",
    ["topic"],
    registry=REGISTRY,
)
PARKED_EVENEMENTS = Gauge(
    "passerelle_parked_evenements",
    "Gestion partagée events of demands not dispatched yet, parked in the worker's state "
    "until their demand's first event (dispatch/parking.py), by partition of hub.evenements; "
    "as last counted by the worker holding the partition (where a batch parked or released "
    "some, and at each clock tick). Bounded by worker.parked_evenements_max.",
    ["partition"],
    registry=REGISTRY,
)
PARKED_EVENEMENTS_OUTCOMES = Counter(
    "passerelle_evenements_parking_total",
    "Gestion partagée events of unknown demands, by outcome: parked, delivered (released at "
    "their demand's first event), unknown_demande (parked longer than "
    "worker.parked_evenement_ttl_s: hub.dlq), parking_full (not parked: hub.dlq), refused "
    "(released to hub.dlq: a deleted demand, too large).",
    ["outcome"],
    registry=REGISTRY,
)
DELAI_DISAGREEMENTS = Counter(
    "passerelle_delai_disagreements_total",
    "Demand snapshots whose SNE indicator estDelaiAnormalementLong disagreed with the hub's "
    "délai anormalement long table at the event's date (the SNE's value is kept; "
    "dispatch.deadlines).",
    registry=REGISTRY,
)
CLOCK_READS = Counter(
    "passerelle_clock_states_read_total",
    "Demand states read by the demand's clock (DispatchTick records): the due demands, "
    "plus each partition's one-time upgrade pass (dispatch.deadlines).",
    registry=REGISTRY,
)
INPUT_REWINDS = Counter(
    "passerelle_input_rewinds_total",
    "Input partitions sought back because a record was handed out past a hole "
    "(dispatch.runtime.contiguity: expected after a start or a rebalance on a backlog).",
    ["topic"],
    registry=REGISTRY,
)
INPUT_RECORDS_REMOVED = Counter(
    "passerelle_input_records_removed_total",
    "Input offsets the worker never read because they had left the log before it came to "
    "them (retention.ms, DeleteRecords): records lost to the hub; the SNE still holds "
    "the demands (dispatch.runtime.transport); exported at 0 for each input from the "
    "worker's start.",
    ["topic"],
    registry=REGISTRY,
)
CONNECTOR_CALLS = Counter(
    "passerelle_connector_calls_total",
    "Calls to an external system, by connector (sne_soap, webhook, file...), operation "
    "and outcome (ok, business_error, transport_error, timeout, anomalies: answered with "
    "an anomaly list).",
    ["connector", "operation", "outcome"],
    registry=REGISTRY,
)
CONNECTOR_LATENCY = Histogram(
    "passerelle_connector_call_duration_seconds",
    "Duration of calls to an external system, by connector and operation.",
    ["connector", "operation"],
    buckets=CALL_BUCKETS,
    registry=REGISTRY,
)
WEBHOOK_RETRIES = Counter(
    "passerelle_webhook_retries_total",
    "Webhook deliveries retried after a transport failure, by actor.",
    ["actor"],
    registry=REGISTRY,
)
OUTBOX_DEPTH = Gauge(
    "passerelle_outbox_depth",
    "Feed records waiting in an actor's delivery outbox (webhook/SOAP/file channels), as "
    "last read by the process delivering them: hub deliver at each check of the actor "
    "(after each delivery attempt, each wake by new records, each back-off's end, at most "
    "30 s apart, a not-served actor's included); hub files outbox at each round. Removed "
    "when the actor leaves the channel.",
    ["actor"],
    registry=REGISTRY,
)
RECORDS_DELIVERED = Counter(
    "passerelle_records_delivered_total",
    "Feed records a delivery channel delivered, by channel (webhook, soap: answered by the "
    "receiver; file: written in a DIS file) and actor; exported at 0 from when the process "
    "takes the actor up. With passerelle_outbox_depth: an outbox not draining.",
    ["channel", "actor"],
    registry=REGISTRY,
)
ACTOR_NOT_SERVED = Gauge(
    "passerelle_actor_not_served",
    "1 while hub deliver does not serve the actor because its delivery options are "
    "unusable (no webhook secret, an unusable URL or SOAP mapping: its log says why, "
    "'actor X not served: ...'), else 0; exported at 0 from when hub deliver takes the "
    "actor up, removed when the actor leaves the push channels.",
    ["actor"],
    registry=REGISTRY,
)
DELIVERY_LAST_ROUND = Gauge(
    "passerelle_delivery_last_round_timestamp_seconds",
    "Unix time of the delivery process's last round that read the registry (its database), "
    "by channel (push: hub deliver; file: hub files outbox); the process's start time "
    "until its first round.",
    ["channel"],
    registry=REGISTRY,
)
AUDIT_FEEDS_STOPPED = Gauge(
    "passerelle_audit_feeds_stopped",
    "Feed partitions `hub audit record` holds at a record whose writer schema it cannot "
    "resolve (a schema registry without the id: hub/core/kafka/feed_stops.py); their "
    "deliveries are recorded only once it resolves.",
    registry=REGISTRY,
)
OUTBOX_FEEDS_STOPPED = Gauge(
    "passerelle_outbox_feeds_stopped",
    "Feed partitions a delivery channel holds at a record whose writer schema it cannot "
    "resolve (a schema registry without the id: hub/core/kafka/feed_stops.py), by channel "
    "(push: the feed pump of `hub deliver`; file: the DIS outboxes of `hub files outbox`); "
    "nothing after it is copied or written until it resolves.",
    ["channel"],
    registry=REGISTRY,
)
RECORDS_CLOSED_UNDELIVERED = Counter(
    "passerelle_records_closed_undelivered_total",
    "Feed records a delivery channel (webhook, soap, file) closed without delivering them, "
    "by reason (soap_fault: refused by the receiver; unrenderable: its format cannot hold "
    "the record; actor_removed: its actor left the registry) and actor; each has an audit "
    "row with that outcome and reason, and the outbox row its last_error.",
    ["channel", "reason", "actor"],
    registry=REGISTRY,
)
AGENT_LAST_EVENT = Gauge(
    "passerelle_agent_last_event_timestamp_seconds",
    "Unix time at which the agent last finished processing an input record "
    "(time() minus this is the time since its last processed event); the process's start "
    "time (process_start_time_seconds) until its first record.",
    ["agent"],
    registry=REGISTRY,
)
AGENT_STALLED = Gauge(
    "passerelle_agent_stalled",
    "1 when one of the agent's partitions has input waiting and a committed offset "
    "unmoved for the stall threshold (what /health reports as 503), else 0.",
    ["agent"],
    registry=REGISTRY,
)
BROKER_UNREACHABLE = Gauge(
    "passerelle_broker_unreachable",
    "1 when the worker could not read its group's offsets from the broker for "
    "monitoring.broker_unreachable_after_s (what /health reports as 503), else 0.",
    registry=REGISTRY,
)
ASSIGNED_PARTITIONS = Gauge(
    "passerelle_assigned_partitions",
    "Input partitions currently assigned to this worker, by topic (scale-out view).",
    ["topic"],
    registry=REGISTRY,
)
SNE_POLLER_LAST_SUCCESS = Gauge(
    "passerelle_sne_poller_last_success_timestamp_seconds",
    "Unix time of the SNE poller's last successful poll, by poller (demandes); the "
    "process's start time (process_start_time_seconds) until its first success, so that a "
    "poller failing from its start shows no success since then.",
    ["poller"],
    registry=REGISTRY,
)
SNE_POLLER_BEHIND = Gauge(
    "passerelle_sne_poller_behind_seconds",
    "How far behind the SNE the poller is: now minus the modification time of the newest "
    "change it has imported, by poller.",
    ["poller"],
    registry=REGISTRY,
)
SNE_POLLER_SKIPPED = Counter(
    "passerelle_sne_poller_skipped_total",
    "What a pass of the SNE poller left for a later pass while going on, by poller and what: "
    "demand_unanswered (its read timed out or its connection failed), demand_refused (the "
    "SNE refused it or answered what the hub cannot read, or the hub refused it), "
    "search_refused (a commune's search), radiations_refused (the radiation listing).",
    ["poller", "what"],
    registry=REGISTRY,
)
SNE_POLLER_UNREAD = Gauge(
    "passerelle_sne_poller_unread_demands",
    "Demands the SNE poller has not read (or published) yet and reads again at every pass, "
    "by poller; as counted at the end of its last pass.",
    ["poller"],
    registry=REGISTRY,
)
STATISTICS_STOCK = Gauge(
    "passerelle_statistics_stock_actif",
    "Active demands whose first wished commune lies in the département (the statistics "
    "fold, docs/statistics.md); absent below 11 demands (statistical secrecy).",
    ["departement"],
    registry=REGISTRY,
)
STATISTICS_RECORDS = Counter(
    "passerelle_statistics_records_total",
    "hub.demandes records read by the statistics fold, by outcome (folded, duplicate, "
    "other_record, or the refusal's reason: tombstone, missing_key, undecodable…).",
    ["outcome"],
    registry=REGISTRY,
)
GP_UNPUBLISHED = Gauge(
    "passerelle_gp_unpublished_events",
    "Gestion partagée events stored but not acknowledged by Kafka yet (gp_unpublished), "
    "as last counted by hub api's republisher (at startup and every "
    "api.republish_interval_s); it publishes them in store order per demand.",
    registry=REGISTRY,
)
SNE_GATEWAY_UNPUBLISHED = Gauge(
    "passerelle_sne_gateway_unpublished_records",
    "Records the SOAP gateway owes Kafka for what the SNE accepted (sne_gateway_unpublished), "
    "by state: owed (published in store order per demand at the gateway's start and every "
    "sne.gateway_republish_interval_s) or refused (Kafka refused the record itself, e.g. too "
    "large: set aside, tried again at the gateway's next start); as last counted by hub "
    "soap-gateway.",
    ["state"],
    registry=REGISTRY,
)


# -- which process exports what -----------------------------------------------------------
_CALLS = (CONNECTOR_CALLS, CONNECTOR_LATENCY)
_OUTBOXES = (
    OUTBOX_DEPTH, OUTBOX_FEEDS_STOPPED, RECORDS_CLOSED_UNDELIVERED, RECORDS_DELIVERED,
    DELIVERY_LAST_ROUND,
)  # fmt: skip

#: The hub processes that serve ``/metrics``, named by their ``hub`` command (the worker
#: on its web port, the others with ``--metrics-port``), and the metrics each one feeds.
#: A process exports these and the process collectors' only: a metric it never measures
#: would be exported at its initial value (a gauge at 0), which a panel or a query without
#: a ``job`` matcher reads as a measurement (the API's ``passerelle_broker_unreachable 0``
#: while its broker is down). A metric placed in no process is exported by all; every
#: metric above is placed (tests/unit/test_metric_owners.py).
PROCESS_METRICS: dict[str, tuple[Counter | Gauge | Histogram, ...]] = {
    "worker": (
        EVENTS_IN, FEED_RECORDS_OUT, DISPATCH_LATENCY, DOCUMENT_AGE, DISPATCH_BATCH_INPUTS,
        CONSUMER_LAG, DEAD_LETTERS, DLQ_REPLAYS, PARKED_EVENEMENTS, PARKED_EVENEMENTS_OUTCOMES,
        DELAI_DISAGREEMENTS, CLOCK_READS, INPUT_REWINDS, INPUT_RECORDS_REMOVED,
        AGENT_LAST_EVENT, AGENT_STALLED, BROKER_UNREACHABLE, ASSIGNED_PARTITIONS,
    ),
    "api": (GP_UNPUBLISHED,),
    "deliver": (*_CALLS, WEBHOOK_RETRIES, ACTOR_NOT_SERVED, *_OUTBOXES),
    "files outbox": (*_CALLS, *_OUTBOXES),
    "files watch": _CALLS,
    "sne-poll": (
        *_CALLS, SNE_POLLER_LAST_SUCCESS, SNE_POLLER_BEHIND, SNE_POLLER_SKIPPED,
        SNE_POLLER_UNREAD,
    ),
    "soap-gateway": (*_CALLS, SNE_GATEWAY_UNPUBLISHED),
    "audit record": (AUDIT_FEEDS_STOPPED,),
    "stats fold": (STATISTICS_STOCK, STATISTICS_RECORDS),
}  # fmt: skip


def family_name(metric: Counter | Gauge | Histogram) -> str:
    """The metric family's name as exposed (a counter's without ``_total``)."""
    [family] = metric.describe()
    return str(family.name)


class _ProcessView(Collector):
    """The families of :data:`REGISTRY` but those of other processes."""

    def __init__(self, others: frozenset[str]) -> None:
        self._others = others

    def collect(self) -> Iterable[Metric]:
        return [f for f in REGISTRY.collect() if f.name not in self._others]


@cache
def process_registry(process: str) -> CollectorRegistry:
    """What ``process`` (a key of :data:`PROCESS_METRICS`) serves on ``/metrics``: its
    metrics, those placed in no process, and the process collectors. KeyError for a
    process not listed there."""
    own = {family_name(metric) for metric in PROCESS_METRICS[process]}
    placed = {family_name(metric) for owned in PROCESS_METRICS.values() for metric in owned}
    view = CollectorRegistry(auto_describe=False)
    view.register(_ProcessView(frozenset(placed - own)))
    return view
