"""Turning facts into metric values: one dispatch batch, one connector call, ...

Business modules stay free of metric calls: the dispatch processor returns a
``BatchStats`` per batch and the faust sensor hands it to
:func:`dispatch.recording.record_batch` (above this floor, since it reads dispatch's type).
Connectors and delivery (issues 3 and 4) use the small helpers below, so label values
are checked in one place (bounded sets only: no personal data, no free text).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from hub.domain.refdata import TABLES
from monitoring import metrics as m

#: operation label values; anything else read from input is counted as INVALID
#: (EVENEMENT: a hub.evenements record, dispatch.parking)
_OPERATIONS = TABLES["operation"] | {"CONTROL", "TICK", "UNDECODABLE", "EVENEMENT"}
#: ``anomalies``: the remote system answered and refused the input with an anomaly list
OUTCOMES = ("ok", "business_error", "transport_error", "timeout", "anomalies")


def operation_label(value: str) -> str:
    return value if value in _OPERATIONS else "INVALID"


@contextmanager
def connector_call(connector: str, operation: str) -> Iterator[dict[str, str]]:
    """Time and count one external call. The body may set ``outcome`` in the yielded
    dict (default ``ok``); an exception counts as ``transport_error`` (``timeout`` for
    TimeoutError, ``business_error`` for a non-retriable HubError) and propagates, unless
    the body set another outcome than ``ok`` before raising (the caller knows better)."""
    from hub.core.errors import HubError

    result = {"outcome": "ok"}
    start = time.perf_counter()
    try:
        yield result
    except TimeoutError:
        _outcome_of_error(result, "timeout")
        raise
    except HubError as exc:
        _outcome_of_error(result, "transport_error" if exc.retriable else "business_error")
        raise
    except Exception:
        _outcome_of_error(result, "transport_error")
        raise
    finally:
        outcome = result["outcome"] if result["outcome"] in OUTCOMES else "transport_error"
        m.CONNECTOR_CALLS.labels(connector=connector, operation=operation, outcome=outcome).inc()
        m.CONNECTOR_LATENCY.labels(connector=connector, operation=operation).observe(
            time.perf_counter() - start
        )


def _outcome_of_error(result: dict[str, str], default: str) -> None:
    if result["outcome"] == "ok":
        result["outcome"] = default


#: the dead-letter reasons of the worker (``hub dlq list``; docs/operations.md, "Dead
#: letters and replay"): their ``passerelle_dead_letters_total`` series exist, at 0, from
#: the worker's start (:func:`worker_started`). Other reasons (a new error code) are
#: counted all the same, their series born with their first letter: the alert sees that too.
DEAD_LETTER_REASONS = (
    "tombstone", "missing_key", "key_mismatch", "oversize", "undecodable", "unknown_schema",
    "wrong_schema", "unknown_commune", "invalid_num_unique", "date_out_of_range",
    "invalid_input", "internal_error", "unknown_demande", "parking_full", "deleted_demande",
    "invalid_character", "invalid_event_id", "unknown_code", "bad_operation",
    "demande_existante", "auteur_non_detenteur", "reactivation_hors_delai", "demande_attribuee",
)  # fmt: skip


def process_start_time() -> float | None:
    """This process's start (Unix time), as exported in ``process_start_time_seconds``;
    None where the process collector has no value (not Linux)."""
    return m.REGISTRY.get_sample_value("process_start_time_seconds")


def worker_started(input_topics: Iterable[str], agents: Iterable[str], started_at: float) -> None:
    """Series a worker exports from its start, before anything happens: an alert on
    ``increase()`` sees a counter's first value only if its series existed before it, and
    an alert on time since the last event needs a last event.

    * ``passerelle_input_records_removed_total{topic}`` of each input and
      ``passerelle_dead_letters_total{reason}`` of each :data:`DEAD_LETTER_REASONS`, at 0;
    * ``passerelle_agent_last_event_timestamp_seconds{agent}`` = ``started_at`` (the
      process's start): until its first record, "time since the last event" is the time
      since the start, so a worker that never finishes a record shows no progress."""
    for topic in input_topics:
        m.INPUT_RECORDS_REMOVED.labels(topic=topic)
    for reason in DEAD_LETTER_REASONS:
        m.DEAD_LETTERS.labels(reason=reason)
    for agent in agents:
        m.AGENT_LAST_EVENT.labels(agent=agent).set(started_at)


def input_rewind(topic: str) -> None:
    m.INPUT_REWINDS.labels(topic=topic).inc()


def input_removed(topic: str, count: int) -> None:
    m.INPUT_RECORDS_REMOVED.labels(topic=topic).inc(count)


def webhook_retry(actor: str) -> None:
    m.WEBHOOK_RETRIES.labels(actor=actor).inc()


def outbox_depth(actor: str, depth: int) -> None:
    m.OUTBOX_DEPTH.labels(actor=actor).set(depth)


def outbox_taken_up(channel: str, actor: str) -> None:
    """A delivery process begins to serve ``actor`` on ``channel``: its delivered records
    are exported at 0 (an alert reading their ``increase()`` sees the first ones), and,
    for the push channels, its not-served state at 0."""
    m.RECORDS_DELIVERED.labels(channel=channel, actor=actor)
    if channel != "file":
        m.ACTOR_NOT_SERVED.labels(actor=actor)


def outbox_gone(actor: str, channels: Iterable[str] = ()) -> None:
    """``actor`` left the process's channels (removed from the registry, or moved to a
    channel another process serves): its outbox depth, not-served state and delivered
    records (of ``channels``) are no longer exported, rather than their last values for
    the life of the process."""
    m.OUTBOX_DEPTH.remove(actor)
    m.ACTOR_NOT_SERVED.remove(actor)
    for channel in channels:
        m.RECORDS_DELIVERED.remove(channel, actor)


def records_delivered(channel: str, actor: str, count: int) -> None:
    """``count`` records of ``actor`` delivered by ``channel``."""
    m.RECORDS_DELIVERED.labels(channel=channel, actor=actor).inc(count)


def actor_not_served(actor: str, not_served: bool) -> None:
    """Whether hub deliver serves ``actor`` (False: its options are unusable)."""
    m.ACTOR_NOT_SERVED.labels(actor=actor).set(1 if not_served else 0)


def delivery_round(channel: str, at: float | None = None) -> None:
    """The delivery process of ``channel`` (push, file) completed a round that read the
    registry; ``at`` (default now): the process's start, before its first round."""
    m.DELIVERY_LAST_ROUND.labels(channel=channel).set(time.time() if at is None else at)


def audit_feeds_stopped(count: int) -> None:
    """The audit recorder holds ``count`` feed partitions at an unresolvable record."""
    m.AUDIT_FEEDS_STOPPED.set(count)


#: per (channel, owner) the feed partitions held: one gauge value sums a channel's owners
_OUTBOX_HELD: dict[tuple[str, str], int] = {}


def outbox_feeds_stopped(channel: str, count: int, owner: str = "") -> None:
    """``owner`` of ``channel`` (the feed pump of ``push``; one actor's DIS outbox of
    ``file``, several in one process) holds ``count`` feed partitions at an unresolvable
    record; the channel's gauge is the sum over its owners."""
    _OUTBOX_HELD[(channel, owner)] = count
    total = sum(n for (c, _), n in _OUTBOX_HELD.items() if c == channel)
    m.OUTBOX_FEEDS_STOPPED.labels(channel=channel).set(total)


def records_closed(channel: str, reason: str, actor: str, count: int = 1) -> None:
    """``count`` records of ``actor`` closed by ``channel`` without being delivered."""
    if count:
        m.RECORDS_CLOSED_UNDELIVERED.labels(channel=channel, reason=reason, actor=actor).inc(count)


_SNE_LAST_SUCCESS = "passerelle_sne_poller_last_success_timestamp_seconds"


def sne_poller_started(poller: str, started_at: float) -> None:
    """A poller's loop begins: ``passerelle_sne_poller_last_success_timestamp_seconds``
    holds ``started_at`` (the process's start) until its first success, so "time since
    the last success" grows from the start for a poller that never succeeds (the SNE
    unreachable, a certificate expired, restarted during an outage), as the worker's last
    event does (:func:`worker_started`). A success already recorded in this process is
    kept."""
    labels = {"poller": poller}
    if m.REGISTRY.get_sample_value(_SNE_LAST_SUCCESS, labels) is None:
        m.SNE_POLLER_LAST_SUCCESS.labels(**labels).set(started_at)


def sne_poll_succeeded(
    poller: str, newest_change: float | None, *, now: float | None = None
) -> None:
    """A poll of the SNE succeeded; ``newest_change`` is the Unix time of the newest change
    imported so far (None: unknown, the 'behind' gauge is left as is)."""
    now = time.time() if now is None else now
    m.SNE_POLLER_LAST_SUCCESS.labels(poller=poller).set(now)
    if newest_change is not None:
        m.SNE_POLLER_BEHIND.labels(poller=poller).set(max(now - newest_change, 0.0))


#: what a pass of the SNE poller may leave for a later one (label ``what``)
SNE_POLL_SKIPPED = ("demand_unanswered", "demand_refused", "search_refused", "radiations_refused")


def sne_poll_skipped(poller: str, what: str, count: int = 1) -> None:
    """A pass of the SNE poller left ``count`` of ``what`` for a later pass and went on."""
    label = what if what in SNE_POLL_SKIPPED else "other"
    m.SNE_POLLER_SKIPPED.labels(poller=poller, what=label).inc(count)


def sne_poll_unread(poller: str, count: int) -> None:
    """The demands the SNE poller still has to read, at the end of a pass."""
    m.SNE_POLLER_UNREAD.labels(poller=poller).set(count)


def gp_unpublished(count: int) -> None:
    m.GP_UNPUBLISHED.set(count)


def sne_gateway_unpublished(owed: int, refused: int) -> None:
    m.SNE_GATEWAY_UNPUBLISHED.labels(state="owed").set(owed)
    m.SNE_GATEWAY_UNPUBLISHED.labels(state="refused").set(refused)
