"""Population criteria: the 1st and 2nd quartile thresholds of resources per consumption
unit among an EPCI's active applicants.

The thresholds are an *input* of :func:`hub.domain.cotation.engine.score`
(:class:`SeuilsQuartiles`): this module computes them from a list of values in a pure
function. Gathering the list — the resources per unit of every active demand wishing the
EPCI, kept up to date as events arrive — is a streaming aggregate over the hub's state,
left to a later change (docs/cotation.md, "Population criteria"); until then a caller
passes thresholds it has (or none: the criteria are then *indéterminés*).

Contracts: values are monthly euros per consumption unit
(:func:`hub.domain.cotation.faits.ressources_par_uc`). A threshold is the nearest-rank
percentile: ``q1`` is the smallest value such that at least 25 % of the values are ≤ it,
``q2`` (the median) the same at 50 %. A household is in the 1st quartile when its value
is ≤ ``q1``, in the 2nd when ``q1`` < value ≤ ``q2``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from hub.core.errors import InputError


@dataclass(frozen=True, slots=True)
class SeuilsQuartiles:
    """Thresholds of resources per consumption unit (monthly euros), ``q1 <= q2``."""

    q1: float
    q2: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.q1) and math.isfinite(self.q2)) or self.q1 > self.q2:
            raise InputError(
                "quartile thresholds must be finite with q1 <= q2", code="bad_quartiles"
            )

    def quartile(self, value: float) -> int:
        """1, 2, or 3 for "above the median"."""
        if value <= self.q1:
            return 1
        return 2 if value <= self.q2 else 3


def _nearest_rank(ordered: list[float], share: float) -> float:
    return ordered[max(math.ceil(share * len(ordered)), 1) - 1]


def seuils_quartiles(values: Iterable[float]) -> SeuilsQuartiles:
    """The thresholds of ``values`` (:class:`InputError` if there is none, or one is not
    a finite number)."""
    ordered = sorted(values)
    if not ordered:
        raise InputError("no resources to compute quartiles from", code="no_population")
    if not all(math.isfinite(v) for v in ordered):
        raise InputError("resources per unit must be finite numbers", code="bad_quartiles")
    return SeuilsQuartiles(_nearest_rank(ordered, 0.25), _nearest_rank(ordered, 0.5))
