"""The renewal cycle of a demand (dispatch.deadlines): its start, deadline and notices.

A demand is valid 12 months from the start of its cycle: the *renewal date* when it has
one, else ``dateCreationDemande``; its deadline is that day's anniversary (29 February
gives 28 February), its notices fall ``clock.notice_months`` before it (same day of the
month, clamped to the month's last day).

**The renewal date is kept by the state.** A snapshot's
``demandeLogement/renouvellement/dateRenouvellement`` sets it (a ``REN`` moves it; the
snapshot is the SNE's word, on any operation). The element is optional in the SNE's
outline: an event whose snapshot lacks it leaves the renewal date where it was, so the
deadline does not fall back to the creation anniversary — which would send the left
cycle's notices again, *échéance dépassée* included (audit D, F3). The date is kept in
``noticesSent`` as the token ``renouvellement:<yyyy-mm-dd>`` (beside the notices sent
and the cotation clock's token: no schema change). It is dropped when a new demand
starts on the numéro — a ``CRE`` or ``CRS`` — or when the snapshot's creation date is
after it (a renewal never precedes its demand's creation). A state stored before the
token existed keeps the date its snapshot holds.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
from typing import Any
from zoneinfo import ZoneInfo

from hub.domain.state import DemandeState

PARIS = ZoneInfo("Europe/Paris")
ECHEANCE = "echeance_depassee"
#: the ``noticesSent`` token keeping the current cycle's renewal date
RENEWED = "renouvellement:"
#: operations that start a new demand on their numéro: nothing of an earlier one is kept
CREATIONS = frozenset({"CRE", "CRS"})


def renewal_code(months: int) -> str:
    """The threshold code of the notice ``months`` before the deadline."""
    return f"renouvellement_m-{months}" if months else ECHEANCE


@functools.lru_cache(maxsize=8192)
def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by ``months``, clamped to the target month's last day (ValueError
    outside years 1-9999)."""
    y, m = divmod(day.year * 12 + day.month - 1 + months, 12)
    return dt.date(y, m + 1, min(day.day, calendar.monthrange(y, m + 1)[1]))


def shifted(day: dt.date, months: int) -> dt.date | None:
    """:func:`add_months`, None past the calendar's end (a date no rule can use)."""
    try:
        return add_months(day, months)
    except ValueError:
        return None


@functools.lru_cache(maxsize=8192)
def day_ms(day: dt.date) -> int:
    """00:00 Europe/Paris of ``day``, in epoch ms (0 for earlier days); cached: a
    time-zone conversion costs tens of µs, and every state write asks for a few days."""
    moment = dt.datetime(day.year, day.month, day.day, tzinfo=PARIS)
    return max(0, int(moment.timestamp() * 1000))


@functools.lru_cache(maxsize=8192)
def schedule(end: dt.date, notice_months: tuple[int, ...]) -> tuple[tuple[int, str, str], ...]:
    """(due ms, code, ``noticesSent`` token) of each renewal notice of the cycle ending
    at ``end`` (cached: a day's deadlines share it)."""
    return tuple((day_ms(add_months(end, -m)), renewal_code(m), f"{end.isoformat()}:"
                  f"{renewal_code(m)}") for m in notice_months)  # fmt: skip


def parse_day(value: Any) -> dt.date | None:
    """The day of an ``xs:date`` (or ``xs:dateTime``) value, the XML whitespace around it
    ignored (``whiteSpace=collapse``); None when absent or unreadable."""
    try:
        return dt.date.fromisoformat(str(value).strip(" \t\r\n")[:10]) if value else None
    except ValueError:
        return None


def logement(demande: dict[str, Any] | None) -> dict[str, Any]:
    return (demande or {}).get("demandeLogement") or {}


def created(demande: dict[str, Any] | None) -> dt.date | None:
    """The snapshot's ``dateCreationDemande`` (None: absent or unreadable)."""
    return parse_day(logement(demande).get("dateCreationDemande"))


def _snapshot_renewal(demande: dict[str, Any] | None) -> dt.date | None:
    return parse_day((logement(demande).get("renouvellement") or {}).get("dateRenouvellement"))


def _kept(notices: tuple[str, ...]) -> dt.date | None:
    for token in notices:
        if token.startswith(RENEWED):
            return parse_day(token[len(RENEWED) :])
    return None


def renewal_day(demande: dict[str, Any] | None, notices: tuple[str, ...]) -> dt.date | None:
    """The renewal date of the cycle of a state with snapshot ``demande`` and
    ``noticesSent`` ``notices``: the snapshot's, else the one kept (module doc); None
    when the cycle starts at the creation."""
    own = _snapshot_renewal(demande)
    if own is not None:
        return own
    kept = _kept(notices)
    start = created(demande)
    return None if kept is None or (start is not None and kept < start) else kept


def cycle_end(demande: dict[str, Any] | None, notices: tuple[str, ...]) -> dt.date | None:
    """The renewal deadline of such a state (None: no usable date)."""
    start = renewal_day(demande, notices) or created(demande)
    return None if start is None else shifted(start, 12)


def deadline(state: DemandeState) -> dt.date | None:
    """The renewal deadline of ``state`` (None: no usable date)."""
    return cycle_end(state.demande, state.notices_sent)


def renewal_tokens(prior: DemandeState | None, state: DemandeState) -> tuple[str, ...]:
    """The renewal token ``state`` (just decided from an event, none kept yet) keeps:
    its snapshot's date, else the renewal date of ``prior`` unless the event starts a new
    demand or its creation date is after it (module doc)."""
    day = _snapshot_renewal(state.demande)
    if day is None and prior is not None and state.last_operation not in CREATIONS:
        # the prior's token; a state stored before tokens existed: its snapshot's date
        day = _kept(prior.notices_sent) or _snapshot_renewal(prior.demande)
        start = created(state.demande)
        if day is not None and start is not None and day < start:
            day = None
    return () if day is None else (RENEWED + day.isoformat(),)
