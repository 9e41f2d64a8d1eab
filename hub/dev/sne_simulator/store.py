"""The simulator's store of demands, numbering sequences and gestion partagée events.

Numéros uniques are assigned in the real format ``DDD MMYY SSSSSS GGGGG``: the territory
(département on 3 characters, from the first wished commune: ``76540`` → ``076``,
``2A004`` → ``02A``, ``97411`` → ``974``), month and year of the first deposit, a 6-digit
sequence per territory (taken in the same write transaction as the demand: no two demands
share a number, even with concurrent requests), the 5-character guichet code.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select, update

from connectors.sne.tables import sim_demandes, sim_evenements, sim_sequences
from hub.core.db import write_transaction


def territoire(commune: str) -> str:
    """The 3-character territory code of an INSEE commune code."""
    return commune[:3] if commune.startswith("97") else commune[:2].zfill(3)


def format_num_unique(terr: str, date_depot: str, seq: int, guichet: str) -> str:
    """``DDDMMYYSSSSSSGGGGG`` from its parts (``date_depot`` is an ISO date)."""
    return f"{terr}{date_depot[5:7]}{date_depot[2:4]}{seq:06d}{guichet}"


class SimulatorStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self, row: dict[str, Any], commune: str, render: Any) -> str:
        """Number and store a new demand; ``render(num)`` gives its document."""
        terr = territoire(commune)
        with write_transaction(self.engine) as conn:
            last = conn.execute(
                select(sim_sequences.c.last).where(sim_sequences.c.territoire == terr)
            ).scalar()
            seq = (last or 0) + 1
            if last is None:
                conn.execute(sim_sequences.insert().values(territoire=terr, last=seq))
            else:
                conn.execute(
                    update(sim_sequences).where(sim_sequences.c.territoire == terr).values(last=seq)
                )
            num = format_num_unique(terr, row["date_depot"], seq % 1_000_000, row["guichet"])
            conn.execute(
                sim_demandes.insert().values(
                    num_unique=num, document=render(num), updated_at=datetime.now(UTC), **row
                )
            )
        return num

    def update(self, num: str, values: dict[str, Any]) -> None:
        with write_transaction(self.engine) as conn:
            conn.execute(
                update(sim_demandes)
                .where(sim_demandes.c.num_unique == num)
                .values(updated_at=datetime.now(UTC), **values)
            )

    def get(self, num: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(sim_demandes).where(sim_demandes.c.num_unique == num)).first()
        return dict(row._mapping) if row is not None else None

    def delete(self, num: str) -> bool:
        """Remove the demand ``num`` as a deletion (``SUP``) at the SNE does — an act of the
        SNE's side that none of its web services performs (for tests and demos); whether
        it was there. Its reads answer ``NUMINCONNU`` from now on."""
        with write_transaction(self.engine) as conn:
            gone = conn.execute(sim_demandes.delete().where(sim_demandes.c.num_unique == num))
            return bool(gone.rowcount)

    def numbers(self, where: list[Any], *, commune: str | None, limit: int) -> list[str]:
        """Numéros of the demands matching every condition of ``where`` and wishing
        ``commune`` (any commune if None), by numéro, at most ``limit``: the wished
        communes are a JSON list, filtered here, before the limit counts."""
        stmt = (
            select(sim_demandes.c.num_unique, sim_demandes.c.communes)
            .where(*where)
            .order_by(sim_demandes.c.num_unique)
        )
        found: list[str] = []
        with self.engine.connect() as conn:
            for num, communes in conn.execute(stmt):
                if commune is None or commune in communes:
                    found.append(num)
                    if len(found) >= limit:
                        break
        return found

    def search(self, where: list[Any], limit: int = 10_000) -> list[dict[str, Any]]:
        """Demands matching every SQLAlchemy condition of ``where``, by numéro."""
        stmt = select(sim_demandes).where(*where).order_by(sim_demandes.c.num_unique).limit(limit)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    # gestion partagée events -------------------------------------------------------------
    def add_event(self, num: str, data: dict[str, Any]) -> int:
        with write_transaction(self.engine) as conn:
            result = conn.execute(
                sim_evenements.insert().values(
                    num_unique=num, data=data, deleted=False, created_at=datetime.now(UTC)
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def get_event(self, num: str, ident: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(sim_evenements).where(
                    sim_evenements.c.id == ident,
                    sim_evenements.c.num_unique == num,
                    sim_evenements.c.deleted.is_(False),
                )
            ).first()
        return dict(row._mapping) if row is not None else None

    def set_event(
        self, ident: int, *, data: dict[str, Any] | None = None, deleted: bool = False
    ) -> None:
        values: dict[str, Any] = {"deleted": deleted}
        if data is not None:
            values["data"] = data
        with write_transaction(self.engine) as conn:
            conn.execute(
                update(sim_evenements).where(sim_evenements.c.id == ident).values(**values)
            )

    def events(self, num: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(sim_evenements)
                .where(sim_evenements.c.num_unique == num, sim_evenements.c.deleted.is_(False))
                .order_by(sim_evenements.c.id)
            )
            return [dict(r._mapping) for r in rows]
