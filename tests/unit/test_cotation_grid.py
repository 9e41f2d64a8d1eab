"""Cotation grids as data: a bad grid is refused with one line naming the file, the place
and the fault; versions of one EPCI cannot overlap; the grid in force depends on the date."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.domain.cotation import GridError, load_grid, load_grids, parse_grid
from hub.domain.cotation.grid import GRIDS_DIR

NAME = "200023414-1.yaml"
Mutation = Callable[[dict[str, Any]], None]


def rouen_raw() -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load((GRIDS_DIR / NAME).read_text("utf-8"))
    return raw


def _set(path: str, value: Any) -> Mutation:
    def mutate(raw: dict[str, Any]) -> None:
        node: Any = raw
        *parents, last = path.split(".")
        for p in parents:
            node = node[int(p)] if p.isdigit() else node[p]
        node[int(last) if last.isdigit() else last] = value
    return mutate


def _duplicate(raw: dict[str, Any]) -> None:
    raw["criteres"].append(copy.deepcopy(raw["criteres"][0]))


CASES: list[tuple[str, Mutation, str]] = [
    ("zero points", _set("criteres.2.points", 0),
     f"{NAME}: criteres.2.points: Input should be greater than 0"),
    ("unknown motive", _set("criteres.2.regle.codes", ["03", "24"]),
     f"{NAME}: criteres.2.regle.motif: unknown motive code(s) 24"),
    ("unknown housing code", _set("criteres.0.regle.codes", ["CASTLE"]),
     f"{NAME}: criteres.0.regle.logement_actuel: unknown current housing code(s) CASTLE"),
    ("unknown rule", _set("criteres.0.regle", {"type": "astrologie"}),
     f"{NAME}: criteres.0.regle: Input tag 'astrologie' found using 'type' does not match"),
    ("unknown key", _set("criteres.0.bonus", 3),
     f"{NAME}: criteres.0.bonus: Extra inputs are not permitted"),
    ("criterion twice", _duplicate,
     f"{NAME}: (file): criterion code(s) used twice: HEBERGE_STRUCTURE"),
    ("hors cotation not above the maximum", _set("hors_cotation.points", 860),
     f"{NAME}: (file): hors_cotation.points (860) must exceed the grid's maximum (860)"),
    ("unknown DALO status", _set("hors_cotation.statuts_dalo", ["OUI"]),
     f"{NAME}: hors_cotation: unknown DALO status code(s) OUI"),
    ("dates reversed", lambda r: r.update(valide_du="2025-01-01", valide_au="2024-01-01"),
     f"{NAME}: (file): valide_au is before valide_du"),
    ("bad EPCI", _set("epci", "2000"), f"{NAME}: epci: String should match pattern"),
    ("age rule without bound", _set("criteres.23.regle", {"type": "age"}),
     f"{NAME}: criteres.23.regle.age: an age rule needs moins_de or au_moins"),
    ("name mismatch", _set("version", "2"),
     f"{NAME}: the file name does not match epci 200023414 and version 2"),
]


@pytest.mark.parametrize(("mutation", "expected"), [(m, e) for _, m, e in CASES],
                         ids=[c[0] for c in CASES])
def test_a_bad_grid_gives_one_line_naming_the_fault(mutation: Mutation, expected: str) -> None:
    raw = rouen_raw()
    mutation(raw)
    with pytest.raises(GridError) as caught:
        parse_grid(yaml.safe_dump(raw, allow_unicode=True), NAME)
    message = caught.value.message
    assert "\n" not in message
    assert message.startswith(expected), message


def test_bad_yaml_and_bad_names_are_one_line_too(tmp_path: Path) -> None:
    with pytest.raises(GridError, match=rf"^{NAME}: not valid YAML \(line 2\)$"):
        parse_grid("epci: 1\n  bad: [\n", NAME)
    with pytest.raises(GridError, match=r"^rouen\.yaml: a grid file is named <EPCI SIREN>"):
        parse_grid("{}", "rouen.yaml")
    with pytest.raises(GridError, match=rf"^{NAME}: a grid is a YAML mapping$"):
        parse_grid("- 1\n", NAME)
    with pytest.raises(GridError, match=r"^200023414-9\.yaml: cannot be read"):
        load_grid(tmp_path / "200023414-9.yaml")


def _write(folder: Path, version: str, du: str | None, au: str | None) -> None:
    raw = rouen_raw()
    raw.update(version=version, valide_du=du, valide_au=au)
    (folder / f"200023414-{version}.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True))


def test_versions_of_one_epci_follow_each_other(tmp_path: Path) -> None:
    _write(tmp_path, "1", None, "2025-12-31")
    _write(tmp_path, "2", "2026-01-01", None)
    grids = load_grids(tmp_path)
    assert grids.en_vigueur("200023414", date(2025, 12, 31)).version == "1"  # type: ignore[union-attr]
    assert grids.en_vigueur("200023414", date(2026, 1, 1)).version == "2"  # type: ignore[union-attr]
    assert grids.en_vigueur("200084952", date(2026, 1, 1)) is None
    _write(tmp_path, "3", "2026-06-01", None)
    with pytest.raises(GridError, match=r"^200023414-3\.yaml: its validity overlaps version 2"):
        load_grids(tmp_path)
