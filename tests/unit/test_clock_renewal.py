"""Audit D, F3: after a renewal, an event whose snapshot lacks ``renouvellement`` (optional
in the SNE outline) made the deadline fall back to the creation anniversary and the hub
sent the left cycle's notices again, *échéance dépassée* included, with fresh ids. The
rule (docs/lifecycle.md, "The renewal clock"): the state keeps the renewal date; a
snapshot with one moves it; a ``CRE``/``CRS`` starts afresh; a creation date after it
drops it.

The expected notices are computed here from the events' dates (this file's oracle, with
tests.unit.test_clock's month arithmetic), never by dispatch code."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatch.processor import Processor
from hub.domain.state import DemandeState
from tests.support.demandes import new_num_unique
from tests.support.memory import MemorySender, MemoryStore
from tests.unit.test_clock import (
    ROUEN,
    N,
    _avis,
    _ev_rec,
    _event,
    _ms,
    _part,
    _processor,
    _shift,
    _thresholds,
    _ticks,
)

Avis = tuple[str, int]


class Demand:
    """One demand driven through a processor, with the notices told so far."""

    def __init__(self, codec: Any, geography: Any) -> None:
        self.codec, self.store, self.sender = codec, MemoryStore(N), MemorySender()
        self.proc: Processor = _processor(codec, geography, self.store, self.sender)
        self.num = new_num_unique()
        self.seen = 0

    def event(self, op: str, created: dt.date, renewed: dt.date | None = None,
              on: dt.date | None = None) -> None:  # fmt: skip
        """An event of ``op`` that occurred at 10:00 Paris of ``on`` (default: the renewal
        date, else the creation date)."""
        at = _ms(on or renewed or created) + 10 * 3_600_000
        ev = _event(self.num, ROUEN, op, created=created.isoformat(),
                    renewed=renewed.isoformat() if renewed else None, occurred_at=at)  # fmt: skip
        asyncio.run(self.proc.process([_ev_rec(self.codec, ev)]))

    def tick(self, day: dt.date) -> list[Avis]:
        """The notices sent by a tick at 01:00 of ``day``."""
        asyncio.run(self.proc.process(_ticks(self.codec, self.proc, _ms(day) + 3_600_000)))
        got = [(r["reason"], r["occurredAt"]) for r in _avis(self.codec, self.sender, "rouen")]
        new, self.seen = got[self.seen :], len(got)
        return new

    def state(self) -> DemandeState:
        raw = self.store.get(self.num.encode(), _part(self.num.encode()))
        return DemandeState.from_avro(self.codec.decode_as(raw, "DemandeState"))


def _notices(start: dt.date, upto: dt.date) -> list[Avis]:
    """The notices of the cycle starting at ``start`` due by ``upto``."""
    return [(code, _ms(day)) for day, code in _thresholds(start) if day <= upto]


@pytest.mark.parametrize(("op", "on"), [("REN", dt.date(2025, 2, 1)),
                                        ("MOD", dt.date(2025, 3, 20))])  # fmt: skip
def test_a_snapshot_without_renouvellement_keeps_the_renewed_deadline(
        codec: Any, geography: Any, op: str, on: dt.date) -> None:  # fmt: skip
    """The audit's scenario: created 2024-03-10, m-2 sent, renewed on 2025-02-01, then a
    MOD without the element, or the REN's copy without it the same day: nothing is due on
    2025-04-01; the renewed cycle's notices come on their days, once. (An undated REN on
    a later day starts its own cycle: audit N N1, test_clock_cycle.py.)"""
    d = Demand(codec, geography)
    created, renewed = dt.date(2024, 3, 10), dt.date(2025, 2, 1)
    d.event("CRE", created)
    assert d.tick(dt.date(2025, 1, 20)) == _notices(created, dt.date(2025, 1, 20))
    d.event("REN", created, renewed)
    d.event(op, created, on=on)
    assert d.tick(dt.date(2025, 4, 1)) == []
    assert d.tick(dt.date(2026, 2, 2)) == _notices(renewed, dt.date(2026, 2, 2))
    assert d.tick(dt.date(2026, 6, 1)) == []


def test_a_radiation_keeps_the_renewal_date_and_a_creation_drops_it(
        codec: Any, geography: Any) -> None:  # fmt: skip
    """RAD then a reactivating MOD without the element: the renewed cycle still (its
    notices already sent are not sent again); a CRE of the radiated numéro is refused
    (``demande_existante``: the radiation stands); deleted (SUP), a CRE of the numéro is
    its own creation."""
    d = Demand(codec, geography)
    created, renewed = dt.date(2024, 3, 10), dt.date(2025, 2, 1)
    d.event("CRE", created)
    d.event("REN", created, renewed)
    assert d.tick(dt.date(2025, 12, 2)) == _notices(renewed, dt.date(2025, 12, 2))
    d.event("RAD", created, on=dt.date(2025, 12, 10))
    d.event("MOD", created, on=dt.date(2025, 12, 15))  # reactivated before its deadline
    assert d.tick(dt.date(2026, 1, 2)) == [("renouvellement_m-1", _ms(dt.date(2026, 1, 1)))]
    d.event("RAD", created, on=dt.date(2026, 1, 10))
    radiated = d.state()
    again = dt.date(2026, 5, 20)
    d.event("CRE", again)
    assert d.state() == radiated and not radiated.active
    d.event("SUP", created, on=again)
    d.event("CRE", again)
    assert d.tick(dt.date(2027, 5, 20)) == _notices(again, dt.date(2027, 5, 20))
    assert not [t for t in d.state().notices_sent if t.startswith("renouvellement:")]


def test_a_creation_date_after_the_kept_renewal_drops_it(codec: Any, geography: Any) -> None:
    d = Demand(codec, geography)
    d.event("CRE", dt.date(2024, 3, 10))
    d.event("REN", dt.date(2024, 3, 10), dt.date(2025, 2, 1))
    later = dt.date(2025, 6, 15)
    d.event("MOD", later)  # the SNE moved the creation past the renewal
    assert d.tick(dt.date(2026, 6, 15)) == _notices(later, dt.date(2026, 6, 15))


def test_a_state_stored_before_the_kept_date_uses_its_snapshots(
        codec: Any, geography: Any) -> None:  # fmt: skip
    """A state renewed by an earlier version (no token, the date in its snapshot), then a
    MOD without the element: the renewed deadline stays, and the token is kept from then
    on."""
    d = Demand(codec, geography)
    created, renewed = dt.date(2024, 3, 10), dt.date(2025, 2, 1)
    demande = _event(d.num, ROUEN, "REN", created=created.isoformat(),
                     renewed=renewed.isoformat())["demande"]  # fmt: skip
    old = DemandeState(num_unique=d.num, version=2, active=True,
                       recipients=frozenset({"rouen", "dep"}), last_event_id="ren",
                       last_operation="REN", occurred_at=0, demande=demande)  # fmt: skip
    d.store.put(d.num.encode(), _part(d.num.encode()), codec.encode("DemandeState",
                                                                    old.to_avro()))  # fmt: skip
    d.event("MOD", created)
    assert "renouvellement:2025-02-01" in d.state().notices_sent
    assert d.tick(dt.date(2025, 4, 1)) == []
    assert d.tick(dt.date(2026, 2, 1)) == _notices(renewed, dt.date(2026, 2, 1))


# -- the property ----------------------------------------------------------------------
#: (days after the previous step, what: "tick" or an operation, how the snapshot gives the
#: renewal date: "none" — no element —, "new" — the step's day —, "kept" — the current one
#: —, "old" — 40 days before the current cycle's start: a stale snapshot)
Step = tuple[int, str, str]
steps = st.lists(st.tuples(st.integers(0, 75),
                           st.sampled_from(["tick", "tick", "tick", "CRE", "MOD", "REN", "RAD"]),
                           st.sampled_from(["none", "new", "kept", "old"])),
                 min_size=4, max_size=24)  # fmt: skip


class Cycle:
    """This file's oracle of the cycle's start, from docs/lifecycle.md ("The renewal
    clock"): a snapshot's date moves it forward, never back (N11); an undated REN starts
    it on its day (N1), and a dated snapshot after the start it ended replaces that day;
    a reactivation past the deadline starts it on its day (N2)."""

    def __init__(self, created: dt.date) -> None:
        self.created = created
        self.kept: dt.date | None = None
        self.floor: dt.date | None = None  # the start an inferred day ended
        self.inferred = False

    @property
    def start(self) -> dt.date:
        return self.kept or self.created

    def event(self, op: str, day: dt.date, own: dt.date | None, radiated: bool) -> None:
        if own is not None and own >= self.created:
            newer = own > self.floor if self.inferred and self.floor is not None \
                else self.inferred or self.kept is None or own > self.kept  # fmt: skip
            if newer:
                self.kept, self.inferred, self.floor = own, False, None
        if op == "REN" and own is None:
            if day > self.start:
                self.kept, self.inferred, self.floor = day, True, self.start
        elif radiated and op != "RAD" and _shift(self.start, 12) < day:
            self.kept, self.inferred, self.floor = day, True, self.start


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(created=st.dates(dt.date(2023, 1, 1), dt.date(2027, 12, 31)), plan=steps)
def test_every_notice_of_the_current_cycle_is_sent_once(
        codec: Any, geography: Any, created: dt.date, plan: list[Step]) -> None:  # fmt: skip
    """For sequences of CRE / MOD / REN / RAD, their snapshots with a renewal date (new,
    the current one, a stale older one) or none, and ticks: the hub sends exactly the
    oracle's notices, in order — each threshold of the current cycle once, at the first
    tick at or after its day, none of a cycle a renewal left, none while radiated. A CRE
    step is the numéro deleted (SUP) and created again: a CRE of a live demand is refused
    (``demande_existante``: tests/unit/test_creation_of_existing.py). Each event occurs at
    10:00 Paris of its step's day."""
    d = Demand(codec, geography)
    d.event("CRE", created, on=created)
    day, cycle, active = created, Cycle(created), True
    start, told = created, set[str]()
    expected: list[Avis] = []
    for gap, what, renewal in plan:
        day += dt.timedelta(days=gap)
        if what == "tick":
            d.tick(day)
            for code, due in _notices(start, day) if active else []:
                if code not in told:
                    told.add(code)
                    expected.append((code, due))
            continue
        if what == "CRE":  # a new demand on the numéro: no renewal date of the last one,
            d.event("SUP", created, on=day)  # nor any notice (a deletion marker keeps none)
            created, cycle, active = day, Cycle(day), True
        given_date = {"none": None, "new": day, "kept": cycle.kept,
                      "old": cycle.start - dt.timedelta(days=40)}[renewal]  # fmt: skip
        d.event(what, created, given_date, on=day)
        cycle.event(what, day, given_date, not active)
        active = what != "RAD"
        if cycle.start != start:
            start, told = cycle.start, set()
    got = [(r["reason"], r["occurredAt"]) for r in _avis(codec, d.sender, "rouen")]
    assert got == expected
