"""The demand's clock (issue 20): renewal notices and the délai anormalement long.

**Due times derive from the stored state only.** A demand is valid 12 months: its
*deadline* is the anniversary of its cycle's start — the renewal date the state keeps
(a snapshot's ``demandeLogement/renouvellement/dateRenouvellement``, never moved back; a
``REN`` without it, or a reactivation past the deadline: that event's Paris day), else
``dateCreationDemande`` (29 February gives 28 February; :mod:`hub.domain.renewal`). Its
thresholds, each a notice sent once:

* ``renouvellement_m-2`` / ``renouvellement_m-1``: the deadline minus 2 / 1 months
  (``clock.notice_months``; same day of the month, clamped to the month's last day);
* ``echeance_depassee``: the day after the deadline (the demand is valid through it);
* ``delai_anormalement_long``: ``dateCreationDemande`` plus the département's délai
  (:mod:`hub.domain.delais`; seniority is kept on renewal), only when the table knows the
  département (of the first wished commune) and the flag is unknown — an SNE ``false``
  describes its snapshot's day only: a later snapshot without the indicator does not
  carry it (a ``true`` is carried), so the crossing is computed again (:meth:`Deadlines.
  carry`) — never on or before the day of the SNE's last ``false`` (review O, O2: kept as
  the ``noticesSent`` token ``delai_false:<day>``), at the earliest the day after it;
* ``cotation``: the next day time alone may change the demand's score under its EPCIs'
  grids (18 months of seniority, an age threshold …: :meth:`dispatch.cotation.Scoring.
  next_change`), after the later of its last event's day and the *cotation clock* (the
  latest day a record of the demand was scored on: such a day done, an event's day, a
  notice's due day — ``noticesSent`` token ``cotation:<day>``, never moved back, so a
  late notice carries the current score: :meth:`dispatch.cotation.Scoring.
  reference_day`); only with a scoring.

A threshold is due at 00:00 Europe/Paris of its day. Only an **active** demand has
thresholds: a radiated or deleted demand gets no further notice; a renewed one starts a
new cycle (the notices of the old one are never sent).

**The due-time index kept with the state.** Like the territorial index
(:mod:`dispatch.territory`), each active demand has, beside its state and in the same
changelog partition, an own-key entry for its **next** renewal threshold, one for its
délai crossing (when the table knows it) and one for its next cotation change (when a
grid applies) — the later thresholds of a cycle get theirs when the one before is done,
so a demand event writes at most three entries. Their keys (:mod:`dispatch.dueindex`)
sort by due time, whatever the due time; they are written and removed with the state
(:meth:`Deadlines.entries`, diffed by ``Processor._store``), so a tick finds what is due
with a range scan: O(due demands), never a scan of the stock.

**Time enters the stream** as ``DispatchTick`` records in each partition of hub.demandes
(:func:`on_tick`). A tick sends, per demand in due order (every threshold of the demand
due by then, the later ones its index did not show yet included), a feed record of kind
:data:`AVIS` (``reason``: the threshold code, ``occurredAt``: the due time,
``operation``: ``AVIS``) to the demand's current recipients and records the threshold as
done in the state (``noticesSent``, or the délai flag). A ``cotation`` threshold sends
an ``AVIS`` (reason ``cotation``, the new score in ``cotations``) only when the score
did change that day, and only to the recipients covering an EPCI whose score changed
(:func:`dispatch.cotation.covers`); it moves the cotation clock either way. Each entry
found is checked against the demand's current state (the rule of record): an entry the
state no longer has is stale and removed, never fired. The event id is a uuid5 of
(numéro, code, cycle date): a tick replayed before its batch was stored gives the same
records with the same ids (consumers deduplicate by (eventId, kind)); a tick replayed
after finds the threshold done. A tick handles at most ``clock.due_chunk`` entries per
partition; the rest waits for the next.

**Upgrade.** States stored before the index existed have no entries: the first ticks of
a partition without a complete :func:`marker` write the entries of its stored demands,
50,000 per tick in key order (one pass over the partition, once), then the marker. A key
written out of due order by an earlier version (a due time of 10^13 ms or more on 14
digits) is found by the tick's scan whatever its due time, removed as stale and its
demand's entries written again (:mod:`dispatch.dueindex`): no pass, no marker.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from dispatch.cotation import COTATION, Scoring, covers, paris_day, scored_on
from dispatch.dueindex import PREFIX, due_in_store, entry_key, marker, misplaced, parse
from hub.core.errors import ConfigError
from hub.domain.decisions import Decision, Delivery
from hub.domain.delais import DelaiTable
from hub.domain.renewal import (
    CREATIONS,
    ONE_DAY,
    add_months,
    created,
    cycle_end,
    day_ms,
    deadline,
    logement,
    parse_day,
    renewal_tokens,
    schedule,
    shifted,
)
from hub.domain.state import DemandeState, wished_communes

if TYPE_CHECKING:
    from dispatch.batch import Batch

#: the clock's interface; the index's keys and the calendar are re-exported for the
#: modules and tests that import them from here
__all__ = ["AVIS", "DELAI", "PREFIX", "UPGRADE_CHUNK", "Deadlines", "add_months", "day_ms",
           "entry_key", "marker", "notice_id", "on_tick", "sne_indicator"]  # fmt: skip

log = logging.getLogger(__name__)

#: feed record kind of a notice sent by the clock
AVIS = "AVIS"
DELAI = "delai_anormalement_long"
#: the ``noticesSent`` token keeping the Paris day of the SNE's last ``false`` (O2)
SNE_FALSE = "delai_false:"
_IDS = uuid.UUID("6f1c7f0e-6b55-5d0e-9a64-2f7d0c1d2a20")
#: stored demands a tick brings into the due index while a partition is upgraded
UPGRADE_CHUNK = 50_000


def sne_indicator(demande: dict[str, Any] | None) -> bool | None:
    """The SNE's own ``informationTraitement/estDelaiAnormalementLong`` (None: absent)."""
    value = (logement(demande).get("informationTraitement") or {}).get("estDelaiAnormalementLong")
    return value if isinstance(value, bool) else None


def sne_false_day(notices: tuple[str, ...]) -> dt.date | None:
    """The Paris day of the SNE's last ``estDelaiAnormalementLong=false`` the state keeps
    (None: none)."""
    for token in notices:
        if token.startswith(SNE_FALSE):
            return parse_day(token[len(SNE_FALSE) :])
    return None


def notice_id(num_unique: str, code: str, cycle: dt.date) -> str:
    """The event id of a notice: the same for every replay."""
    return str(uuid.uuid5(_IDS, f"{num_unique}|{code}|{cycle.isoformat()}"))


class Geography(Protocol):
    def commune(self, code: str) -> Any: ...
    def resolve(self, code: str) -> str: ...


class Deadlines:
    """The thresholds of a demand under the hub's settings and délai table."""

    def __init__(self, notice_months: Sequence[int] = (2, 1, 0),
                 delais: DelaiTable | None = None,
                 scoring: Scoring | None = None) -> None:  # fmt: skip
        if any(not 0 <= m <= 11 for m in notice_months):
            raise ConfigError(
                f"clock.notice_months: months before the deadline, 0 to 11: {list(notice_months)}"
            )
        self.notice_months = tuple(sorted(set(notice_months), reverse=True))
        self.delais = delais if delais is not None else DelaiTable.load()
        self._any_delai = self.delais.known
        #: the cotation clock's scoring (None: no cotation thresholds)
        self.scoring = scoring
        self.generation = 1 if scoring is None else 2

    def departement(self, state: DemandeState, geography: Geography | None) -> str | None:
        for commune in wished_communes(state.demande)[:1]:
            try:
                if geography is None:
                    return None
                return str(geography.commune(geography.resolve(commune)).departement)
            except Exception:  # a code the geography does not know
                return None
        return None

    def delai_due(self, state: DemandeState, geography: Geography | None) -> int | None:
        """When the hub's own table says the demand crosses its délai (None: unknown)."""
        if not self._any_delai:  # no département known: no lookup at every write
            return None
        months = self.delais.months(self.departement(state, geography))
        start = created(state.demande)
        crossing = None if months is None or start is None else shifted(start, months)
        return None if crossing is None else day_ms(crossing)

    def thresholds(self, state: DemandeState | None,
                   geography: Geography | None) -> list[tuple[int, str, dt.date]]:  # fmt: skip
        """(due ms, code, cycle date) of every threshold ``state`` has still to pass."""
        if state is None or not state.active:
            return []
        out: list[tuple[int, str, dt.date]] = []
        end = deadline(state)
        if end is not None:
            out += [(due, code, end) for due, code, token in schedule(end, self.notice_months)
                    if token not in state.notices_sent]  # fmt: skip
        if state.delai_anormalement_long is None:
            due = self.delai_due(state, geography)
            start = created(state.demande)
            said = sne_false_day(state.notices_sent)
            if due is not None and said is not None:  # never on or before the SNE's false
                due = max(due, day_ms(said + ONE_DAY))
            if due is not None and start is not None:
                out.append((due, DELAI, start))
        if self.scoring is not None:
            after = self.scoring.reference_day(state, state.occurred_at)
            change = self.scoring.next_change(state.demande, after,
                                              (state.num_unique, state.last_event_id))  # fmt: skip
            if change is not None:
                out.append((day_ms(change), COTATION, change))
        return out

    def entries(self, state: DemandeState | None,
                geography: Geography | None) -> dict[bytes, bytes]:  # fmt: skip
        """The due entries of ``state`` (none when absent or not active): its **next**
        renewal threshold and its délai crossing. The later thresholds of the cycle get
        their entry when the one before is done (at a tick), so a demand event writes at
        most two entries, not one per threshold."""
        if state is None:
            return {}
        out: dict[bytes, bytes] = {}
        renewal = False
        for due, code, _ in sorted(self.thresholds(state, geography)):
            if code in (DELAI, COTATION) or not renewal:
                out[entry_key(due, code, state.num_unique)] = b""
                renewal = renewal or code not in (DELAI, COTATION)
        return out

    def carry(self, prior: DemandeState | None, state: DemandeState, occurred_at: int,
              geography: Geography | None) -> tuple[DemandeState, bool]:  # fmt: skip
        """``state`` (just decided from an event) with what the clock kept in ``prior``:
        the cycle's renewal date (:func:`hub.domain.renewal.renewal_tokens`), the notices of
        the same cycle, the cotation clock (moved to the event's Paris day when later,
        with a scoring: the day its record is scored on), the délai flag when ``true`` —
        replaced by the SNE's indicator when the snapshot has one (a ``false`` is the
        SNE's word on its snapshot's day: not carried, but its day is kept — the token
        ``delai_false:<day>``, never moved back, dropped by a creation — and the hub's
        crossing is never due on or before it: O2). Second: whether that indicator
        disagrees with the hub's own table at ``occurred_at`` (counted, not acted upon:
        the SNE wins)."""
        renewed = renewal_tokens(prior, state)
        end = cycle_end(state.demande, renewed)
        kept = (*renewed, *(n for n in (prior.notices_sent if prior else ())
                            if (end is not None and n.startswith(end.isoformat() + ":"))
                            or n.startswith(COTATION + ":")
                            or (n.startswith(SNE_FALSE)
                                and state.last_operation not in CREATIONS)))  # fmt: skip
        if self.scoring is not None:  # the day this event's record is scored on (N6)
            kept = scored_on(kept, paris_day(occurred_at))
        flag, source = (prior.delai_anormalement_long, prior.delai_source) if prior \
            else (None, None)  # fmt: skip
        if flag is False:  # the SNE's "not yet" was its snapshot's day's word (N8)
            flag, source = None, None
        sne = sne_indicator(state.demande)
        disagree = False
        if sne is not None:
            due = self.delai_due(state, geography)
            disagree = due is not None and (occurred_at >= due) != sne
            flag, source = sne, "sne"
            said = sne_false_day(kept)
            if sne is False and (said is None or said < paris_day(occurred_at)):
                day = paris_day(occurred_at)  # the day of the SNE's last false (O2)
                kept = (*(n for n in kept if not n.startswith(SNE_FALSE)),
                        SNE_FALSE + day.isoformat())  # fmt: skip
        if (kept, flag, source) == (
            state.notices_sent,
            state.delai_anormalement_long,
            state.delai_source,
        ):
            return state, disagree  # nothing to carry (most events): no copy
        return replace(state, notices_sent=kept, delai_anormalement_long=flag,
                       delai_source=source), disagree  # fmt: skip

    def mark(self, state: DemandeState, code: str, cycle: dt.date,
             due: int | None = None) -> DemandeState:  # fmt: skip
        """``state`` with threshold ``code`` of ``cycle`` done; ``due``: the due time of
        the notice sent for it, whose day its record was scored on (with a scoring, the
        cotation clock does not stay behind it: N6)."""
        if code == COTATION:
            return replace(state, notices_sent=scored_on(state.notices_sent, cycle))
        notices = state.notices_sent
        if due is not None and self.scoring is not None:
            notices = scored_on(notices, paris_day(due))
        if code == DELAI:
            return replace(state, notices_sent=notices, delai_anormalement_long=True,
                           delai_source="hub")  # fmt: skip
        return replace(state, notices_sent=(*notices, f"{cycle.isoformat()}:{code}"))


def _upgrade(batch: Batch, deadlines: Deadlines, partition: int, limit: int) -> int:
    """Write the due entries of up to ``limit`` stored demands of ``partition`` (states
    stored before the index existed), in key order from where the marker's value left
    it (``b"@" + last key``); the marker becomes ``b"1"`` once the partition is done.
    Returns the states read.

    The entries (of each demand as the batch sees it now) are stored *before* the
    batch's states (``Batch.pre``), and a demand this batch already changed has them as
    its base, so its own write diffs against what is really stored then. A demand not
    reached yet gets its entries when it is, read as it is then."""
    done = batch.get(marker(partition, deadlines.generation), partition)
    if done == b"1":
        return 0
    after = done[1:] if done else b""
    keys = sorted(k for k in batch.keys(partition) if k > after)
    geography = batch.index.geography
    for key in keys[:limit]:
        due = deadlines.entries(batch.state(key, partition), geography)
        batch.pre.extend((k, partition, v) for k, v in due.items())
        if key in batch.bases:
            batch.bases[key] = {k: v for k, v in batch.bases[key].items()
                                if not k.startswith(PREFIX)} | due  # fmt: skip
    more = len(keys) > limit
    batch.put_raw(marker(partition, deadlines.generation), partition,
                  b"@" + keys[limit - 1] if more else b"1")  # fmt: skip
    if more:
        log.info(
            "clock: due index of partition %d built up to %d more demands; continued "
            "at the next tick",
            partition,
            limit,
        )
    return min(len(keys), limit)


def _unstored(batch: Batch, partition: int, now_ms: int) -> set[bytes]:
    """Due entries of upgrade passes not stored yet (this batch's, unsettled ones')."""
    return {k for pre in [*(sub.pre for sub in batch.proc._unsettled), batch.pre]
            for k, p, v in pre
            if p == partition and v is not None and parse(k)[0] <= now_ms}  # fmt: skip


def on_tick(batch: Batch, deadlines: Deadlines, partition: int, now_ms: int,
            limit: int, upgrade_limit: int | None = None) -> int:  # fmt: skip
    """Send what is due at ``now_ms`` in ``partition`` (module doc); returns the number
    of demand states read (the due ones, plus the upgrade pass while it runs)."""
    reads = _upgrade(batch, deadlines, partition, upgrade_limit or UPGRADE_CHUNK)
    geography = batch.index.geography
    stored = set(due_in_store(batch.proc.store, partition, now_ms, limit))
    candidates = stored | _unstored(batch, partition, now_ms)
    for state in batch.pending(partition).values():  # decided, not stored yet
        candidates.update(k for k in deadlines.entries(state, geography)
                          if parse(k)[0] <= now_ms)  # fmt: skip
    for entry in sorted(candidates)[:limit]:
        due, code, num = parse(entry)
        key = num.encode()
        state = batch.state(key, partition)
        reads += 1
        if entry not in deadlines.entries(state, geography):
            # stale in the store; a demand not stored yet is left to its own write (the
            # entry is in its base when its prior had it), else cleaned at a later tick
            if entry in stored and not _pending(batch, key):
                _drop(batch, key, partition, state, entry, deadlines)
            continue
        assert state is not None  # it has the entry
        # this threshold, then those it made next, while due: each once, in due order
        while due_now := sorted(t for t in deadlines.thresholds(state, geography)
                                if t[0] <= now_ms):  # fmt: skip
            due, code, cycle = due_now[0]
            deliveries = [Delivery(a, AVIS, code) for a in _told(batch, deadlines, state, code,
                                                                 cycle, due)]  # fmt: skip
            new = deadlines.mark(state, code, cycle, due if deliveries else None)
            if deliveries:
                batch.emit(Decision(new, deliveries), new, notice_id(num, code, cycle), AVIS,
                           due)  # fmt: skip
            batch.write(key, partition, new, state)
            state = new
    return reads


def _told(batch: Batch, deadlines: Deadlines, state: DemandeState, code: str,
          cycle: dt.date, due: int) -> list[str]:  # fmt: skip
    """Who gets the notice of threshold ``code``: the current recipients; for a cotation
    change, those covering an EPCI whose score changed that day (none: no change)."""
    if code != COTATION or deadlines.scoring is None:
        return sorted(state.recipients)
    changed = deadlines.scoring.changed(state, cycle, due)
    geography = deadlines.scoring.geography
    return [a for a in sorted(state.recipients)
            if any(covers(batch.index.actor(a), e, geography) for e in changed)]  # fmt: skip


def _pending(batch: Batch, key: bytes) -> bool:
    """Whether ``key`` has a state decided and not stored yet."""
    return key in batch.overlay or any(key in sub.overlay for sub in batch.proc._unsettled)


def _drop(batch: Batch, key: bytes, partition: int, state: DemandeState | None,
          entry: bytes, deadlines: Deadlines) -> None:  # fmt: skip
    """Remove a stale stored entry: the state is written again (None: deleted again) with
    the entry among what it had stored, so storing it deletes the entry unless a later
    record of the batch brings it back (then it stays: it is what the store holds). A
    misplaced entry (:func:`dispatch.dueindex.misplaced`) stood for one of the state's
    own, never stored in the current layout: those are written too (again, if stored)."""
    batch.write(key, partition, state, state)
    base = batch.bases[key]
    if misplaced(entry):
        for own in deadlines.entries(state, batch.index.geography):
            base.pop(own, None)
    base[entry] = b""
