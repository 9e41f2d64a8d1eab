"""Issue 20 points 1-3 in memory: the délai flag and the score in feed records, and the
cotation clock (dispatch/cotation.py, dispatch/deadlines.py, dispatch/feed.py).

Expected scores come from docs/cotation.md (the worked example's table, parsed from the
page) and from this file's own reading of the Rouen grid's points (docs/cotation.md's
criterion table: motive 11 gives 20, under 30 gives 20, 18 months give 20) with this
file's own month arithmetic — never from dispatch.cotation or the engine.
"""

from __future__ import annotations

import asyncio
import calendar
import datetime as dt
import json
import re
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from dispatch import cotation
from dispatch.cotation import Scoring
from dispatch.deadlines import Deadlines
from dispatch.processor import Processor
from hub.core import topics
from hub.domain.cotation import Declaration, SeuilsQuartiles
from hub.domain.matching import TerritoryIndex
from tests.support.demandes import demande_event, new_num_unique
from tests.support.memory import MemorySender, MemoryStore
from tests.unit.test_clock import LE_HAVRE, ROUEN, _actor, _ev_rec, _ticks

PAGE = Path(__file__).resolve().parents[2] / "docs" / "cotation.md"
PARIS = ZoneInfo("Europe/Paris")
DARNETAL = "76212"
METROPOLE = "200023414"


def _ms(day: dt.date, hour: int = 0) -> int:
    return int(dt.datetime(day.year, day.month, day.day, hour, tzinfo=PARIS).timestamp() * 1000)


def _plus_months(day: dt.date, months: int) -> dt.date:
    y, m = divmod(day.year * 12 + day.month - 1 + months, 12)
    return dt.date(y, m + 1, min(day.day, calendar.monthrange(y, m + 1)[1]))


@pytest.fixture
def installed() -> Iterator[None]:
    """No scoring installed after the test (``_processor`` installs one)."""
    yield
    cotation.install(None)


def _processor(
    codec: Any, geography: Any, scoring: Scoring | None
) -> tuple[Processor, MemorySender]:
    cotation.install(scoring)
    index = TerritoryIndex(geography, [_actor("rouen", communes=[ROUEN]),
                                       _actor("havre", communes=[LE_HAVRE]),
                                       _actor("dep", departements=["76"]),
                                       _actor("metropole", epcis=[METROPOLE])])  # fmt: skip
    sender = MemorySender()
    proc = Processor(index, codec, MemoryStore(), sender, deadlines=Deadlines(scoring=scoring))
    return proc, sender


def _feed(codec: Any, sender: MemorySender, actor: str) -> list[dict[str, Any]]:
    return [codec.decode_as(v, "FeedRecord") for _, v in sender.sent[topics.feed_topic(actor)]]


def _page_example() -> tuple[dict[str, Any], dict[str, tuple[str, int]], int]:
    text = PAGE.read_text("utf-8")
    snap = text[text.index("<!-- cotation-example:snapshot -->") :]
    block = re.search(r"```json\n(.*?)\n```", snap, re.S)
    detail = text[text.index("<!-- cotation-example:detail -->") :]
    rows = re.findall(r"^\| `([A-Z0-9_]+)` \| (\w+)[^|]* \| (\d+) \|$", detail, re.M)
    total = re.search(r"^\| \*\*total\*\* \| \| \*\*(\d+)\*\* \|$", detail, re.M)
    assert block is not None and rows and total is not None
    return json.loads(block.group(1)), {c: (s, int(p)) for c, s, p in rows}, int(total[1])


def _with_page_snapshot(ev: dict[str, Any], page: dict[str, Any]) -> dict[str, Any]:
    """The event's snapshot with the page's applicant, household, motives and dates."""
    dl, src = ev["demande"]["demandeLogement"], page["demandeLogement"]
    dl["dateCreationDemande"] = src["dateCreationDemande"]
    dl["principauxMotifDemande"] = src["principauxMotifDemande"]
    pp, spp = dl["personnePhysique"], src["personnePhysique"]
    pp["demandeur"].update(spp["demandeur"])
    pp["listePersonneACharge"] = spp["listePersonneACharge"]
    pp["logementActuel"] = spp["logementActuel"]
    return ev


def test_the_pages_example_reaches_the_feed_with_its_detail(codec: Any, geography: Any,
                                                            installed: Any) -> None:  # fmt: skip
    page, rows, total = _page_example()
    num = new_num_unique()

    def declared(n: str, epci: str, cutoff: int, *_: Any) -> Mapping[str, Declaration]:
        # recorded on 2025-08-20 (the page), before the event's occurredAt
        ok = (n, epci) == (num, METROPOLE) and cutoff >= _ms(dt.date(2025, 8, 20), 10)
        return {"REPRISE_ACTIVITE": Declaration("REPRISE_ACTIVITE", True, "rouen-habitat",
                                                dt.date(2025, 8, 20))} if ok else {}  # fmt: skip

    scoring = Scoring(declarations=declared, seuils=lambda e: SeuilsQuartiles(900, 1200))
    proc, sender = _processor(codec, geography, scoring)
    ev = _with_page_snapshot(
        demande_event(num, [DARNETAL, LE_HAVRE], occurred_at=_ms(dt.date(2025, 9, 1), 12)), page
    )
    asyncio.run(proc.process([_ev_rec(codec, ev)]))
    (havre,) = _feed(codec, sender, "havre")  # a recipient covering no Métropole commune
    assert havre["cotations"] == [] and havre["demande"] is not None
    for actor in ("dep", "metropole"):  # those covering it (docs/cotation.md)
        (rec,) = _feed(codec, sender, actor)
        (cot,) = rec["cotations"]
        assert (cot["epci"], cot["versionGrille"], cot["dateReference"]) == (
            METROPOLE,
            "1",
            "2025-09-01",
        )
        assert cot["total"] == total == 180 and not cot["horsCotation"]
        assert cot["maximum"] == 16 * 40 + 11 * 20
        assert {c["code"]: (c["statut"], c["points"]) for c in cot["criteres"]} == rows
        assert [c["declarePar"] for c in cot["criteres"] if c["code"] == "REPRISE_ACTIVITE"] == [
            "rouen-habitat"
        ]
    # the page's feed excerpt, as the page prints it
    excerpt = PAGE.read_text("utf-8").split("### The example in the feed and over time")[1]
    block = re.search(r'```json\n"cotations": (.*?)\n```', excerpt, re.S)
    assert block is not None
    assert _feed(codec, sender, "dep")[0]["cotations"] == json.loads(block[1])
    # and over time: a tick in 2058 sends the page's table, to the Métropole's actors only
    asyncio.run(proc.process(_ticks(codec, proc, _ms(dt.date(2058, 1, 1)))))
    table = re.findall(
        r"^\| (\d{4}-\d\d-\d\d) \| [^|]+ \| (\d+) \|$",
        excerpt[excerpt.index("<!-- cotation-example:clock -->") :],
        re.M,
    )
    assert len(table) == 4
    for actor in ("dep", "metropole"):
        got = [
            (r["cotations"][0]["dateReference"], r["cotations"][0]["total"], r["occurredAt"])
            for r in _feed(codec, sender, actor)
            if r["reason"] == "cotation"
        ]
        assert got == [(day, int(t), _ms(dt.date.fromisoformat(day))) for day, t in table]
    assert not [r for r in _feed(codec, sender, "havre") if r["reason"] == "cotation"]
    # without a scoring: no cotations, the rest unchanged
    proc, sender = _processor(codec, geography, None)
    asyncio.run(proc.process([_ev_rec(codec, {**ev, "eventId": str(uuid.uuid4())})]))
    assert _feed(codec, sender, "dep")[0]["cotations"] == []


def test_a_dalo_demand_is_hors_cotation_in_the_feed(codec: Any, geography: Any,
                                                    installed: Any) -> None:  # fmt: skip
    proc, sender = _processor(codec, geography, Scoring())
    ev = demande_event(new_num_unique(), [DARNETAL])
    ev["demande"]["informationDalo"] = {"statutDalo": "ACTIF"}
    asyncio.run(proc.process([_ev_rec(codec, ev)]))
    (cot,) = _feed(codec, sender, "dep")[0]["cotations"]
    assert (cot["total"], cot["horsCotation"]) == (1000, True)


def test_the_delai_flag_travels_in_records_carrying_the_demand(codec: Any, geography: Any,
                                                               installed: Any) -> None:  # fmt: skip
    proc, sender = _processor(codec, geography, Scoring())
    num = new_num_unique()
    first = demande_event(num, [ROUEN])
    flagged = demande_event(num, [ROUEN], operation="MOD")
    flagged["demande"]["demandeLogement"]["informationTraitement"] = {
        "estDelaiAnormalementLong": True
    }
    moved = demande_event(num, [LE_HAVRE], operation="MOD")  # Rouen's actor loses it
    moved["demande"]["demandeLogement"]["informationTraitement"] = {
        "estDelaiAnormalementLong": True
    }
    asyncio.run(proc.process([_ev_rec(codec, e) for e in (first, flagged, moved)]))
    got = [
        (r["kind"], r["delaiAnormalementLong"], r["delaiAnormalementLongSource"])
        for r in _feed(codec, sender, "rouen")
    ]
    assert got == [("DEMANDE", None, None), ("DEMANDE", True, "sne"), ("RETRAIT", None, None)]
    assert [r["delaiAnormalementLong"] for r in _feed(codec, sender, "havre")] == [True]
    # a withdrawal carries no score either (no data about the demand)
    assert _feed(codec, sender, "rouen")[2]["cotations"] == []


def _total(created: dt.date, born: dt.date, day: dt.date) -> int:
    """This file's reading of the Rouen grid for the demands below: divorce (20), under
    30 (20), 18 months of seniority (20); nothing else is met (no contract, no
    resources, no thresholds)."""
    thirty = _plus_months(born, 30 * 12)
    return 20 + (20 if day < thirty else 0) + (20 if _plus_months(created, 18) <= day else 0)


def _expected_changes(created: dt.date, born: dt.date, start: dt.date,
                      end: dt.date) -> list[tuple[dt.date, int]]:  # fmt: skip
    out, day, last = [], start, _total(created, born, start)
    while day < end:
        day += dt.timedelta(days=1)
        if _total(created, born, day) != last:
            last = _total(created, born, day)
            out.append((day, last))
    return out


def test_time_criteria_send_a_new_score_once_to_the_epcis_actors(
    codec: Any, geography: Any, installed: Any
) -> None:
    """Demands wishing Darnétal (Métropole) and Le Havre: the Métropole's and the
    département's actors get an AVIS ``cotation`` on each day the score changes (18
    months; turning 30), with the new total; Le Havre's actor, a recipient outside the
    Métropole, gets none. Ticks replayed or repeated send nothing more."""
    proc, sender = _processor(codec, geography, Scoring())
    cases = [
        (dt.date(2024, 3, 31), dt.date(1995, 10, 15)),  # 18 months on a 30 September
        (dt.date(2024, 8, 29), dt.date(1990, 1, 1)),  # 30 already: 18 months only
        (dt.date(2025, 5, 1), dt.date(1996, 2, 29)),
    ]  # 29 February birthday
    start, end = dt.date(2025, 6, 1), dt.date(2027, 1, 1)
    events, expected = [], {}
    for created, born in cases:
        num = new_num_unique()
        ev = demande_event(num, [DARNETAL, LE_HAVRE], occurred_at=_ms(start, 9))
        dl = ev["demande"]["demandeLogement"]
        dl["dateCreationDemande"] = created.isoformat()
        dl["personnePhysique"]["demandeur"]["dateNaissance"] = born.isoformat()
        dl["principauxMotifDemande"] = {"motifDemande": ["11"]}
        events.append(ev)
        expected[num] = [("DEMANDE", start, _total(created, born, start))] + [
            ("AVIS", d, t) for d, t in _expected_changes(created, born, start, end)
        ]
    assert all(len(v) >= 2 for v in expected.values())
    records = [_ev_rec(codec, e) for e in events]
    days = [
        dt.date(2025, 9, 1),
        dt.date(2025, 10, 16),
        dt.date(2025, 10, 16),
        dt.date(2026, 3, 1),
        end,
    ]
    for day in days:
        records += _ticks(codec, proc, _ms(day, 6))
    asyncio.run(proc.process(records))
    asyncio.run(proc.process(_ticks(codec, proc, _ms(end, 7))))  # again: nothing new
    for actor in ("metropole", "dep"):
        got: dict[str, list[tuple[str, dt.date, int]]] = {}
        ids = [(r["eventId"], r["kind"]) for r in _feed(codec, sender, actor)]
        assert len(ids) == len(set(ids))
        for r in _feed(codec, sender, actor):
            assert r["kind"] == "DEMANDE" or r["reason"] in (
                "cotation",
                "renouvellement_m-2",
                "renouvellement_m-1",
                "echeance_depassee",
            )
            if r["kind"] == "AVIS" and r["reason"] != "cotation":
                continue
            (cot,) = r["cotations"]
            day = dt.date.fromisoformat(cot["dateReference"])
            if r["kind"] == "AVIS":
                assert r["occurredAt"] == _ms(day)
            got.setdefault(r["numUnique"], []).append((r["kind"], day, cot["total"]))
        assert got == expected, actor
    assert not [r for r in _feed(codec, sender, "havre") if r["reason"] == "cotation"]


def test_next_change_ignores_demands_without_a_grid(geography: Any) -> None:
    scoring = Scoring()
    ev = demande_event(new_num_unique(), [LE_HAVRE])
    assert scoring.epcis(ev["demande"]) == []
    assert scoring.next_change(ev["demande"], dt.date(2025, 1, 1)) is None
    # a commune code the geography does not know is skipped, not an error
    ev = demande_event(new_num_unique(), ["99999", DARNETAL])
    assert scoring.epcis(ev["demande"]) == [METROPOLE]


def test_scope_is_what_an_actor_covers_and_feed_records_follow_it(geography: Any) -> None:
    """The hook the processor lacks (docs/cotation.md): an actor's EPCIs among the
    demand's — by EPCI, by a commune (an arrondissement-free commune of the Métropole),
    by département — and a feed record limited to them."""
    from dispatch.cotation import scope
    from dispatch.feed import feed_record
    from hub.domain.state import DemandeState

    scoring = Scoring()
    ev = demande_event(new_num_unique(), [LE_HAVRE, DARNETAL])
    demande = ev["demande"]
    assert scope(_actor("m", epcis=[METROPOLE]), scoring, demande) == {METROPOLE}
    assert scope(_actor("r", communes=[ROUEN]), scoring, demande) == {METROPOLE}
    assert scope(_actor("d", departements=["76"]), scoring, demande) == {METROPOLE}
    assert scope(_actor("h", communes=[LE_HAVRE]), scoring, demande) == frozenset()
    assert scope(_actor("c", departements=["14"]), scoring, demande) == frozenset()
    assert scope(None, scoring, demande) == frozenset()
    state = DemandeState(ev["numUnique"], 1, True, frozenset(), "e", "CRE",
                         _ms(dt.date(2026, 1, 5), 9), demande=demande)  # fmt: skip
    cotation.install(scoring)
    try:

        def rec(epcis: Any) -> dict[str, Any]:
            return feed_record(kind="DEMANDE", state=state, event_id="e", operation="CRE",
                               occurred_at=state.occurred_at, changed_fields=[],
                               profile="consultant_simple", reason=None, now_ms=1,
                               epcis=epcis)  # fmt: skip

        assert [c["epci"] for c in rec(None)["cotations"]] == [METROPOLE]
        assert [c["epci"] for c in rec({METROPOLE})["cotations"]] == [METROPOLE]
        assert rec(frozenset())["cotations"] == []
    finally:
        cotation.install(None)


def test_feed_bytes_never_reuses_an_encoding_across_scores_or_flags(codec: Any) -> None:
    """Encode-once fan-out (dispatch.feedbytes) reuses an encoding for another profile
    only when issue 20's fields are the same too: records differing by their score or
    délai flag each decode to themselves."""
    from dispatch.feedbytes import FeedBytes

    num = new_num_unique()
    base = {"kind": "DEMANDE", "eventId": "e", "numUnique": num, "operation": "CRE",
            "demandeVersion": 1, "occurredAt": 1, "dispatchedAt": 2,
            "profile": "consultant_simple", "reason": None, "changedFields": [],
            "delaiAnormalementLong": None, "delaiAnormalementLongSource": None,
            "cotations": [], "demande": demande_event(num, [DARNETAL])["demande"],
            "evenement": None}  # fmt: skip
    scored = {**base, "profile": "consultant_demande", "cotations": [
        {"epci": METROPOLE, "versionGrille": "1", "dateReference": "2026-01-05", "total": 20,
         "horsCotation": False, "maximum": 860, "criteres": []}]}  # fmt: skip
    flagged = {**base, "profile": "consultant_sensible", "delaiAnormalementLong": True,
               "delaiAnormalementLongSource": "sne"}  # fmt: skip
    fb = FeedBytes(codec)
    for rec in (base, scored, flagged):
        got = codec.decode_as(fb.encode(rec), "FeedRecord")
        assert {k: got[k] for k in rec if k != "demande"} == {
            k: v for k, v in rec.items() if k != "demande"
        }


def test_the_hubs_own_crossing_reaches_the_feed_with_its_source(codec: Any, geography: Any) -> None:
    """With a département whose délai is known (a test table, 18 months for 76): the
    AVIS of the crossing already carries ``true``/``hub``, and so do the demand's next
    records; a demand the SNE flagged carries ``sne`` and gets no hub notice."""
    from hub.domain.delais import DelaiTable

    table = DelaiTable.from_dict({"version": "test", "departements": {"76": {
        "status": "known", "months": 18, "source": "test fixture, not a real arrêté",
        "date": "2026-01-01"}}})  # fmt: skip
    index = TerritoryIndex(geography, [_actor("rouen", communes=[ROUEN])])
    sender = MemorySender()
    proc = Processor(index, codec, MemoryStore(), sender, deadlines=Deadlines((2, 1, 0), table))
    hub_num, sne_num = new_num_unique(), new_num_unique()
    events = []
    for num, dal in ((hub_num, None), (sne_num, True)):
        ev = demande_event(num, [ROUEN], operation="REN", occurred_at=_ms(dt.date(2026, 1, 10)))
        dl = ev["demande"]["demandeLogement"]
        dl["dateCreationDemande"] = "2025-01-15"  # 18 months: 15 July 2026
        dl["renouvellement"] = {"dateRenouvellement": "2026-01-10"}
        if dal is not None:
            dl["informationTraitement"] = {"estDelaiAnormalementLong": dal}
        events.append(ev)
    asyncio.run(proc.process([_ev_rec(codec, e) for e in events]))
    asyncio.run(proc.process(_ticks(codec, proc, _ms(dt.date(2026, 7, 16)))))
    later = demande_event(hub_num, [ROUEN], operation="MOD", occurred_at=_ms(dt.date(2026, 8, 1)))
    later["demande"]["demandeLogement"]["dateCreationDemande"] = "2025-01-15"
    later["demande"]["demandeLogement"]["renouvellement"] = {"dateRenouvellement": "2026-01-10"}
    asyncio.run(proc.process([_ev_rec(codec, later)]))
    got = [(r["numUnique"], r["kind"], r["reason"], r["delaiAnormalementLong"],
            r["delaiAnormalementLongSource"]) for r in _feed(codec, sender, "rouen")]  # fmt: skip
    assert got == [(hub_num, "DEMANDE", None, None, None),
                   (sne_num, "DEMANDE", None, True, "sne"),
                   (hub_num, "AVIS", "delai_anormalement_long", True, "hub"),
                   (hub_num, "DEMANDE", None, True, "hub")]  # fmt: skip


def test_states_stored_before_the_clock_get_their_entries_at_the_first_tick(
    codec: Any, geography: Any, installed: None
) -> None:
    """States written by a worker without a scoring have no cotation entry: the first
    tick of a worker with one runs the upgrade pass again (marker generation 2) and
    sends what is due, once."""
    from dispatch.deadlines import marker

    store = MemoryStore()
    index = TerritoryIndex(geography, [_actor("metropole", epcis=[METROPOLE])])
    before = Processor(index, codec, store, MemorySender(), deadlines=Deadlines())
    num = new_num_unique()
    ev = demande_event(num, [DARNETAL], occurred_at=_ms(dt.date(2025, 6, 1), 9))
    dl = ev["demande"]["demandeLogement"]
    dl["dateCreationDemande"] = "2024-03-31"
    dl["personnePhysique"]["demandeur"]["dateNaissance"] = "1995-10-15"
    dl["principauxMotifDemande"] = {"motifDemande": ["11"]}
    asyncio.run(before.process([_ev_rec(codec, ev)]))
    # that worker's own upgrade pass is complete (its marker written)
    asyncio.run(before.process(_ticks(codec, before, _ms(dt.date(2025, 6, 2)))))
    assert all(store.get(marker(p), p) == b"1" for p in range(4))
    assert not [k for (_, k) in store.own if k.startswith(b"\x00d:") and b"cotation" in k]
    scoring = Scoring()
    cotation.install(scoring)
    sender = MemorySender()
    after = Processor(index, codec, store, sender, deadlines=Deadlines(scoring=scoring))
    for _ in range(2):
        asyncio.run(after.process(_ticks(codec, after, _ms(dt.date(2025, 10, 16), 6))))
    got = [(r["cotations"][0]["dateReference"], r["cotations"][0]["total"])
           for r in _feed(codec, sender, "metropole") if r["reason"] == "cotation"]  # fmt: skip
    # 18 months on 2025-09-30 (+20), 30 years on 2025-10-15 (-20): docs/cotation.md's points
    assert got == [("2025-09-30", 60), ("2025-10-15", 40)]
    assert all(store.get(marker(p, 2), p) == b"1" for p in range(4))
