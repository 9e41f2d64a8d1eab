"""Audit N, the demand's clock (docs/lifecycle.md, "The renewal clock", "Reactivation",
"Délai anormalement long"; docs/cotation.md, "The reference day"):

* N1 — a ``REN`` without ``renouvellement`` starts its cycle on the Europe/Paris day of
  its ``occurredAt``; a later snapshot dated after the cycle it ended still wins;
* N3 — *échéance dépassée* is due at 00:00 Paris of the day **after** the deadline (the
  demand is valid through its anniversary); the notices −2 / −1 months are unchanged;
* N11 — the kept renewal date never goes back (a stale snapshot's older date is
  ignored); a creation after a ``SUP`` starts from scratch;
* O6 (review O) — except a date in the future of its event's Paris day (no renewal is
  dated so): a newer snapshot's earlier date corrects it; a late older copy is ignored;
* N2 (clock) — a reactivated demand whose deadline has passed starts a new cycle on the
  reactivation's day; reactivated before its deadline it keeps its cycle;
* N8 — an SNE ``estDelaiAnormalementLong=false`` is not carried to a snapshot without the
  indicator (a ``true`` is); the hub's own crossing is computed again;
* N6 — a record's reference day (its score's ``dateReference``) is never earlier than
  that of a record already sent for the demand.

Expected days are computed here from the reference's rules (12 months, −2/−1 months,
the Paris civil day) with this file's own calendar and ``zoneinfo`` — never by dispatch
code. Dates at the edges: 29 February, month ends, the Paris DST changes."""

from __future__ import annotations

import asyncio
import calendar
import datetime as dt
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatch import cotation
from dispatch.cotation import Scoring
from dispatch.deadlines import DELAI, Deadlines
from dispatch.processor import Processor
from hub.core import topics
from hub.domain import decisions
from hub.domain.cotation import Declaration
from hub.domain.delais import DelaiTable
from hub.domain.matching import TerritoryIndex
from hub.domain.state import DemandeState
from tests.support.demandes import new_num_unique
from tests.support.memory import MemorySender, MemoryStore
from tests.unit.test_clock import LE_HAVRE, ROUEN, _actor, _avis, _ev_rec, _event, _ticks
from tests.unit.test_clock_renewal import Demand

PARIS = ZoneInfo("Europe/Paris")
DARNETAL = "76212"
METROPOLE = "200023414"
M2, M1, ECH = "renouvellement_m-2", "renouvellement_m-1", "echeance_depassee"


def _months(day: dt.date, n: int) -> dt.date:
    y, m = divmod(day.year * 12 + day.month - 1 + n, 12)
    return dt.date(y, m + 1, min(day.day, calendar.monthrange(y, m + 1)[1]))


def _ms(day: dt.date, hour: int = 0, minute: int = 0) -> int:
    """``hour``:``minute`` Europe/Paris of ``day``, epoch ms."""
    moment = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=PARIS)
    return int(moment.timestamp() * 1000)


def _cycle(start: dt.date) -> list[tuple[str, int]]:
    """The notices of a cycle starting at ``start``: valid 12 months, through its
    anniversary; −2 and −1 months before it; *échéance dépassée* the day after."""
    end = _months(start, 12)
    return [(M2, _ms(_months(end, -2))), (M1, _ms(_months(end, -1))),
            (ECH, _ms(end + dt.timedelta(days=1)))]  # fmt: skip


def _upto(start: dt.date, day: dt.date) -> list[tuple[str, int]]:
    """The notices of that cycle a tick at 01:00 Paris of ``day`` sends."""
    return [(c, due) for c, due in _cycle(start) if due <= _ms(day, 1)]


def _snapshot(created: str, indicator: bool | None = None, renewed: str | None = None,
              commune: str = DARNETAL) -> dict[str, Any]:  # fmt: skip
    dl: dict[str, Any] = {"dateCreationDemande": created,
                          "logementRecherche": {"listeLocalisationSouhaite": [
                              {"commune": commune}]}}  # fmt: skip
    if indicator is not None:
        dl["informationTraitement"] = {"estDelaiAnormalementLong": indicator}
    if renewed is not None:
        dl["renouvellement"] = {"dateRenouvellement": renewed}
    return {"informationDalo": None, "demandeLogement": dl}


def _state(op: str, demande: dict[str, Any], at: int, v: int) -> DemandeState:
    return DemandeState(num_unique="076012490000110691", version=v, active=True,
                        recipients=frozenset({"a"}), last_event_id=f"e{v}",
                        last_operation=op, occurred_at=at, demande=demande)  # fmt: skip


# -- N3 --------------------------------------------------------------------------------
@pytest.mark.parametrize(("start", "echeance_utc"), [
    # 29 Feb 2024: valid through 28 Feb 2025, exceeded on 1 March (CET, 23:00Z the day before)
    (dt.date(2024, 2, 29), "2025-02-28T23:00:00+00:00"),
    # 31 Dec: exceeded on 1 January
    (dt.date(2024, 12, 31), "2025-12-31T23:00:00+00:00"),
    # deadline 28 March 2026: exceeded on 29 March, the day summer time starts (00:00 CET)
    (dt.date(2025, 3, 28), "2026-03-28T23:00:00+00:00"),
    # deadline 24 October 2026: exceeded on 25 October, the day winter time starts (CEST)
    (dt.date(2025, 10, 24), "2026-10-24T22:00:00+00:00"),
    # deadline 30 April: exceeded on 1 May (CEST)
    (dt.date(2025, 4, 30), "2026-04-30T22:00:00+00:00"),
])  # fmt: skip
def test_echeance_depassee_is_due_the_day_after_the_deadline(
        codec: Any, geography: Any, start: dt.date, echeance_utc: str) -> None:  # fmt: skip
    """The demand is valid through its anniversary: a tick on the deadline day sends no
    *échéance*, the first tick of the day after does, with that day's 00:00 Paris."""
    d = Demand(codec, geography)
    d.event("CRE", start)
    end = _months(start, 12)
    assert d.tick(end) == [c for c in _cycle(start) if c[0] != ECH]
    assert d.state().active
    due = int(dt.datetime.fromisoformat(echeance_utc).timestamp() * 1000)
    assert d.tick(end + dt.timedelta(days=1)) == [(ECH, due)]


def test_a_renewal_on_the_deadline_day_is_in_time(codec: Any, geography: Any) -> None:
    """The audit's N3 scenario: created 2025-03-15, a tick at 00:30 on 2026-03-15, the REN
    dated 2026-03-15 that day: no *échéance dépassée* is ever sent for that cycle."""
    d = Demand(codec, geography)
    created = dt.date(2025, 3, 15)
    d.event("CRE", created)
    assert d.tick(dt.date(2026, 3, 14)) == _cycle(created)[:2]
    asyncio.run(d.proc.process(_ticks(codec, d.proc, _ms(dt.date(2026, 3, 15), 0, 30))))
    d.event("REN", created, dt.date(2026, 3, 15))
    assert d.tick(dt.date(2026, 6, 1)) == []  # nothing at 00:30 on the 15th, nor since
    assert d.tick(dt.date(2027, 3, 16)) == _cycle(dt.date(2026, 3, 15))


# -- N1 --------------------------------------------------------------------------------
def test_a_ren_without_date_starts_its_cycle_on_its_day(codec: Any, geography: Any) -> None:
    """The audit's N1 scenario: created 2025-01-10, REN without the element on
    2025-12-20: no *échéance dépassée* on 2026-01-11; the new cycle's notices from
    2025-12-20."""
    d = Demand(codec, geography)
    created, renewed = dt.date(2025, 1, 10), dt.date(2025, 12, 20)
    d.event("CRE", created)
    assert d.tick(dt.date(2025, 11, 15)) == _upto(created, dt.date(2025, 11, 15))
    d.event("REN", created, on=renewed)
    assert d.tick(dt.date(2026, 1, 11)) == []
    assert d.tick(dt.date(2026, 12, 21)) == _cycle(renewed)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(instant=st.datetimes(dt.datetime(2024, 1, 1), dt.datetime(2027, 12, 31)))
def test_an_undated_ren_cycle_starts_on_the_paris_day_of_its_instant(instant: dt.datetime) -> None:
    """Whatever the instant (around midnight, DST changes, 29 February: ``instant`` is UTC),
    the cycle starts on its Europe/Paris day — not its UTC day."""
    dl = Deadlines(delais=DelaiTable.from_dict({"departements": {}}))
    at = int(instant.replace(tzinfo=dt.UTC).timestamp() * 1000)
    cre = _state("CRE", _snapshot("2023-06-30"), _ms(dt.date(2023, 6, 30), 10), 1)
    first, _ = dl.carry(None, cre, cre.occurred_at, None)
    ren, _ = dl.carry(first, _state("REN", _snapshot("2023-06-30"), at, 2), at, None)
    day = instant.replace(tzinfo=dt.UTC).astimezone(PARIS).date()
    got = sorted((due, code) for due, code, _ in dl.thresholds(ren, None))
    assert [(code, due) for due, code in got] == _cycle(day)


def test_a_later_dated_snapshot_wins_over_the_ren_day_but_a_stale_one_does_not(
        codec: Any, geography: Any) -> None:  # fmt: skip
    """REN without date on 2025-12-20 (cycle from that day); a MOD dated 2025-12-18 — the
    SNE's date of that renewal, after the cycle it ended (from 2025-01-10) — moves it to
    2025-12-18; a MOD carrying 2024-12-01 (before that cycle) is ignored."""
    d = Demand(codec, geography)
    created = dt.date(2025, 1, 10)
    d.event("CRE", created)
    d.event("REN", created, on=dt.date(2025, 12, 20))
    d.event("MOD", created, dt.date(2024, 12, 1), on=dt.date(2025, 12, 22))
    assert d.tick(dt.date(2026, 10, 20)) == _upto(dt.date(2025, 12, 20), dt.date(2026, 10, 20))
    d.event("MOD", created, dt.date(2025, 12, 18), on=dt.date(2026, 10, 21))
    # m-2 of the cycle from the 18th (18 Oct.) was not sent for that cycle: sent now
    assert d.tick(dt.date(2026, 12, 19)) == _upto(dt.date(2025, 12, 18), dt.date(2026, 12, 19))
    assert d.tick(dt.date(2027, 3, 1)) == []


# -- N11 -------------------------------------------------------------------------------
def test_an_older_renewal_date_does_not_move_the_deadline_back(
        codec: Any, geography: Any) -> None:  # fmt: skip
    """The audit's N11 scenario: created 2024-03-15, the first cycle's notices sent,
    renewed 2025-03-10, then a MOD whose snapshot carries the previous date: nothing of
    the ended cycle again; the current cycle's notices on their days."""
    d = Demand(codec, geography)
    created, renewed = dt.date(2024, 3, 15), dt.date(2025, 3, 10)
    d.event("CRE", created)
    assert d.tick(dt.date(2025, 3, 16)) == _cycle(created)
    d.event("REN", created, renewed)
    d.event("MOD", created, created, on=dt.date(2025, 4, 1))  # a stale snapshot
    d.event("MOD", created, dt.date(2024, 2, 29), on=dt.date(2025, 4, 2))  # before creation
    assert d.tick(dt.date(2025, 4, 2)) == []
    assert d.tick(dt.date(2026, 3, 11)) == _cycle(renewed)
    # a new demand on the numéro (SUP, then CRE) starts from scratch: its own date only
    d.event("SUP", created, on=dt.date(2026, 4, 1))
    again = dt.date(2026, 4, 1)
    d.event("CRE", again)
    assert d.tick(dt.date(2027, 4, 2)) == _cycle(again)


# -- O6 (review O): a renewal date in the future is the SNE's error, corrected later ------
def test_a_future_renewal_date_is_corrected_by_the_next_snapshot(
        codec: Any, geography: Any) -> None:  # fmt: skip
    """Review O, O6: created 2024-03-15, renewed 2025-03-10; a MOD of 2025-03-12 carries
    2035-03-10 (a typo: no renewal is dated in the future), the MOD of the next day the
    SNE's correction 2025-03-10: the real cycle's notices come on their days and the
    18-month reactivation limit counts from 2025-03-10 (not from 2035)."""
    d = Demand(codec, geography)
    created, renewed = dt.date(2024, 3, 15), dt.date(2025, 3, 10)
    d.event("CRE", created)
    assert d.tick(dt.date(2025, 2, 16)) == _cycle(created)[:2]
    d.event("REN", created, renewed)
    d.event("MOD", created, dt.date(2035, 3, 10), on=dt.date(2025, 3, 12))  # the typo
    d.event("MOD", created, renewed, on=dt.date(2025, 3, 13))  # the SNE's correction
    assert decisions.cycle_start(d.state()) == renewed
    assert decisions.reactivation_limit(decisions.cycle_start(d.state())) == dt.date(2026, 9, 10)
    assert d.tick(dt.date(2026, 3, 10)) == _cycle(renewed)[:2]  # valid through 10 March
    assert d.tick(dt.date(2026, 3, 11)) == _cycle(renewed)[2:]


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(instant=st.datetimes(dt.datetime(2024, 1, 1), dt.datetime(2027, 12, 31)),
       years=st.integers(1, 20), late=st.integers(1, 40 * 86_400_000))  # fmt: skip
def test_a_future_date_never_sticks_and_its_late_copy_is_ignored(
        instant: dt.datetime, years: int, late: int) -> None:  # fmt: skip
    """Renewed on the Paris day of ``instant`` (UTC: midnight, DST, 29 February); a MOD an
    hour later dated ``years`` later (the future of its day), then, ``late`` ms after
    it, the corrected date; then the typo's MOD again (a late copy, older than the
    correction): the cycle is the renewal's, whatever the order of the days."""
    dl = Deadlines(delais=DelaiTable.from_dict({"departements": {}}))
    at = int(instant.replace(tzinfo=dt.UTC).timestamp() * 1000)
    renewed = instant.replace(tzinfo=dt.UTC).astimezone(PARIS).date()
    created = "2023-06-30"
    cre = _state("CRE", _snapshot(created), _ms(dt.date(2023, 6, 30), 10), 1)
    state, _ = dl.carry(None, cre, cre.occurred_at, None)
    ren = _state("REN", _snapshot(created, renewed=renewed.isoformat()), at, 2)
    state, _ = dl.carry(state, ren, at, None)
    typo_at = at + 3_600_000
    typo = _state("MOD", _snapshot(created, renewed=_months(renewed, 12 * years).isoformat()),
                  typo_at, 3)  # fmt: skip
    state, _ = dl.carry(state, typo, typo_at, None)
    fixed_at = typo_at + late
    fixed = _state("MOD", _snapshot(created, renewed=renewed.isoformat()), fixed_at, 4)
    state, _ = dl.carry(state, fixed, fixed_at, None)
    for _ in range(2):  # the correction, then the typo's late copy
        got = sorted((due, code) for due, code, _ in dl.thresholds(state, None))
        assert [(code, due) for due, code in got] == _cycle(renewed)
        assert decisions.cycle_start(state) == renewed
        state, _ = dl.carry(state, replace(typo, version=5), typo_at, None)


def test_a_newer_snapshot_does_not_move_a_past_renewal_date_back(
        codec: Any, geography: Any) -> None:  # fmt: skip
    """N11 kept by the O6 fix: renewed 2025-03-10 (a date not in the future of its
    event), a newer MOD carrying 2025-01-20 (after the creation, before the renewal: a
    stale copy, not a correction): the deadline stays 2026-03-10."""
    d = Demand(codec, geography)
    created, renewed = dt.date(2024, 3, 15), dt.date(2025, 3, 10)
    d.event("CRE", created)
    d.event("REN", created, renewed)
    d.event("MOD", created, dt.date(2025, 1, 20), on=dt.date(2025, 3, 20))
    assert d.tick(dt.date(2026, 3, 11)) == _cycle(renewed)


# -- N2 (the clock of a reactivated demand) ---------------------------------------------
def test_a_reactivation_past_the_deadline_starts_a_new_cycle(codec: Any, geography: Any) -> None:
    """The audit's N2 scenario (clock part): created 2023-01-10, its notices sent,
    radiated RADREN-like on 2024-02-10, reactivated (empty motive: a MOD) on 2024-06-30:
    valid 12 months again from that day, its notices sent on their days."""
    d = Demand(codec, geography)
    created, back = dt.date(2023, 1, 10), dt.date(2024, 6, 30)
    d.event("CRE", created)
    assert d.tick(dt.date(2024, 1, 11)) == _cycle(created)
    d.event("RAD", created, on=dt.date(2024, 2, 10))
    d.event("MOD", created, on=back)
    assert d.tick(dt.date(2025, 7, 1)) == _cycle(back)
    assert not [t for t in d.state().notices_sent if t.startswith("2024-01-10:")]


def test_a_reactivation_before_the_deadline_keeps_the_cycle(codec: Any, geography: Any) -> None:
    """Radiated and reactivated within its cycle (29 Feb 2024, deadline 28 Feb 2025):
    the cycle stays, its notices already sent are not sent again."""
    d = Demand(codec, geography)
    created = dt.date(2024, 2, 29)
    d.event("CRE", created)
    assert d.tick(dt.date(2024, 12, 28)) == _cycle(created)[:1]
    d.event("RAD", created, on=dt.date(2025, 1, 5))
    d.event("MOD", created, on=dt.date(2025, 2, 28))  # its last valid day
    assert d.tick(dt.date(2025, 3, 1)) == _cycle(created)[1:]


# -- N8 --------------------------------------------------------------------------------
@pytest.fixture
def with_76() -> Deadlines:
    """A délai table that knows département 76: 24 months (this test's own value)."""
    return Deadlines(delais=DelaiTable.from_dict({"version": "test", "departements": {
        "76": {"status": "known", "months": 24, "source": "arrêté (test)",
               "date": "2020-01-01"}}}))  # fmt: skip


def _delai(dl: Deadlines, state: DemandeState, geography: Any) -> list[int]:
    return [due for due, code, _ in dl.thresholds(state, geography) if code == DELAI]


def test_an_sne_false_is_not_carried_to_a_snapshot_without_the_indicator(
        with_76: Deadlines, geography: Any) -> None:  # fmt: skip
    """Created 2024-02-29 with the SNE's ``false`` (young demand), then a MOD without the
    indicator: the flag is unknown again and the hub's crossing (24 months: 28 Feb 2026,
    00:00 Paris) is scheduled."""
    dl, at = with_76, _ms(dt.date(2024, 2, 29), 10)
    cre, _ = dl.carry(None, _state("CRE", _snapshot("2024-02-29", False), at, 1), at, geography)
    assert (cre.delai_anormalement_long, cre.delai_source) == (False, "sne")
    assert _delai(dl, cre, geography) == []
    at = _ms(dt.date(2024, 6, 1), 10)
    mod, _ = dl.carry(cre, _state("MOD", _snapshot("2024-02-29"), at, 2), at, geography)
    assert (mod.delai_anormalement_long, mod.delai_source) == (None, None)
    assert _delai(dl, mod, geography) == [_ms(dt.date(2026, 2, 28))]


@pytest.mark.parametrize("source", ["sne", "hub"])
def test_a_true_is_carried(with_76: Deadlines, geography: Any, source: str) -> None:
    dl, at = with_76, _ms(dt.date(2026, 5, 31), 10)
    prior = _state("MOD", _snapshot("2024-02-29"), at, 3)
    prior = replace(prior, delai_anormalement_long=True, delai_source=source)
    at = _ms(dt.date(2026, 6, 30), 10)
    mod, _ = dl.carry(prior, _state("MOD", _snapshot("2024-02-29"), at, 4), at, geography)
    assert (mod.delai_anormalement_long, mod.delai_source) == (True, source)
    assert _delai(dl, mod, geography) == []


# -- N6 --------------------------------------------------------------------------------
@pytest.fixture
def scored(codec: Any, geography: Any) -> Any:
    scoring = Scoring()
    cotation.install(scoring)
    index = TerritoryIndex(geography, [_actor("rouen", communes=[ROUEN]),
                                       _actor("havre", communes=[LE_HAVRE]),
                                       _actor("metropole", epcis=[METROPOLE])])  # fmt: skip
    sender = MemorySender()
    proc = Processor(index, codec, MemoryStore(), sender, deadlines=Deadlines(scoring=scoring))
    yield proc, sender
    cotation.install(None)


def _scored_feed(codec: Any, sender: MemorySender) -> list[tuple[str, str, dt.date, int]]:
    out = []
    for _, v in sender.sent[topics.feed_topic("metropole")]:
        r = codec.decode_as(v, "FeedRecord")
        for c in r["cotations"]:
            out.append((r["kind"], r["reason"] or "",
                        dt.date.fromisoformat(c["dateReference"]), c["total"]))  # fmt: skip
    return out


def _divorce(num: str, created: dt.date, at: int, op: str = "CRE") -> dict[str, Any]:
    """A demand in the Métropole, motive 11 (divorce, 20 points under the Rouen grid), the
    applicant aged 40: 20 points, 40 from 18 months of seniority."""
    ev = _event(num, DARNETAL, op, created=created.isoformat(), occurred_at=at)
    ev["demande"]["demandeLogement"]["principauxMotifDemande"] = {"motifDemande": ["11"]}
    return ev


def test_late_notices_carry_the_score_of_the_record_sent_before_them(
        codec: Any, scored: Any) -> None:  # fmt: skip
    """The audit's N6 scenario: created 2024-01-10, first seen 2025-12-01 (18 months
    reached 2024-07-10): the DEMANDE scores 40 on 2025-12-01; the three late notices that
    follow it (due 2024-11-10, 2024-12-10, 2025-01-11) score 40 on 2025-12-01 too, their
    ``occurredAt`` still their due times."""
    proc, sender = scored
    num, first = new_num_unique(), _ms(dt.date(2025, 12, 1), 10)
    asyncio.run(proc.process([_ev_rec(codec, _divorce(num, dt.date(2024, 1, 10), first))]))
    asyncio.run(proc.process(_ticks(codec, proc, first + 3_600_000)))
    seen = dt.date(2025, 12, 1)
    assert _scored_feed(codec, sender) == [
        ("DEMANDE", "", seen, 40),
        ("AVIS", M2, seen, 40),
        ("AVIS", M1, seen, 40),
        ("AVIS", ECH, seen, 40),
    ]
    due = [r["occurredAt"] for r in _avis(codec, sender, "metropole")]
    assert due == [t for _, t in _cycle(dt.date(2024, 1, 10))]


def test_a_late_notice_counts_the_declarations_its_demand_record_counted(
        codec: Any, geography: Any) -> None:  # fmt: skip
    """The same backdated demand, a declaration (REPRISE_ACTIVITE, 40 points) recorded on
    2025-11-15, before the demand was first seen: the DEMANDE scores 80, and so do the
    late notices (their due times are before the declaration)."""
    recorded = _ms(dt.date(2025, 11, 15), 10)

    def declared(n: str, epci: str, cutoff: int, *_: Any) -> dict[str, Declaration]:
        return {"REPRISE_ACTIVITE": Declaration("REPRISE_ACTIVITE", True, "rouen-habitat",
                                                dt.date(2025, 11, 15))} \
            if epci == METROPOLE and cutoff >= recorded else {}  # fmt: skip

    scoring = Scoring(declarations=declared)
    cotation.install(scoring)
    try:
        index = TerritoryIndex(geography, [_actor("metropole", epcis=[METROPOLE])])
        sender = MemorySender()
        proc = Processor(index, codec, MemoryStore(), sender,
                         deadlines=Deadlines(scoring=scoring))  # fmt: skip
        num, first = new_num_unique(), _ms(dt.date(2025, 12, 1), 10)
        asyncio.run(proc.process([_ev_rec(codec, _divorce(num, dt.date(2024, 1, 10), first))]))
        asyncio.run(proc.process(_ticks(codec, proc, first + 3_600_000)))
    finally:
        cotation.install(None)
    assert [total for *_, total in _scored_feed(codec, sender)] == [80, 80, 80, 80]


Plan = list[tuple[int, str]]


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(created=st.dates(dt.date(2023, 1, 1), dt.date(2025, 12, 31)),
       plan=st.lists(st.tuples(st.integers(-400, 200), st.sampled_from(["MOD", "tick"])),
                     min_size=1, max_size=10))  # fmt: skip
def test_reference_days_never_go_back(codec: Any, geography: Any, created: dt.date,
                                      plan: Plan) -> None:  # fmt: skip
    """Events with any ``occurredAt`` (late ones included: a backlog, a late SNE event) and
    ticks moving forward: the reference days of the demand's records, in the order sent,
    never decrease."""
    scoring = Scoring()
    cotation.install(scoring)
    try:
        index = TerritoryIndex(geography, [_actor("metropole", epcis=[METROPOLE])])
        sender = MemorySender()
        proc = Processor(index, codec, MemoryStore(), sender,
                         deadlines=Deadlines(scoring=scoring))  # fmt: skip
        num, now = new_num_unique(), _ms(created, 10)
        asyncio.run(proc.process([_ev_rec(codec, _divorce(num, created, now))]))
        for days, what in plan:
            if what == "tick":
                now += abs(days) * 86_400_000
                asyncio.run(proc.process(_ticks(codec, proc, now)))
            else:  # an event that occurred ``days`` from the clock's now
                at = now + days * 86_400_000
                asyncio.run(proc.process([_ev_rec(codec, _divorce(num, created, at, "MOD"))]))
        days_sent = [day for _, _, day, _ in _scored_feed(codec, sender)]
        assert days_sent == sorted(days_sent)
    finally:
        cotation.install(None)
