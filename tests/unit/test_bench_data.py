"""The benchmark's synthetic data (issue 6, point 1): the national actor population, the
recipients per demand it gives, the spread over départements, and the JSONL output."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from bench.__main__ import main
from bench.data import ActorMix, demand_events, match_distribution, national_actors
from hub.domain.geo import Geography, get_geography
from hub.domain.matching import TerritoryIndex
from hub.domain.refdata import check_num_unique


@pytest.fixture(scope="module")
def geo() -> Geography:
    return get_geography()


def test_national_actors_have_the_issues_shapes(geo: Geography) -> None:
    actors = national_actors(geo, 1)
    kinds = Counter(a.kind for a in actors)
    assert kinds == {"guichet": 1600, "bailleur": 400}
    for a in actors:
        f = a.filters
        scopes = [bool(f.communes), bool(f.epcis), bool(f.departements)]
        if a.kind == "guichet":  # a commune, an EPCI or a département each
            assert sum(scopes) == 1 and len(f.communes or f.epcis or f.departements) == 1
        elif f.departements:  # 1 – 5 départements, or a list of communes
            assert 1 <= len(f.departements) <= 5 and not f.communes
        else:  # 5 – 40 communes of one département (fewer where it has fewer: Paris)
            (dep,) = {geo.commune(c).departement for c in f.communes}
            whole = [c for c in geo.communes_of_departement(dep) if geo.commune(c).parent is None]
            assert min(5, len(whole)) <= len(f.communes) <= 40 and not f.epcis
    guichets = Counter(
        "commune" if a.filters.communes else "epci" if a.filters.epcis else "dep"
        for a in actors if a.kind == "guichet")
    assert guichets["commune"] > guichets["epci"] > guichets["dep"] > 0
    assert national_actors(geo, 1) == actors  # seeded, reproducible
    assert national_actors(geo, 2) != actors


def test_a_demand_matches_about_ten_actors(geo: Geography) -> None:
    index = TerritoryIndex(geo, national_actors(geo, 1, ActorMix()))
    dist = match_distribution(index, demand_events(1500, 3, geo))
    assert dist["demands"] == 1500
    assert 7 <= dist["mean"] <= 14  # the issue: ~10 on average (38k sample: 10.66)
    assert dist["p99"] > dist["p50"] > 0 and sum(dist["histogram"].values()) == 1500


def test_demands_follow_population(geo: Geography) -> None:
    deps = Counter(e["numUnique"][:3] for e in demand_events(4000, 4, geo))
    # Nord, Paris and Bouches-du-Rhône each outweigh Lozère and Creuse together, many times
    big = deps["059"] + deps["075"] + deps["013"]
    small = deps["048"] + deps["023"]
    assert big > 20 * max(small, 1)
    assert len(deps) > 80  # spread over (nearly) every département


def test_data_command_writes_valid_jsonl(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                         ) -> None:
    out = tmp_path / "demands.jsonl"
    main(["data", "--demands", "50", "--seed", "5", "--out", str(out)])
    assert "50 demands written" in capsys.readouterr().out
    lines = out.read_text("utf-8").splitlines()
    assert len(lines) == 50
    events = [json.loads(line) for line in lines]
    for e in events:
        check_num_unique(e["numUnique"])
        assert e["demande"]["demandeLogement"]["numUnique"] == e["numUnique"]
    main(["data", "--demands", "50", "--seed", "5", "--out", str(tmp_path / "again.jsonl")])
    assert (tmp_path / "again.jsonl").read_text("utf-8") == out.read_text("utf-8")
