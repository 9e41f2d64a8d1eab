"""Turning facts into metric values: one dispatch batch, one connector call, ...

Business modules stay free of metric calls: the dispatch processor returns a
``BatchStats`` per batch and the faust sensor hands it to :func:`record_batch`.
Connectors and delivery (issues 3 and 4) use the small helpers below, so label values
are checked in one place (bounded sets only: no personal data, no free text).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from hub.domain.refdata import TABLES
from monitoring import metrics as m

if TYPE_CHECKING:
    from dispatch.processor import BatchStats

#: operation label values; anything else read from input is counted as INVALID
_OPERATIONS = TABLES["operation"] | {"CONTROL", "TICK", "UNDECODABLE"}
#: ``anomalies``: the remote system answered and refused the input with an anomaly list
OUTCOMES = ("ok", "business_error", "transport_error", "timeout", "anomalies")


def operation_label(value: str) -> str:
    return value if value in _OPERATIONS else "INVALID"


def record_batch(stats: BatchStats, *, now: float | None = None) -> None:
    """Count one processed batch. Call once its feed writes are acknowledged (the
    processor returns only then): latency is measured to that moment."""
    now = time.time() if now is None else now
    m.DISPATCH_BATCH_INPUTS.observe(sum(stats.inputs.values()))
    for (topic, operation), n in stats.inputs.items():
        m.EVENTS_IN.labels(topic=topic, operation=operation_label(operation)).inc(n)
    for (actor, kind), n in stats.by_actor.items():
        m.FEED_RECORDS_OUT.labels(actor=actor, kind=kind).inc(n)
    for reason, n in stats.dead_letter_reasons.items():
        m.DEAD_LETTERS.labels(reason=reason).inc(n)
    for ingested_ms, occurred_ms in stats.decided:
        # a time in the future (clock skew) counts as zero
        if ingested_ms is not None:
            m.DISPATCH_LATENCY.observe(max(now - ingested_ms / 1000.0, 0.0))
        m.DOCUMENT_AGE.observe(max(now - occurred_ms / 1000.0, 0.0))
    if stats.delai_disagreements:
        m.DELAI_DISAGREEMENTS.inc(stats.delai_disagreements)
    if stats.clock_reads:
        m.CLOCK_READS.inc(stats.clock_reads)
    if stats.replays:
        topic = next(iter(stats.inputs))[0] if stats.inputs else ""
        m.DLQ_REPLAYS.labels(topic=topic).inc(stats.replays)


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
            time.perf_counter() - start)


def _outcome_of_error(result: dict[str, str], default: str) -> None:
    if result["outcome"] == "ok":
        result["outcome"] = default


def input_rewind(topic: str) -> None:
    m.INPUT_REWINDS.labels(topic=topic).inc()


def webhook_retry(actor: str) -> None:
    m.WEBHOOK_RETRIES.labels(actor=actor).inc()


def outbox_depth(actor: str, depth: int) -> None:
    m.OUTBOX_DEPTH.labels(actor=actor).set(depth)


def sne_poll_succeeded(
    poller: str, newest_change: float | None, *, now: float | None = None
) -> None:
    """A poll of the SNE succeeded; ``newest_change`` is the Unix time of the newest change
    imported so far (None: unknown, the 'behind' gauge is left as is)."""
    now = time.time() if now is None else now
    m.SNE_POLLER_LAST_SUCCESS.labels(poller=poller).set(now)
    if newest_change is not None:
        m.SNE_POLLER_BEHIND.labels(poller=poller).set(max(now - newest_change, 0.0))
