"""Screening of the worker's input records and the dead letters of those refused.

Every record that reaches an agent ends in exactly one place: a feed, ``hub.dlq`` with its
reason, or a counted skip. Kafka's record model allows what no hub producer writes, so
each shape has its reason (docs/limits.md):

* ``tombstone``: no value (``null``), e.g. a compaction delete sent by a foreign tool;
* ``missing_key``: no key; the hub keys every record, and a keyless record lands on a
  partition that does not hold its demand's state;
* ``oversize``: a value above ``worker.max_record_bytes`` (an SNE demand is a few kB), or
  a valid input one of whose outputs would be larger than the worker's producer sends
  (:func:`check_outputs`): refused like any bad input, rather than stopping its
  partition at every restart;
* ``key_mismatch``: a key that is not the record's numéro unique (same reason as above);
* what the codec refuses: ``undecodable``, ``unknown_schema``, ``wrong_schema``, ...

:func:`dead_letter` never raises for a letter's size: a letter that would not fit
``hub.dlq`` keeps everything but the payload (``payload`` null, ``payloadSize`` set), and
its message says where the original lies (source topic, partition, offset).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from dispatch.sending import Output, record_bytes
from hub.core import topics
from hub.core.errors import DecodeError, HubError, InputError
from schemas import Codec

#: Refusals of a well-formed event by a rule of the domain, not by its shape nor by a
#: defect: a creation of an existing numéro (``demande_existante``,
#: :data:`hub.domain.decisions.EXISTING`), a change of an existing demand by an actor not
#: holding it (``auteur_non_detenteur``, :data:`hub.domain.authorship.NOT_HOLDER`), a
#: reactivation past its 18 months (``reactivation_hors_delai``,
#: :data:`hub.domain.decisions.LATE_REACTIVATION`), a change of a demand radiated for
#: attribution (``demande_attribuee``, :data:`hub.domain.decisions.ATTRIBUTED`). Any
#: API actor can write such events (the door cannot tell them: only the worker knows every
#: numéro and its holders), so they never count towards
#: ``worker.max_consecutive_dead_letters``: a run of them would otherwise stop every
#: worker, at every restart, on an actor's say-so. A run of real faults still trips it
#: (they neither count nor reset the run). Besides its letter, such a refusal may owe the
#: writer a ``RETRAIT`` (``ecriture_refusee``: hub.domain.authorship.refused_writer).
DOMAIN_REFUSALS = frozenset(
    {"demande_existante", "auteur_non_detenteur", "reactivation_hors_delai", "demande_attribuee"}
)

#: Header set by ``hub dlq replay`` on a replayed record: JSON ``{"attempts": n,
#: "history": [{reason, message, failedAt}...], "from": "hub.dlq:<partition>:<offset>"}``.
#: A replayed record that fails again is dead-lettered with ``attempts + 1`` and the
#: earlier failures in ``history``.
REPLAY_HEADER = "passerelle-dlq-replay"

#: the largest letter written whole: below Kafka's default ``max.message.bytes``
#: (1,048,588) with room for the record's own framing
MAX_LETTER_BYTES = 1_000_000
#: a longer key is not copied into its letter (no hub producer writes one)
MAX_KEY_BYTES = 65_536


def screen(value: bytes | None, key: bytes | None, max_record_bytes: int) -> None:
    """Raise the :class:`InputError` that refuses a record before any decoding, or return."""
    if value is None:
        raise InputError("record without value (tombstone)", code="tombstone")
    if key is None:
        raise InputError("record without key (the hub keys every record by its numéro "
                         "unique)", code="missing_key")  # fmt: skip
    if len(value) > max_record_bytes:
        raise InputError(f"record of {len(value)} bytes, above the {max_record_bytes}-byte "
                         "limit (worker.max_record_bytes)", code="oversize")  # fmt: skip


def check_outputs(outputs: Sequence[Output], max_output_bytes: int) -> None:
    """Raise the ``oversize`` :class:`InputError` that refuses an input when one of its
    ``outputs`` is larger than the producer sends (``max_output_bytes``, measured as the
    producer measures: :func:`dispatch.sending.record_bytes`); else return. Called before
    the outputs join their batch, so the input leaves neither records nor state."""
    for topic, key, value in outputs:
        size = record_bytes(key, value)
        if size > max_output_bytes:
            raise InputError(f"its record for {topic} would be {size} bytes, above the "
                             f"{max_output_bytes} bytes the worker's producer sends "
                             "(max_request_size)", code="oversize")  # fmt: skip


def record_headers(raw: Any) -> tuple[tuple[str, bytes], ...]:
    """Kafka headers as pairs (faust gives a list of pairs or a mapping; a header value may
    be null)."""
    if not raw:
        return ()
    items = raw.items() if hasattr(raw, "items") else raw
    return tuple((str(k), bytes(v or b"")) for k, v in items)


def refusal(exc: Exception) -> HubError:
    """The error a refused input is dead-lettered with: ``exc`` itself, or, for an error
    the hub did not raise on purpose (a defect), an ``internal_error`` naming it — a
    defect must not cost the records behind this one. Retriable errors are not refusals:
    callers re-raise them first."""
    if isinstance(exc, HubError):
        return exc
    return HubError(f"{type(exc).__name__}: {exc}", code="internal_error")


def check_key(key: bytes | None, num_unique: str) -> None:
    """A demand's records must be keyed by its numéro unique (its partition holds its
    state)."""
    if key != num_unique.encode():
        raise DecodeError("record key is not the record's numéro unique", code="key_mismatch")


def replay_info(headers: Sequence[tuple[str, bytes]]) -> dict[str, Any] | None:
    """The parsed :data:`REPLAY_HEADER` of a record, or None (absent or malformed: a bad
    header must not turn a good record into a dead letter)."""
    for name, raw in headers:
        if name != REPLAY_HEADER:
            continue
        try:
            info = json.loads(raw)
            attempts = int(info["attempts"])
            history = [
                {"reason": str(h["reason"]), "message": str(h["message"])[:1000],
                 "failedAt": int(h["failedAt"])}
                for h in info.get("history") or []
            ]  # fmt: skip
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
            return None
        return {"attempts": max(attempts, 1), "history": history, "from": str(info.get("from", ""))}
    return None


def dead_letter(
    codec: Codec,
    exc: HubError,
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    now_ms: int,
    headers: Sequence[tuple[str, bytes]] = (),
) -> Output:
    """The ``hub.dlq`` record of an input refused with ``exc``; never raises for the
    input's shape (null value, any size)."""
    kept_key = key if key is None or len(key) <= MAX_KEY_BYTES else None
    letter: dict[str, Any] = {
        "reason": exc.code,
        "message": exc.message[:1000],
        "sourceTopic": topic,
        "sourcePartition": partition,
        "sourceOffset": offset,
        "key": None if kept_key is None else bytes(kept_key),
        "payload": None if value is None else bytes(value),
        "payloadSize": None if value is None else len(value),
        "failedAt": now_ms,
        "attempts": 1,
        "history": [],
    }
    previous = replay_info(headers) if headers else None
    if previous is not None:  # a replay that failed again: keep its history
        letter["attempts"] = previous["attempts"] + 1
        letter["history"] = previous["history"][-20:]
    where = f"read it at {topic}:{partition}:{offset}"
    if kept_key is not key:
        letter["message"] = f"{letter['message'][:800]} [key of {len(key or b'')} bytes not kept]"
    if value is not None and len(value) + 2 * len(kept_key or b"") + 4096 > MAX_LETTER_BYTES:
        letter["payload"] = None
        letter["message"] = (f"{letter['message'][:800]} [payload of {len(value)} bytes not "
                             f"kept: {where}]")  # fmt: skip
    return topics.DLQ, letter["key"], codec.encode("DeadLetter", letter)
