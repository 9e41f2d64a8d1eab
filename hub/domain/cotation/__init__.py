"""The cotation engine (loi ELAN scoring per EPCI grid; issue 20 point 4): grids as data
(:mod:`.grid`), what a snapshot tells (:mod:`.faits`), population thresholds
(:mod:`.quartiles`) and the pure :func:`score` (:mod:`.engine`). See docs/cotation.md."""

from hub.domain.cotation.engine import Declaration, DetailCritere, Score, score
from hub.domain.cotation.grid import (
    GridError,
    Grille,
    Grilles,
    load_grid,
    load_grids,
    parse_grid,
    shipped_grids,
)
from hub.domain.cotation.quartiles import SeuilsQuartiles, seuils_quartiles

__all__ = [
    "Declaration",
    "DetailCritere",
    "GridError",
    "Grille",
    "Grilles",
    "Score",
    "SeuilsQuartiles",
    "load_grid",
    "load_grids",
    "parse_grid",
    "score",
    "seuils_quartiles",
    "shipped_grids",
]
