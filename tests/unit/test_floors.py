"""The floor plan of docs/architecture.md, checked over the code's own imports (issue 18).

Every module of the product stands on exactly one floor; it may import its own package
(the unit it belongs to) and any floor below, never a floor above nor a sibling on its own
floor. Imports are read from the AST (module level, inside functions and under
``TYPE_CHECKING`` alike), so a lazy import cannot hide a climb.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

#: bottom to top; a tuple is one floor of siblings that must not import each other
FLOORS: list[tuple[str, ...]] = [
    ("hub.core.errors",),  # the root error class: the Avro contract raises it too
    ("schemas",),
    ("hub.core",),
    ("hub.domain",),
    ("monitoring",),
    ("hub.stores",),
    ("dispatch", "connectors"),
    ("hub.services",),
    ("hub.migrations", "hub.dev"),
    ("hub.api",),
    ("hub.cli",),
]
PRODUCT = ("hub", "schemas", "dispatch", "connectors", "monitoring")


def unit_of(module: str) -> tuple[int, str] | None:
    """(floor number, unit) of a dotted module name; None if it is on no floor."""
    for floor, units in enumerate(FLOORS):
        for unit in units:
            if module == unit or module.startswith(unit + "."):
                return floor, unit
    return None


def product_modules(root: Path = REPO) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PRODUCT:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports_of(name: str, path: Path) -> list[tuple[int, str]]:
    """(line, imported module) for every import statement of one module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # ``from hub.core import topics`` imports hub.core.topics
            out += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return out


def climbs(root: Path = REPO) -> list[str]:
    """Every import that breaks the plan, as ``file:line: a -> b (why)``."""
    found: list[str] = []
    for name, path in product_modules(root).items():
        here = unit_of(name)
        if here is None:
            if name not in PRODUCT:  # a package's own face (hub/__init__.py) holds nothing
                found.append(f"{path.relative_to(root)}: {name} stands on no floor")
            continue
        for line, target in imports_of(name, path):
            there = unit_of(target)
            if there is None or there[1] == here[1]:
                continue  # a library, or the module's own unit
            if there[0] > here[0]:
                why = "imports a higher floor"
            elif there[0] == here[0]:
                why = "imports a sibling on its own floor"
            else:
                continue
            found.append(f"{path.relative_to(root)}:{line}: {here[1]} -> {target} ({why})")
    return found


def test_every_import_runs_down_the_floors() -> None:
    assert climbs() == []


def test_every_module_of_the_product_stands_on_a_floor() -> None:
    assert len(product_modules()) > 150
    assert all(unit_of(n) or n in PRODUCT for n in product_modules())


@pytest.mark.parametrize(
    ("source", "target", "broken"),
    [
        ("hub/domain/x.py", "from hub.stores.registry import store", True),
        ("hub/domain/x.py", "import dispatch.processor", True),
        ("dispatch/x.py", "from connectors.ingress import publishing", True),
        ("hub/core/x.py", "def f():\n    from hub.domain import geo", True),
        ("hub/core/x.py", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                          "    from monitoring import metrics", True),
        ("hub/stray.py", "import json", True),
        ("hub/cli/x.py", "from hub.core import topics\nfrom dispatch import batch", False),
        ("dispatch/x.py", "from . import batch\nfrom .runtime import app", False),
    ],
)
def test_the_rule_catches_a_climb(tmp_path: Path, source: str, target: str,
                                  broken: bool) -> None:  # fmt: skip
    """The checker itself, on a small tree of its own: it must see what it is meant to."""
    for package in PRODUCT:
        (tmp_path / package).mkdir()
    file = tmp_path / source
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(target + "\n", encoding="utf-8")
    assert bool(climbs(tmp_path)) is broken, climbs(tmp_path)
