"""One dispatch batch's :class:`~dispatch.processor.BatchStats` turned into metric values.

The processor stays free of metric calls; the faust sensor (dispatch/runtime/sensor.py)
calls :func:`record_batch` once a batch's feed writes are acknowledged. The metrics are
declared in :mod:`monitoring.metrics`, the label rules in :mod:`monitoring.recorder`.
"""

from __future__ import annotations

import time

from dispatch.processor import BatchStats
from monitoring import metrics as m
from monitoring.recorder import operation_label


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
    for outcome, n in stats.parked.items():
        m.PARKED_EVENEMENTS_OUTCOMES.labels(outcome=outcome).inc(n)
    for partition, n in stats.parked_now.items():
        m.PARKED_EVENEMENTS.labels(partition=str(partition)).set(n)
    # by the replayed record's own topic (audit S: it was the batch's first input's)
    for topic, n in stats.replays.items():
        m.DLQ_REPLAYS.labels(topic=topic).inc(n)
