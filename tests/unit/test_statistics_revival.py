"""The statistics fold decides a radiated demand's return as the dispatch worker does
(independent review O, O1).

The fold took the cycle's start from the *incoming* event's snapshot: a ``REN`` sent after
the 18 months carrying its own renewal date was refused ``reactivation_hors_delai`` by the
worker and folded active by the statistics; a reactivation within 18 months of the
renewal date the radiation carried, itself without one, was refused by the fold (counted
from the creation) and applied by the worker. The facts now keep the cycle as the worker
reckons it (the clock's renewal token, the cycle's start: migration 0016) and the fold
decides from it; a row written before the migration is decided as before.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select, update

from hub.domain import renewal
from hub.domain.decisions import ATTRIBUTED, LATE_REACTIVATION, cycle_start, reactivation_limit
from hub.services.statistics_folder import Folder, Record
from hub.stores.cotation.store import DeclarationStore
from hub.stores.statistics.store import StatisticsStore
from hub.stores.statistics.tables import stat_demandes
from tests.support.demandes import new_num_unique
from tests.support.sqlite_db import migrated_sqlite
from tests.unit.test_change_authorship import Rig
from tests.unit.test_reactivation_limit import _ev, _ms


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    with migrated_sqlite(tmp_path_factory.mktemp("revival") / "stats.db") as e:
        yield e


class Fold:
    def __init__(self, codec: Any, engine: Engine) -> None:
        self.codec, self.engine = codec, engine
        self.folder = Folder(StatisticsStore(engine), DeclarationStore(engine), codec=codec)
        self.offsets = iter(range(10**6))

    def __call__(self, *events: dict[str, Any]) -> dict[str, int]:
        records = [Record(0, next(self.offsets), e["numUnique"].encode(),
                          self.codec.encode("DemandeEvent", e)) for e in events]  # fmt: skip
        return dict(self.folder.fold(records))

    def active(self, num: str) -> bool:
        with self.engine.connect() as conn:
            return bool(conn.execute(select(stat_demandes.c.active).where(
                stat_demandes.c.num_unique == num)).scalar_one())  # fmt: skip


@pytest.fixture()
def fold(codec: Any, engine: Engine) -> Fold:
    return Fold(codec, engine)


CREATED = dt.date(2023, 1, 10)
RADIATED = dt.date(2024, 2, 10)  # RADREN; the cycle (from the creation) ends 2024-07-10


@pytest.mark.parametrize("batches", [1, 2])
def test_a_late_renewal_carrying_its_own_date_is_refused(fold: Fold, batches: int) -> None:
    """The review's case: a REN on 2025-03-01 (> 2024-07-10) with renewal date 2025-03-01."""
    num = new_num_unique()
    events = [_ev(num, "CRE", _ms(CREATED), CREATED),
              _ev(num, "RAD", _ms(RADIATED), CREATED, motive="RADREN"),
              _ev(num, "REN", _ms(dt.date(2025, 3, 1)), CREATED,
                  renewed=dt.date(2025, 3, 1))]  # fmt: skip
    if batches == 1:
        assert fold(*events) == {"folded": 2, LATE_REACTIVATION: 1}
    else:
        assert fold(*events[:2]) == {"folded": 2}
        assert fold(events[2]) == {LATE_REACTIVATION: 1}
    assert not fold.active(num)


def test_a_reactivation_counts_from_the_radiated_cycle_not_the_creation(fold: Fold) -> None:
    """The radiation carried a renewal date (2023-06-01: reactivable until 2024-12-01);
    a reactivation on 2024-11-01 without one is applied by the worker: folded too."""
    num, renewed = new_num_unique(), dt.date(2023, 6, 1)
    assert fold(_ev(num, "CRE", _ms(CREATED), CREATED, renewed=renewed),
                _ev(num, "RAD", _ms(dt.date(2024, 7, 1)), CREATED, motive="RADREN",
                    renewed=renewed)) == {"folded": 2}  # fmt: skip
    assert fold(_ev(num, "RAD", _ms(dt.date(2024, 11, 1)), CREATED, motive="")) == {"folded": 1}
    assert fold.active(num)


def test_a_row_written_before_migration_0016_is_decided_as_before(fold: Fold) -> None:
    """Its cycle unknown (NULL), the incoming snapshot's renewal date starts it."""
    num = new_num_unique()
    assert fold(_ev(num, "CRE", _ms(CREATED), CREATED),
                _ev(num, "RAD", _ms(RADIATED), CREATED, motive="RADREN")) == {"folded": 2}
    with fold.engine.begin() as conn:
        conn.execute(update(stat_demandes).where(stat_demandes.c.num_unique == num)
                     .values(renouvellement=None, debut_cycle=None))  # fmt: skip
    late = dt.date(2025, 3, 1)
    assert fold(_ev(num, "REN", _ms(late), CREATED, renewed=late)) == {"folded": 1}
    with fold.engine.connect() as conn:  # written again: its cycle known from now on
        row = conn.execute(select(stat_demandes).where(
            stat_demandes.c.num_unique == num)).one()  # fmt: skip
    assert row.renouvellement.startswith(f"renouvellement:{late}") and row.debut_cycle == late


# -- the worker and the fold agree -----------------------------------------------------

DAYS = st.dates(dt.date(2019, 1, 1), dt.date(2030, 12, 31))
EDGE = st.integers(-2, 2)  # days around the last day of reactivation
MOTIVES = st.sampled_from(["RADREN", "RADREN", "RADATT", "RADABA"])
REVIVALS = st.sampled_from(["RAD", "MOD", "REN"])  # RAD: a reactivation (empty motive)


@st.composite
def _rounds(draw: st.DrawFn) -> list[tuple[str, int, str, int, int | None, int | None]]:
    """Rounds of (radiation motive, months after the cycle to radiate, revival op, days
    from the 18 months, the radiation's / revival's renewal date in days from the cycle
    or None)."""
    own = st.one_of(st.none(), st.integers(-40, 400))
    return draw(st.lists(st.tuples(MOTIVES, st.integers(12, 17), REVIVALS, EDGE, own, own),
                         min_size=1, max_size=3))  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(created=DAYS, renewed=st.one_of(st.none(), st.integers(0, 200)), rounds=_rounds())
def test_the_fold_and_the_worker_agree(codec: Any, geography: Any, engine: Engine,
                                       created: dt.date, renewed: int | None,
                                       rounds: list[Any]) -> None:  # fmt: skip
    """A demand created (perhaps with a renewal date), then rounds of a radiation and a
    change bringing it back on the edges of its 18 months (as the worker reckons the
    cycle: the state it holds), the snapshots carrying or not renewal dates of their own:
    each event is refused for the same reason, or applied, by both, and the demand ends
    active in both or in neither."""
    rig, fold, num = Rig(codec, geography), Fold(codec, engine), new_num_unique()

    def day(base: dt.date, n: int | None) -> dt.date | None:
        return None if n is None else max(base + dt.timedelta(days=n), created)

    def both(event: dict[str, Any]) -> str:
        before = len(rig.letters())
        rig.run(event)
        letters = rig.letters()
        worker = letters[-1]["reason"] if len(letters) > before else "folded"
        outcome = fold(event)
        assert outcome in ({"folded": 1}, {worker: 1})
        assert next(iter(outcome)) == worker, event["operation"]
        return worker

    first = day(created, renewed)
    assert both(_ev(num, "CRE", _ms(created), created, renewed=first)) == "folded"
    when = created
    for motive, after, op, edge, rad_own, back_own in rounds:
        held = rig.state(num)
        start = renewal.renewal_day(held.demande, held.notices_sent) or created
        rad_day = max(renewal.add_months(start, after), when + dt.timedelta(days=1))
        rad = _ev(num, "RAD", _ms(rad_day), created, motive=motive,
                  renewed=day(start, rad_own))  # fmt: skip
        assert both(rad) == "folded"
        limit = reactivation_limit(cycle_start(rig.state(num)) or created)
        back_day = max(limit + dt.timedelta(days=edge), rad_day + dt.timedelta(days=1))
        back = _ev(num, op, _ms(back_day, 12), created, motive="" if op == "RAD" else None,
                   renewed=day(back_day, back_own))  # fmt: skip
        reason = both(back)
        assert reason in ("folded", LATE_REACTIVATION, ATTRIBUTED)
        when = back_day
    assert rig.state(num).active == fold.active(num)
