"""Territorial statistics for a person, a script or a partner: the figures of a territory
and the similar demands of one demand, rendered in JSON, text and CSV (``hub stats show``,
``GET /statistiques/{niveau}/{code}``, ``GET /demandes/{num}/cotation/similaires``).

Contracts:

* Every figure goes through :func:`figure_json` / :func:`figure_text` — the one rendering
  of a :class:`~hub.domain.statistics.Figure`: withheld (fewer than 11 demands) it is
  JSON ``{"valeur": null, "secret": true}``, text ``secret (< 11)``, CSV ``< 11`` with
  ``secret`` = ``true``; never a number. How many demands a figure counts is never shown.
* Shown values: counts and medians of days as integers, means rounded to 0.1.
* A territory is checked against the geography (:class:`~hub.core.errors.NotFoundError`
  for an unknown code); a territory without any demand is not an error: its figures are
  withheld like any other below 11.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from datetime import date
from typing import Any

from hub.core.errors import InputError, NotFoundError
from hub.domain.days import FIRST_DAY, LAST_DAY
from hub.domain.geo import Geography, get_geography
from hub.domain.geo_components import current_of, linked_departements, membership, stored_codes
from hub.domain.statistics import (
    NIVEAUX,
    SEUIL_SECRET,
    Fait,
    Figure,
    Niveau,
    Similaires,
    Statistiques,
    months,
    similaires,
    statistiques,
)
from hub.domain.statistics_series import secondary, wanted
from hub.stores.statistics.store import StatisticsStore

SECRET_TEXT = "secret (< 11)"
SECRET_CSV = "< 11"
#: figures shown as integers (the others are means, rounded to 0.1)
_INTEGERS = frozenset(
    {
        "stock_actif",
        "anciennete_mediane_jours",
        "nouvelles",
        "radiees",
        "attributions",
        "attributions_12_mois",
        "bas",
        "median",
        "haut",
    }
)


def shown(name: str, f: Figure) -> float | int | None:
    """The value a figure named ``name`` shows (None when withheld)."""
    if f.secret or f.valeur is None:
        return None
    return round(f.valeur) if name in _INTEGERS else round(f.valeur, 1)


def figure_json(name: str, f: Figure) -> dict[str, Any]:
    return {"valeur": shown(name, f), "secret": f.secret}


def figure_text(name: str, f: Figure) -> str:
    value = shown(name, f)
    return SECRET_TEXT if value is None else str(value)


def check_territory(niveau: str, code: str, geo: Geography | None = None) -> Niveau:
    """``niveau`` as a :data:`Niveau` when ``code`` is a territory of it."""
    geo = geo or get_geography()
    if niveau not in NIVEAUX:
        raise InputError(f"niveau must be one of {', '.join(NIVEAUX)}", code="bad_niveau")
    known = {
        "commune": geo.has_commune,
        "epci": geo.epci_exists,
        "departement": geo.departement_exists,
    }[niveau](code)
    if not known:
        raise NotFoundError(f"no {niveau} {code!r} in the geography")
    if niveau == "commune" and geo.commune(code).parent is not None:
        # facts are stored under the current commune (75112 in 75056): audit U, U-F7
        parent = geo.commune(code).parent
        raise NotFoundError(
            f"commune {code!r} is a part of commune {parent}: its demands are counted there",
        )
    return niveau


def territory(
    store: StatisticsStore, niveau: str, code: str, at: date, nb_mois: int = 12
) -> Statistiques:
    """The figures of a territory (see :func:`hub.domain.statistics.statistiques`), each
    demand counted where today's geography puts its stored commune (a code folded under
    an earlier geography: its successor; audit U, U-F1), figures and secrecy decided over
    the same facts."""
    level = check_territory(niveau, code)
    if not 1 <= nb_mois <= 60:
        raise InputError("mois must be within 1 and 60", code="bad_mois")
    if not FIRST_DAY <= at <= LAST_DAY:
        raise InputError(f"date must be within {FIRST_DAY} and {LAST_DAY}", code="bad_date")
    geo = get_geography()
    mine = current_communes(geo, level, code)
    faits = [today(geo, f) for f in store.faits_of(stored_codes(geo, mine))]
    # a département is withheld by the primary rule only (hub.domain.statistics_secondary)
    held = frozenset() if level == "departement" else between(store, level, code, at, nb_mois)
    return statistiques(faits, level, code, at, nb_mois, held)


def current_communes(geo: Geography, niveau: Niveau, code: str) -> list[str]:
    """The current communes of a territory."""
    if niveau == "commune":
        return [code]
    codes = geo.communes_of_epci(code) if niveau == "epci" else geo.communes_of_departement(code)
    return sorted(c for c in codes if geo.commune(c).parent is None)


def today(geo: Geography, f: Fait) -> Fait:
    """``f`` placed where today's geography puts its stored commune."""
    c = current_of(geo, f.commune)
    if c is None:
        return replace(f, commune=None, epci=None, departement=None)
    here = geo.commune(c)
    return replace(f, commune=c, epci=here.epci, departement=here.departement)


def between(
    store: StatisticsStore, niveau: Niveau, code: str, at: date, nb_mois: int
) -> frozenset[tuple[str, str]]:
    """The figures of ``code`` withheld between territories (secondary secrecy, audit R
    R-F2): decided over every commune of the départements linked to it
    (:mod:`hub.domain.statistics_series`), each stored commune counted in today's."""
    geo = get_geography()
    deps = linked_departements(geo, niveau, code)
    members = membership(geo, deps)
    mois = set(months(at, nb_mois)) | set(months(at, 12))
    stored = store.series_counts(stored_codes(geo, members.table), mois)
    counts: dict[tuple[str, str], Counter[str]] = {}
    for serie, per_code in stored.items():
        mine = counts.setdefault(serie, Counter())
        for c, n in per_code.items():
            current = current_of(geo, c)
            if current is not None:
                mine[current] += n
    return secondary(counts, members, niveau, code, wanted(mois), SEUIL_SECRET)


def similar(
    store: StatisticsStore, epcis: Iterable[str], typologies: Iterable[str], at: date
) -> list[Similaires]:
    """The similar demands' distribution for each (EPCI, typology) asked."""
    out = []
    for epci in epcis:
        faits = store.faits_epci(epci)
        out += [similaires(faits, epci, t, at) for t in typologies]
    return out


def territory_json(s: Statistiques) -> dict[str, Any]:
    return {
        "niveau": s.niveau,
        "code": s.code,
        "date": s.date.isoformat(),
        "seuilSecret": 11,
        "stockActif": figure_json("stock_actif", s.stock_actif),
        "ancienneteMedianeJours": figure_json(
            "anciennete_mediane_jours", s.anciennete_mediane_jours
        ),
        "attributions12Mois": figure_json("attributions_12_mois", s.attributions_12_mois),
        "delaiMoyenAttributionJours": figure_json(
            "delai_moyen_attribution_jours", s.delai_moyen_attribution_jours
        ),
        "parMois": [
            {
                "mois": m.mois,
                "nouvelles": figure_json("nouvelles", m.nouvelles),
                "radiees": figure_json("radiees", m.radiees),
                "attributions": figure_json("attributions", m.attributions),
            }
            for m in s.par_mois
        ],
    }


def similaires_json(s: Similaires) -> dict[str, Any]:
    return {
        "epci": s.epci,
        "typologie": s.typologie,
        "bas": figure_json("bas", s.bas),
        "median": figure_json("median", s.median),
        "haut": figure_json("haut", s.haut),
        "delaiMoyenAttributionJours": figure_json(
            "delai_moyen_attribution_jours", s.delai_moyen_attribution_jours
        ),
    }


def _rows(s: Statistiques) -> list[tuple[str, str, str, Figure]]:
    """(indicator, month or "", figure name, figure) of a territory, in display order."""
    rows = [
        ("stock actif", "", "stock_actif", s.stock_actif),
        ("ancienneté médiane (jours)", "", "anciennete_mediane_jours", s.anciennete_mediane_jours),
        ("attributions sur 12 mois", "", "attributions_12_mois", s.attributions_12_mois),
        (
            "délai moyen d'attribution (jours)",
            "",
            "delai_moyen_attribution_jours",
            s.delai_moyen_attribution_jours,
        ),
    ]
    for m in s.par_mois:
        rows += [
            ("nouvelles", m.mois, "nouvelles", m.nouvelles),
            ("radiées", m.mois, "radiees", m.radiees),
            ("attributions", m.mois, "attributions", m.attributions),
        ]
    return rows


def territory_text(s: Statistiques, name: str = "") -> str:
    """Fits 80 columns: the headline figures, then one line per month."""
    title = f"{s.niveau} {s.code}" + (f" ({name})" if name else "")
    lines = [
        f"{title}, on {s.date.isoformat()}",
        "figures on fewer than 11 demands are withheld: secret (< 11)",
        "",
    ]
    for label, _m, key, f in _rows(s)[:4]:
        lines.append(f"{label:<36} {figure_text(key, f)}")
    lines += ["", f"{'month':<9} {'new':>15} {'radiated':>15} {'attributions':>15}"]
    for m in s.par_mois:
        cells = [
            figure_text("nouvelles", m.nouvelles),
            figure_text("radiees", m.radiees),
            figure_text("attributions", m.attributions),
        ]
        lines.append(f"{m.mois:<9} " + " ".join(f"{c:>15}" for c in cells))
    return "\n".join(lines) + "\n"


def territory_csv(s: Statistiques) -> str:
    """One line per figure: ``niveau,code,date,indicateur,mois,valeur,secret``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["niveau", "code", "date", "indicateur", "mois", "valeur", "secret"])
    for label, month, key, f in _rows(s):
        value = shown(key, f)
        writer.writerow(
            [
                s.niveau,
                s.code,
                s.date.isoformat(),
                label,
                month,
                SECRET_CSV if value is None else value,
                "true" if f.secret else "false",
            ]
        )
    return out.getvalue()
