"""Reading the SNE's event-type answers and merging them over the catalogue in force."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from connectors.sne.catalogue import event_type_of, merged
from hub.core.errors import InputError
from hub.domain.gp.catalogue import SEED


def _item(code: str, **extra: Any) -> dict[str, Any]:
    return {"codeTypeEvenement": code, "texteDescriptifPGP": "pgp", "texteDescriptifSNE": "sne",
            "aPublierSurPGP": "false", "reglementaire": "true", "dateDebutValidite": "2015-09-01",
            "libelleTypeEvenement": {"libelle": "Libellé SNE"}, **extra}


def test_an_answer_item_becomes_an_event_type() -> None:
    t = event_type_of(_item("NEWTYPE", codeTerritoire="076", listeCaracteristiquesSpecifiques=[
        {"code": "DATEX", "libelle": "d", "typeCaracteristiqueSpecifique": "DAT",
         "obligatoire": "true"},
        {"code": "AUTRE", "libelle": "a", "typeCaracteristiqueSpecifique": "ZZZ",
         "obligatoire": "false"}]))
    assert (t.code, t.codeTerritoire, t.libelle, t.reglementaire, t.aPublierSurPGP) == (
        "NEWTYPE", "076", "Libellé SNE", True, False)
    assert t.dateDebutValidite == date(2015, 9, 1)
    assert [(f.code, f.type, f.obligatoire) for f in t.champs] == [
        ("DATEX", "DAT", True), ("AUTRE", "TXT", False)]  # an unknown field type is text


@pytest.mark.parametrize("bad", [_item("lower"), _item(""), _item("X", dateDebutValidite="hier"),
                                 _item("TOOLONGCODE1")])
def test_unusable_items_are_input_errors(bad: dict[str, Any]) -> None:
    with pytest.raises(InputError) as exc:
        event_type_of(bad)
    assert exc.value.code == "bad_catalogue"


def test_merge_keeps_hub_fields_and_enumerations_and_unsent_types() -> None:
    sne = [event_type_of(_item("DECISCAL", listeCaracteristiquesSpecifiques=[
              {"code": "DECISION", "libelle": "D", "typeCaracteristiqueSpecifique": "LST",
               "obligatoire": "true"},
              {"code": "NOUVEAU", "libelle": "N", "typeCaracteristiqueSpecifique": "LST",
               "obligatoire": "false"}])),
           event_type_of(_item("LABELLOC", codeTerritoire="076"))]
    new = merged(SEED, sne, "v2")
    assert new.version == "v2"
    decis = new.get("DECISCAL")
    assert len(decis) == 1 and decis[0].libelle == "Libellé SNE"
    codes = [f.code for f in decis[0].champs]
    assert codes[:2] == ["DECISION", "NOUVEAU"] and "CODECAL" in codes  # hub fields kept
    decision, nouveau = decis[0].champs[0], decis[0].champs[1]
    seed_decision = SEED.get("DECISCAL")[0].field("DECISION")
    assert seed_decision is not None and decision.valeurs == seed_decision.valeurs
    assert nouveau.type == "TXT"  # a list without known values cannot refuse every value
    assert {t.code for t in SEED.types} <= {t.code for t in new.types}
    assert [t.codeTerritoire for t in new.get("LABELLOC")] == ["076"]
    assert merged(new, sne, "v3").types == new.types  # same answer again: nothing changes
