"""French administrative geography: communes, EPCI, départements.

The table is ``hub/data/geo.tsv.gz``, built by ``scripts/build_geo.py`` from the npm package
``@etalab/decoupage-administratif`` (INSEE COG + DGCL EPCI list; see that script for the
file format). It is read-only reference data: dispatching matches a demand's wished communes
against actors' filters given as communes, EPCI (SIREN) or départements, so every code a
filter or a demand carries must be resolvable here.

Codes are kept as strings everywhere ("2A004", "01001"): they are identifiers, not numbers.
Arrondissements municipaux (75112) and communes déléguées/associées resolve to their parent
commune's département and EPCI, and are part of the expansions of that EPCI/département.

Geography over time: ``hub/data/geo_successors.tsv.gz`` (same script) gives, for each code
that left the INSEE list (merged, absorbed by a commune nouvelle, renumbered by a change of
département), its direct successor with the date and source of that change.
:meth:`Geography.resolve` follows that chain (a commune merged twice) to a code of the
table; :meth:`Geography.commune` stays strict (today's codes only): a demand's wished
commune goes through ``resolve`` first, an actor's filter does not (see
``hub.stores.registry.service``).
"""

from __future__ import annotations

import gzip
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from hub.core.errors import UnknownCommuneError

#: the successor table beside the geography table (``scripts/build_geo.py``)
SUCCESSORS_FILE = "geo_successors.tsv.gz"
#: more hops than any chain of the history (the longest has 2): a loop in a bad file
_MAX_HOPS = 16


@dataclass(frozen=True, slots=True)
class Succession:
    """One step of a code's history: ``old`` left the INSEE list into ``successor``.

    ``date`` (ISO, may be empty) and ``basis``: ``history`` — the effective date in INSEE's
    history of the COG; ``cog`` — the first 1 January (COG millésime) without ``old``, the
    change took effect in the year(s) before; ``listed`` — known only from the current
    table's list of former codes. ``source`` is the package version the step comes from.
    """

    old: str
    successor: str
    date: str
    basis: str
    source: str


@dataclass(frozen=True, slots=True)
class Commune:
    """One INSEE commune code: a current commune, an arrondissement or a déléguée/associée.

    ``departement`` and ``epci`` are those of the current commune the code belongs to;
    ``epci`` is None for the few communes outside any EPCI. ``parent`` is that current
    commune's code for an arrondissement or a déléguée/associée (75112 → "75056"), None for
    a current commune: an actor filtering on Paris wants the demands wishing 75112.
    """

    code: str
    name: str
    departement: str
    epci: str | None
    kind: str
    parent: str | None = None


class Geography:
    """Immutable lookup tables over the geography file. Build with :meth:`load`."""

    __slots__ = (
        "_built",
        "_dep_communes",
        "_departements",
        "_epci_communes",
        "_epcis",
        "_parents",
        "_population",
        "_resolved",
        "_rows",
        "_successions",
        "source_version",
        "successors_version",
    )

    def __init__(self, source_version: str) -> None:
        #: the header's source, e.g. "@etalab/decoupage-administratif@6.0.0 sha256:..."
        self.source_version = source_version
        # code -> (name, departement, epci, kind, parent, postal). Commune objects are built on
        # demand and cached in _built: building 37k frozen dataclasses would triple load time
        self._rows: dict[str, tuple[str, str, str, str, str, str]] = {}
        self._built: dict[str, Commune] = {}
        self._population: dict[str, int] = {}
        self._epcis: dict[str, str] = {}
        self._departements: dict[str, tuple[str, str]] = {}
        self._epci_communes: dict[str, frozenset[str]] = {}
        self._dep_communes: dict[str, frozenset[str]] = {}
        #: the current communes that have parts (arrondissements, déléguées, associées)
        self._parents: frozenset[str] = frozenset()
        #: old code -> its direct successor; old code -> the code of the table it resolves to
        self._successions: dict[str, Succession] = {}
        self._resolved: dict[str, str] = {}
        #: the successor table's source line ("" when the geography has none)
        self.successors_version = ""

    @classmethod
    def load(cls, path: Path | None = None, successors: Path | None = None) -> Geography:
        """Read a geography file (default: the one packaged as ``hub/data/geo.tsv.gz``) and
        its successor table (default: ``geo_successors.tsv.gz`` beside it; none if that file
        does not exist beside an explicit ``path``)."""
        if path is None:
            raw = resources.files("hub").joinpath("data/geo.tsv.gz").read_bytes()
            history: bytes | None = (
                resources.files("hub").joinpath(f"data/{SUCCESSORS_FILE}").read_bytes()
            )
        else:
            raw = path.read_bytes()
            beside = path.with_name(SUCCESSORS_FILE)
            history = beside.read_bytes() if beside.exists() else None
        if successors is not None:
            history = successors.read_bytes()
        lines = gzip.decompress(raw).decode("utf-8").splitlines()
        header = lines[0]
        if not header.startswith("# source: "):
            raise ValueError(f"{path or 'geo.tsv.gz'}: missing '# source:' header line")
        geo = cls(header.removeprefix("# source: ").strip())
        rows = geo._rows
        by_epci: dict[str, list[str]] = defaultdict(list)
        by_dep: dict[str, list[str]] = defaultdict(list)
        for line in lines[1:]:
            if line.startswith("C\t"):
                # the hot loop: ~37k lines, so no per-field validation beyond the split
                _, code, name, dep, epci, kind, parent, pop, postal = line.split("\t")
                rows[code] = (name, dep, epci, kind, parent, postal)
                if pop != "0":
                    geo._population[code] = int(pop)
                if epci:
                    by_epci[epci].append(code)
                by_dep[dep].append(code)
            elif line.startswith("E\t"):
                _, siren, name = line.split("\t")
                geo._epcis[siren] = name
            elif line.startswith("D\t"):
                _, code, name, region, _region_name = line.split("\t")
                geo._departements[code] = (name, region)
            # '#' lines and blank lines are comments
        geo._epci_communes = {k: frozenset(v) for k, v in by_epci.items()}
        geo._dep_communes = {k: frozenset(v) for k, v in by_dep.items()}
        geo._parents = frozenset(row[4] for row in rows.values() if row[4])
        if history is not None:
            geo._load_successions(gzip.decompress(history).decode("utf-8").splitlines())
        return geo

    def _load_successions(self, lines: list[str]) -> None:
        """Read the ``S`` records; keep only the chains that end in the table (a code of
        the table is never superseded: a code restored since is itself again)."""
        if not lines or not lines[0].startswith("# source: "):
            raise ValueError(f"{SUCCESSORS_FILE}: missing '# source:' header line")
        self.successors_version = lines[0].removeprefix("# source: ").strip()
        for line in lines[1:]:
            if line.startswith("S\t"):
                _, old, successor, date, basis, source = line.split("\t")
                if old not in self._rows:
                    self._successions[old] = Succession(old, successor, date, basis, source)
        for old in self._successions:
            code = old
            for _ in range(_MAX_HOPS):
                step = self._successions.get(code)
                if step is None:
                    break
                code = step.successor
            if code in self._rows:
                self._resolved[old] = code

    # -- communes ---------------------------------------------------------------------------

    def commune(self, code: str) -> Commune:
        """The commune of this INSEE code; raises UnknownCommuneError if there is none."""
        built = self._built.get(code)
        if built is None:
            row = self._rows.get(code)
            if row is None:
                raise UnknownCommuneError(f"unknown INSEE commune code {code!r}")
            name, dep, epci, kind, parent, _ = row
            built = Commune(code, name, dep, epci or None, kind, parent or None)
            self._built[code] = built
        return built

    def has_commune(self, code: str) -> bool:
        """Whether ``code`` is a code of today's table (a former code is not)."""
        return code in self._rows

    # -- codes over time ----------------------------------------------------------------------

    def resolve(self, code: str) -> str:
        """The code of today's table that ``code`` stands for: itself if it is one, else the
        end of its chain of successors (05141 → 05039, merged in 2018; 27647 → 27058 →
        27676, merged twice). Raises UnknownCommuneError for a code that is in neither table
        (the message names the value only: callers prefix the element)."""
        if code in self._rows:
            return code
        # the SNE's commune codes are [a-zA-Z0-9]{1,5}: "2a004" is Ajaccio (audit P, F3)
        norm = code.strip().upper()
        if norm in self._rows:
            return norm
        resolved = self._resolved.get(norm)
        if resolved is None:
            raise UnknownCommuneError(f"unknown INSEE commune code {code!r}")
        return resolved

    def is_known(self, code: str) -> bool:
        """Whether :meth:`resolve` accepts ``code`` (today's code or a former one, in any
        case, blanks around it ignored)."""
        norm = code.strip().upper()
        return norm in self._rows or norm in self._resolved

    def successor(self, code: str) -> Succession | None:
        """The direct successor step of a former code; None for today's codes and codes
        without history."""
        return self._successions.get(code) if code in self._resolved else None

    def successions(self, code: str) -> tuple[Succession, ...]:
        """Every step from a former code to today's code, oldest first; () for a code of
        today's table or an unknown one."""
        steps: list[Succession] = []
        step = self.successor(code)
        while step is not None and len(steps) < _MAX_HOPS:
            steps.append(step)
            step = self._successions.get(step.successor)
        return tuple(steps)

    def former_codes(self) -> dict[str, str]:
        """Every former code with history → the code of today's table it resolves to."""
        return dict(self._resolved)

    def has_parts(self, code: str) -> bool:
        """Whether ``code`` is a current commune with arrondissements municipaux or
        communes déléguées/associées (75056, 69123, 13055, 74010 Annecy…)."""
        return code in self._parents

    def current_commune(self, code: str) -> str:
        """The current commune a code belongs to (75112 → 75056; a current code → itself)."""
        return self.commune(code).parent or code

    def population(self, code: str) -> int:
        """Municipal population of a commune (0 for déléguées/associées: not counted apart)."""
        return self._population.get(code, 0)

    def postal_codes(self, code: str) -> tuple[str, ...]:
        """La Poste postal codes of a commune, main one first; () if it has none."""
        row = self._rows.get(code)
        if row is None:
            raise UnknownCommuneError(f"unknown INSEE commune code {code!r}")
        return tuple(row[5].split(",")) if row[5] else ()

    def communes(self) -> frozenset[str]:
        """Every known code, all kinds."""
        return frozenset(self._rows)

    # -- EPCI and départements --------------------------------------------------------------

    def epci_exists(self, siren: str) -> bool:
        return siren in self._epcis

    def epci_name(self, siren: str) -> str:
        """Name of an EPCI; raises KeyError for an unknown SIREN."""
        return self._epcis[siren]

    def epcis(self) -> frozenset[str]:
        return frozenset(self._epcis)

    def departement_exists(self, code: str) -> bool:
        return code in self._departements

    def departement_name(self, code: str) -> str:
        """Name of a département ("76" → "Seine-Maritime"); KeyError if unknown."""
        return self._departements[code][0]

    def departement_region(self, code: str) -> str:
        """INSEE region code of a département ("76" → "28"); KeyError if unknown."""
        return self._departements[code][1]

    def departements(self) -> frozenset[str]:
        return frozenset(self._departements)

    def communes_of_epci(self, siren: str) -> frozenset[str]:
        """Codes of the EPCI's current communes and of their arrondissements/déléguées.

        Empty for an unknown SIREN (check :meth:`epci_exists` to tell the two apart).
        """
        return self._epci_communes.get(siren, frozenset())

    def communes_of_departement(self, code: str) -> frozenset[str]:
        """Codes of the département's communes, all kinds; empty for an unknown code."""
        return self._dep_communes.get(code, frozenset())


@cache
def get_geography() -> Geography:
    """The packaged geography, loaded once per process."""
    return Geography.load()
