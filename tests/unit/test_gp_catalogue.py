"""Gestion partagée: the seeded catalogue, validation against types (refresh: test_gp_refresh)."""

from __future__ import annotations

from datetime import date

import pytest

from hub.domain.gp.catalogue import SEED, Catalogue, EventType, FieldSpec
from hub.domain.gp.validation import GPInput, InvalidGPEvent, validate_gp_event
from schemas import get_codec
from tests.support.demandes import new_num_unique

#: CCH R441-2-15: every event the décret lists, by the code the hub gives it
R441_2_15 = {
    "DEMPIECES": "request for documents", "DESIGCAL": "designation for a CAL",
    "ORDREJCAL": "CAL agenda", "EXAMCAL": "CAL examination", "VISPROP": "visit proposed",
    "VISEFF": "visit done", "DECISCAL": "CAL decision", "REFUSDEM": "refusal with reason",
    "BAILSIGNE": "lease signed", "PRIORITE": "priority recognised",
    "CONTINGENT": "contingent eligibility", "RECTIF": "rectification",
}


def gp(code: str, fields: dict[str, str], num: str | None = None,
       on: date = date(2025, 6, 1)) -> GPInput:
    return GPInput(num_unique=num or new_num_unique(), code=code, date_survenance=on,
                   caracteristiques=fields)


def test_seed_has_every_event_of_the_decree_flagged_reglementaire() -> None:
    codes = {t.code for t in SEED.types}
    assert set(R441_2_15) <= codes
    for code in R441_2_15:
        (t,) = SEED.get(code)
        assert t.reglementaire, code
        assert t.codeTerritoire is None  # national
        assert t.texteDescriptifPGP and t.libelle


def test_refusal_requires_a_reason_and_the_record_encodes() -> None:
    with pytest.raises(InvalidGPEvent, match="mandatory field MOTIF"):
        validate_gp_event(SEED, gp("REFUSDEM", {}), auteur="a")
    rec = validate_gp_event(SEED, gp("REFUSDEM", {"MOTIF": "trop loin"}), auteur="a")
    assert rec["reglementaire"] and rec["aPublierSurPGP"] and rec["catalogueVersion"] == "2025.1"
    assert get_codec().decode_as(get_codec().encode("EvenementGP", rec), "EvenementGP") == rec


@pytest.mark.parametrize(("code", "fields", "error"), [
    ("NOPE", {}, "unknown_event_type"),
    ("VISPROP", {"DATEVIS": "demain"}, "invalid_field"),
    ("VISPROP", {"DATEVIS": "2025-06-02", "EXTRA": "x"}, "unknown_field"),
    ("PRIORITE", {"TYPEPRIO": "VIP"}, "invalid_field"),
    ("DECISCAL", {"CODECAL": "C", "LOGEMENT": "L", "DECISIONID": "d", "DECISION": "ATTR",
                  "DATEDEC": "2025-06-01", "RANG": "un"}, "invalid_field"),
    ("DESIGCAL", {"CODECAL": "C", "LOGEMENT": "L", "DESIGPREF": "oui"}, "invalid_field"),
])
def test_events_that_do_not_fit_their_type_are_refused(code: str, fields: dict[str, str],
                                                        error: str) -> None:
    with pytest.raises(InvalidGPEvent) as info:
        validate_gp_event(SEED, gp(code, fields), auteur="a")
    assert info.value.code == error


def test_validity_dates_and_territory() -> None:
    local = EventType(code="LOCAL", libelle="l", texteDescriptifSNE="l", texteDescriptifPGP="l",
                      reglementaire=False, aPublierSurPGP=False, codeTerritoire="076",
                      dateFinValidite=date(2025, 12, 31),
                      champs=(FieldSpec(code="X", libelle="x", obligatoire=True),))
    cat = Catalogue(version="t", types=(*SEED.types, local))
    ok = validate_gp_event(cat, gp("LOCAL", {"X": "1"}, new_num_unique("076")), auteur="a")
    assert ok["codeTypeEvenement"] == "LOCAL"
    with pytest.raises(InvalidGPEvent) as other_territory:
        validate_gp_event(cat, gp("LOCAL", {"X": "1"}, new_num_unique("027")), auteur="a")
    assert other_territory.value.code == "event_type_territory"
    with pytest.raises(InvalidGPEvent) as expired:
        validate_gp_event(cat, gp("LOCAL", {"X": "1"}, new_num_unique("076"), date(2026, 1, 1)),
                          auteur="a")
    assert expired.value.code == "event_type_expired"

