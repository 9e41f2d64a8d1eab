"""The statistics' facts store on a real database (SQLite and PostgreSQL): a change replaces
the demand's rows, a deletion leaves only its marks (read by no reader), marks come back
as written; the readers select by territory of the first wished commune or by EPCI
wished; the quartile thresholds are those of the active applicants with known resources,
withheld below 11."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine, inspect

from hub.domain.cotation import seuils_quartiles
from hub.domain.statistics import Fait
from hub.domain.statistics_facts import Mark
from hub.stores.statistics.store import Change, StatisticsStore

ROUEN, HAVRE = "200023414", "200084952"


def _fait(i: int, **kw: object) -> Fait:
    base: dict[str, object] = dict(
        num_unique=f"076112500{i:04d}10691", commune="76540", epci=ROUEN, departement="76",
        epcis_souhaites=(ROUEN, HAVRE), typologies=("T2", "T3"), date_creation=date(2025, 3, 1),
        ressources_uc=100.0 * (i + 1), scores={ROUEN: i})
    return Fait(**{**base, **kw})  # type: ignore[arg-type]


def test_changes_marks_and_readers(migrated_db: tuple[str, Engine]) -> None:
    _url, engine = migrated_db
    assert {"stat_demandes", "stat_demande_epcis"} <= set(inspect(engine).get_table_names())
    store = StatisticsStore(engine)
    faits = [_fait(i) for i in range(12)]
    store.write([Change(f.num_unique, f, Mark(1, i, (f"e{i}",))) for i, f in enumerate(faits)])
    priors = store.priors([f.num_unique for f in faits] + ["076112500999910691"])
    assert len(priors) == 12
    assert priors[faits[3].num_unique].mark == Mark(1, 3, ("e3",))
    assert priors[faits[3].num_unique].departement == "76"

    # a demand moves to Le Havre (first wish), another is radiated, another deleted
    moved = _fait(0, commune="76351", epci=HAVRE, epcis_souhaites=(HAVRE,), scores={})
    radiated = _fait(1, active=False, date_radiation=date(2026, 1, 2), motif_radiation="RADATT")
    store.write([Change(moved.num_unique, moved, Mark(1, 20, ("e0", "e20"))),
                 Change(radiated.num_unique, radiated, Mark(1, 21, ("e1", "e21"))),
                 Change(faits[2].num_unique, None, Mark(1, 22, ("e2", "e22")))])
    # the deleted one is a marker: its marks only (its events stay duplicates), no demand
    deleted = store.priors([faits[2].num_unique])[faits[2].num_unique]
    assert (deleted.mark, deleted.departement) == (Mark(1, 22, ("e2", "e22")), None)
    assert store.priors([moved.num_unique])[moved.num_unique].mark.recent_event_ids == ("e0",
                                                                                       "e20")
    rouen = {f.num_unique: f for f in store.faits("epci", ROUEN)}
    assert len(rouen) == 10 and rouen[radiated.num_unique] == radiated
    assert [f.num_unique for f in store.faits("commune", "76351")] == [moved.num_unique]
    assert len(store.faits("departement", "76")) == 11
    assert store.stock_actif(["76", "27"]) == {"76": 10, "27": 0}
    assert store.stock_actif_all() == {"76": 10}

    wishing = {f.num_unique: f for f in store.faits_epci(HAVRE)}
    assert len(wishing) == 11  # 9 active, the radiated one and the one moved to Le Havre
    assert wishing[faits[5].num_unique].scores == {}  # no score under Le Havre's grid
    assert {f.num_unique: f.scores for f in store.faits_epci(ROUEN)}[faits[5].num_unique] == {
        ROUEN: 5}

    # Rouen's applicants: 9 active with known resources (0 moved away, 1 radiated, 2 gone)
    assert sorted(store.ressources_epci(ROUEN)) == [100.0 * (i + 1) for i in range(3, 12)]
    assert store.seuils(ROUEN) is None  # 9 < 11: withheld
    more = [_fait(i) for i in range(12, 14)] + [_fait(14, ressources_uc=None)]
    store.write([Change(f.num_unique, f, Mark(0, i, ())) for i, f in enumerate(more)])
    values = [100.0 * (i + 1) for i in range(3, 14)]
    assert store.seuils(ROUEN) == seuils_quartiles(values) == store(ROUEN)

