"""The renewal cycle of a demand (dispatch.deadlines): its start, deadline and notices.

A demand is valid 12 months from the start of its cycle: the *renewal date* when it has
one, else ``dateCreationDemande``; its deadline is that day's anniversary (29 February
gives 28 February), valid **through** it: *échéance dépassée* is due the day after (audit
N, N3); its notices fall ``clock.notice_months`` before it (same day of the month,
clamped to the month's last day).

**The renewal date is kept by the state** (:func:`renewal_tokens`), in ``noticesSent``
as the token ``renouvellement:<yyyy-mm-dd>`` (beside the notices sent and the cotation
clock's token: no schema change):

* a snapshot's ``demandeLogement/renouvellement/dateRenouvellement`` sets it, on any
  operation — unless it is **older** than the one kept: the kept date never goes back (a
  stale snapshot would send the ended cycle's notices again and none of the current one:
  audit N, N11), nor is it moved by a snapshot that occurred before the last one that
  carried it. A date in the future of its event's Paris day (no renewal is dated so: an
  SNE error) is *provisional*: a newer snapshot's earlier date after the start of the
  cycle it would have ended corrects it (review O, O6). The token is then
  ``renouvellement:<day>+<floor>@<occurredAt ms>`` (``<floor>``: the start of the cycle
  that date ended; the instant: the last event that carried it);
* the element is optional in the SNE's outline: an event whose snapshot lacks it leaves
  the date where it was (audit D, F3) — except a ``REN``: a renewal without its date
  starts its cycle on the Europe/Paris day of its ``occurredAt`` (audit N, N1). Such a
  date is *inferred*: the token is then ``renouvellement:<day>/<floor>``, ``<floor>`` the
  start of the cycle the ``REN`` ended, and a later snapshot dated after that floor (the
  SNE's own date of this renewal, or of a later one) replaces it;
* a **reactivation** — a radiated demand made active again by any operation but a
  creation — whose cycle's deadline is before the reactivation's Paris day starts a new
  cycle on that day, inferred like an undated ``REN`` (docs/lifecycle.md, "Reactivation");
* it is dropped when a new demand starts on the numéro — a ``CRE`` or ``CRS`` — or when
  the snapshot's creation date is after it (a renewal never precedes its demand's
  creation). A state stored before the token existed keeps the date its snapshot holds.

Older readers of the token read its first ten characters: an inferred token reads as
its day.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from hub.domain.state import DemandeState

PARIS = ZoneInfo("Europe/Paris")
ECHEANCE = "echeance_depassee"
#: the ``noticesSent`` token keeping the current cycle's renewal date
RENEWED = "renouvellement:"
#: operations that start a new demand on their numéro: nothing of an earlier one is kept
CREATIONS = frozenset({"CRE", "CRS"})
#: separates an inferred renewal date from its floor in the token
INFERRED = "/"
#: separates a snapshot's renewal date from its floor, and the floor from the instant
DATED, AT = "+", "@"
ONE_DAY = dt.timedelta(days=1)


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
    return tuple((day_ms(add_months(end, -m) if m else end + ONE_DAY), renewal_code(m),
                  f"{end.isoformat()}:{renewal_code(m)}") for m in notice_months)  # fmt: skip


@functools.lru_cache(maxsize=4096)
def paris_day(ms: int) -> dt.date:
    """The Europe/Paris day of an epoch-ms instant."""
    return dt.datetime.fromtimestamp(ms / 1000, PARIS).date()


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


class Kept(NamedTuple):
    """A kept renewal date; ``inferred``: from an undated ``REN`` or a reactivation.
    ``floor``: the start of the cycle it ended (None: unknown); ``at``: the latest
    ``occurredAt`` whose snapshot carried this date (None: inferred, or a token written
    before the instant was kept)."""

    day: dt.date
    inferred: bool = False
    floor: dt.date | None = None
    at: int | None = None

    def token(self) -> str:
        floor = self.floor.isoformat() if self.floor else ""
        if self.inferred:
            return f"{RENEWED}{self.day.isoformat()}{INFERRED}{floor}"
        if self.at is None:
            return RENEWED + self.day.isoformat()
        return f"{RENEWED}{self.day.isoformat()}{DATED}{floor}{AT}{self.at}"

    def replaced_by(self, own: dt.date, at: int, today: dt.date) -> Kept:
        """This kept date after a snapshot dated ``own`` that occurred at ``at``, on the
        Paris day ``today`` (module doc): an inferred one is replaced by a date after its
        floor; a dated one, by an event not older than the last one that carried it
        (older: stale, ignored — audit O, O6), by a later date — a renewal: the kept
        date becomes its floor, unless ``own`` is after ``today`` (no renewal is dated
        in the future: the floor stays) — and, only while it is :attr:`provisional`, by
        an earlier date after its floor (the SNE's correction, O6); else an earlier date
        is stale and ignored: the kept date never goes back (N11). A token without
        instant (an earlier version's) only moves forward."""
        if self.inferred:
            if self.floor is None or own > self.floor:
                return Kept(own, floor=self.floor, at=at)
            return self
        if self.at is not None and at < self.at:
            return self  # an older snapshot than the one that set it: stale (O6)
        if own == self.day:
            return self if self.at is None else self._replace(at=at)
        if own > self.day:
            return Kept(own, floor=self.floor if own > today else self.day, at=at)
        if self.provisional and (self.floor is None or own > self.floor):
            return Kept(own, floor=self.floor, at=at)
        return self

    @property
    def provisional(self) -> bool:
        """A snapshot's date in the future of the Paris day of the last event that
        carried it: no renewal is dated so — an error of the SNE's, which a later
        snapshot may correct to an earlier date (audit O, O6)."""
        return not self.inferred and self.at is not None and self.day > paris_day(self.at)


def _kept_date(notices: tuple[str, ...]) -> Kept | None:
    for token in notices:
        if token.startswith(RENEWED):
            value, _, at = token[len(RENEWED) :].partition(AT)
            day = parse_day(value)
            if day is None:
                return None
            if INFERRED in value:
                return Kept(day, True, parse_day(value.partition(INFERRED)[2]))
            try:
                instant = int(at) if at else None
            except ValueError:
                instant = None
            return Kept(day, False, parse_day(value.partition(DATED)[2]), instant)
    return None


def _kept(notices: tuple[str, ...]) -> dt.date | None:
    found = _kept_date(notices)
    return None if found is None else found.day


def renewal_day(demande: dict[str, Any] | None, notices: tuple[str, ...]) -> dt.date | None:
    """The renewal date of the cycle of a state with snapshot ``demande`` and
    ``noticesSent`` ``notices``: the one kept (:func:`renewal_tokens` decided it), else —
    a state stored before the token existed — the snapshot's; None when the cycle starts
    at the creation."""
    kept = _kept(notices)
    day = kept if kept is not None else _snapshot_renewal(demande)
    start = created(demande)
    return None if day is None or (start is not None and day < start) else day


def cycle_end(demande: dict[str, Any] | None, notices: tuple[str, ...]) -> dt.date | None:
    """The renewal deadline of such a state (None: no usable date)."""
    start = renewal_day(demande, notices) or created(demande)
    return None if start is None else shifted(start, 12)


def deadline(state: DemandeState) -> dt.date | None:
    """The renewal deadline of ``state`` (None: no usable date)."""
    return cycle_end(state.demande, state.notices_sent)


def _prior_kept(prior: DemandeState, start: dt.date | None) -> Kept | None:
    """The renewal date ``prior`` keeps (a state stored before tokens existed: its
    snapshot's), None when the new snapshot's creation ``start`` is after it."""
    kept = _kept_date(prior.notices_sent)
    if kept is None:
        own = _snapshot_renewal(prior.demande)
        kept = None if own is None else Kept(own)
    return None if kept is None or (start is not None and kept.day < start) else kept


def reactivated(prior: DemandeState | None, state: DemandeState) -> bool:
    """Whether ``state`` makes the radiated ``prior`` active again (not a creation)."""
    return (prior is not None and not prior.active and not prior.deleted and state.active
            and state.last_operation not in CREATIONS)  # fmt: skip


def renewal_tokens(prior: DemandeState | None, state: DemandeState) -> tuple[str, ...]:
    """The renewal token ``state`` (just decided from an event, none kept yet) keeps
    (module doc): the prior's date unless the event starts a new demand or its creation
    date is after it; moved forward — never back, but for a provisional date (O6) — by
    the snapshot's date, unless the event is older than the one that set it; an undated
    ``REN``, or a reactivation past its deadline, starts a cycle on the event's day."""
    start = created(state.demande)
    kept = None
    if prior is not None and state.last_operation not in CREATIONS:
        kept = _prior_kept(prior, start)
    today = paris_day(state.occurred_at)
    own = _snapshot_renewal(state.demande)
    if own is not None and (start is None or own >= start):  # not before its creation
        kept = Kept(own, floor=start, at=state.occurred_at) if kept is None \
            else kept.replaced_by(own, state.occurred_at, today)  # fmt: skip
    current = kept.day if kept is not None else start
    if state.last_operation == "REN" and own is None:
        if current is None or today > current:
            kept = Kept(today, True, current)
    elif reactivated(prior, state):
        end = None if current is None else shifted(current, 12)
        if end is not None and end < today:
            kept = Kept(today, True, current)
    return () if kept is None else (kept.token(),)
