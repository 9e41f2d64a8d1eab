"""The 12-month window of the attributions and when it may be published (audit R, R-F1;
review T, T-F1; docs/statistics.md, "Windows that could be subtracted").

Why: the count and the mean waiting time of the attributions of a window are each
figures on at least 11 demands, but a window can be combined with other published figures
to give the figures of a few: a window that slid by the day gave, from two requests a day
apart, the count 11 then 12 and so the one household whose lease was signed that day and
how long it had waited (R-F1); month-aligned windows compared pairwise were still not
enough — two windows a month apart and one published month of the monthly series gave a
withheld month's count and, from the means, its households' mean wait (T-F1).

Contracts:

* the window (:func:`in_window`) is the **12 calendar months up to and including the
  reference date's month** (the months of the monthly series): every date of a month
  gives the same window;
* :func:`differencing_risk` is True unless **every month of the window holds at least
  ``seuil`` demands of the population** (the secrecy threshold,
  :data:`hub.domain.statistics.SEUIL_SECRET`) (for the attributions: every month's own
  attribution count is published by the monthly series). Then any window, any difference
  of windows and any combination with the monthly series is a sum over whole months of 11
  or more households each, never fewer; a month of 0 is withheld too (a count of 0 is a
  figure on 0 demands), so it cannot be worked out as a window minus its published months
  either. The caller withholds the window's figures otherwise, whatever their size.

Subtracting territories from one another (the communes of an EPCI add up to it):
:mod:`hub.domain.statistics_secondary`; a window is then also withheld when one of its
months is withheld between territories (:func:`hub.domain.statistics.attributions_12_mois`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date

#: months in a window
MONTHS = 12


def _index(d: date) -> int:
    return d.year * 12 + d.month - 1


def in_window(d: date, at: date) -> bool:
    """Whether day ``d`` is in the window of reference date ``at`` (month arithmetic: no
    date is built, so 9999-12 has a window too)."""
    return 0 <= _index(at) - _index(d) < MONTHS


def differencing_risk(days: Iterable[date], at: date, seuil: int) -> bool:
    """Whether the window of ``at`` over the population dated ``days`` (each one demand,
    e.g. the attributions' radiation dates) may not be published (module doc)."""
    per_month = Counter(_index(d) for d in days)
    last = _index(at)
    return any(per_month[m] < seuil for m in range(last - MONTHS + 1, last + 1))
