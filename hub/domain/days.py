"""The dates the hub computes with: 1900-01-01 to 2199-12-31, on every route.

Python's dates stop at 9999-12-31, and a rule adding days to a date near that end raises
``OverflowError`` (a 500); the hub's rules and scores have no use for dates outside the
bounds. :func:`check_day` refuses such a date as :class:`~hub.core.errors.InputError`
``bad_date`` (422), as ``/cotation`` and ``/statistiques`` do for their ``date``.
"""

from __future__ import annotations

from datetime import date

from hub.core.errors import InputError

FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2199, 12, 31)


def check_day(day: date, what: str) -> date:
    """``day`` if it lies within :data:`FIRST_DAY` and :data:`LAST_DAY`, else
    :class:`InputError` ``bad_date`` naming ``what`` (a field name, never a value)."""
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InputError(f"{what} must be within {FIRST_DAY} and {LAST_DAY}", code="bad_date")
    return day
