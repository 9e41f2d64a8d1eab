"""Cotation grids as data: one versioned YAML per EPCI, validated by pydantic.

A grid file is ``<EPCI SIREN>-<version>.yaml`` (``hub/data/cotation/`` ships them) and
holds the EPCI, the version, the validity dates (inclusive; ``null`` = open), where the
grid comes from, the *hors cotation* rule (the points given instead of the score to a
demand whose DALO status is listed) and the criteria. Each criterion has a code, a label,
a category (``legal``: statutory priority, CCH L441-1; ``local``: the EPCI's own), its
points and the rule that decides it (:data:`Regle`): computed from the demand snapshot, or
``declaration`` (a partner declares it through the API).

Contracts:

* :func:`load_grid` returns a valid :class:`Grille` or raises :class:`GridError` whose
  message is one line naming the file, the place and the fault
  (``200023414-1.yaml: criteres.2.points: Input should be greater than 0``).
* A grid's codes are checked against the SNE code lists the rules read (motives ``01`` …
  ``23``, current housing, contracts, DALO statuses), its criterion codes are unique, its
  *hors cotation* points exceed the grid's maximum, and the file name matches its EPCI and
  version.
* :func:`load_grids` loads a folder; two versions of one EPCI whose validity periods
  overlap are refused, so :meth:`Grilles.en_vigueur` finds at most one grid for a date.
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hub.core.errors import InputError
from hub.domain.refdata import TABLES

#: the grids shipped with the hub
GRIDS_DIR = Path(__file__).resolve().parents[2] / "data" / "cotation"
FILE_NAME = re.compile(r"^(?P<epci>[0-9]{9})-(?P<version>[0-9A-Za-z._]{1,20})\.yaml$")

#: SNE code lists a rule may name (domain README, "Code lists (SNE)")
MOTIFS = frozenset(f"{i:02d}" for i in range(1, 24))
MODELES_LOGEMENT = frozenset(
    {
        "HLM",
        "LP",
        "RS",
        "RHVS",
        "RE",
        "SLHT",
        "SH",
        "CDEFCM",
        "CPE",
        "CP",
        "LTG",
        "FONC",
        "POCC",
        "CAMCAR",
        "HOT",
        "SD",
        "SQUAT",
    }
)
CONTRATS = frozenset({"CDI", "CDD", "ART", "CHO", "APP", "ETU", "RET", "AUT"})
STATUTS_DALO = TABLES["statutDalo"]


class GridError(InputError):
    """A grid file that cannot be used (one-line message naming the file and the fault)."""

    code = "bad_grid"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _codes_in(allowed: frozenset[str], what: str, codes: tuple[str, ...]) -> tuple[str, ...]:
    unknown = sorted(set(codes) - allowed)
    if unknown:
        raise ValueError(f"unknown {what} code(s) {', '.join(unknown)}")
    return codes


class RegleMotif(_Strict):
    """Met when the demand names one of ``codes`` among its motives
    (``principauxMotifDemande/motifDemande``); with ``avec_enfant_mineur``, only if the
    household also counts a minor (a dependant or a child in custody under 18)."""

    type: Literal["motif"]
    codes: tuple[str, ...] = Field(min_length=1)
    avec_enfant_mineur: bool = False

    @model_validator(mode="after")
    def _known(self) -> RegleMotif:
        _codes_in(MOTIFS, "motive", self.codes)
        return self


class RegleLogementActuel(_Strict):
    """Met when the current housing (``logementActuel/listeModeleLogement``) names one of
    ``codes``."""

    type: Literal["logement_actuel"]
    codes: tuple[str, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _known(self) -> RegleLogementActuel:
        _codes_in(MODELES_LOGEMENT, "current housing", self.codes)
        return self


class RegleContrat(_Strict):
    """Met when the applicant's ``situationProfessionnelle/typeContratTravail`` is one of
    ``codes``."""

    type: Literal["contrat"]
    codes: tuple[str, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _known(self) -> RegleContrat:
        _codes_in(CONTRATS, "contract", self.codes)
        return self


class RegleAge(_Strict):
    """Met when the applicant's age in completed years on the reference date is below
    ``moins_de`` and/or at least ``au_moins`` (from ``demandeur/dateNaissance``)."""

    type: Literal["age"]
    moins_de: int | None = Field(default=None, ge=1, le=150)
    au_moins: int | None = Field(default=None, ge=0, le=150)

    @model_validator(mode="after")
    def _bounded(self) -> RegleAge:
        if self.moins_de is None and self.au_moins is None:
            raise ValueError("an age rule needs moins_de or au_moins")
        return self


class RegleAnciennete(_Strict):
    """Met when ``mois`` months have passed since ``dateCreationDemande`` on the reference
    date (a renewal keeps the creation date, so the seniority)."""

    type: Literal["anciennete"]
    mois: int = Field(ge=1, le=600)


class RegleQuartile(_Strict):
    """Met when the household's monthly resources per consumption unit fall in
    ``quartile`` (1 or 2) of the EPCI's active applicants (thresholds: an input)."""

    type: Literal["quartile_ressources"]
    quartile: Literal[1, 2]


class RegleDeclaration(_Strict):
    """Met when a partner declared it (the SNE data cannot tell)."""

    type: Literal["declaration"]


Regle = Annotated[
    RegleMotif
    | RegleLogementActuel
    | RegleContrat
    | RegleAge
    | RegleAnciennete
    | RegleQuartile
    | RegleDeclaration,
    Field(discriminator="type"),
]


class Critere(_Strict):
    code: str = Field(pattern=r"^[A-Z][A-Z0-9_]{0,39}$")
    libelle: str = Field(min_length=1, max_length=200)
    categorie: Literal["legal", "local"]
    points: int = Field(gt=0, le=10_000)
    regle: Regle
    #: how the rule reads the SNE data, and what is inferred (shown in the docs)
    note: str | None = Field(default=None, max_length=1000)

    @property
    def declare(self) -> bool:
        """Whether a partner declares this criterion (else it is computed)."""
        return self.regle.type == "declaration"


class HorsCotation(_Strict):
    points: int = Field(gt=0, le=1_000_000)
    statuts_dalo: tuple[str, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _known(self) -> HorsCotation:
        _codes_in(STATUTS_DALO, "DALO status", self.statuts_dalo)
        return self


class Grille(_Strict):
    epci: str = Field(pattern=r"^[0-9]{9}$")
    nom: str = Field(min_length=1, max_length=200)
    version: str = Field(pattern=r"^[0-9A-Za-z._]{1,20}$")
    valide_du: date | None = None
    valide_au: date | None = None
    source: str = Field(min_length=1, max_length=1000)
    hors_cotation: HorsCotation
    criteres: tuple[Critere, ...] = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _coherent(self) -> Grille:
        codes = [c.code for c in self.criteres]
        twice = sorted({c for c in codes if codes.count(c) > 1})
        if twice:
            raise ValueError(f"criterion code(s) used twice: {', '.join(twice)}")
        if self.valide_du and self.valide_au and self.valide_au < self.valide_du:
            raise ValueError("valide_au is before valide_du")
        if self.hors_cotation.points <= self.maximum:
            raise ValueError(
                f"hors_cotation.points ({self.hors_cotation.points}) must exceed "
                f"the grid's maximum ({self.maximum})"
            )
        return self

    @property
    def maximum(self) -> int:
        """The highest score the criteria can give (every criterion met)."""
        return sum(c.points for c in self.criteres)

    def critere(self, code: str) -> Critere | None:
        return next((c for c in self.criteres if c.code == code), None)

    def en_vigueur(self, at: date) -> bool:
        return (self.valide_du is None or self.valide_du <= at) and (
            self.valide_au is None or at <= self.valide_au
        )


def _one_line(name: str, exc: ValidationError) -> str:
    errors = exc.errors()
    first = errors[0]
    loc = ".".join(str(p) for p in first["loc"]) or "(file)"
    msg = str(first["msg"]).replace("\n", " ").removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{name}: {loc}: {msg}{more}"


def parse_grid(text: str, name: str) -> Grille:
    """The grid of ``text`` (YAML) named ``name`` (``<EPCI>-<version>.yaml``)."""
    found = FILE_NAME.match(name)
    if found is None:
        raise GridError(f"{name}: a grid file is named <EPCI SIREN>-<version>.yaml")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise GridError(f"{name}: not valid YAML{where}") from None
    if not isinstance(raw, dict):
        raise GridError(f"{name}: a grid is a YAML mapping")
    try:
        grid = Grille.model_validate(raw)
    except ValidationError as exc:
        raise GridError(_one_line(name, exc)) from None
    if (grid.epci, grid.version) != (found["epci"], found["version"]):
        raise GridError(
            f"{name}: the file name does not match epci {grid.epci} and version {grid.version}"
        )
    return grid


def load_grid(path: Path) -> Grille:
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GridError(f"{path.name}: cannot be read ({type(exc).__name__})") from None
    return parse_grid(text, path.name)


class Grilles:
    """The grids of a folder, by EPCI; at most one in force per EPCI and date."""

    def __init__(self, grids: list[Grille]) -> None:
        self.by_epci: dict[str, list[Grille]] = {}
        for g in sorted(grids, key=lambda g: (g.epci, g.valide_du or date.min)):
            for other in self.by_epci.get(g.epci, []):
                if _overlap(other, g):
                    raise GridError(
                        f"{g.epci}-{g.version}.yaml: its validity overlaps "
                        f"version {other.version} of the same EPCI"
                    )
            self.by_epci.setdefault(g.epci, []).append(g)

    def en_vigueur(self, epci: str, at: date) -> Grille | None:
        """The grid of ``epci`` in force on ``at``, if any."""
        return next((g for g in self.by_epci.get(epci, []) if g.en_vigueur(at)), None)

    def get(self, epci: str, version: str) -> Grille | None:
        return next((g for g in self.by_epci.get(epci, []) if g.version == version), None)


def _overlap(a: Grille, b: Grille) -> bool:
    a_end, b_end = a.valide_au or date.max, b.valide_au or date.max
    return (a.valide_du or date.min) <= b_end and (b.valide_du or date.min) <= a_end


def load_grids(folder: Path = GRIDS_DIR) -> Grilles:
    """Every ``*.yaml`` grid of ``folder`` (:class:`GridError` on the first bad one)."""
    return Grilles([load_grid(p) for p in sorted(folder.glob("*.yaml"))])


@lru_cache(maxsize=1)
def shipped_grids() -> Grilles:
    """The grids shipped in ``hub/data/cotation`` (loaded once)."""
    return load_grids(GRIDS_DIR)
