"""The délai anormalement long reference table (issue 20 point 2).

The préfet of each département sets, by arrêté, the *délai anormalement long* after which
a demand may be brought before the DALO commission (CCH L441-1-4). The hub ships a
versioned table ``hub/data/delai_anormalement_long.json``: per département a
``status`` (``known`` or ``unknown``), ``months``, ``source`` and ``date``. Only values
with a source may be filled in; every other département is explicitly ``unknown`` and the
hub does not compute the crossing there (the SNE's own indicator still applies). The
project's domain reference gives no département's value, so this version knows none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.core.errors import ConfigError

TABLE = Path(__file__).resolve().parents[1] / "data" / "delai_anormalement_long.json"


@dataclass(frozen=True, slots=True)
class Delai:
    months: int | None
    source: str | None = None
    date: str | None = None


@dataclass(frozen=True, slots=True)
class DelaiTable:
    version: str
    by_departement: dict[str, Delai]

    @classmethod
    def load(cls, path: Path = TABLE) -> DelaiTable:
        """Read and check a table: a known value needs months > 0, a source and a date."""
        raw = json.loads(path.read_text("utf-8"))
        return cls.from_dict(raw, str(path))

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str = "table") -> DelaiTable:
        out: dict[str, Delai] = {}
        for dep, row in (raw.get("departements") or {}).items():
            if row.get("status") == "unknown":
                out[dep] = Delai(None)
                continue
            months, source, date = row.get("months"), row.get("source"), row.get("date")
            if not (isinstance(months, int) and months > 0 and source and date):
                raise ConfigError(
                    f"{where}: département {dep}: a known délai needs months "
                    "> 0, a source and a date (else status 'unknown')"
                )
            out[dep] = Delai(months, str(source), str(date))
        return cls(str(raw.get("version") or "?"), out)

    @property
    def known(self) -> bool:
        """Whether any département's délai is known."""
        return any(d.months is not None for d in self.by_departement.values())

    def months(self, departement: str | None) -> int | None:
        """The délai of ``departement`` in months (None: unknown)."""
        row = self.by_departement.get(departement or "")
        return None if row is None else row.months
