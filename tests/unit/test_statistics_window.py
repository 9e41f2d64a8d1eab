"""No two published attribution figures can be subtracted to isolate fewer than 11
households (audit R, R-F1; hub.domain.statistics_window).

The oracle below knows nothing of the hub's rule: it takes every reference date of a
span, the attributions each window holds as *sets of demands*, and checks, for every two
dates whose figures are both published, that the demands in one window and not the other
number 0 or at least 11; and, for each published window, that its months whose monthly
attribution count is withheld (1 to 10) hold 0 or at least 11 demands in all (else the
window's total minus the published months gives them). Populations are drawn by
hypothesis: a few attributions per month, bursts, empty stretches."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import combinations

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.domain.statistics import (
    Fait,
    attributions_12_mois,
    delai_moyen_attribution,
    statistiques,
)
from hub.domain.statistics_window import window

START = date(2024, 1, 1)
SPAN_DAYS = 3 * 366


def _attributed(i: int, radiated: date, waited: int = 300) -> Fait:
    return Fait(num_unique=f"n{i}", commune="76540", epci="200023414", departement="76",
                date_creation=radiated - timedelta(days=waited), active=False,
                date_radiation=radiated, motif_radiation="RADATT")  # fmt: skip


populations = st.lists(
    st.tuples(st.integers(0, SPAN_DAYS), st.integers(1, 40)),  # (day, how many that day)
    max_size=40,
).map(
    lambda days: [
        _attributed(i * 100 + k, START + timedelta(days=d))
        for i, (d, n) in enumerate(days)
        for k in range(n)
    ]
)


def _month_starts() -> list[date]:
    out, d = [], START
    while d <= START + timedelta(days=SPAN_DAYS + 400):
        out.append(d)
        d = date(d.year + d.month // 12, d.month % 12 + 1, 1)
    return out


def _members(faits: list[Fait], at: date) -> frozenset[str]:
    start, end = window(at)
    return frozenset(f.num_unique for f in faits if start <= f.date_radiation < end)  # type: ignore[operator]


@settings(max_examples=150, deadline=None)
@given(populations)
def test_no_two_published_windows_differ_by_fewer_than_eleven(faits: list[Fait]) -> None:
    published = {}
    for at in _month_starts():
        fig = attributions_12_mois(faits, at)
        mean = delai_moyen_attribution(faits, at)
        assert fig.secret == mean.secret  # every attribution here has a creation date
        if not fig.secret:
            members = _members(faits, at)
            assert fig.valeur == len(members) >= 11
            published[at] = members
    for a, b in combinations(published, 2):
        changed = len(published[a] ^ published[b])
        assert changed == 0 or changed >= 11, (a, b, changed)
    for at, members in published.items():
        by_month: dict[tuple[int, int], int] = {}
        for f in faits:
            if f.num_unique in members:
                key = (f.date_radiation.year, f.date_radiation.month)  # type: ignore[union-attr]
                by_month[key] = by_month.get(key, 0) + 1
        hidden = sum(n for n in by_month.values() if n < 11)
        assert hidden == 0 or hidden >= 11, (at, by_month)


def test_a_day_or_a_month_later_does_not_give_one_households_wait() -> None:
    """The auditor's case: 11 attributions in March 2026 after 300 days each, then one
    household on 2026-06-15 after 1,000 days. A day apart, then a month apart, the two
    answers never publish 11 and 12 attributions (whose subtraction was that household
    and, from the means, its 1,000 days)."""
    faits = [_attributed(i, date(2026, 3, 1) + timedelta(days=i)) for i in range(11)]
    faits.append(_attributed(99, date(2026, 6, 15), waited=1000))
    for before, after in ((date(2026, 6, 14), date(2026, 6, 15)),
                          (date(2026, 5, 31), date(2026, 6, 15)),
                          (date(2026, 6, 15), date(2027, 2, 1))):  # fmt: skip
        one = statistiques(faits, "commune", "76540", before)
        two = statistiques(faits, "commune", "76540", after)
        n0, n1 = one.attributions_12_mois, two.attributions_12_mois
        m0, m1 = one.delai_moyen_attribution_jours, two.delai_moyen_attribution_jours
        if not (n0.secret or n1.secret or m0.secret or m1.secret):
            assert n0.valeur is not None and n1.valeur is not None
            assert n0.valeur == n1.valeur or abs(n1.valeur - n0.valeur) >= 11
