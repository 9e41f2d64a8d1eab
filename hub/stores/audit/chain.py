"""The audit trail as a hash chain: every ``audit_deliveries`` row is linked to the one
before it, so a row modified, deleted, inserted or moved afterwards is detected.

Contract:

* ``row_hash = SHA-256(canonical(row, prev_hash))`` where :func:`canonical` encodes the delivery
  fields (actor, numéro unique, version, channel, profile, kind, time in UTC to the
  microsecond, event id; and, for a record closed without being delivered only, its
  ``outcome`` and ``reason``: :data:`CLOSURE`, absent from a delivery's encoding, so the
  rows written before those columns existed verify unchanged) **and** ``prev_hash``,
  the ``row_hash`` of the row before it in ``seq`` order (:data:`GENESIS` for the first
  row). The encoding is frozen: changing it would make every existing row fail
  verification.
* :func:`append` is the only way rows enter the table. It serialises appenders (PostgreSQL:
  ``LOCK TABLE ... IN EXCLUSIVE MODE`` inside the insert transaction, which still lets
  readers in and also blocks a writer that would bypass this module; SQLite: the write
  transaction is ``BEGIN IMMEDIATE``, exclusive already), reads the head, skips the
  deliveries already recorded (same event id, kind, actor, channel: a skipped row would
  otherwise leave a hole in the chain) and inserts the rest, chained, in ``seq`` order.
* :func:`verify` walks the whole table in ``seq`` order and names every broken link by
  ``seq`` (never by content: the rows hold ids only, but messages stay id-free anyway).
  A chain cannot show rows cut from its *end*; keep the head printed by ``hub audit
  verify`` somewhere else and pass it back as the anchor to detect that too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, text

from hub.stores.audit.tables import audit_deliveries

#: ``prev_hash`` of the first row
GENESIS = "0" * 64
#: the fields a row's hash covers, besides ``prev_hash`` (``seq`` is the chain's order)
FIELDS = (
    "actor_id",
    "num_unique",
    "demande_version",
    "channel",
    "profile",
    "kind",
    "at",
    "event_id",
)
#: the fields of a record closed undelivered, hashed only when ``outcome`` is set
CLOSURE = ("outcome", "reason")
_KEY = ("event_id", "kind", "actor_id", "channel")
_CHUNK = 500


def utc(at: datetime) -> datetime:
    """``at`` as an aware UTC datetime (SQLite gives back naive UTC values)."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def canonical(row: Mapping[Any, Any], prev_hash: str) -> bytes:
    """The frozen byte encoding of ``row``'s delivery fields and ``prev_hash``."""
    doc = {
        "actor_id": str(row["actor_id"]),
        "num_unique": str(row["num_unique"]),
        "demande_version": int(row["demande_version"]),
        "channel": str(row["channel"]),
        "profile": str(row["profile"]),
        "kind": str(row["kind"]),
        "at": utc(row["at"]).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "event_id": None if row["event_id"] is None else str(row["event_id"]),
        "prev_hash": prev_hash,
    }
    if row.get("outcome") is not None:  # a delivery's encoding stays the frozen one
        doc.update({k: str(row[k]) for k in CLOSURE})
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def row_hash(row: Mapping[Any, Any], prev_hash: str) -> str:
    return hashlib.sha256(canonical(row, prev_hash)).hexdigest()


def _lock(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        # EXCLUSIVE: concurrent SELECTs go on, every other writer waits for our commit
        conn.execute(text("LOCK TABLE audit_deliveries IN EXCLUSIVE MODE"))
    # SQLite: hub.core.db.write_transaction began with BEGIN IMMEDIATE, the database-wide lock


def _head(conn: Connection) -> str:
    t = audit_deliveries
    head = conn.execute(select(t.c.row_hash).order_by(t.c.seq.desc()).limit(1)).scalar()
    return GENESIS if head is None else str(head)


def _new_only(conn: Connection, rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` minus the deliveries already recorded or repeated in ``rows`` (rows
    without an event id are never duplicates: API reads and pushes)."""
    todo = [dict(r) for r in rows]
    t = audit_deliveries
    ids = sorted({r["event_id"] for r in todo if r.get("event_id") is not None})
    seen: set[tuple[Any, ...]] = set()
    for i in range(0, len(ids), _CHUNK):
        q = select(*(t.c[k] for k in _KEY)).where(t.c.event_id.in_(ids[i : i + _CHUNK]))
        seen.update(tuple(r) for r in conn.execute(q))
    fresh = []
    for r in todo:
        if r.get("event_id") is not None:
            key = tuple(r[k] for k in _KEY)
            if key in seen:
                continue
            seen.add(key)
        fresh.append(r)
    return fresh


def append(conn: Connection, rows: Iterable[Mapping[str, Any]]) -> int:
    """Chain and insert ``rows`` (delivery fields; ``event_id``, ``outcome`` and ``reason``
    optional) through ``conn``, which must be in a write transaction
    (:func:`hub.core.db.write_transaction`). Returns the rows inserted (the new ones, see
    the module doc)."""
    _lock(conn)
    fresh = _new_only(conn, rows)
    if not fresh:
        return 0
    prev = _head(conn)
    chained = []
    for r in fresh:
        # every row with every column: one executemany, whatever each row left out
        r = {**r, **{k: r.get(k) for k in ("event_id", *CLOSURE)}, "at": utc(r["at"])}
        h = row_hash(r, prev)
        chained.append({**r, "prev_hash": prev, "row_hash": h})
        prev = h
    t = audit_deliveries
    # sort_by_parameter_order: seq values are generated in the order of ``chained``
    seqs = (
        conn.execute(insert(t).returning(t.c.seq, sort_by_parameter_order=True), chained)
        .scalars()
        .all()
    )
    if list(seqs) != sorted(seqs):  # would break the chain: refuse (rolled back)
        raise RuntimeError("audit rows did not get increasing seq values")
    return len(chained)


@dataclass(slots=True)
class ChainReport:
    rows: int = 0
    head: str = GENESIS
    problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


def verify(engine: Engine, *, anchors: Sequence[str] = ()) -> ChainReport:
    """Walk the chain in ``seq`` order; one problem line per broken link. Each of
    ``anchors`` (a head printed by an earlier run) must still be a row's hash."""
    t = audit_deliveries
    report = ChainReport()
    pending = set(anchors)
    prev_seq: int | None = None
    fields = (*FIELDS, *CLOSURE)
    q = select(t.c.seq, t.c.prev_hash, t.c.row_hash, *(t.c[f] for f in fields)).order_by(t.c.seq)
    with engine.connect() as conn:
        for row in conn.execution_options(yield_per=1000).execute(q).mappings():
            report.rows += 1
            seq = row["seq"]
            if row["prev_hash"] != report.head:
                before = "the chain start" if prev_seq is None else f"seq {prev_seq}"
                report.problems.append(
                    f"seq {seq}: prev_hash does not match the row_hash of {before} "
                    "(a row deleted, inserted or moved between them)"
                )
            if row["row_hash"] != row_hash(row, str(row["prev_hash"])):
                report.problems.append(
                    f"seq {seq}: row_hash does not match the row's content (row modified)"
                )
            pending.discard(str(row["row_hash"]))
            report.head = str(row["row_hash"])
            prev_seq = seq
    for anchor in sorted(pending):
        report.problems.append(
            f"anchor {anchor} is not in the chain (rows cut from its end, or the chain rebuilt)"
        )
    return report


__all__ = [
    "CLOSURE",
    "FIELDS",
    "GENESIS",
    "ChainReport",
    "append",
    "canonical",
    "row_hash",
    "utc",
    "verify",
]
