"""The database's aggregation of the secrecy series (``StatisticsStore.series_counts``)
against their definition over the facts (``hub.domain.statistics_series.series_counts``),
on SQLite and PostgreSQL: facts drawn by hypothesis around the month and year borders,
with and without a creation date, active or radiated for attribution, for another motive
or with no motive; months asked over any span, December to January included."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, insert

from hub.domain.statistics import Fait, months
from hub.domain.statistics_series import series_counts
from hub.stores.statistics.store import StatisticsStore
from hub.stores.statistics.tables import stat_demandes

COMMUNES = ("76540", "76212", "27229")
#: days around the borders of 2025 and of a month
DAYS = st.one_of(
    st.dates(date(2024, 12, 25), date(2025, 1, 6)),
    st.dates(date(2025, 6, 28), date(2025, 7, 3)),
    st.dates(date(2025, 12, 29), date(2026, 1, 2)),
)


@st.composite
def facts(draw: st.DrawFn) -> list[Fait]:
    out = []
    for i in range(draw(st.integers(0, 30))):
        created = draw(st.none() | DAYS)
        radiated = draw(st.none() | DAYS)
        motive = draw(st.sampled_from([None, "RADATT", "RADABA", "RADREN"]))
        active = radiated is None and draw(st.booleans())
        out.append(
            Fait(
                num_unique=f"{i:018d}",
                commune=draw(st.sampled_from(COMMUNES)),
                epci=None,
                departement=None,
                date_creation=created,
                active=active,
                date_radiation=None if active else radiated,
                motif_radiation=None if active else motive,
            )
        )
    return out


def _row(f: Fait) -> dict[str, Any]:
    return {
        "num_unique": f.num_unique,
        "commune": f.commune,
        "epci": None,
        "departement": "76",
        "typologies": "T3",
        "date_creation": f.date_creation,
        "active": f.active,
        "date_radiation": f.date_radiation,
        "motif_radiation": f.motif_radiation,
        "last_partition": 0,
        "last_offset": 0,
        "recent_event_ids": "[]",
        "updated_at": datetime(2026, 1, 1, tzinfo=UTC),
    }


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(faits=facts(), last=DAYS, span=st.integers(1, 14))
def test_the_database_counts_what_the_definition_counts(
    migrated_db: tuple[str, Engine], faits: list[Fait], last: date, span: int
) -> None:
    _url, engine = migrated_db
    with engine.begin() as conn:
        conn.execute(delete(stat_demandes))
        if faits:
            conn.execute(insert(stat_demandes), [_row(f) for f in faits])
    mois = months(last, span)
    got = StatisticsStore(engine).series_counts(COMMUNES, mois)
    want = series_counts(faits, mois)
    assert {k: Counter(v) for k, v in got.items() if v} == {
        k: Counter(v) for k, v in want.items() if v
    }
