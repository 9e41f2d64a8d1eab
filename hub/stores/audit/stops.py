"""Feeds the audit recorder stopped at a record whose writer schema it cannot resolve.

Dead-lettering such a record would leave a delivery of personal data without its audit
row for ever, so :class:`hub.stores.audit.recorder.AuditRecorder` stops that feed
partition at the record instead (nothing after it is recorded or committed) and tries it
again. The rule, the bookkeeping and the retry are every feed reader's
(:mod:`hub.core.kafka.feed_stops`, :mod:`hub.core.kafka.feed_holds`); this module gives
them the recorder's words (:data:`AUDIT`: "audit of …", upgrade ``hub audit record``) and
its gauge ``passerelle_audit_feeds_stopped``, and keeps the names its callers import.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hub.core.errors import DecodeError
from hub.core.kafka.feed_stops import (
    REMIND_S,
    STOP_BACKOFF,
    UNRESOLVED,
    Reader,
    Stop,
    is_unresolved,
    schema_header,
)
from hub.core.kafka.feed_stops import Stops as FeedStops
from hub.core.kafka.feed_stops import stop_line as feed_stop_line
from hub.core.settings import HubSettings
from monitoring import recorder

__all__ = ["AUDIT", "REMIND_S", "STOP_BACKOFF", "UNRESOLVED", "Stop", "Stops", "is_unresolved",
           "schema_header", "stop_line"]  # fmt: skip

#: the recorder's words in its stop lines
AUDIT = Reader(what="audit of", command="hub audit record", done="recorded")


def stop_line(
    settings: HubSettings, topic: str, offset: int, value: bytes, exc: DecodeError
) -> str:
    """What to say when the audit of ``topic`` stops at ``offset``
    (:func:`hub.core.kafka.feed_stops.stop_line`)."""
    return feed_stop_line(settings, AUDIT, topic, offset, value, exc)


@dataclass
class Stops(FeedStops):
    """The recorder's stopped partitions, counted by ``passerelle_audit_feeds_stopped``."""

    gauge: Callable[[int], None] = recorder.audit_feeds_stopped
