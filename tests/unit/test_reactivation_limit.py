"""What may bring a radiated demand back (audit N, N2): hub.domain.decisions.check_revival.

Reference (domain README, §Lifecycle): "Non-renewed demands are radiated at 13 months, can
be reactivated up to 18." and "Empty motive = reactivation"; ``RADATT`` is "attribution of a
dwelling (lease signed)": the demand was satisfied, it is not renewed. So:

* a reactivation (a ``RAD`` with an empty motive, taken as a ``MOD``) — or any other change
  making the demand active again — of a demand radiated ``RADREN`` is accepted up to its
  cycle's start (renewal date, else creation) + 18 months, that day included, and refused
  ``reactivation_hors_delai`` from the next day (Europe/Paris day of ``occurredAt``);
* a ``REN``, ``MOD`` or reactivation of a demand radiated ``RADATT`` is refused
  ``demande_attribuee``;
* both are domain refusals: dead-lettered, nothing applied nor sent, never a step towards
  the consecutive dead-letter stop; the statistics fold refuses the same events.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from hub.core.errors import InputError
from hub.domain import renewal
from hub.domain.decisions import (
    ATTRIBUTED,
    LATE_REACTIVATION,
    as_received,
    cycle_start,
    decide,
    reactivation_limit,
)
from hub.domain.matching import TerritoryIndex
from hub.domain.state import DemandeState
from hub.services.statistics_folder import Folder, Record
from hub.stores.cotation.store import DeclarationStore
from hub.stores.statistics.store import StatisticsStore
from hub.stores.statistics.tables import stat_demandes
from tests.support.demandes import demande_event, new_num_unique
from tests.support.sqlite_db import migrated_sqlite
from tests.unit.test_change_authorship import Rig
from tests.unit.test_clock import ROUEN, _actor

PARIS = ZoneInfo("Europe/Paris")


def _ms(day: dt.date, hour: int = 10, minute: int = 0) -> int:
    """``hour:minute`` Europe/Paris of ``day``, in epoch ms."""
    moment = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=PARIS)
    return int(moment.timestamp() * 1000)


def _ev(num: str, op: str, on: int, created: dt.date, *, motive: str | None = None,
        renewed: dt.date | None = None) -> dict[str, Any]:  # fmt: skip
    radiation = None
    if op == "RAD":
        radiation = {"dateRadiation": "2024-02-10", "motifRadiation": motive}
    ev = demande_event(num, [ROUEN], operation=op, occurred_at=on, radiation=radiation)
    inner = ev["demande"]["demandeLogement"]
    inner["dateCreationDemande"] = created.isoformat()
    inner["precision"] = ev["eventId"][:8]
    if renewed is not None:
        inner["renouvellement"] = {"dateRenouvellement": renewed.isoformat()}
    return ev


@pytest.fixture()
def index(geography: Any) -> TerritoryIndex:
    return TerritoryIndex(geography, [_actor("rouen", communes=[ROUEN])])


def _radiated(index: TerritoryIndex, num: str, created: dt.date, motive: str, *,
              renewed: dt.date | None = None) -> DemandeState:  # fmt: skip
    cre = decide(_ev(num, "CRE", _ms(created), created, renewed=renewed), None, index,
                 partition=0, offset=1).state  # fmt: skip
    rad_day = renewal.add_months(renewed or created, 13)
    rad = decide(_ev(num, "RAD", _ms(rad_day), created, motive=motive, renewed=renewed), cre,
                 index, partition=0, offset=2).state  # fmt: skip
    assert rad is not None and not rad.active
    return rad


def _reactivate(index: TerritoryIndex, prior: DemandeState, on: int, created: dt.date,
                op: str = "RAD") -> DemandeState:  # fmt: skip
    """A reactivation (``RAD`` with an empty motive, as the worker takes it) at ``on``."""
    ev = _ev(prior.num_unique, op, on, created, motive="" if op == "RAD" else None)
    d = decide(as_received(ev), prior, index, partition=0, offset=prior.offset + 1)
    assert d.state is not None
    return d.state


# -- the 18 months, at their edges -----------------------------------------------------

EDGES = [
    # (creation, renewal, last day of reactivation)
    (dt.date(2023, 1, 10), None, dt.date(2024, 7, 10)),
    (dt.date(2024, 2, 29), None, dt.date(2025, 8, 29)),  # a leap day, kept
    (dt.date(2023, 8, 31), None, dt.date(2025, 2, 28)),  # a month end, clamped
    (dt.date(2022, 8, 31), None, dt.date(2024, 2, 29)),  # clamped to a leap day
    (dt.date(2022, 6, 1), dt.date(2023, 2, 28), dt.date(2024, 8, 28)),  # from the renewal
]


@pytest.mark.parametrize(("created", "renewed", "last"), EDGES)
def test_reactivable_up_to_18_months_that_day_included(
    index: TerritoryIndex, created: dt.date, renewed: dt.date | None, last: dt.date
) -> None:
    num = new_num_unique()
    prior = _radiated(index, num, created, "RADREN", renewed=renewed)
    assert reactivation_limit(cycle_start(prior) or created) == last
    # exactly 18 months (the last minute of that Paris day): active again
    back = _reactivate(index, prior, _ms(last, 23, 59), created)
    assert back.active and back.last_operation == "MOD"
    # 18 months + 1 day (its first minute): refused, nothing applied
    with pytest.raises(InputError) as refused:
        _reactivate(index, prior, _ms(last + dt.timedelta(days=1), 0, 0), created)
    assert refused.value.code == LATE_REACTIVATION
    assert last.isoformat() in refused.value.message


def test_the_audits_case_month_32_is_refused(index: TerritoryIndex) -> None:
    created = dt.date(2023, 1, 10)
    prior = _radiated(index, new_num_unique(), created, "RADREN")
    with pytest.raises(InputError) as refused:
        _reactivate(index, prior, _ms(dt.date(2025, 9, 10)), created)
    assert refused.value.code == LATE_REACTIVATION


def test_the_day_is_the_paris_day(index: TerritoryIndex) -> None:
    """23:30 UTC on the last day is already the next day in Paris: refused."""
    created = dt.date(2023, 1, 10)
    prior = _radiated(index, new_num_unique(), created, "RADREN")
    utc = dt.datetime(2024, 7, 10, 23, 30, tzinfo=dt.UTC)
    with pytest.raises(InputError) as refused:
        _reactivate(index, prior, int(utc.timestamp() * 1000), created)
    assert refused.value.code == LATE_REACTIVATION


def test_a_renewal_date_kept_by_the_clock_starts_the_cycle(index: TerritoryIndex) -> None:
    """The snapshot of the radiation lacks the renewal date the clock kept (token)."""
    created, renewed = dt.date(2022, 1, 15), dt.date(2023, 1, 15)
    prior = _radiated(index, new_num_unique(), created, "RADREN")
    prior = replace(prior, notices_sent=(f"renouvellement:{renewed.isoformat()}",))
    assert cycle_start(prior) == renewed
    assert _reactivate(index, prior, _ms(dt.date(2024, 7, 15)), created).active
    with pytest.raises(InputError):
        _reactivate(index, prior, _ms(dt.date(2024, 7, 16)), created)


@pytest.mark.parametrize("op", ["MOD", "REN"])
def test_any_change_bringing_it_back_is_bound_too(index: TerritoryIndex, op: str) -> None:
    created = dt.date(2023, 1, 10)
    prior = _radiated(index, new_num_unique(), created, "RADREN")
    with pytest.raises(InputError) as refused:
        _reactivate(index, prior, _ms(dt.date(2024, 7, 11)), created, op=op)
    assert refused.value.code == LATE_REACTIVATION


@pytest.mark.parametrize("motive", ["RADABA", "RADCON", "RADIRR"])
def test_other_motives_set_no_limit(index: TerritoryIndex, motive: str) -> None:
    created = dt.date(2023, 1, 10)
    prior = _radiated(index, new_num_unique(), created, motive)
    assert _reactivate(index, prior, _ms(dt.date(2026, 1, 10)), created).active


DAYS = st.dates(dt.date(2000, 1, 1), dt.date(2190, 12, 31))


@settings(max_examples=300, deadline=None)
@given(created=DAYS, renewed=st.one_of(st.none(), DAYS), kept=st.one_of(st.none(), DAYS),
       again=st.one_of(st.none(), DAYS))  # fmt: skip
def test_the_cycle_is_the_clocks(created: dt.date, renewed: dt.date | None,
                                 kept: dt.date | None, again: dt.date | None) -> None:  # fmt: skip
    """cycle_start and the limit agree with hub.domain.renewal (read, not imported by the
    domain) on radiated states as the worker stores them: the radiation's renewal token
    decided by the clock (renewal_tokens) from a prior keeping ``kept``, the radiation's
    snapshot carrying ``again`` or no renewal date (never one before the creation)."""

    def snapshot(day: dt.date | None) -> dict[str, Any]:
        inner: dict[str, Any] = {"dateCreationDemande": created.isoformat()}
        if day is not None:
            inner["renouvellement"] = {"dateRenouvellement": max(day, created).isoformat()}
        return {"demandeLogement": inner}

    tokens = () if kept is None else (f"renouvellement:{kept}",)
    prior = DemandeState("x", 1, True, frozenset(), "e", "MOD", 0, demande=snapshot(renewed),
                         notices_sent=tokens)  # fmt: skip
    rad = DemandeState(
        "x", 2, False, frozenset(), "f", "RAD", _ms(created), demande=snapshot(again)
    )
    rad = replace(rad, notices_sent=renewal.renewal_tokens(prior, rad))
    start = renewal.renewal_day(rad.demande, rad.notices_sent) or renewal.created(rad.demande)
    assert cycle_start(rad) == start
    assert start is not None and reactivation_limit(start) == renewal.add_months(start, 18)


# -- radiated for attribution: never back ----------------------------------------------


@pytest.mark.parametrize("op", ["RAD", "MOD", "REN"])  # RAD: a reactivation (empty motive)
def test_a_demand_radiated_for_attribution_does_not_come_back(
    index: TerritoryIndex, op: str
) -> None:
    created = dt.date(2025, 1, 20)
    prior = _radiated(index, new_num_unique(), created, "RADATT")
    with pytest.raises(InputError) as refused:
        _reactivate(index, prior, _ms(dt.date(2025, 3, 1)), created, op=op)
    assert refused.value.code == ATTRIBUTED and "RADATT" in refused.value.message


def test_a_demand_radiated_for_attribution_may_still_be_radiated_or_deleted(
    index: TerritoryIndex,
) -> None:
    created = dt.date(2025, 1, 20)
    num = new_num_unique()
    prior = _radiated(index, num, created, "RADATT")
    again = _ev(num, "RAD", _ms(dt.date(2025, 3, 1)), created, motive="RADABA")
    assert decide(again, prior, index, partition=0, offset=10).state is not None
    sup = demande_event(num, [ROUEN], operation="SUP")
    assert decide(sup, prior, index, partition=0, offset=11).delete


# -- the worker: dead letters, no stop ---------------------------------------------------


def test_the_worker_dead_letters_them_without_stopping(codec: Any, geography: Any) -> None:
    rig = Rig(codec, geography, max_consecutive_dead_letters=3)
    created = dt.date(2023, 1, 10)
    late, attributed = [new_num_unique() for _ in range(3)], [new_num_unique() for _ in range(3)]
    for num in late:
        rig.run(_ev(num, "CRE", _ms(created), created),
                _ev(num, "RAD", _ms(dt.date(2024, 2, 10)), created, motive="RADREN"))  # fmt: skip
    for num in attributed:
        rig.run(_ev(num, "CRE", _ms(created), created),
                _ev(num, "RAD", _ms(dt.date(2023, 6, 1)), created, motive="RADATT"))  # fmt: skip
    before = {n: rig.state(n) for n in (*late, *attributed)}
    rig.run(*(_ev(n, "RAD", _ms(dt.date(2025, 9, 10)), created, motive="") for n in late))
    rig.run(*(_ev(n, "REN", _ms(dt.date(2024, 1, 15)), created, renewed=dt.date(2024, 1, 15))
              for n in attributed))  # fmt: skip
    reasons = [x["reason"] for x in rig.letters()]
    assert reasons == [LATE_REACTIVATION] * 3 + [ATTRIBUTED] * 3
    assert rig.proc._consecutive_dead == 0
    for n, state in before.items():
        assert rig.state(n) == state and not rig.state(n).active
        assert [k for k, _ in rig.feed("rouen", n)] == ["DEMANDE", "RADIATION"]
    # the worker goes on: a reactivation within the 18 months is applied
    ok = new_num_unique()
    rig.run(_ev(ok, "CRE", _ms(created), created),
            _ev(ok, "RAD", _ms(dt.date(2024, 2, 10)), created, motive="RADREN"),
            _ev(ok, "RAD", _ms(dt.date(2024, 7, 10)), created, motive=""))  # fmt: skip
    assert rig.state(ok).active
    assert [k for k, _ in rig.feed("rouen", ok)] == ["DEMANDE", "RADIATION", "DEMANDE"]


def test_the_reasons_are_domain_refusals_exported_at_zero() -> None:
    from dispatch.letters import DOMAIN_REFUSALS
    from monitoring.recorder import DEAD_LETTER_REASONS

    for reason in (LATE_REACTIVATION, ATTRIBUTED):
        assert reason in DOMAIN_REFUSALS and reason in DEAD_LETTER_REASONS


# -- the statistics fold agrees ----------------------------------------------------------


@pytest.fixture()
def engine(tmp_path: Path) -> Iterator[Engine]:
    with migrated_sqlite(tmp_path / "stats.db") as e:
        yield e


def test_the_statistics_fold_refuses_them_too(codec: Any, engine: Engine) -> None:
    folder = Folder(StatisticsStore(engine), DeclarationStore(engine), codec=codec)
    offsets = iter(range(1000))

    def fold(*events: dict[str, Any]) -> dict[str, int]:
        records = [Record(0, next(offsets), e["numUnique"].encode(),
                          codec.encode("DemandeEvent", e)) for e in events]  # fmt: skip
        return dict(folder.fold(records))

    def active(num: str) -> bool:
        with engine.connect() as conn:
            return bool(conn.execute(select(stat_demandes.c.active).where(
                stat_demandes.c.num_unique == num)).scalar_one())  # fmt: skip

    created = dt.date(2023, 1, 10)
    late, edge, attributed = new_num_unique(), new_num_unique(), new_num_unique()
    for num in (late, edge):
        assert fold(_ev(num, "CRE", _ms(created), created),
                    _ev(num, "RAD", _ms(dt.date(2024, 2, 10)), created, motive="RADREN")) == {
            "folded": 2}  # fmt: skip
    assert fold(_ev(late, "RAD", _ms(dt.date(2024, 7, 11)), created, motive="")) == {
        LATE_REACTIVATION: 1}  # fmt: skip
    assert not active(late)
    assert fold(_ev(edge, "RAD", _ms(dt.date(2024, 7, 10)), created, motive="")) == {"folded": 1}
    assert active(edge)
    # in one batch, as the worker reads them: radiated for attribution, then renewed
    assert fold(_ev(attributed, "CRE", _ms(created), created),
                _ev(attributed, "RAD", _ms(dt.date(2023, 6, 1)), created, motive="RADATT"),
                _ev(attributed, "REN", _ms(dt.date(2024, 1, 15)), created,
                    renewed=dt.date(2024, 1, 15))) == {"folded": 2, ATTRIBUTED: 1}  # fmt: skip
    assert not active(attributed)
    # and from the stored facts (another batch)
    assert fold(_ev(attributed, "MOD", _ms(dt.date(2024, 2, 1)), created)) == {ATTRIBUTED: 1}
