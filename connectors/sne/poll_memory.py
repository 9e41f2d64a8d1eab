"""What the SNE poller remembers across passes and restarts (tables of migration 0003).

* ``sne_poll_seen``: per demand, the digest and snapshot last published.
* ``sne_poll_watermarks``: the poller's cursor. The row ``radiations`` is the date the
  radiations were last listed from; a row ``unread:<numéro>`` is a demand a pass could
  not read (the SNE did not answer in time, refused it, answered what the hub cannot
  read) or the hub refused: every later pass reads it again until it is read and handled,
  so moving the watermark never passes over it. Its value: how many passes in a row left
  it unread, since which day, and the last reason's code (``3 2026-11-23 sne_unavailable``).
  Kept in the watermarks table on purpose: it is cursor state, and needs no migration.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine, func, select

from connectors.sne.tables import poll_seen, poll_watermarks
from hub.core.db import write_transaction

#: name prefix of the watermark rows of unread demands
UNREAD = "unread:"


@dataclass(frozen=True)
class Unread:
    """A demand left unread: ``passes`` in a row since ``since`` (ISO day), last ``reason``."""

    passes: int
    since: str
    reason: str

    def value(self) -> str:
        return f"{self.passes} {self.since} {self.reason}"[:64]

    @classmethod
    def parse(cls, value: str) -> Unread:
        passes, _, rest = value.partition(" ")
        since, _, reason = rest.partition(" ")
        return cls(int(passes) if passes.isdigit() else 1, since, reason)


class PollMemory:
    """Reads and writes of the poller's tables; each write is its own transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def seen(self, num: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(poll_seen).where(poll_seen.c.num_unique == num)).first()
        return dict(row._mapping) if row is not None else None

    def published(self) -> list[str]:
        """The demands published before and not (yet) as radiated or deleted."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(poll_seen.c.num_unique, poll_seen.c.event)).all()
        return [r.num_unique for r in rows if r.event.get("operation") not in ("RAD", "SUP")]

    def record(self, num: str, digest: str, event: dict[str, Any]) -> None:
        values = {
            "digest": digest,
            "event": {"operation": event["operation"], "demande": event["demande"]},
            "seen_at": datetime.now(UTC),
        }
        with write_transaction(self.engine) as conn:
            where = poll_seen.c.num_unique == num
            if conn.execute(select(poll_seen.c.num_unique).where(where)).first():
                conn.execute(poll_seen.update().where(where).values(**values))
            else:
                conn.execute(poll_seen.insert().values(num_unique=num, **values))

    def watermark(self, name: str) -> str | None:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(poll_watermarks.c.value).where(poll_watermarks.c.name == name)
            ).scalar()
        return str(value) if value is not None else None

    def set_watermark(self, name: str, value: str) -> None:
        with write_transaction(self.engine) as conn:
            conn.execute(poll_watermarks.delete().where(poll_watermarks.c.name == name))
            conn.execute(
                poll_watermarks.insert().values(
                    name=name, value=value, updated_at=datetime.now(UTC)
                )
            )

    def unread(self) -> dict[str, Unread]:
        """The demands left unread by earlier passes, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(poll_watermarks.c.name, poll_watermarks.c.value)
                .where(poll_watermarks.c.name.startswith(UNREAD, autoescape=True))
                .order_by(poll_watermarks.c.updated_at, poll_watermarks.c.name)
            ).all()
        return {r.name[len(UNREAD) :]: Unread.parse(r.value) for r in rows}

    def leave_unread(self, num: str, before: Unread | None, reason: str, today: date) -> Unread:
        """Remember ``num`` as unread by this pass (``before``: as the pass found it)."""
        now = Unread(
            (before.passes + 1) if before else 1, before.since if before else today.isoformat(),
            reason,
        )  # fmt: skip
        self.set_watermark(UNREAD + num, now.value())
        return now

    def settle(self, num: str) -> None:
        """``num`` was read and handled: no longer unread."""
        with write_transaction(self.engine) as conn:
            conn.execute(poll_watermarks.delete().where(poll_watermarks.c.name == UNREAD + num))

    def count_unread(self) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).where(
                        poll_watermarks.c.name.startswith(UNREAD, autoescape=True)
                    )
                ).scalar_one()
            )
