"""Geography over time (issue 17 point 6), on the real packaged tables, no fake geography.

A wished commune code that left the INSEE list resolves to today's commune through the
successor table (``hub/data/geo_successors.tsv.gz``), chained; matching, ingress and the
worker accept it; RAD and SUP are never refused for a territorial reason; an actor filter
naming a former code is refused with the code to register instead.

Real codes used (INSEE's history, through @etalab/decoupage-administratif):
- 05141 Saint-Eusèbe-en-Champsaur, absorbed by the commune nouvelle Aubessagne (05039)
  on 2018-01-01;
- 27647 Tosny → 27058 (Les Trois Lacs, by COG 2021) → 27676 (Les Trois Lacs renumbered,
  by COG 2023): merged, then its successor's code left the list in turn;
- 14513 Pont-Farcy (Calvados) → 50649 (Manche, 2018-01-01) → 50592 Tessy-Bocage: a chain
  that changes département.
"""

from __future__ import annotations

import gzip
import re
from importlib import resources
from pathlib import Path

import pytest

from connectors.ingress.publishing import prepare_event
from hub.core.errors import InputError, UnknownCommuneError
from hub.domain.actors import Actor, ActorFilters
from hub.domain.decisions import DELETED, DEMANDE, RADIATION, RETRAIT, Delivery, decide
from hub.domain.geo import Geography, Succession
from hub.domain.matching import TerritoryIndex
from tests.support.demandes import demande_event, new_num_unique

SAINT_EUSEBE, AUBESSAGNE, CHAMPSAUR_VALGAUDEMAR = "05141", "05039", "200068096"
TOSNY, TROIS_LACS_2021, TROIS_LACS = "27647", "27058", "27676"
PONT_FARCY, PONT_FARCY_50, TESSY_BOCAGE = "14513", "50649", "50592"
WISHED = "logementRecherche/listeLocalisationSouhaite/commune"
RADIATED = {"dateRadiation": "2026-01-02", "motifRadiation": "RADABA"}


def actor(aid: str, **filters: object) -> Actor:
    return Actor(id=aid, name=aid, kind="bailleur", filters=ActorFilters(**filters))  # type: ignore[arg-type]


@pytest.fixture()
def index(geography: Geography) -> TerritoryIndex:
    return TerritoryIndex(geography, [
        actor("aubessagne", communes=[AUBESSAGNE]),
        actor("champsaur", epcis=[CHAMPSAUR_VALGAUDEMAR]),
        actor("hautes-alpes", departements=["05"]),
        actor("trois-lacs", communes=[TROIS_LACS]),
        actor("manche", departements=["50"]),
        actor("calvados", departements=["14"]),
    ])  # fmt: skip


# -- the table and its resolution -----------------------------------------------------------


def test_successor_file_names_every_source() -> None:
    path = Path(str(resources.files("hub") / "data" / "geo_successors.tsv.gz"))
    with gzip.open(path, "rt", encoding="utf-8") as f:
        header = f.readline().strip()
    versions = re.findall(r"@etalab/decoupage-administratif@([\d.]+) sha256:[0-9a-f]{64}", header)
    # the history (0.7.0: INSEE's COG history to 2019), one version per millésime, today's
    assert versions == ["0.7.0", "1.1.1", "2.3.1", "3.1.1", "4.1.0", "5.3.0", "6.0.0"]


def test_every_former_code_reaches_todays_table(geography: Geography) -> None:
    path = Path(str(resources.files("hub") / "data" / "geo_successors.tsv.gz"))
    with gzip.open(path, "rt", encoding="utf-8") as f:
        olds = [line.split("\t")[1] for line in f if line.startswith("S\t")]
    assert len(olds) > 2000
    for old in olds:
        assert not geography.has_commune(old)  # a code of today is never superseded
        assert geography.has_commune(geography.resolve(old))


def test_merged_into_a_commune_nouvelle(geography: Geography) -> None:
    assert not geography.has_commune(SAINT_EUSEBE)
    assert geography.is_known(SAINT_EUSEBE)
    assert geography.resolve(SAINT_EUSEBE) == AUBESSAGNE
    assert geography.successor(SAINT_EUSEBE) == Succession(
        SAINT_EUSEBE, AUBESSAGNE, "2018-01-01", "history", "0.7.0")
    with pytest.raises(UnknownCommuneError):
        geography.commune(SAINT_EUSEBE)  # commune() stays today's codes only


def test_merged_twice_resolves_through_the_chain(geography: Geography) -> None:
    assert geography.resolve(TOSNY) == TROIS_LACS
    assert [(s.old, s.successor, s.date, s.basis) for s in geography.successions(TOSNY)] == [
        (TOSNY, TROIS_LACS_2021, "2021-01-01", "cog"),
        (TROIS_LACS_2021, TROIS_LACS, "2023-01-01", "cog"),
    ]
    assert geography.resolve(PONT_FARCY) == TESSY_BOCAGE
    assert [s.successor for s in geography.successions(PONT_FARCY)] == [PONT_FARCY_50,
                                                                         TESSY_BOCAGE]


def test_todays_codes_and_unknown_codes(geography: Geography) -> None:
    assert geography.resolve(AUBESSAGNE) == AUBESSAGNE
    assert geography.successor(AUBESSAGNE) is None and geography.successions(AUBESSAGNE) == ()
    assert geography.resolve("75112") == "75112"  # an arrondissement is today's code
    assert not geography.is_known("99999")
    with pytest.raises(UnknownCommuneError, match="unknown INSEE commune code '99999'"):
        geography.resolve("99999")


def test_a_geography_file_without_successor_table(tmp_path: Path) -> None:
    # an explicit geography file without the table beside it: former codes are unknown
    packaged = Path(str(resources.files("hub") / "data" / "geo.tsv.gz"))
    copy = tmp_path / "geo.tsv.gz"
    copy.write_bytes(packaged.read_bytes())
    geo = Geography.load(copy)
    assert geo.successors_version == "" and not geo.is_known(SAINT_EUSEBE)
    (tmp_path / "geo_successors.tsv.gz").write_bytes(
        packaged.with_name("geo_successors.tsv.gz").read_bytes())
    assert Geography.load(copy).resolve(SAINT_EUSEBE) == AUBESSAGNE


# -- matching ----------------------------------------------------------------------------------


def test_former_code_matches_the_successor_its_epci_and_departement(
    index: TerritoryIndex,
) -> None:
    assert index.match([SAINT_EUSEBE], ["T2"]) == {"aubessagne", "champsaur", "hautes-alpes"}
    assert index.matches("aubessagne", [SAINT_EUSEBE], ["T2"])


def test_chained_former_code_matches_today_commune(index: TerritoryIndex) -> None:
    assert index.match([TOSNY], ["T2"]) == {"trois-lacs"}
    assert index.match([TROIS_LACS_2021], ["T2"]) == {"trois-lacs"}
    # Pont-Farcy was in Calvados; its successor is in the Manche
    assert index.match([PONT_FARCY], ["T2"]) == {"manche"}


def test_unknown_code_names_the_element_and_the_value(index: TerritoryIndex) -> None:
    with pytest.raises(UnknownCommuneError) as exc:
        index.match([AUBESSAGNE, "99999"], ["T2"])
    assert exc.value.message == f"{WISHED}: unknown INSEE commune code '99999'"
    assert exc.value.code == "unknown_commune"
    # skipping unknown codes keeps the others' ranks and matches
    assert index.match(["99999", SAINT_EUSEBE], ["T2"], skip_unknown=True) == {
        "aubessagne", "champsaur", "hautes-alpes"}


def test_an_actor_change_never_fails_on_a_stored_commune_unknown_today(
    index: TerritoryIndex,
) -> None:
    # reevaluate() asks matches() for a stored demand: a code unknown today matches no one
    assert index.matches("aubessagne", ["99999", SAINT_EUSEBE], ["T2"])
    assert not index.matches("aubessagne", ["99999"], ["T2"])


# -- the worker's decisions ------------------------------------------------------------------


def test_creation_wishing_a_former_code_reaches_the_successor(index: TerritoryIndex) -> None:
    d = decide(demande_event(new_num_unique("005"), [SAINT_EUSEBE]), None, index,
               partition=0, offset=1)  # fmt: skip
    assert {x.actor_id for x in d.deliveries} == {"aubessagne", "champsaur", "hautes-alpes"}
    assert d.state is not None and d.state.recipients == {"aubessagne", "champsaur",
                                                          "hautes-alpes"}


def test_radiation_of_a_demand_whose_commune_vanished(
    index: TerritoryIndex, geography: Geography
) -> None:
    """A demand stored when its commune was known; the radiation names a code unknown
    today (no successor): accepted, and every past recipient learns of it."""
    num = new_num_unique("005")
    state = decide(demande_event(num, [SAINT_EUSEBE]), None, index, partition=0, offset=1).state
    rad = demande_event(num, ["99999"], operation="RAD", radiation=RADIATED)
    d = decide(rad, state, index, partition=0, offset=2)
    assert d.deliveries == [Delivery("aubessagne", RADIATION), Delivery("champsaur", RADIATION),
                            Delivery("hautes-alpes", RADIATION)]
    assert d.state is not None and not d.state.active
    # the same code on a modification is still refused, naming element and value
    mod = demande_event(num, ["99999"], operation="MOD")
    with pytest.raises(UnknownCommuneError, match=f"^{WISHED}: unknown INSEE commune code"):
        decide(mod, state, index, partition=0, offset=3)


def test_radiation_wishing_a_former_code_reaches_the_successor(index: TerritoryIndex) -> None:
    num = new_num_unique("027")
    state = decide(demande_event(num, [TOSNY]), None, index, partition=0, offset=1).state
    assert state is not None and state.recipients == {"trois-lacs"}
    rad = decide(demande_event(num, [TOSNY], operation="RAD", radiation=RADIATED), state,
                 index, partition=0, offset=2)  # fmt: skip
    assert rad.deliveries == [Delivery("trois-lacs", RADIATION)]


def test_deletion_of_a_demand_whose_commune_vanished(index: TerritoryIndex) -> None:
    num = new_num_unique("005")
    state = decide(demande_event(num, [SAINT_EUSEBE]), None, index, partition=0, offset=1).state
    d = decide(demande_event(num, [], operation="SUP"), state, index, partition=0, offset=2)
    assert d.delete and d.deliveries == [Delivery(a, RETRAIT, DELETED)
                                         for a in ("aubessagne", "champsaur", "hautes-alpes")]


def test_first_delivery_kind(index: TerritoryIndex) -> None:
    d = decide(demande_event(new_num_unique("014"), [PONT_FARCY]), None, index)
    assert d.deliveries == [Delivery("manche", DEMANDE)]


# -- ingress (hub publish, API, files, SNE poller: all through prepare_event) ---------------


def test_ingress_accepts_a_former_code_and_refuses_an_unknown_one() -> None:
    num = new_num_unique("005")
    prepared = prepare_event(demande_event(num, [SAINT_EUSEBE, TOSNY]))
    assert prepared.key == num.encode()
    with pytest.raises(UnknownCommuneError) as exc:
        prepare_event(demande_event(num, [SAINT_EUSEBE, "99999"], operation="MOD"))
    assert str(exc.value) == f"{WISHED}: unknown INSEE commune code '99999'"


@pytest.mark.parametrize("operation", ["RAD", "SUP"])
def test_ingress_never_refuses_rad_or_sup_for_a_territorial_reason(operation: str) -> None:
    ev = demande_event(new_num_unique("005"), ["99999"], operation=operation,
                       radiation=RADIATED if operation == "RAD" else None)  # fmt: skip
    if operation == "SUP":  # a deletion may carry the last snapshot too
        ev["demande"] = demande_event(ev["numUnique"], ["99999"])["demande"]
    assert prepare_event(ev).event["operation"] == operation


# -- actor filters -------------------------------------------------------------------------


def test_actor_filter_on_a_former_code_is_refused_naming_the_successor(
    geography: Geography,
) -> None:
    from hub.stores.registry.service import check_former_communes

    check_former_communes(actor("ok", communes=[AUBESSAGNE]), geography)
    with pytest.raises(InputError) as exc:
        check_former_communes(actor("b", communes=[AUBESSAGNE, SAINT_EUSEBE, TOSNY]), geography)
    assert exc.value.code == "former_commune"
    assert exc.value.message == (
        "actor 'b': filters/communes: '05141' left the INSEE list on 2018-01-01 (today '05039'"
        " Aubessagne): register '05039'; '27647' left the INSEE list by 2021-01-01 (today"
        " '27676' Les Trois Lacs): register '27676'"
    )


# -- the same rules on an InterfaceNuu document -----------------------------------------------

XML = Path(__file__).resolve().parents[1] / "data" / "interfacenuu" / "demande_complete.xml"


def xml_with(wished: str, operation: str) -> bytes:
    text = XML.read_text(encoding="utf-8")
    assert text.count('<commune code="57672"/>') == 1  # a wished commune (2nd choice)
    text = text.replace('<commune code="57672"/>', f'<commune code="{wished}"/>')
    return text.replace("<typeFichier>MOD</typeFichier>",
                        f"<typeFichier>{operation}</typeFichier>").encode()  # fmt: skip


def test_xml_documents_follow_the_same_rules() -> None:
    wished = prepare_event(xml_with(SAINT_EUSEBE, "MOD")).event["demande"]["demandeLogement"]
    codes = [w["commune"] for w in wished["logementRecherche"]["listeLocalisationSouhaite"]]
    assert SAINT_EUSEBE in codes  # accepted, and carried as sent
    with pytest.raises(UnknownCommuneError) as exc:
        prepare_event(xml_with("99999", "MOD"))
    assert str(exc.value) == f"{WISHED}: unknown INSEE commune code '99999'"
    assert prepare_event(xml_with("99999", "RAD")).event["operation"] == "RAD"
