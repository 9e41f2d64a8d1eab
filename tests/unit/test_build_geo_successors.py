"""``scripts/build_geo.py``'s successor table, on small package tarballs made here with the
shapes of @etalab/decoupage-administratif (INSEE history of 0.7.0, one communes.json per
millésime with ``anciensCodes``): each kind of step, the chain, and the consistency check."""

from __future__ import annotations

import importlib.util
import io
import json
import sys
import tarfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build_geo.py"


@pytest.fixture(scope="module")
def build_geo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_geo", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_geo"] = module
    spec.loader.exec_module(module)
    return module


def tarball(path: Path, **files: Any) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, content in files.items():
            data = json.dumps(content).encode()
            info = tarfile.TarInfo(f"package/data/{name.replace('_', '-')}.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def com(code: str, *anciens: str) -> dict[str, Any]:
    return {"code": code, "type": "commune-actuelle", "anciensCodes": list(anciens)}


HISTORY = [
    # 10001 absorbed by 10002 in 1970 (fusion simple: the part's pole is the absorbing commune)
    {"type": "COM", "code": "10001", "id": "COM-10001@1943-01-01", "dateFin": "1970-01-01",
     "successeur": "COMP-10001@1970-01-01"},
    {"type": "COMP", "code": "10001", "id": "COMP-10001@1970-01-01", "dateDebut": "1970-01-01",
     "pole": "COM-10002@1970-01-01"},
    {"type": "COM", "code": "10002", "id": "COM-10002@1943-01-01", "dateFin": "1970-01-01",
     "successeur": "COM-10002@1970-01-01"},
    {"type": "COM", "code": "10002", "id": "COM-10002@1970-01-01", "dateDebut": "1970-01-01"},
    # 20001 renumbered by the split of Corsica
    {"type": "COM", "code": "20001", "id": "COM-20001@1943-01-01", "dateFin": "1976-01-01",
     "successeur": "COM-2A001@1976-01-01"},
    {"type": "COM", "code": "2A001", "id": "COM-2A001@1976-01-01", "dateDebut": "1976-01-01"},
    # 10003 deleted without a successor in the history
    {"type": "COM", "code": "10003", "id": "COM-10003@1943-01-01", "dateFin": "1950-06-01"},
    {"type": "COM", "code": "10004", "id": "COM-10004@1943-01-01"},
]  # fmt: skip
Y2019 = [com("10002"), com("2A001"), com("10004"), com("10005"), com("10006"), com("10007")]
Y2021 = [com("10002"), com("2A001"), com("10005", "10004"), com("10006"), com("10007")]
Y2026 = [com("10002", "10001"), com("2A001", "20001"), com("10006", "10004", "10005"),
         com("10007", "10003")]  # fmt: skip


def chain(tmp_path: Path, today: list[dict[str, Any]]) -> list[tuple[str, str, Path]]:
    return [
        ("2019", "0.7.0", tarball(tmp_path / "a.tgz", historique_communes=HISTORY,
                                  communes=Y2019)),
        ("2021", "1.1.1", tarball(tmp_path / "b.tgz", communes=Y2021)),
        ("2026", "6.0.0", tarball(tmp_path / "c.tgz", communes=today)),
    ]


def test_every_kind_of_step(build_geo: ModuleType, tmp_path: Path) -> None:
    steps = chain(tmp_path, Y2026)
    assert build_geo.build_successors(steps[0][2], steps) == [
        "S\t10001\t10002\t1970-01-01\thistory\t0.7.0",  # merged (history)
        "S\t10003\t10007\t1950-06-01\tlisted\t6.0.0",  # only today's anciensCodes know
        "S\t10004\t10005\t2021-01-01\tcog\t1.1.1",  # gone between two millésimes...
        "S\t10005\t10006\t2026-01-01\tcog\t6.0.0",  # ...and its successor in turn: a chain
        "S\t20001\t2A001\t1976-01-01\thistory\t0.7.0",  # change of département
    ]


def test_a_chain_landing_elsewhere_than_anciens_codes_say_stops_the_build(
    build_geo: ModuleType, tmp_path: Path
) -> None:
    wrong = [com("10002", "10001", "10004"), com("2A001", "20001"), com("10006", "10005"),
             com("10007", "10003")]  # fmt: skip
    steps = chain(tmp_path, wrong)
    with pytest.raises(SystemExit, match="10004: chain 10004 -> 10005 -> 10006"):
        build_geo.build_successors(steps[0][2], steps)


def test_the_manual_steps_join_when_their_successor_is_in_the_table(
        build_geo: ModuleType, tmp_path: Path) -> None:  # fmt: skip
    """Saint-Barthélemy and Saint-Martin, Guadeloupe's 97123 and 97127 until 2007, have no
    successor in INSEE's history: the build adds them (audit P, F4), only when 97701/97801
    are in today's table (the fixture's table has neither: unchanged above)."""
    today = [*Y2026, com("97701"), com("97801")]
    steps = chain(tmp_path, today)
    got = build_geo.build_successors(steps[0][2], steps)
    assert "S\t97123\t97701\t2007-07-15\thistory\tmanual" in got
    assert "S\t97127\t97801\t2007-07-15\thistory\tmanual" in got
