"""Every dependency of pyproject.toml is justified in docs/dependencies.md (the house rule:
"say in docs/ why each dependency"), read as a person reads the tables: a package counts
as listed when its name appears in the first column of a row, whatever the case and the
``-``/``_`` spelling (audit L, F9: three were missing)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _name(requirement: str) -> str:
    """``aiokafka[lz4]==0.14.0; python_version < '3.13'`` → ``aiokafka``."""
    found = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert found, requirement
    return _norm(found.group(1))


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _documented() -> set[str]:
    names: set[str] = set()
    for line in (ROOT / "docs" / "dependencies.md").read_text(encoding="utf-8").splitlines():
        if not line.startswith("| ") or line.startswith("| dependency"):
            continue
        first = line.split("|")[1]
        names.update(_norm(w) for w in re.findall(r"[A-Za-z0-9][A-Za-z0-9._-]*", first))
    return names


def test_every_dependency_has_a_reason() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    documented = _documented()
    missing = sorted({_name(r) for r in wanted} - documented)
    assert not missing, f"not in docs/dependencies.md: {missing}"


def test_the_reader_finds_a_listed_name_and_not_an_absent_one() -> None:
    assert {"faust-streaming", "psycopg", "sqlalchemy"} <= _documented()
    assert "left-pad" not in _documented()
