"""The pure rules of the statistics (hub.domain.statistics, hub.domain.statistics_facts),
from the domain reference: a figure on fewer than 11 demands is withheld (README,
"Statistics"), ``RADATT`` is an attribution, a ``MOD`` after a ``RAD`` reactivates, a demand
counts at its first wished commune, today's commune for a former code or an arrondissement."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from hub.core.errors import UnknownCommuneError
from hub.domain.cotation import seuils_quartiles
from hub.domain.geo import get_geography
from hub.domain.statistics import (
    SEUIL_SECRET,
    Fait,
    count,
    delai_moyen_attribution,
    figure,
    median,
    months,
    nearest_rank,
    seuils_population,
    similaires,
    statistiques,
)
from hub.domain.statistics_facts import Mark, applies, fait_of
from tests.support.demandes import demande_event

ROUEN = "200023414"
PARIS_EPCI = "200054781"
AT = date(2026, 6, 30)


def test_the_threshold_is_eleven_and_a_withheld_figure_is_never_computed() -> None:
    assert SEUIL_SECRET == 11

    def boom() -> float:
        raise AssertionError("computed below the threshold")

    ten = figure(10, boom)
    assert (ten.valeur, ten.secret) == (None, True)
    eleven = figure(11, lambda: 4.0)
    assert (eleven.valeur, eleven.secret) == (4.0, False)
    assert count([1] * 10).valeur is None and count([1] * 11).valeur == 11
    assert count([]).secret  # nothing is a figure on 0 demands: withheld too


def test_percentiles_are_nearest_rank_values_of_the_population() -> None:
    values = [float(v) for v in (7, 1, 3, 9, 5, 11, 13, 2, 4, 6, 8, 10)]  # 12 values
    assert nearest_rank(values, 0.5) == 6  # the 6th of 12, not 6.5
    assert nearest_rank(values, 0.25) == 3 and nearest_rank(values, 0.75) == 9
    assert median(values).valeur == 6
    assert median(values[:10]).secret


def test_months_run_up_to_the_reference_month() -> None:
    assert months(date(2026, 2, 28), 3) == ["2025-12", "2026-01", "2026-02"]
    assert months(date(2026, 1, 31), 1) == ["2026-01"]


def _fait(num: int, **kw: Any) -> Fait:
    base: dict[str, Any] = dict(num_unique=f"n{num}", commune="76540", epci=ROUEN,
                                departement="76", epcis_souhaites=(ROUEN,), typologies=("T3",),
                                date_creation=date(2025, 1, 1))
    return Fait(**{**base, **kw})


def test_similar_demands_are_the_quartiles_of_the_active_ones_of_the_epci_and_typology() -> None:
    pool = [_fait(i, scores={ROUEN: 10 * i}) for i in range(1, 13)]  # 10 … 120
    pool += [_fait(100, typologies=("T2",), scores={ROUEN: 999}),   # another typology
             _fait(101, epcis_souhaites=("200084952",), scores={"200084952": 999}),
             _fait(102, active=False, date_radiation=date(2026, 1, 1), motif_radiation="RADABA",
                   scores={ROUEN: 999})]  # radiated: not among the scores
    s = similaires(pool, ROUEN, "T3", AT)
    assert (s.bas.valeur, s.median.valeur, s.haut.valeur) == (30, 60, 90)
    assert s.delai_moyen_attribution_jours.secret  # no attribution
    assert similaires(pool[:10], ROUEN, "T3", AT).median.secret


def test_waiting_time_is_the_mean_of_the_attributions_of_the_last_twelve_months() -> None:
    def attributed(i: int, created: date, radiated: date) -> Fait:
        return _fait(i, active=False, date_creation=created, date_radiation=radiated,
                     motif_radiation="RADATT")

    # the window is the 12 calendar months up to the reference date's month, published
    # only when each of its months holds 11 attributions or more (statistics_window)
    def month(i: int) -> date:
        return date(2025 + (i + 1) // 12, (i + 1) % 12 + 1, 10)  # Feb 2025 (0) on

    inside = [attributed(100 * m + k, month(m) - timedelta(days=30 + k), month(m))
              for m in range(12) for k in range(11)]  # fmt: skip
    other = [_fait(51, active=False, date_radiation=date(2026, 1, 1), motif_radiation="RADABA")]
    got = delai_moyen_attribution(inside + other, date(2026, 1, 15))  # Feb 2025 - Jan 2026
    assert got.valeur == pytest.approx(35)  # 30..40 days in every month
    assert delai_moyen_attribution(inside + other, date(2026, 1, 31)) == got  # any day of it
    assert delai_moyen_attribution(inside + other, date(2026, 2, 1)).secret  # Feb 2026: none
    # one month with 10: the window's figures would give it with the published months
    assert delai_moyen_attribution(inside[1:] + other, date(2026, 1, 15)).secret


def test_territory_figures_count_each_demand_at_its_first_wished_commune() -> None:
    faits = [_fait(i, date_creation=date(2026, 5, 3)) for i in range(11)]
    faits += [_fait(20 + i, commune="76451", date_creation=date(2026, 6, 1)) for i in range(5)]
    faits += [_fait(40 + i, active=False, date_radiation=date(2026, 6, 2),
                    motif_radiation="RADATT") for i in range(11)]  # fmt: skip
    dep = statistiques(faits, "departement", "76", AT, 2)
    assert dep.stock_actif.valeur == 16
    assert [(m.mois, m.nouvelles.valeur, m.radiees.valeur, m.attributions.valeur)
            for m in dep.par_mois] == [("2026-05", 11, None, None), ("2026-06", None, None, 11)]
    # June's 11 radiated are its 11 attributions: showing both would say that no demand
    # was radiated for another motive, a count of 0 (a figure on 0 demands, R-F2)
    assert dep.anciennete_mediane_jours.valeur == (AT - date(2026, 5, 3)).days
    # 11 attributions in June, none in the 11 months before: the window (June 2026 and
    # the 11 months before) would give those empty months: withheld (statistics_window)
    assert dep.attributions_12_mois.secret
    commune = statistiques(faits, "commune", "76451", AT, 2)
    assert commune.stock_actif.secret and commune.anciennete_mediane_jours.secret


def test_quartile_thresholds_are_withheld_below_eleven_applicants() -> None:
    values = [900.0 + 50 * i for i in range(11)]
    assert seuils_population(values[:10]) is None
    assert seuils_population(values) == seuils_quartiles(values)


def _event(communes: list[str], op: str = "CRE", **kw: Any) -> dict[str, Any]:
    event = demande_event("076112500000110691", communes, operation=op, **kw)
    event["occurredAt"] = 1_767_225_600_000  # 2026-01-01T00:00Z
    return event


def test_a_fact_reads_territory_typologies_and_radiation_from_the_snapshot() -> None:
    geo = get_geography()
    # an arrondissement counts in its commune; a former code as today's; every EPCI wished
    f = fait_of(_event(["75112", "05141", "76540"], typologies=["T2", "T3", "T2"]), geo)
    assert (f.commune, f.departement, f.epci) == ("75056", "75", PARIS_EPCI)
    assert f.epcis_souhaites[0] == PARIS_EPCI and ROUEN in f.epcis_souhaites
    assert f.typologies == ("T2", "T3") and f.active and f.date_creation == date(2025, 11, 2)
    rad = fait_of(_event(["76540"], op="RAD", radiation={
        "dateRadiation": "2026-01-05", "motifRadiation": "RADATT"}), geo)
    assert (rad.active, rad.motif_radiation, rad.date_radiation) == (
        False, "RADATT", date(2026, 1, 5))
    assert rad.attribuee
    # a RAD without dateRadiation is dated by the event; an unknown commune is skipped there
    bare = fait_of(_event(["99999", "76540"], op="RAD", radiation={"motifRadiation": "RADABA"}),
                   geo)
    assert (bare.date_radiation, bare.commune, bare.attribuee) == (date(2026, 1, 1), "76540",
                                                                    False)
    with pytest.raises(UnknownCommuneError):
        fait_of(_event(["99999", "76540"]), geo)
    assert fait_of(_event(["76540"], op="MOD"), geo).active  # a MOD after a RAD reactivates


def test_the_fold_skips_a_known_event_id_and_a_position_already_folded() -> None:
    mark = Mark(2, 40, ("e1", "e2"))
    assert applies(None, "e1", 0, 0)
    assert not applies(mark, "e2", 3, 99)  # the same event published again
    assert not applies(mark, "e9", 2, 40) and not applies(mark, "e9", 2, 7)  # a replay
    assert applies(mark, "e9", 2, 41)
    longer = mark
    for i in range(20):
        longer = longer.after(f"x{i}", 2, 41 + i)
    assert len(longer.recent_event_ids) == 16 and longer.recent_event_ids[-1] == "x19"


def test_a_radiation_motive_outside_the_reference_table_is_unknown() -> None:
    geo = get_geography()
    odd = fait_of(_event(["76540"], op="RAD", radiation={
        "dateRadiation": "2026-01-05", "motifRadiation": "RADATT-BUT-LONGER"}), geo)
    assert (odd.active, odd.motif_radiation, odd.attribuee) == (False, None, False)
    empty = fait_of(_event(["76540"], op="RAD", radiation={"motifRadiation": ""}), geo)
    # the domain's "empty motive = reactivation" (docs/lifecycle.md): active again
    assert empty.motif_radiation is None and empty.active


def test_radiated_minus_attributed_never_gives_fewer_than_eleven() -> None:
    """Both published, 12 radiated of which 11 attributed gave the one household radiated
    for another motive that month: the radiated count is withheld then."""

    def radiated(i: int, motive: str) -> Fait:
        return _fait(i, active=False, date_radiation=date(2026, 6, 2), motif_radiation=motive)

    faits = [radiated(i, "RADATT") for i in range(11)] + [radiated(50, "RADABA")]
    (june,) = statistiques(faits, "commune", "76540", AT, 1).par_mois
    assert june.attributions.valeur == 11 and june.radiees.secret
    faits += [radiated(60 + i, "RADABA") for i in range(10)]  # 11 for another motive
    (june,) = statistiques(faits, "commune", "76540", AT, 1).par_mois
    assert (june.attributions.valeur, june.radiees.valeur) == (11, 22)
    (june,) = statistiques(faits[:10] + faits[11:], "commune", "76540", AT, 1).par_mois
    # attributions withheld: the radiated count minus the 11 others would give them, once
    # the others are known from other territories (R-F2): withheld too
    assert june.attributions.secret and june.radiees.secret
