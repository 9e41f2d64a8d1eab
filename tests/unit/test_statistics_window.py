"""No combination of published attribution figures isolates a withheld month (audit R,
R-F1; review T, T-F1, T-F2; hub.domain.statistics_window).

The oracle knows nothing of the hub's rule. Over a span of months it takes what the hub
publishes for one territory — the monthly series' attribution counts and, for every
reference month, the 12-month window's count — as vectors over the months (a month's
count is its unit vector, a window the sum of its 12), and checks, by exact Gaussian
elimination, that no month whose own count is withheld (0 to 10 attributions) lies in
the span of the published vectors: no sum or difference of published figures gives it.
The means follow the counts (a published mean times its published count is the same sum
over the same months). Populations are drawn by hypothesis: quiet months, bursts, gaps."""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.domain.statistics import Fait, attributions_12_mois, statistiques

START = date(2024, 1, 1)
SPAN_MONTHS = 36


def _month(i: int) -> date:
    return date(START.year + (START.month - 1 + i) // 12, (START.month - 1 + i) % 12 + 1, 15)


def _attributed(i: int, radiated: date, waited: int = 300) -> Fait:
    return Fait(num_unique=f"n{i}", commune="76540", epci="200023414", departement="76",
                date_creation=radiated - timedelta(days=waited), active=False,
                date_radiation=radiated, motif_radiation="RADATT")  # fmt: skip


#: per month of the span, how many attributions: often 0, few or many (11 is the threshold)
populations = st.lists(
    st.sampled_from([0, 0, 1, 3, 10, 11, 12, 20]), min_size=SPAN_MONTHS, max_size=SPAN_MONTHS
)


def _faits(per_month: list[int]) -> list[Fait]:
    return [_attributed(m * 100 + k, _month(m)) for m, n in enumerate(per_month) for k in range(n)]


def _basis(rows: list[list[Fraction]]) -> list[tuple[int, list[Fraction]]]:
    """The rows in reduced echelon form: (pivot column, row) pairs."""
    basis: list[tuple[int, list[Fraction]]] = []
    for row in rows:
        r = _reduce(row, basis)
        pivot = next((c for c, v in enumerate(r) if v != 0), None)
        if pivot is None:
            continue
        r = [v / r[pivot] for v in r]
        basis = [(c, [a - b[pivot] * x for a, x in zip(b, r, strict=True)] if b[pivot] else b)
                 for c, b in basis]  # fmt: skip
        basis.append((pivot, r))
    return basis


def _reduce(row: list[Fraction], basis: list[tuple[int, list[Fraction]]]) -> list[Fraction]:
    r = row[:]
    for c, b in basis:
        if r[c] != 0:
            f = r[c]
            r = [a - f * x for a, x in zip(r, b, strict=True)]
    return r


def _unit(m: int, width: int) -> list[Fraction]:
    return [Fraction(int(i == m)) for i in range(width)]


@settings(max_examples=30, deadline=None)
@given(populations)
def test_no_withheld_month_is_a_combination_of_published_figures(per_month: list[int]) -> None:
    faits = _faits(per_month)
    width = SPAN_MONTHS + 11  # months after the span: windows reaching past it
    series = statistiques(faits, "commune", "76540", _month(width - 1), nb_mois=width)
    published: list[list[Fraction]] = []
    counts = per_month + [0] * 11
    for m, mois in enumerate(series.par_mois):
        assert mois.attributions.secret == (counts[m] < 11)
        if not mois.attributions.secret:
            published.append(_unit(m, width))
    for last in range(width):
        fig = attributions_12_mois(faits, _month(last))
        months = [m for m in range(last - 11, last + 1) if m >= 0]
        if not fig.secret:
            assert fig.valeur == sum(counts[m] for m in months)
            published.append([Fraction(int(i in months)) for i in range(width)])
    basis = _basis(published)
    for m in range(width):
        if counts[m] < 11:  # withheld, a 0 included: not in the span of what is published
            assert any(_reduce(_unit(m, width), basis)), (m, per_month)


def test_the_reviewers_case_two_windows_and_a_published_month() -> None:
    """Review T, T-F1: with pairs of windows checked only, W(Jan 26) − W(Dec 25) +
    M(Jan 25) = 41 − 58 + 20 gave January 2026's 3 attributions (withheld in the monthly
    series) and, from the means, their households' mean wait. A window is now published
    only when each of its months is: January 2026's is not."""
    per = {date(2025, m, 15): 11 for m in range(2, 13)} | {date(2025, 1, 15): 20}
    per |= {date(2026, 1, 15): 3}
    faits = [_attributed(i * 100 + k, d, 1000 if d.year == 2026 else 300)
             for i, (d, n) in enumerate(sorted(per.items())) for k in range(n)]  # fmt: skip
    january = statistiques(faits, "commune", "76540", date(2026, 1, 31))
    assert january.attributions_12_mois.secret and january.delai_moyen_attribution_jours.secret
    december = statistiques(faits, "commune", "76540", date(2025, 12, 31))
    assert december.attributions_12_mois.valeur == 20 + 11 * 11  # every month of 2025 shown


def test_a_day_or_a_month_later_does_not_give_one_households_wait() -> None:
    """Audit R's case: 11 attributions in March 2026 after 300 days each, then one
    household on 2026-06-15 after 1,000 days: no window is published (its months are not)."""
    faits = [_attributed(i, date(2026, 3, 1) + timedelta(days=i)) for i in range(11)]
    faits.append(_attributed(99, date(2026, 6, 15), waited=1000))
    for at in (date(2026, 6, 14), date(2026, 6, 15), date(2026, 7, 1), date(9999, 12, 31)):
        s = statistiques(faits, "commune", "76540", at)  # 9999-12: no crash (review T, T-F5)
        assert s.attributions_12_mois.secret and s.delai_moyen_attribution_jours.secret
