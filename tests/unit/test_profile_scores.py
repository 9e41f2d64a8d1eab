"""Independent audit E1: a feed record's score (``cotations``) and ``changedFields`` are
cut to the receiving actor's profile (docs/profiles.md, "Scores and changed fields").
consultant_simple and consultant_demande never receive a declared criterion whose truth
tells a sensitive fact (rape or sexual assault at home, prostitution, trafficking, a
therapeutic flat, a disability, child-welfare care) nor who declared it, and their total
does not count it; consultant_sensible receives everything. In every record kind carrying
the score (DEMANDE, COPIE of a re-dispatch, AVIS of the clock) and every channel.
Expected sets come from the page's tables (tests/support/profile_scores.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from dispatch import cotation
from dispatch.cotation import Scoring
from dispatch.deadlines import Deadlines
from dispatch.ports import InputRecord
from dispatch.processor import Processor
from hub.core import topics
from hub.domain.actors import Actor, ActorFilters
from hub.domain.cotation import shipped_grids
from hub.domain.matching import TerritoryIndex
from hub.domain.profiles import PROFILES as CODE_PROFILES
from tests.support.demandes import demande_event, new_num_unique
from tests.support.memory import MemorySender, MemoryStore
from tests.support.profile_scores import (
    CUT_PROFILES,
    METROPOLE,
    PROFILES,
    ROUEN,
    SENSIBLE,
    allowed_criteria,
    auteur,
    check_record,
    criteria_table,
    declared_codes,
    dispatcher,
    port,
    sent,
)

SENSITIVE_FACTS = {"VIOL_AGRESSION_DOMICILE", "SORTIE_PROSTITUTION", "TRAITE_PROXENETISME",
                   "SORTIE_ACT", "LOGEMENT_INADAPTE_HANDICAP"}  # fmt: skip
_offsets = itertools.count(1)


@pytest.fixture
def installed() -> Iterator[None]:
    yield
    cotation.install(None)


def _rec(codec: Any, name: str, body: dict[str, Any], key: bytes) -> InputRecord:
    return InputRecord(topics.DEMANDES, 0, next(_offsets), key, codec.encode(name, body))


def _event(num: str, *, operation: str = "CRE", changed: list[str] | None = None,
           occurred_at: int | None = None) -> dict[str, Any]:  # fmt: skip
    ev = demande_event(num, [ROUEN], operation=operation, handicap=True,
                       occurred_at=occurred_at)  # fmt: skip
    ev["demande"]["demandeLogement"]["principauxMotifDemande"] = {"motifDemande": ["07", "11"]}
    ev["changedFields"] = changed or []
    return ev


def _scored(codec: Any, data: bytes) -> dict[str, Any]:
    (cot,) = codec.decode_as(data, "FeedRecord")["cotations"]
    return dict(cot)


def test_the_page_classifies_every_criterion_of_the_shipped_grid() -> None:
    grid = shipped_grids().en_vigueur(METROPOLE, dt.date(2026, 1, 1))
    assert grid is not None
    table = criteria_table()
    assert {c.code: ("declared" if c.declare else "computed") for c in grid.criteres} == {
        code: source for code, (source, _) in table.items()
    }
    assert set(table) - allowed_criteria("consultant_simple") >= SENSITIVE_FACTS
    assert set(PROFILES) == set(CODE_PROFILES)


def test_e1_declared_sensitive_criteria_reach_only_consultant_sensible(
        codec: Any, geography: Any, installed: Any) -> None:  # fmt: skip
    """The audit's repro: every declared criterion declared true by a partner."""
    scoring = Scoring(declarations=port({c: True for c in declared_codes()}))
    cotation.install(scoring)
    proc, sender = dispatcher(codec, geography, scoring)
    num = new_num_unique()
    asyncio.run(proc.process([_rec(codec, "DemandeEvent", _event(num), num.encode())]))
    got = {p: check_record(codec, p, *sent(sender, p), []) for p in PROFILES}
    full = _scored(codec, *sent(sender, SENSIBLE))
    assert {c["code"] for c in full["criteres"]} >= set(declared_codes())  # positive control
    assert {c["declarePar"] for c in full["criteres"]} >= {auteur(c) for c in SENSITIVE_FACTS}
    for profile in CUT_PROFILES:
        assert got[profile]["demande"]["demandeLogement"]["listeHandicap"] is None
        cut = _scored(codec, *sent(sender, profile))
        codes = {c["code"] for c in cut["criteres"]}
        assert codes == {c["code"] for c in full["criteres"]} & allowed_criteria(profile)
        assert not codes & SENSITIVE_FACTS, (profile, sorted(codes & SENSITIVE_FACTS))
        hidden = sum(c["points"] for c in full["criteres"] if c["code"] not in codes)
        assert cut["total"] == full["total"] - hidden and hidden >= 5 * 20
        assert (cut["maximum"], cut["horsCotation"]) == (full["maximum"], False)


def test_hors_cotation_keeps_its_total_and_loses_the_detail(
        codec: Any, geography: Any, installed: Any) -> None:  # fmt: skip
    scoring = Scoring(declarations=port({"SORTIE_ACT": True}))
    cotation.install(scoring)
    proc, sender = dispatcher(codec, geography, scoring)
    num = new_num_unique()
    ev = _event(num)
    ev["demande"]["informationDalo"] = {"statutDalo": "ACTIF"}
    asyncio.run(proc.process([_rec(codec, "DemandeEvent", ev, num.encode())]))
    for profile in PROFILES:
        check_record(codec, profile, *sent(sender, profile), [])
        cot = _scored(codec, *sent(sender, profile))
        assert (cot["total"], cot["horsCotation"]) == (1000, True)
        assert ("SORTIE_ACT" in {c["code"] for c in cot["criteres"]}) == (profile == SENSIBLE)


def test_changed_fields_of_a_withheld_section_are_cut(codec: Any, geography: Any,
                                                     installed: Any) -> None:  # fmt: skip
    """The audit's suspicion: a MOD naming the disability list, the motives' free texts or
    the document index tells consultant_simple nothing of them (nor the XML flags)."""
    cotation.install(None)
    proc, sender = dispatcher(codec, geography, Scoring())
    num = new_num_unique()
    changed = ["demandeLogement.listeHandicap", "demandeLogement.principauxMotifDemande",
               "demandeLogement.principauxMotifDemande.compAutreMotif",
               "demandeLogement/listeHandicap[0]/besoinParticulier", "piecesJustificatives",
               "demandeLogement.principauxMotifDemande.motifDemande",
               "demandeLogement.logementRecherche.listeTypeLogement"]  # fmt: skip
    events = [_event(num), _event(num, operation="MOD", changed=changed)]
    asyncio.run(proc.process([_rec(codec, "DemandeEvent", e, num.encode()) for e in events]))
    for profile in PROFILES:
        _, mod = sent(sender, profile)
        rec = check_record(codec, profile, mod, changed)
        if profile == SENSIBLE:
            assert rec["changedFields"] == changed
        else:
            assert rec["changedFields"] == changed[-2:]


def test_copies_of_a_redispatch_and_clock_notices_are_cut(codec: Any, geography: Any,
                                                         installed: Any) -> None:  # fmt: skip
    """COPIE (an actor added over a demand already there) and AVIS (the cotation clock,
    the renewal notices) carry the same cut."""
    scoring = Scoring(declarations=port({c: True for c in declared_codes()}))
    cotation.install(scoring)
    sender = MemorySender()
    proc = Processor(TerritoryIndex(geography), codec, MemoryStore(1), sender,
                     deadlines=Deadlines(scoring=scoring))  # fmt: skip
    num = new_num_unique()
    created = int(dt.datetime(2025, 12, 1, 12, tzinfo=dt.UTC).timestamp() * 1000)
    recs = [_rec(codec, "DemandeEvent", _event(num, occurred_at=created), num.encode())]
    for p in PROFILES:  # registered after the demand: a re-dispatch copies it to them
        reg = Actor(id=p, name=p, kind="bailleur", version=1, profile=p,  # type: ignore[arg-type]
                    filters=ActorFilters(communes=[ROUEN])).to_avro(deleted=False)  # fmt: skip
        recs.append(
            _rec(
                codec,
                "DispatchControl",
                {"controlId": str(uuid.uuid4()), "issuedAt": 0, "actor": reg},
                p.encode(),
            )
        )
    asyncio.run(proc.process(recs))
    far = int(dt.datetime(2040, 1, 1, tzinfo=dt.UTC).timestamp() * 1000)
    tick = {"tickId": str(uuid.uuid4()), "partition": 0, "now": far}
    asyncio.run(proc.process([_rec(codec, "DispatchTick", tick, proc.partition_key(0))]))
    for profile in PROFILES:
        records = [check_record(codec, profile, v, []) for v in sent(sender, profile)]
        kinds = {(r["kind"], r["reason"]) for r in records}
        assert "COPIE" in {k for k, _ in kinds} and ("AVIS", "cotation") in kinds, kinds
        assert all(r["cotations"] for r in records if r["kind"] in ("COPIE", "AVIS"))
        met = {c["code"] for r in records for c in r["cotations"][0]["criteres"]}
        assert bool(met & SENSITIVE_FACTS) == (profile == SENSIBLE), profile


def test_the_checks_fail_on_a_leaking_cut(codec: Any, geography: Any, installed: Any,
                                          monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """Non-vacuity: with no score cut, or no changedFields cut, the checks above fail."""
    for name, test in (
        ("cut_cotations", test_e1_declared_sensitive_criteria_reach_only_consultant_sensible),
        ("visible_changes", test_changed_fields_of_a_withheld_section_are_cut),
    ):
        with monkeypatch.context() as m:
            m.setattr(f"dispatch.feed.{name}", lambda value, *a: value)
            with pytest.raises(AssertionError):
                test(codec, geography, None)


def test_the_cut_fails_closed() -> None:
    """A declared criterion the page does not list (a new grid's), a score whose grid is
    unknown, an unknown profile: withheld, dropped, refused."""
    import yaml

    from hub.domain.cotation import Declaration, Grilles, score
    from hub.domain.cotation.grid import GRIDS_DIR, Grille
    from hub.domain.profiles_cotation import cut_cotations, cut_score, withheld_codes

    data = yaml.safe_load((GRIDS_DIR / f"{METROPOLE}-1.yaml").read_text("utf-8"))
    data["criteres"].append({"code": "NOUVEAU", "libelle": "x", "categorie": "local",
                             "points": 20, "regle": {"type": "declaration"}})  # fmt: skip
    grid = Grille.model_validate(data)
    assert "NOUVEAU" in withheld_codes(grid)
    assert withheld_codes(grid) - {"NOUVEAU"} == set(criteria_table()) - allowed_criteria(
        "consultant_simple"
    )  # the code agrees with the page
    cot = {
        "epci": METROPOLE,
        "versionGrille": "9",
        "dateReference": "2026-01-01",
        "total": 20,
        "horsCotation": False,
        "maximum": 880,
        "criteres": [{"code": "NOUVEAU", "statut": "rempli", "points": 20, "declarePar": "p"}],
    }
    assert cut_cotations([cot], "consultant_simple", Grilles([grid])) == []  # version 9: unknown
    assert cut_cotations([cot], SENSIBLE, Grilles([grid])) == [cot]
    with pytest.raises(ValueError):
        cut_cotations([cot], "admin", Grilles([grid]))
    declared = {"NOUVEAU": Declaration("NOUVEAU", True, "p", dt.date(2026, 1, 1))}
    full = score({}, grid, declared, dt.date(2026, 1, 1))
    assert full.total == 20 and cut_score(full, grid, SENSIBLE) is full
    cut = cut_score(full, grid, "consultant_demande")
    assert cut.total == 0 and "NOUVEAU" not in {d.code for d in cut.detail}
