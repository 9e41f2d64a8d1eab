"""Review O, O2 (docs/lifecycle.md, "Délai anormalement long"): an SNE
``estDelaiAnormalementLong=false`` is not carried to a later snapshot without the
indicator (audit N, N8), but **the SNE wins**: the hub never fires its own crossing on or
before the day of the SNE's last ``false`` — at the earliest the day after.

Expected days are computed here from the reference's rules (``dateCreationDemande`` + the
délai, the Paris civil day, 00:00 Paris) with this file's own calendar, never by dispatch
code. The délai table is this test's own (76: 24 months)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatch.deadlines import DELAI, Deadlines
from hub.domain.delais import DelaiTable
from hub.domain.state import DemandeState
from tests.unit.test_clock_cycle import _months, _ms, _snapshot, _state

PARIS = ZoneInfo("Europe/Paris")
MONTHS = 24


def _table() -> Deadlines:
    return Deadlines(delais=DelaiTable.from_dict({"version": "test", "departements": {
        "76": {"status": "known", "months": MONTHS, "source": "arrêté (test)",
               "date": "2020-01-01"}}}))  # fmt: skip


@pytest.fixture
def with_76() -> Deadlines:
    return _table()


def _delai(dl: Deadlines, state: DemandeState, geography: Any) -> list[int]:
    return [due for due, code, _ in dl.thresholds(state, geography) if code == DELAI]


def _after(dl: Deadlines, geography: Any, created: str,
           steps: list[tuple[bool | None, int]]) -> DemandeState:  # fmt: skip
    """The state after a CRE at 10:00 Paris of ``created`` and MODs (indicator, instant)."""
    at = _ms(dt.date.fromisoformat(created), 10)
    state, _ = dl.carry(None, _state("CRE", _snapshot(created), at, 1), at, geography)
    for v, (indicator, at) in enumerate(steps, start=2):
        state, _ = dl.carry(state, _state("MOD", _snapshot(created, indicator), at, v), at,
                            geography)  # fmt: skip
    return state


def test_an_sne_false_after_the_hub_crossing_day_holds_that_day(
        with_76: Deadlines, geography: Any) -> None:  # fmt: skip
    """The review's scenario: created 2024-01-10 (the hub's crossing: 2026-01-10); the SNE
    says ``false`` on 2026-03-01, a MOD without the indicator on 2026-03-02: the crossing
    is not dated before the SNE's word — due 2026-03-02 00:00 Paris at the earliest; a
    late copy of an older ``false`` (2026-02-01) does not move that day back."""
    dl = with_76
    said, nxt = _ms(dt.date(2026, 3, 1), 10), _ms(dt.date(2026, 3, 2), 10)
    state = _after(dl, geography, "2024-01-10", [(False, said), (None, nxt)])
    assert (state.delai_anormalement_long, state.delai_source) == (None, None)
    assert _delai(dl, state, geography) == [_ms(dt.date(2026, 3, 2))]
    older = _ms(dt.date(2026, 2, 1), 10)
    state = _after(dl, geography, "2024-01-10", [(False, said), (False, older), (None, nxt)])
    assert _delai(dl, state, geography) == [_ms(dt.date(2026, 3, 2))]
    # a false before the hub's crossing leaves the crossing on its day (N8)
    early = _ms(dt.date(2025, 12, 31), 23, 30)
    state = _after(dl, geography, "2024-01-10", [(False, early), (None, nxt)])
    assert _delai(dl, state, geography) == [_ms(dt.date(2026, 1, 10))]


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(created=st.dates(dt.date(2023, 1, 1), dt.date(2025, 12, 31)),
       instant=st.datetimes(dt.datetime(2023, 1, 2), dt.datetime(2028, 12, 31)),
       gap=st.integers(1, 400 * 86_400_000))  # fmt: skip
def test_the_hub_crossing_is_never_on_or_before_the_sne_false(
        geography: Any, created: dt.date, instant: dt.datetime, gap: int) -> None:  # fmt: skip
    """Whatever the instant of the SNE's ``false`` (UTC: around midnight, the DST changes,
    29 February) and how long after it the snapshot without the indicator comes: the
    hub's crossing is due at the later of its own day and 00:00 Paris of the day after
    the Paris day of the ``false``."""
    dl = _table()
    said = int(instant.replace(tzinfo=dt.UTC).timestamp() * 1000)
    day = instant.replace(tzinfo=dt.UTC).astimezone(PARIS).date()
    state = _after(dl, geography, created.isoformat(), [(False, said), (None, said + gap)])
    crossing = _months(created, MONTHS)
    assert _delai(dl, state, geography) == [max(_ms(crossing), _ms(day + dt.timedelta(days=1)))]
