"""The 12-month window of the attributions and what keeps two windows from being
subtracted (audit R, R-F1; docs/statistics.md, "Statistical secrecy").

Why: the count and the mean waiting time of the attributions of a window are each
figures on at least 11 demands, but two windows that differ by a few demands give, by
subtraction, the figures of those few. A window that slid by the day with the caller's
reference date gave, from two requests one day apart, the count 11 then 12 and so the one
household whose lease was signed that day and how long it had waited.

Contracts:

* :func:`window` is the **12 calendar months up to and including the reference date's
  month** (the months of the monthly series): every date of a month gives the same window,
  so the window moves by whole months only;
* :func:`differencing_risk` is True when a window's figure could be subtracted from
  another's to isolate fewer than :data:`SEUIL` demands: some other window (1 to 11
  months before or after; further ones share no month with it) differs from it by 1 to
  10 demands of the population, or the months of the window whose own monthly count is
  withheld (1 to 10) hold 1 to 10 demands in all (the window's total minus its published
  months). The caller then withholds the figure, whatever its own size. Conservative:
  every other window counts, published or not.

Not covered: subtracting territories from one another (the communes of an EPCI add up to
it) — docs/statistics.md, "Not built".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date

#: a figure on fewer demands is withheld (hub.domain.statistics.SEUIL_SECRET)
SEUIL = 11
#: months in a window
MONTHS = 12


def _index(d: date) -> int:
    return d.year * 12 + d.month - 1


def window(at: date) -> tuple[date, date]:
    """(first day, first day after) of the window of reference date ``at``."""
    last = _index(at)
    first = last - (MONTHS - 1)
    after = last + 1
    return date(first // 12, first % 12 + 1, 1), date(after // 12, after % 12 + 1, 1)


def in_window(d: date, at: date) -> bool:
    start, end = window(at)
    return start <= d < end


def _small(n: int) -> bool:
    return 0 < n < SEUIL


def differencing_risk(days: Iterable[date], at: date) -> bool:
    """Whether the window of ``at`` over the population dated ``days`` (each one demand,
    e.g. the attributions' radiation dates) may not be published (module doc)."""
    per_month = Counter(_index(d) for d in days)
    last = _index(at)
    months = range(last - MONTHS + 1, last + 1)
    for shift in range(1, MONTHS):
        for other_last in (last - shift, last + shift):
            other = range(other_last - MONTHS + 1, other_last + 1)
            changed = set(months).symmetric_difference(other)
            if _small(sum(per_month[m] for m in changed)):
                return True
    return _small(sum(per_month[m] for m in months if _small(per_month[m])))
