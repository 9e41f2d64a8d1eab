"""Personal-data grep: names, birth dates and NIR of the generated demands in log files.

The needles are taken from the very events the run published, so a leak of any of them
into a worker's log (a log line, a traceback, a dead-letter message) is found. Reports
name the file, the line number and the kind of datum, never the datum itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: shorter names ("Roux", "Faure") are too often parts of other words to grep for
_MIN_NAME = 5
_PERSON_KEYS = {"nom": "name", "prenom": "name", "nomUsage": "name",
                "dateNaissance": "birth_date", "nir": "nir",
                "numeroSecuriteSociale": "nir"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Leak:
    file: str
    line: int
    kind: str


def _walk(value: Any, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            kind = _PERSON_KEYS.get(k)
            if kind and isinstance(v, str) and v:
                if kind != "name" or len(v) >= _MIN_NAME:
                    out[v] = kind
                if kind == "birth_date" and re.fullmatch(r"\d{4}-\d{2}-\d{2}", v):
                    y, m, d = v.split("-")
                    out[f"{d}/{m}/{y}"] = kind
            else:
                _walk(v, out)
    elif isinstance(value, list):
        for v in value:
            _walk(v, out)


def needles(events: Iterable[dict[str, Any]]) -> dict[str, str]:
    """Every person datum in ``events``: value -> kind (name, birth_date, nir)."""
    out: dict[str, str] = {}
    for ev in events:
        _walk(ev.get("demande"), out)
    return out


def grep(files: Iterable[Path], found: dict[str, str]) -> list[Leak]:
    """Lines of ``files`` holding one of the needles (whole words for names)."""
    names = sorted((v for v, k in found.items() if k == "name"), key=len, reverse=True)
    others = sorted((v for v, k in found.items() if k != "name"), key=len, reverse=True)
    parts = []
    if names:
        parts.append(r"\b(?:" + "|".join(map(re.escape, names)) + r")\b")
    if others:
        parts.append("(?:" + "|".join(map(re.escape, others)) + ")")
    if not parts:
        return []
    pattern = re.compile("|".join(parts))
    leaks: list[Leak] = []
    for path in files:
        if not path.is_file():
            continue
        with path.open(encoding="utf-8", errors="replace") as fh:
            for n, line in enumerate(fh, 1):
                m = pattern.search(line)
                if m:
                    leaks.append(Leak(str(path.name), n, found.get(m.group(0), "name")))
    return leaks
