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

    def event(self, op: str, created: dt.date, renewed: dt.date | None = None) -> None:
        ev = _event(self.num, ROUEN, op, created=created.isoformat(),
                    renewed=renewed.isoformat() if renewed else None)  # fmt: skip
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


@pytest.mark.parametrize("op", ["REN", "MOD"])
def test_a_snapshot_without_renouvellement_keeps_the_renewed_deadline(
        codec: Any, geography: Any, op: str) -> None:  # fmt: skip
    """The audit's scenario: created 2024-03-10, m-2 sent, renewed on 2025-02-01, then a
    REN or MOD without the element: nothing is due on 2025-04-01; the renewed cycle's
    notices come on their days, once."""
    d = Demand(codec, geography)
    created, renewed = dt.date(2024, 3, 10), dt.date(2025, 2, 1)
    d.event("CRE", created)
    assert d.tick(dt.date(2025, 1, 20)) == _notices(created, dt.date(2025, 1, 20))
    d.event("REN", created, renewed)
    d.event(op, created)
    assert d.tick(dt.date(2025, 4, 1)) == []
    assert d.tick(dt.date(2026, 2, 1)) == _notices(renewed, dt.date(2026, 2, 1))
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
    d.event("RAD", created)
    d.event("MOD", created)
    assert d.tick(dt.date(2026, 1, 2)) == [("renouvellement_m-1", _ms(dt.date(2026, 1, 1)))]
    d.event("RAD", created)
    radiated = d.state()
    again = dt.date(2026, 5, 20)
    d.event("CRE", again)
    assert d.state() == radiated and not radiated.active
    d.event("SUP", created)
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
#: renewal date: "none" — no element —, "new" — the step's day —, "kept" — the current one)
Step = tuple[int, str, str]
steps = st.lists(st.tuples(st.integers(0, 75),
                           st.sampled_from(["tick", "tick", "tick", "CRE", "MOD", "REN", "RAD"]),
                           st.sampled_from(["none", "new", "kept"])),
                 min_size=4, max_size=24)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(created=st.dates(dt.date(2023, 1, 1), dt.date(2027, 12, 31)), plan=steps)
def test_every_notice_of_the_current_cycle_is_sent_once(
        codec: Any, geography: Any, created: dt.date, plan: list[Step]) -> None:  # fmt: skip
    """For sequences of CRE / MOD / REN / RAD, their snapshots with a renewal date, the
    current one or none, and ticks: the hub sends exactly the oracle's notices, in order —
    each threshold of the current cycle once, at the first tick at or after its day, none
    of a cycle a renewal left, none while radiated. A CRE step is the numéro deleted (SUP)
    and created again: a CRE of a live demand is refused (``demande_existante``:
    tests/unit/test_creation_of_existing.py)."""
    d = Demand(codec, geography)
    d.event("CRE", created)
    day, kept, active = created, None, True
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
            d.event("SUP", created)  # nor any notice (a deletion marker keeps none)
            created, kept, start = day, None, None
        given_date = {"none": None, "new": day, "kept": kept}[renewal]
        kept = given_date or kept
        d.event(what, created, given_date)
        active = what != "RAD"
        if (kept or created) != start:
            start, told = kept or created, set()
    got = [(r["reason"], r["occurredAt"]) for r in _avis(codec, d.sender, "rouen")]
    assert got == expected
