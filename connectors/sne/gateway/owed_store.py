"""The SOAP gateway's records owed to Kafka, in the hub's database (``sne_gateway_unpublished``,
:mod:`connectors.sne.gateway_tables`; SQLite or PostgreSQL).

Contracts:

* :meth:`OwedStore.add` writes records in one transaction (all or none) and returns their
  ``seq``: the store order, which is the order of publication per demand.
* A record is *owed* from :meth:`OwedStore.add` until :meth:`OwedStore.acknowledge`
  deletes it. :meth:`OwedStore.owed` lists what is owed and not refused, in store order.
* :meth:`OwedStore.refuse` sets a record aside (Kafka refused it for good): it stays,
  counted with its error, but is no longer listed by :meth:`OwedStore.owed`, so it does
  not hold its demand's later records; :meth:`OwedStore.release_refused` lists them again.
* A database outage is :class:`~hub.core.errors.TransientError`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Select, case, delete, func, insert, select, update
from sqlalchemy.exc import OperationalError

from connectors.sne.gateway_tables import gateway_unpublished as t
from hub.core.db import write_transaction
from hub.core.errors import TransientError


@dataclass(frozen=True, slots=True)
class Record:
    """One Kafka record the gateway publishes, byte for byte (no headers: it sets none)."""

    topic: str
    key: bytes
    value: bytes
    #: the ``eventId`` inside ``value``, by which consumers deduplicate
    event_id: str
    #: the SOAP operation the SNE accepted
    operation: str

    @property
    def num_unique(self) -> str:
        """The demand: the record's key (both topics are keyed by the numéro)."""
        return self.key.decode(errors="replace")


@dataclass(frozen=True, slots=True)
class Owed:
    """A stored record: its place in store order, its failures so far."""

    seq: int
    record: Record
    stored_at: datetime
    attempts: int = 0
    last_error: str | None = None
    refused_at: datetime | None = None


@contextmanager
def _db_errors() -> Iterator[None]:
    try:
        yield
    except OperationalError as exc:  # an outage is transient; anything else is a bug
        raise TransientError(f"database unavailable: {type(exc.orig).__name__}") from None


def _aware(at: datetime | None) -> datetime | None:
    if at is None:
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)  # SQLite drops the zone


class OwedStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, records: Sequence[Record]) -> list[int]:
        """Store ``records``, in this order, owed (module doc); their ``seq``."""
        now = datetime.now(UTC)
        seqs: list[int] = []
        with _db_errors(), write_transaction(self.engine) as conn:
            for r in records:
                key = conn.execute(
                    insert(t).values(
                        topic=r.topic, num_unique=r.num_unique[:40], record_key=r.key,
                        record_value=r.value, event_id=r.event_id[:64],
                        operation=r.operation[:40], stored_at=now, attempts=0,
                    )
                ).inserted_primary_key  # fmt: skip
                assert key is not None  # an INSERT always has one
                seqs.append(int(key[0]))
        return seqs

    def owed(self, nums: Collection[str] | None = None) -> list[Owed]:
        """The records owed and not refused, in store order; of the demands ``nums`` only
        when given."""
        q = select(t).where(t.c.refused_at.is_(None)).order_by(t.c.seq)
        if nums is not None:
            q = q.where(t.c.num_unique.in_(sorted(set(nums))))
        return self._rows(q)

    def refused(self, limit: int | None = None) -> list[Owed]:
        """The records set aside (:meth:`refuse`), in store order, at most ``limit``."""
        return self._rows(select(t).where(t.c.refused_at.is_not(None)).order_by(t.c.seq)
                          .limit(limit))  # fmt: skip

    def demands(self, limit: int) -> list[str]:
        """Up to ``limit`` demands owing a record not refused, the one owing longest first."""
        q = (
            select(t.c.num_unique)
            .where(t.c.refused_at.is_(None))
            .group_by(t.c.num_unique)
            .order_by(func.min(t.c.seq))
            .limit(limit)
        )
        with _db_errors(), self.engine.connect() as conn:
            return [str(n) for n in conn.execute(q).scalars()]

    def acknowledge(self, seqs: Collection[int]) -> None:
        """Kafka acknowledged these records: no longer owed (unknown seqs: nothing)."""
        if seqs:
            with _db_errors(), write_transaction(self.engine) as conn:
                conn.execute(delete(t).where(t.c.seq.in_(sorted(seqs))))

    def failed(self, seq: int, error: str, *, refused: bool = False) -> None:
        """A publication of ``seq`` failed with ``error``; ``refused``: for good (set aside)."""
        values = {"attempts": t.c.attempts + 1, "last_error": error[:300]}
        if refused:
            values["refused_at"] = datetime.now(UTC)
        with _db_errors(), write_transaction(self.engine) as conn:
            conn.execute(update(t).where(t.c.seq == seq).values(**values))

    def release_refused(self) -> int:
        """List the refused records as owed again (the gateway's start); how many."""
        with _db_errors(), write_transaction(self.engine) as conn:
            done = conn.execute(
                update(t).where(t.c.refused_at.is_not(None)).values(refused_at=None)
            )
            return int(done.rowcount or 0)

    def summary(self) -> tuple[int, datetime | None, int]:
        """(Records owed and not refused, when the oldest of them was stored, refused)."""
        owed = t.c.refused_at.is_(None)
        q = select(
            func.count(case((owed, 1))),
            func.min(case((owed, t.c.stored_at))),
            func.count(case((t.c.refused_at.is_not(None), 1))),
        )
        with _db_errors(), self.engine.connect() as conn:
            count, oldest, refused = conn.execute(q).one()
        return int(count), _aware(oldest), int(refused)

    def _rows(self, q: Select[Any]) -> list[Owed]:
        with _db_errors(), self.engine.connect() as conn:
            rows = conn.execute(q).mappings().all()
        out: list[Owed] = []
        for r in rows:
            record = Record(r["topic"], bytes(r["record_key"]), bytes(r["record_value"]),
                            r["event_id"], r["operation"])  # fmt: skip
            out.append(Owed(int(r["seq"]), record, _aware(r["stored_at"]) or datetime.now(UTC),
                            int(r["attempts"]), r["last_error"],
                            _aware(r["refused_at"])))  # fmt: skip
        return out
