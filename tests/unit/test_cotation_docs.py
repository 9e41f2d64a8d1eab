"""docs/cotation.md's worked example is a test: the page's snapshot, scored on the
Rouen grid with the page's reference date, thresholds and declaration, gives exactly the
page's detail table and total; and the page's criterion table lists the grid's criteria,
points and sources."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

from hub.domain.cotation import Declaration, SeuilsQuartiles, score, shipped_grids

PAGE = Path(__file__).resolve().parents[2] / "docs" / "cotation.md"


def _after(marker: str) -> str:
    text = PAGE.read_text("utf-8")
    return text[text.index(f"<!-- cotation-example:{marker} -->"):]


def test_the_worked_example_scores_as_the_page_says() -> None:
    block = re.search(r"```json\n(.*?)\n```", _after("snapshot"), re.S)
    assert block is not None
    snapshot = json.loads(block.group(1))
    rows = re.findall(r"^\| `([A-Z0-9_]+)` \| (\w+)[^|]* \| (\d+) \|$", _after("detail"),
                      re.M)
    total = re.search(r"^\| \*\*total\*\* \| \| \*\*(\d+)\*\* \|$", _after("detail"), re.M)
    assert rows and total is not None
    grid = shipped_grids().en_vigueur("200023414", date(2025, 9, 1))
    assert grid is not None
    declared = {"REPRISE_ACTIVITE": Declaration("REPRISE_ACTIVITE", True, "rouen-habitat",
                                                date(2025, 8, 20))}
    result = score(snapshot, grid, declared, date(2025, 9, 1), SeuilsQuartiles(900, 1200))
    assert {d.code: (d.statut, d.points) for d in result.detail if d.statut != "non_rempli"
            } == {code: (statut, int(points)) for code, statut, points in rows}
    assert result.total == int(total.group(1)) == 180
    assert not result.hors_cotation
    # the paragraph's variants
    assert score(snapshot, grid, {}, date(2025, 9, 1), SeuilsQuartiles(900, 1200)).total == 140
    assert score(snapshot, grid, declared, date(2025, 9, 1)).total == 160
    dalo = {**snapshot, "informationDalo": {"statutDalo": "ACTIF"}}
    assert score(dalo, grid, {}, date(2025, 9, 1)).total == 1000


def test_the_criterion_table_is_the_grid() -> None:
    text = PAGE.read_text("utf-8")
    rows = re.findall(r"^\| `([A-Z0-9_]+)` \| [^|]+ \| (legal|local) \| (\d+) \| "
                      r"(computed|declared) \|", text, re.M)
    grid = shipped_grids().en_vigueur("200023414", date(2025, 9, 1))
    assert grid is not None
    assert rows == [(c.code, c.categorie, str(c.points), "declared" if c.declare else "computed")
                    for c in grid.criteres]
