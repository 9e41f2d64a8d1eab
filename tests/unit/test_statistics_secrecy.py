"""Statistical secrecy, everywhere (issue 20 point 5, "Done when"): over random territories
and stocks (hypothesis), no output — the REST API, ``hub stats show`` in text, JSON and CSV,
the Prometheus gauges, the similar demands — shows a figure computed on fewer than 11
demands, and every figure on 11 or more equals an independent computation written here
from the generated demands (not from the facts the fold wrote).

The demands are folded as hub.demandes records through the real fold (``Folder``) into a
real SQLite database (the broker is crossed by tests/integration/test_statistics_fold_kafka.py);
duplicates of records are folded too and must change nothing. The rules the expectations
follow are the domain reference's: a demand counts at its first wished commune, its EPCI
and département; ``RADATT`` is an attribution; percentiles are nearest-rank; the waiting
time is from ``dateCreationDemande`` to ``dateRadiation`` over the 12 calendar months up to
the reference date's month, withheld unless each of those months holds 11 attributions or
more (docs/statistics.md, "Windows that could be subtracted")."""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlalchemy import Engine, delete

from hub.core.db import make_engine, migrate
from hub.core.settings import DatabaseSettings, HubSettings
from hub.domain.actors import Actor, ActorFilters
from hub.domain.cotation import score, shipped_grids
from hub.domain.geo import get_geography
from hub.domain.geo_components import linked_departements, membership
from hub.domain.statistics_secondary import Withheld, suppress
from hub.services import statistics as service
from hub.services.statistics_folder import Folder, Record, set_gauges
from hub.stores.access.keys import KeyStore
from hub.stores.cotation.store import DeclarationStore
from hub.stores.registry.store import ActorStore
from hub.stores.statistics.store import StatisticsStore
from hub.stores.statistics.tables import stat_demande_epcis, stat_demandes
from monitoring.metrics import REGISTRY
from schemas import get_codec
from tests.support.demandes import demande_event

AT = date(2026, 6, 15)
MONTHS = 4
#: communes of the reference geography: (EPCI, département)
PLACES = {
    "76540": ("200023414", "76"),  # Rouen, Métropole Rouen Normandie
    "76212": ("200023414", "76"),  # Darnétal
    "76351": ("200084952", "76"),  # Le Havre, Le Havre Seine Métropole
    "27229": ("200071454", "27"),  # Évreux
}
ROUEN = "200023414"
TYPOLOGIES = ("T2", "T3")


@dataclass(frozen=True)
class Spec:
    """One generated demand."""

    num: str
    communes: tuple[str, ...]
    typologies: tuple[str, ...]
    created: date
    radiation: tuple[date, str] | None  # (date, motive)
    salary: int


def _month(d: date) -> str:
    return d.strftime("%Y-%m")


def _months() -> list[str]:
    out, y, m = [], AT.year, AT.month
    for _ in range(MONTHS):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return out[::-1]


@st.composite
def demands(draw: st.DrawFn) -> list[Spec]:
    n = draw(st.integers(0, 45))
    out = []
    for i in range(n):
        communes = draw(st.lists(st.sampled_from(sorted(PLACES)), min_size=1, max_size=3,
                                 unique=True))
        typos = draw(st.lists(st.sampled_from(TYPOLOGIES), min_size=1, max_size=2, unique=True))
        created = AT - timedelta(days=draw(st.integers(0, 200)))
        radiation = None
        if draw(st.booleans()):
            when = created + timedelta(days=draw(st.integers(0, (AT - created).days)))
            radiation = (when, draw(st.sampled_from(["RADATT", "RADATT", "RADABA", "RADREN"])))
        num = f"076{i % 12 + 1:02d}25{i:06d}{uuid.uuid4().int % 10**5:05d}"  # MM: 01-12
        out.append(Spec(num, tuple(communes),
                        tuple(typos), created, radiation, draw(st.integers(0, 3000))))
    return out


def _events(spec: Spec) -> list[dict[str, Any]]:
    """The CRE (and the RAD) of a demand, dated on their own day."""
    cre = demande_event(spec.num, list(spec.communes), typologies=list(spec.typologies))
    dl = cre["demande"]["demandeLogement"]
    dl["dateCreationDemande"] = spec.created.isoformat()
    dl["personnePhysique"]["demandeur"]["listeRessourceRecue"] = [
        {"ressource": "SAL", "montant": spec.salary}]
    cre["occurredAt"] = _ms(spec.created)
    events = [cre]
    if spec.radiation is not None:
        when, motive = spec.radiation
        rad = json.loads(json.dumps(cre))
        rad.update(eventId=str(uuid.uuid4()), operation="RAD", occurredAt=_ms(when))
        rad["demande"]["demandeLogement"]["radiation"] = {
            "dateRadiation": when.isoformat(), "motifRadiation": motive}
        events.append(rad)
    return events


def _ms(d: date) -> int:
    return int((d - date(1970, 1, 1)).total_seconds() * 1000) + 12 * 3600 * 1000


# -- the independent computation ------------------------------------------------------------


def _where(spec: Spec, niveau: str) -> str:
    first = spec.communes[0]
    return {"commune": first, "epci": PLACES[first][0], "departement": PLACES[first][1]}[niveau]


def _rank(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(share * len(ordered)) - 1]


def _fig(values: list[float], value: Any) -> tuple[int, Any]:
    return len(values), value


def _window(last: tuple[int, int]) -> set[tuple[int, int]]:
    """The 12 (year, month) up to ``last``."""
    year, month = last
    return {((year * 12 + month - 1 - k) // 12, (year * 12 + month - 1 - k) % 12 + 1)
            for k in range(12)}  # fmt: skip


def _month_of(s: Spec) -> tuple[int, int]:
    assert s.radiation
    return s.radiation[0].year, s.radiation[0].month


def _attributions(specs: list[Spec]) -> list[Spec]:
    return [s for s in specs if s.radiation and s.radiation[1] == "RADATT"]


def _in_window(specs: list[Spec]) -> list[Spec]:
    months = _window((AT.year, AT.month))
    return [s for s in _attributions(specs)
            if s.radiation and (s.radiation[0].year, s.radiation[0].month) in months]  # fmt: skip


def _subtractable(specs: list[Spec]) -> bool:
    """Whether the window of AT may not be published: one of its 12 months holds fewer
    than 11 of ``specs``' attributions (then the window with the published months, or with
    other windows, would give that month's)."""
    per_month: dict[tuple[int, int], int] = dict.fromkeys(_window((AT.year, AT.month)), 0)
    for s in _attributions(specs):
        if s.radiation and _month_of(s) in per_month:
            per_month[_month_of(s)] += 1
    return any(n < 11 for n in per_month.values())


def _between(specs: list[Spec], niveau: str, code: str) -> set[str]:
    """The figures withheld between territories (secondary secrecy, R-F2): the counts per
    commune computed here from the specs (not the store's aggregation), the decision of
    ``suppress`` (checked on its own against exact elimination:
    test_statistics_secondary_oracle.py) over every commune of the linked départements."""
    geo = get_geography()
    deps = linked_departements(geo, niveau, code)
    series: dict[str, dict[str, int]] = {}

    def add(name: str, commune: str) -> None:
        series.setdefault(name, {}).setdefault(commune, 0)
        series[name][commune] += 1

    window = {f"{y:04d}-{m:02d}" for y, m in _window((AT.year, AT.month))}
    for s in specs:
        c = _where(s, "commune")
        if s.radiation is None:
            add("stockActif", c)
        add(f"{_month(s.created)}/nouvelles", c)
        if s.radiation is not None:
            kind = "attributions" if s.radiation[1] == "RADATT" else "autres"
            add(f"{_month(s.radiation[0])}/{kind}", c)
    names = ["stockActif"] + [f"{m}/{k}" for m in sorted(set(_months()) | window)
                              for k in ("nouvelles", "attributions", "autres")]
    held = {n for n in names
            if _suppress(tuple(sorted(series.get(n, {}).items())), deps).has(niveau, code)}
    for m in _months():  # the radiated count: only with both parts publishable
        if f"{m}/attributions" in held or f"{m}/autres" in held:
            held.add(f"{m}/radiees")
    if any(f"{m}/attributions" in held for m in window):  # the window: sums of months
        held |= {"attributions12Mois", "delaiMoyenAttributionJours"}
    return held


@functools.lru_cache(maxsize=512)
def _suppress(counts: tuple[tuple[str, int], ...], deps: frozenset[str]) -> Withheld:
    """One series' decision, remembered: every territory of the draw asks the same."""
    return suppress(dict(counts), membership(get_geography(), deps).table)


def expected(specs: list[Spec], niveau: str, code: str) -> dict[str, tuple[int, Any]]:
    """name → (demands it is computed on, value when ≥ 11); a figure withheld whatever
    its size is (0, None)."""
    held_between = _between(specs, niveau, code)
    here = [s for s in specs if _where(s, niveau) == code]
    active = [s for s in here if s.radiation is None]
    ages = [float((AT - s.created).days) for s in active]
    window = _in_window(here)
    waits = [float((s.radiation[0] - s.created).days) for s in window if s.radiation]
    held = _subtractable(here)
    out: dict[str, tuple[int, Any]] = {
        "stockActif": (len(active), len(active)),
        "ancienneteMedianeJours": (len(ages), round(_rank(ages, 0.5)) if ages else None),
        "attributions12Mois": (0, None) if held else (len(window), len(window)),
        "delaiMoyenAttributionJours": (0, None) if held else (
            len(waits), round(sum(waits) / len(waits), 1) if waits else None),
    }
    for m in _months():
        new = [s for s in here if _month(s.created) == m]
        rad = [s for s in here if s.radiation and _month(s.radiation[0]) == m]
        att = [s for s in rad if s.radiation and s.radiation[1] == "RADATT"]
        out[f"{m}/nouvelles"] = (len(new), len(new))
        # the radiated count minus one of its parts would give the other: shown only when
        # the attributions and the radiations for another motive hold 11 or more each
        other = len(rad) - len(att)
        held = len(rad) >= 11 and (len(att) < 11 or other < 11)
        out[f"{m}/radiees"] = (0, None) if held else (len(rad), len(rad))
        out[f"{m}/attributions"] = (len(att), len(att))
    if "stockActif" in held_between or len(active) < 11:
        held_between.add("ancienneteMedianeJours")  # withheld with the stock (audit U, U-F2)
    return {k: (0, None) if k in held_between else v for k, v in out.items()}


def expected_similar(specs: list[Spec], events: dict[str, dict[str, Any]],
                     typologie: str) -> dict[str, tuple[int, Any]]:
    grid = shipped_grids().en_vigueur(ROUEN, AT)
    assert grid is not None
    pool = [s for s in specs if typologie in s.typologies
            and any(PLACES[c][0] == ROUEN for c in s.communes)]
    scores = [float(score(events[s.num]["demande"], grid, {}, s.created).total)
              for s in pool if s.radiation is None]
    waits = [float((s.radiation[0] - s.created).days) for s in _in_window(pool) if s.radiation]
    if _subtractable(pool):
        waits = []  # withheld whatever its size
    return {
        "bas": (len(scores), round(_rank(scores, 0.25)) if scores else None),
        "median": (len(scores), round(_rank(scores, 0.5)) if scores else None),
        "haut": (len(scores), round(_rank(scores, 0.75)) if scores else None),
        "delaiMoyenAttributionJours": (len(waits),
                                       round(sum(waits) / len(waits), 1) if waits else None),
    }


def check(name: str, want: tuple[int, Any], shown: Any, secret: Any) -> None:
    n, value = want
    if n < 11:
        assert shown is None and secret is True, f"{name}: {shown!r} shown on {n} demands"
    else:
        assert (shown, secret) == (value, False), f"{name}: {shown!r} != {value!r} ({n})"


# -- the outputs ----------------------------------------------------------------------------


def _flat(body: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    out = {k: (v["valeur"], v["secret"]) for k, v in body.items() if isinstance(v, dict)}
    for m in body.get("parMois", []):
        for k in ("nouvelles", "radiees", "attributions"):
            out[f"{m['mois']}/{k}"] = (m[k]["valeur"], m[k]["secret"])
    return out


CSV_NAMES = {"stock actif": "stockActif", "ancienneté médiane (jours)": "ancienneteMedianeJours",
             "attributions sur 12 mois": "attributions12Mois",
             "délai moyen d'attribution (jours)": "delaiMoyenAttributionJours",
             "nouvelles": "nouvelles", "radiées": "radiees", "attributions": "attributions"}


def _from_csv(text: str) -> dict[str, tuple[Any, Any]]:
    out: dict[str, tuple[Any, Any]] = {}
    for row in csv.DictReader(io.StringIO(text)):
        name = CSV_NAMES[row["indicateur"]]
        key = f"{row['mois']}/{name}" if row["mois"] else name
        secret = row["secret"] == "true"
        assert (row["valeur"] == "< 11") == secret
        value = None if secret else float(row["valeur"])
        out[key] = (value if value is None or not value.is_integer() else int(value), secret)
    return out


def _from_text(text: str) -> dict[str, tuple[Any, Any]]:
    """The text output's figures: the four headline ones, then three a month."""
    out: dict[str, tuple[Any, Any]] = {}
    heads = ["stockActif", "ancienneteMedianeJours", "attributions12Mois",
             "delaiMoyenAttributionJours"]
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines)
    for line, name in zip(lines[3:7], heads, strict=True):
        cell = line[37:].strip()
        out[name] = (None, True) if cell == "secret (< 11)" else (_num(cell), False)
    for line in lines[9:]:
        month, cells = line[:9].strip(), [line[10 + 16 * i: 25 + 16 * i].strip()
                                          for i in range(3)]
        for cell, name in zip(cells, ("nouvelles", "radiees", "attributions"), strict=True):
            out[f"{month}/{name}"] = ((None, True) if cell == "secret (< 11)"
                                      else (_num(cell), False))
    return out


def _num(cell: str) -> float | int:
    value = float(cell)
    return int(value) if value.is_integer() and "." not in cell else value


@dataclass
class World:
    engine: Engine
    settings: HubSettings
    client: TestClient
    headers: dict[str, str]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from hub.api.app import create_app

    home: Path = tmp_path_factory.mktemp("stats-home")
    url = f"sqlite:///{home / 'hub.db'}"
    engine = make_engine(url)
    migrate(engine)
    hub_settings = HubSettings(home=home, database=DatabaseSettings(url=SecretStr(url)))
    actor = Actor(id="stats-reader", name="Reader", kind="etat",  # type: ignore[arg-type]
                  profile="consultant_simple", filters=ActorFilters(departements=["76"]))
    ActorStore(engine).save(actor)
    key = KeyStore(engine).create(actor.id).key
    with TestClient(create_app(hub_settings, engine)) as client:
        yield World(engine, hub_settings, client, {"Authorization": f"Bearer {key}"})
    engine.dispose()


def _fold(world: World, specs: list[Spec], dups: list[int]) -> dict[str, dict[str, Any]]:
    store = StatisticsStore(world.engine)
    with world.engine.begin() as conn:
        conn.execute(delete(stat_demande_epcis))
        conn.execute(delete(stat_demandes))
    set_gauges(store.stock_actif(["76", "27"]))  # the tables were emptied behind the fold
    codec = get_codec()
    events = {s.num: _events(s) for s in specs}
    encoded = [(num, e["operation"], codec.encode("DemandeEvent", e))
               for num, evs in events.items() for e in evs]
    # duplicates: some records again, later in the topic (a file published twice)
    encoded += [encoded[d] for d in dups if d < len(encoded)]
    records = [Record(0, i, num.encode(), value) for i, (num, _op, value) in enumerate(encoded)]
    creations = [r for r, (_n, op, _v) in zip(records, encoded, strict=True) if op == "CRE"]
    others = [r for r, (_n, op, _v) in zip(records, encoded, strict=True) if op != "CRE"]
    folder = Folder(store, DeclarationStore(world.engine))
    folder.fold(creations)  # one batch: every score on an empty population (no thresholds)
    outcomes = folder.fold(others)
    assert outcomes["folded"] == sum(1 for s in specs if s.radiation)
    return {num: evs[0] for num, evs in events.items()}


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(specs=demands(), dups=st.lists(st.integers(0, 90), max_size=6),
       cli_target=st.sampled_from([("departement", "76"), ("departement", "27"),
                                   ("epci", ROUEN)] + [("commune", c) for c in sorted(PLACES)]))
def test_no_output_shows_a_figure_on_fewer_than_11_demands(
        world: World, specs: list[Spec], dups: list[int], cli_target: tuple[str, str]) -> None:
    creations = _fold(world, specs, dups)
    territories = [("commune", c) for c in PLACES]
    territories += [("epci", e) for e in sorted({e for e, _ in PLACES.values()})]
    territories += [("departement", d) for d in ("76", "27")]
    for niveau, code in territories:
        want = expected(specs, niveau, code)
        r = world.client.get(f"/statistiques/{niveau}/{code}?date={AT}&mois={MONTHS}",
                             headers=world.headers)
        assert r.status_code == 200, r.text
        got = _flat(r.json())
        assert set(got) == set(want)
        for name, w in want.items():
            check(f"api {niveau} {code} {name}", w, *got[name])
    # the CLI, in its three forms, on one territory an example draws
    runner = CliRunner()
    from hub.cli import main

    for niveau, code in (cli_target,):
        want = expected(specs, niveau, code)
        base = ["stats", "show", "--niveau", niveau, "--code", code, "--date", AT.isoformat(),
                "--mois", str(MONTHS)]
        outputs = {}
        for form in ("--json", "--csv", None):
            res = runner.invoke(main, base + ([form] if form else []), obj=world.settings)
            assert res.exit_code == 0, res.output
            outputs[form] = res.stdout  # stderr may hold the "nothing folded yet" note
        forms = {"json": _flat(json.loads(outputs["--json"])), "csv": _from_csv(outputs["--csv"]),
                 "text": _from_text(outputs[None])}
        for form, got in forms.items():
            assert set(got) == set(want), form
            for name, w in want.items():
                check(f"cli {form} {niveau} {code} {name}", w, *got[name])
    # the gauges: département level only, absent below 11
    for dep in ("76", "27"):
        n, value = expected(specs, "departement", dep)["stockActif"]
        sample = REGISTRY.get_sample_value("passerelle_statistics_stock_actif",
                                           {"departement": dep})
        assert sample == (None if n < 11 else value), dep
    # the similar demands of the Métropole Rouen Normandie, per typology
    store = StatisticsStore(world.engine)
    for typologie in TYPOLOGIES:
        want = expected_similar(specs, creations, typologie)
        (got,) = service.similar(store, [ROUEN], [typologie], AT)
        body = service.similaires_json(got)
        for name, w in want.items():
            check(f"similar {typologie} {name}", w, body[name]["valeur"], body[name]["secret"])


def test_stats_show_says_when_nothing_was_folded(world: World) -> None:
    """An empty facts table makes every figure "secret (< 11)": the command says why (a
    newcomer read it as secrecy), on stderr, and only then."""
    from hub.cli import main

    _fold(world, [], [])
    args = ["stats", "show", "--niveau", "departement", "--code", "76",
            "--date", AT.isoformat()]
    res = CliRunner().invoke(main, args, obj=world.settings)
    assert res.exit_code == 0, res.output
    assert "no statistics folded yet" in res.stderr and "hub stats fold" in res.stderr
    assert "no statistics folded yet" not in res.stdout
    one = Spec("076012500001234567", (sorted(PLACES)[0],), (TYPOLOGIES[0],), AT, None, 20000)
    _fold(world, [one], [])
    res = CliRunner().invoke(main, args, obj=world.settings)
    assert res.exit_code == 0 and "no statistics folded yet" not in res.output
