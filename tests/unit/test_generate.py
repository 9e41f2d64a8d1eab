"""The seeded demand generator: reproducible, schema-valid, territorially coherent."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hub.core.errors import InputError
from hub.dev.generate import (
    DEFAULT_UNTIL,
    F_COMMUNES,
    F_RADIATION,
    TYPOLOGIES,
    WINDOW,
    generate_demandes,
    generate_modifications,
)
from hub.domain.geo import Geography, get_geography

ROUEN_METRO = "200023414"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def geo() -> Geography:
    return get_geography()


@pytest.fixture(scope="module")
def seine_maritime(geo: Geography) -> list[dict[str, Any]]:
    return list(generate_demandes(3000, 42, geography=geo, departements=["76"]))


def _dl(event: dict[str, Any]) -> dict[str, Any]:
    return event["demande"]["demandeLogement"]  # type: ignore[no-any-return]


def _wishes(event: dict[str, Any]) -> list[str]:
    return [w["commune"] for w in _dl(event)["logementRecherche"]["listeLocalisationSouhaite"]]


def test_reproducible_for_a_seed(geo: Geography) -> None:
    a = list(generate_demandes(200, 7, geography=geo, departements=["76"]))
    b = list(generate_demandes(200, 7, geography=geo, departements=["76"]))
    c = list(generate_demandes(200, 8, geography=geo, departements=["76"]))
    assert json.dumps(a) == json.dumps(b)
    assert json.dumps(a) != json.dumps(c)
    assert len(list(generate_demandes(0, 7, geography=geo))) == 0


def test_reproducible_across_processes(geo: Geography) -> None:
    # frozenset iteration order depends on PYTHONHASHSEED: the generator must not
    code = (
        "import hashlib, json; from hub.domain.geo import get_geography; "
        "from hub.dev.generate import generate_demandes; "
        "ev = list(generate_demandes(100, 3, geography=get_geography(), departements=['76'])); "
        "print(hashlib.sha256(json.dumps(ev).encode()).hexdigest())"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": str(hash_seed)},
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO,
        ).stdout.strip()
        for hash_seed in (1, 2)
    }
    here = list(generate_demandes(100, 3, geography=geo, departements=["76"]))
    assert digests == {hashlib.sha256(json.dumps(here).encode()).hexdigest()}


def test_numeros_uniques(seine_maritime: list[dict[str, Any]]) -> None:
    from hub.domain.refdata import check_num_unique

    nums = [e["numUnique"] for e in seine_maritime]
    assert len(set(nums)) == len(nums)
    for e in seine_maritime:
        num = e["numUnique"]
        dl = _dl(e)
        assert len(num) == 18 and re.fullmatch(r"076\d{10}\d{5}", num)
        check_num_unique(num)
        created = dl["dateCreationDemande"]
        assert num[3:7] == created[5:7] + created[2:4]  # MMYY of the first deposit
        assert num[13:] == dl["numGuichet"] and dl["numUnique"] == num


@pytest.mark.parametrize(("dep", "prefix"), [("2A", "02A"), ("2B", "02B"), ("974", "974")])
def test_territory_prefix(geo: Geography, dep: str, prefix: str) -> None:
    from hub.domain.refdata import check_num_unique

    for e in generate_demandes(30, 1, geography=geo, departements=[dep]):
        assert e["numUnique"].startswith(prefix)
        check_num_unique(e["numUnique"])
        assert all(geo.commune(c).departement == dep for c in _wishes(e))


def test_wished_communes_share_an_epci(
    geo: Geography, seine_maritime: list[dict[str, Any]]
) -> None:
    sizes: Counter[int] = Counter()
    for e in seine_maritime:
        wishes = _wishes(e)
        assert 1 <= len(wishes) <= 8 and len(set(wishes)) == len(wishes)
        places = [geo.commune(c) for c in wishes]
        assert len({p.epci for p in places}) == 1
        assert all(p.departement == "76" for p in places)
        sizes[len(wishes)] += 1
    assert sizes[1] > 0 and sum(sizes[k] for k in range(4, 9)) > 0
    firsts = Counter(_wishes(e)[0] for e in seine_maritime)
    # weighted by population: Le Havre and Rouen, the two largest cities, lead
    assert {c for c, _ in firsts.most_common(2)} == {"76351", "76540"}


def test_restricted_to_an_epci(geo: Geography) -> None:
    members = geo.communes_of_epci(ROUEN_METRO)
    for e in generate_demandes(300, 3, geography=geo, epci=ROUEN_METRO):
        assert set(_wishes(e)) <= members


def test_arrondissements_are_wished_not_their_city(geo: Geography) -> None:
    paris = generate_demandes(200, 5, geography=geo, departements=["75"])
    wishes = {c for e in paris for c in _wishes(e)}
    assert wishes and all(c.startswith("751") for c in wishes)


def test_unknown_territory(geo: Geography) -> None:
    with pytest.raises(InputError):
        next(generate_demandes(1, 1, geography=geo, departements=["99"]))
    with pytest.raises(InputError):
        next(generate_demandes(1, 1, geography=geo, epci="000000000"))


def test_typologies_follow_the_household(seine_maritime: list[dict[str, Any]]) -> None:
    for e in seine_maritime:
        pp = _dl(e)["personnePhysique"]
        adults = 1 + len(pp.get("listeCotitulaire") or [])
        kids = len(pp.get("listePersonneACharge") or [])
        typos = _dl(e)["logementRecherche"]["listeTypeLogement"]
        assert typos and set(typos) <= set(TYPOLOGIES)
        if adults + kids == 1:
            assert set(typos) <= {"C", "T1", "T2"}
        elif kids == 0:
            assert set(typos) <= {"T2", "T3"}
        else:
            assert set(typos) <= {"T3", "T4", "T5", "T6P"}


def test_household_is_consistent(seine_maritime: list[dict[str, Any]]) -> None:
    for e in seine_maritime:
        pp = _dl(e)["personnePhysique"]
        d = pp["demandeur"]
        assert d["civilite"] in ("1", "2") and d["nationalite"] in ("1", "2", "3")
        couple = bool(pp.get("listeCotitulaire"))
        if couple:
            assert d["situationFamiliale"] in ("M", "P", "U")
            assert pp["listeCotitulaire"][0]["situationFamiliale"] == d["situationFamiliale"]
        else:
            assert d["situationFamiliale"] in ("C", "D", "S", "V")
        born = d["dateNaissance"]
        for child in pp.get("listePersonneACharge") or []:
            assert child["dateNaissance"] > born and child["lienParente"] == "E"
        actuel = pp["logementActuel"]
        assert actuel["proprietaire"] == (actuel["listeModeleLogement"] == ["POCC"])
        kids = len(pp.get("listePersonneACharge") or [])
        assert actuel["nombreHabitant"] >= 1 + int(couple) + kids


def test_mutations_and_dalo_rates(seine_maritime: list[dict[str, Any]]) -> None:
    n = len(seine_maritime)
    modeles = [
        _dl(e)["personnePhysique"]["logementActuel"]["listeModeleLogement"] for e in seine_maritime
    ]
    hlm = modeles.count(["HLM"])
    dalo = [e["demande"]["informationDalo"] for e in seine_maritime]
    dalo = [d for d in dalo if d is not None]
    assert 0.22 < hlm / n < 0.38
    assert 0.01 < len(dalo) / n < 0.06
    assert all(d["statutDalo"] == "ACTIF" for d in dalo)


def test_time_order_and_window(seine_maritime: list[dict[str, Any]]) -> None:
    times = [e["occurredAt"] for e in seine_maritime]
    assert times == sorted(times) and len(set(times)) == len(times)
    start_ms = int((DEFAULT_UNTIL - WINDOW).timestamp() * 1000)
    assert start_ms <= times[0] and times[-1] < int(DEFAULT_UNTIL.timestamp() * 1000)
    for e in seine_maritime[:100]:
        at = datetime.fromtimestamp(e["occurredAt"] / 1000, tz=UTC)
        assert _dl(e)["dateCreationDemande"] == at.date().isoformat()
    ids = [e["eventId"] for e in seine_maritime]
    assert len(set(ids)) == len(ids)


# --- schema validity --------------------------------------------------------------------------


def _check_lengths(value: Any, schema: Any, names: dict[str, Any], path: str) -> None:
    """Walk a record against the Avro schema; check each string against the maxLength
    the generated schema documents (from the InterfaceNuu outline) in its field doc."""
    if isinstance(schema, str):
        schema = names.get(schema, schema)
    if isinstance(schema, list):
        if value is None:
            return
        branches = [s for s in schema if s != "null"]
        assert len(branches) == 1, path
        schema = branches[0]
        if isinstance(schema, str):
            schema = names.get(schema, schema)
    if isinstance(schema, dict) and schema.get("type") == "record":
        names[schema["namespace"] + "." + schema["name"]] = schema
        names[schema["name"]] = schema
        fields = {f["name"]: f for f in schema["fields"]}
        assert set(value) <= set(fields), f"{path}: {set(value) - set(fields)}"
        for key, v in value.items():
            doc = fields[key].get("doc", "")
            m = re.search(r"maxLength=(\d+)", doc)
            if m and isinstance(v, str):
                assert len(v) <= int(m.group(1)), f"{path}.{key}={v!r} longer than {m.group(1)}"
            _check_lengths(v, fields[key]["type"], names, f"{path}.{key}")
    elif isinstance(schema, dict) and schema.get("type") == "array":
        for i, item in enumerate(value):
            _check_lengths(item, schema["items"], names, f"{path}[{i}]")


def test_events_encode_and_validate(geo: Geography, seine_maritime: list[dict[str, Any]]) -> None:
    from hub.domain.decisions import validate_event
    from schemas import AVRO_DIR, get_codec

    codec = get_codec()
    demande_schema = json.loads((AVRO_DIR / "fr.passerelle.sne.Demande.avsc").read_text())
    sample = seine_maritime[:500] + list(generate_demandes(300, 9, geography=geo))
    sample += generate_modifications(sample, 10, geography=geo, radiation_rate=0.3)
    for e in sample:
        codec.encode("DemandeEvent", e)  # strict: an unknown field name is refused
        validate_event(e)
        _check_lengths(e["demande"], demande_schema, {}, "demande")
        mel = e["demande"]["demandeLogement"]["personnePhysique"]["demandeur"].get("mel")
        assert mel is None or re.fullmatch(r"[a-zA-Z0-9_.\-]+@[a-zA-Z0-9_.\-]+\.[a-zA-Z]{1,3}", mel)


# --- modifications ------------------------------------------------------------------------------


def test_modifications(geo: Geography, seine_maritime: list[dict[str, Any]]) -> None:
    from hub.domain.refdata import TABLES

    created = seine_maritime[:1000]
    before = json.dumps(created)
    mods = generate_modifications(created, 11, geography=geo, radiation_rate=0.1)
    assert json.dumps(created) == before  # inputs untouched
    again = generate_modifications(created, 11, geography=geo, radiation_rate=0.1)
    assert json.dumps(mods) == json.dumps(again)
    by_num = {e["numUnique"]: e for e in created}
    ops = Counter(e["operation"] for e in mods)
    assert ops["MOD"] > 200 and 50 < ops["RAD"] < 160
    assert [e["occurredAt"] for e in mods] == sorted(e["occurredAt"] for e in mods)
    ids = {e["eventId"] for e in created} | {e["eventId"] for e in mods}
    assert len(ids) == len(created) + len(mods)
    last: dict[str, int] = {}
    radiated: set[str] = set()
    for e in mods:
        num = e["numUnique"]
        assert num in by_num and num not in radiated
        assert e["occurredAt"] > max(last.get(num, 0), by_num[num]["occurredAt"])
        last[num] = e["occurredAt"]
        dl = _dl(e)
        assert dl["numUnique"] == num
        assert e["changedFields"]
        for path in e["changedFields"]:
            node: Any = e["demande"]
            for part in path.split("."):
                node = node[part]
            assert node is not None
        if e["operation"] == "RAD":
            radiated.add(num)
            assert e["changedFields"] == [F_RADIATION]
            assert dl["radiation"]["motifRadiation"] in TABLES["motifRadiation"]
            assert dl["radiation"]["dateRadiation"]
        else:
            assert dl["radiation"] is None
        wishes = _wishes(e)
        assert 1 <= len(wishes) <= 8 and len({geo.commune(c).epci for c in wishes}) == 1
    changed = Counter(p for e in mods for p in e["changedFields"])
    assert changed[F_COMMUNES] > 0 and len(changed) >= 4
