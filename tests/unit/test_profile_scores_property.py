"""Property (independent audit E1): over declared criteria (met, withdrawn or never
declared) × motives × DALO status × changed-field paths, no record the dispatcher sends
to an actor of any profile — DEMANDE of a creation and of a modification, on Kafka, the
API feed, the webhook, the DIS file and the SOAP push — holds a criterion, a declarer, a
total or a changed field outside what docs/profiles.md allows that profile; and
consultant_sensible receives every declared criterion met (positive control)."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatch import cotation
from dispatch.cotation import Scoring
from tests.support.demandes import demande_event, new_num_unique
from tests.support.profile_scores import (
    PROFILES,
    ROUEN,
    SENSIBLE,
    auteur,
    check_record,
    declared_codes,
    dispatcher,
    port,
    sent,
)
from tests.unit.test_clock import _ev_rec

#: changed-field paths: the page's roots, below and above them, other spellings of them,
#: a neighbour that only starts like one, and fields every profile receives
PATHS = (
    "demandeLogement.listeHandicap",
    "demandeLogement.listeHandicap.handicap",
    "demandeLogement.listeHandicap[0].besoinParticulier",
    "demandeLogement/listeHandicap",
    "DemandeLogement.ListeHandicap",
    "demandeLogement.listeHandicapX",
    "demandeLogement.principauxMotifDemande",
    "demandeLogement.principauxMotifDemande.compAutreMotif",
    "demandeLogement.principauxMotifDemande.compDateJugement",
    "demandeLogement.principauxMotifDemande.motifDemande",
    "demandeLogement",
    "piecesJustificatives",
    "piecesJustificatives.2.reference",
    "demandeLogement.logementRecherche.listeLocalisationSouhaite",
    "demandeLogement.logementRecherche.listeTypeLogement",
    "demandeLogement.personnePhysique.demandeur.telPortable",
    "informationDalo",
)


@st.composite
def cases(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "declared": draw(st.dictionaries(st.sampled_from(declared_codes()), st.booleans())),
        "motifs": draw(
            st.lists(
                st.sampled_from(["03", "05", "06", "07", "08", "11", "23"]), unique=True, max_size=3
            )
        ),
        "dalo": draw(st.booleans()),
        "handicap": draw(st.booleans()),
        "changed": draw(st.lists(st.sampled_from(PATHS), unique=True, max_size=6)),
    }


def _events(case: dict[str, Any]) -> list[dict[str, Any]]:
    num = new_num_unique()
    out = []
    for op in ("CRE", "MOD"):
        ev = demande_event(num, [ROUEN], operation=op, handicap=case["handicap"])
        dl = ev["demande"]["demandeLogement"]
        if case["motifs"]:
            dl["principauxMotifDemande"] = {"motifDemande": case["motifs"],
                                            "compAutreMotif": "texte libre"}  # fmt: skip
        if case["dalo"]:
            ev["demande"]["informationDalo"] = {"statutDalo": "ACTIF"}
        ev["changedFields"] = case["changed"] if op == "MOD" else []
        out.append(ev)
    return out


def check_case(codec: Any, geography: Any, case: dict[str, Any]) -> None:
    scoring = Scoring(declarations=port(case["declared"]))
    cotation.install(scoring)
    try:
        proc, sender = dispatcher(codec, geography, scoring)
        events = _events(case)
        asyncio.run(proc.process([_ev_rec(codec, e) for e in events]))
    finally:
        cotation.install(None)
    met = {c for c, v in case["declared"].items() if v}
    for profile in PROFILES:
        records = sent(sender, profile)
        assert len(records) == 2, profile
        for ev, data in zip(events, records, strict=True):
            rec = check_record(codec, profile, data, ev["changedFields"])
            if profile == SENSIBLE:  # positive control: the whole score, its declarers
                (cot,) = rec["cotations"]
                assert {c["code"] for c in cot["criteres"]} >= met
                assert {auteur(c) for c in met} <= {c["declarePar"] for c in cot["criteres"]}


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(case=cases())
def test_no_profile_receives_a_criterion_or_a_changed_field_it_may_not_see(
        codec: Any, geography: Any, case: dict[str, Any]) -> None:  # fmt: skip
    check_case(codec, geography, case)
