"""Territorial statistics under statistical secrecy (issue 20 point 5; docs/statistics.md).

Pure rules over plain facts (:class:`Fait`, one per demand, folded from hub.demandes by
:mod:`hub.services.statistics_fold`): no database, no clock.

Contracts:

* **Secrecy.** Every figure is a :class:`Figure` built by :func:`figure` from the demands
  it is computed on: below :data:`SEUIL_SECRET` (11) demands its value is withheld
  (``valeur`` None, ``secret`` True) and never computed, counts included (a count of 3 is a
  figure on 3 demands). Renderers show a withheld figure as such (JSON ``null`` with
  ``"secret": true``, text and CSV ``secret (< 11)``), never a number.
* **Percentiles** are nearest-rank, the definition of the cotation's quartile thresholds
  (:func:`hub.domain.cotation.seuils_quartiles`): the ``share`` percentile is the smallest
  value with at least ``share`` of the values ≤ it. The median is the 50 % one (a value of
  the population, never an average of two).
* **Territory of a demand**: its *first* wished commune (today's current commune, an
  arrondissement counted in its commune), that commune's EPCI and département. Each demand
  counts once per level, so the communes of an EPCI add up to it (docs/statistics.md).
* **Between territories** (secondary secrecy): the figures a subtraction between
  published territories would give are withheld too, whatever their size
  (:mod:`hub.domain.statistics_secondary`, the ``secondary`` argument of
  :func:`statistiques`).
* **Similar demands** (:func:`similaires`) of a demand for an EPCI and a typology: the
  active demands wishing that EPCI (any wish, as the EPCI's grid scores every demand
  wishing it) whose wanted typologies include that typology, with a score under the
  EPCI's grid. Low / median / high are the 1st quartile, the median and the 3rd quartile
  of their scores (not the minimum and maximum: those are one demand's own score).
* **Waiting time** (:func:`delai_moyen_attribution`): the mean, in days, from
  ``dateCreationDemande`` to ``dateRadiation`` of the demands radiated for attribution
  (``RADATT``) in the 12 calendar months up to and including the reference date's month;
  with their count, published only when each of those months holds 11 attributions or
  more (:mod:`hub.domain.statistics_window`: no combination of published figures then
  isolates fewer than 11 households).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal, Protocol

from hub.domain.cotation.faits import add_months
from hub.domain.cotation.quartiles import SeuilsQuartiles, seuils_quartiles
from hub.domain.statistics_window import differencing_risk, in_window

#: a figure computed on fewer demands is withheld (shared domain README, "Statistics")
SEUIL_SECRET = 11
#: radiation motive of an attribution (lease signed)
RADATT = "RADATT"
Niveau = Literal["commune", "epci", "departement"]
NIVEAUX: tuple[Niveau, ...] = ("commune", "epci", "departement")
#: the additive series (hub.domain.statistics_series): a figure named (series, month) is
#: withheld when ``statistiques``' ``secondary`` holds it
STOCK, NOUVELLES, ATTRIBUTIONS, AUTRES = "stock", "nouvelles", "attributions", "autres"


@dataclass(frozen=True, slots=True)
class Figure:
    """One published figure: ``valeur`` is None exactly when ``secret`` (computed on fewer
    than :data:`SEUIL_SECRET` demands). ``effectif`` (how many demands) stays inside the
    hub: renderers never show it for a secret figure."""

    valeur: float | None
    effectif: int
    #: withheld whatever its size: another published figure would give, by subtraction,
    #: one on fewer than 11 demands (:mod:`hub.domain.statistics_window`)
    withheld: bool = False

    @property
    def secret(self) -> bool:
        return self.withheld or self.effectif < SEUIL_SECRET


def withheld(effectif: int) -> Figure:
    """A figure never published (see :attr:`Figure.withheld`)."""
    return Figure(None, effectif, withheld=True)


def figure(effectif: int, compute: Callable[[], float]) -> Figure:
    """The figure of ``compute()`` over ``effectif`` demands; ``compute`` is not even called
    below the threshold."""
    if effectif < SEUIL_SECRET:
        return Figure(None, effectif)
    return Figure(float(compute()), effectif)


def count(items: Sequence[object]) -> Figure:
    """How many ``items`` (each one demand), withheld below the threshold."""
    return figure(len(items), lambda: float(len(items)))


def nearest_rank(values: Iterable[float], share: float) -> float:
    """The nearest-rank percentile ``share`` (0 < share ≤ 1) of non-empty ``values``."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no value")
    return ordered[max(math.ceil(share * len(ordered)), 1) - 1]


def median(values: Sequence[float]) -> Figure:
    return figure(len(values), lambda: nearest_rank(values, 0.5))


def mean(values: Sequence[float]) -> Figure:
    return figure(len(values), lambda: sum(values) / len(values))


@dataclass(frozen=True, slots=True)
class Fait:
    """What the statistics keep of one demand (no personal data: codes, dates, a score,
    an amount per consumption unit). ``scores``: total per EPCI wished whose grid was in
    force at the demand's last event."""

    num_unique: str
    commune: str | None
    epci: str | None
    departement: str | None
    epcis_souhaites: tuple[str, ...] = ()
    typologies: tuple[str, ...] = ()
    date_creation: date | None = None
    active: bool = True
    date_radiation: date | None = None
    motif_radiation: str | None = None
    ressources_uc: float | None = None
    scores: dict[str, int] = field(default_factory=dict)

    def territoire(self, niveau: Niveau) -> str | None:
        return {"commune": self.commune, "epci": self.epci, "departement": self.departement}[niveau]

    @property
    def attribuee(self) -> bool:
        return not self.active and self.motif_radiation == RADATT


def months(at: date, n: int) -> list[str]:
    """The ``n`` months up to the month of ``at``, oldest first, as ``YYYY-MM``."""
    first = add_months(date(at.year, at.month, 1), -(n - 1))
    return [add_months(first, i).strftime("%Y-%m") for i in range(n)]


def month_of(d: date | None) -> str | None:
    """The ``YYYY-MM`` month of a day (None for None): how every series dates a demand."""
    return None if d is None else d.strftime("%Y-%m")


@dataclass(frozen=True, slots=True)
class Mois:
    mois: str
    nouvelles: Figure
    radiees: Figure
    attributions: Figure


@dataclass(frozen=True, slots=True)
class Statistiques:
    """The figures of one territory on a reference date."""

    niveau: Niveau
    code: str
    date: date
    stock_actif: Figure
    anciennete_mediane_jours: Figure
    par_mois: tuple[Mois, ...]
    attributions_12_mois: Figure
    delai_moyen_attribution_jours: Figure


def _attributions(faits: Iterable[Fait]) -> list[Fait]:
    return [f for f in faits if f.attribuee and f.date_radiation is not None]


def _radiated(f: Fait) -> date:
    assert f.date_radiation is not None
    return f.date_radiation


def _window_withheld(secondary: frozenset[tuple[str, str]], at: date) -> bool:
    """A month of the window of ``at`` has its attributions withheld between territories."""
    return any((ATTRIBUTIONS, m) in secondary for m in months(at, 12))


def attributions_12_mois(
    faits: Iterable[Fait], at: date, secondary: frozenset[tuple[str, str]] = frozenset()
) -> Figure:
    """How many attributions in the window of ``at``; withheld also unless each month of
    the window holds 11 or more (statistics_window) and none is withheld by ``secondary``."""
    population = _attributions(faits)
    found = count([f for f in population if in_window(_radiated(f), at)])
    if not found.secret and (
        differencing_risk(map(_radiated, population), at, SEUIL_SECRET)
        or _window_withheld(secondary, at)
    ):
        return withheld(found.effectif)
    return found


def delai_moyen_attribution(
    faits: Iterable[Fait], at: date, secondary: frozenset[tuple[str, str]] = frozenset()
) -> Figure:
    """Mean days from creation to radiation of the attributions of the window (those
    without a creation date cannot be measured and are left out); withheld as
    :func:`attributions_12_mois` over that population."""
    population = [f for f in _attributions(faits) if f.date_creation is not None]
    waits = [
        float((_radiated(f) - f.date_creation).days)
        for f in population
        if f.date_creation is not None and in_window(_radiated(f), at)
    ]
    found = mean(waits)
    if not found.secret and (
        differencing_risk(map(_radiated, population), at, SEUIL_SECRET)
        or _window_withheld(secondary, at)
    ):
        return withheld(found.effectif)
    return found


def _unless(f: Figure, serie: tuple[str, str], secondary: frozenset[tuple[str, str]]) -> Figure:
    return withheld(f.effectif) if serie in secondary and not f.secret else f


def statistiques(
    faits: Iterable[Fait],
    niveau: Niveau,
    code: str,
    at: date,
    nb_mois: int = 12,
    secondary: frozenset[tuple[str, str]] = frozenset(),
) -> Statistiques:
    """The figures of territory ``code`` at ``niveau`` on ``at``: the active stock, the
    median seniority (days from ``dateCreationDemande`` to ``at``) of the active demands
    (withheld with the stock), the new, radiated and attributed demands per month over
    ``nb_mois`` months, the attributions of the last 12 months and their mean waiting
    time. ``secondary``: the (series, month) figures withheld between territories
    (:func:`hub.domain.statistics_series.secondary`); a month's radiated count is shown
    only when its attributions and its radiations for another motive are each publishable
    (the latter never shown: the radiated count then adds nothing to combine)."""
    here = [f for f in faits if f.territoire(niveau) == code]
    actifs = [f for f in here if f.active]
    # every active demand with a creation date, whatever ``at``: a population that moved
    # with the reference date gave, day by day, when each household applied (audit U,
    # U-F3); a demand created after ``at`` has a negative seniority then
    ages = [float((at - f.date_creation).days) for f in actifs if f.date_creation is not None]
    per_month = []
    for m in months(at, nb_mois):
        radiees = [f for f in here if not f.active and month_of(f.date_radiation) == m]
        attributions = _unless(
            count([f for f in radiees if f.attribuee]), (ATTRIBUTIONS, m), secondary
        )
        autres = _unless(
            count([f for f in radiees if f.motif_radiation != RADATT]), (AUTRES, m), secondary
        )
        toutes = count(radiees)
        if not toutes.secret and (attributions.secret or autres.secret):
            # radiated minus one part would give the other (audit R; R-F2 across territories)
            toutes = withheld(len(radiees))
        nouvelles = count([f for f in here if month_of(f.date_creation) == m])
        per_month.append(
            Mois(
                mois=m,
                nouvelles=_unless(nouvelles, (NOUVELLES, m), secondary),
                radiees=toutes,
                attributions=attributions,
            )
        )
    stock = _unless(count(actifs), (STOCK, ""), secondary)
    return Statistiques(
        niveau=niveau,
        code=code,
        date=at,
        stock_actif=stock,
        # a median published where the stock is withheld says "11 or more" (U-F2)
        anciennete_mediane_jours=withheld(len(ages)) if stock.secret else median(ages),
        par_mois=tuple(per_month),
        attributions_12_mois=attributions_12_mois(here, at, secondary),
        delai_moyen_attribution_jours=delai_moyen_attribution(here, at, secondary),
    )


@dataclass(frozen=True, slots=True)
class Similaires:
    """The scores of the demands similar to one (same EPCI, same typology) and the mean
    waiting time of the similar demands attributed in the last 12 months."""

    epci: str
    typologie: str
    bas: Figure
    median: Figure
    haut: Figure
    delai_moyen_attribution_jours: Figure


def similaires(faits: Iterable[Fait], epci: str, typologie: str, at: date) -> Similaires:
    """See the module doc (the demands of ``faits`` not wishing ``epci`` are ignored)."""
    pool = [f for f in faits if epci in f.epcis_souhaites and typologie in f.typologies]
    scores = [float(f.scores[epci]) for f in pool if f.active and epci in f.scores]
    return Similaires(
        epci=epci,
        typologie=typologie,
        bas=figure(len(scores), lambda: nearest_rank(scores, 0.25)),
        median=median(scores),
        haut=figure(len(scores), lambda: nearest_rank(scores, 0.75)),
        delai_moyen_attribution_jours=delai_moyen_attribution(pool, at),
    )


class SeuilsSource(Protocol):
    """Where the quartile thresholds of an EPCI come from (the port the cotation's callers
    use: the API, the fold, the worker): ``None`` when they are unknown or withheld."""

    def __call__(self, epci: str) -> SeuilsQuartiles | None: ...


def seuils_population(values: Sequence[float]) -> SeuilsQuartiles | None:
    """The quartile thresholds of the resources per consumption unit of an EPCI's active
    applicants (``values``: one per applicant whose value is known), or None below
    :data:`SEUIL_SECRET` applicants (withheld: the population criteria stay
    ``indetermine``)."""
    finite = [v for v in values if math.isfinite(v)]
    if len(finite) < SEUIL_SECRET:
        return None
    return seuils_quartiles(finite)
