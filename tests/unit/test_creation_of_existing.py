"""Audit K, F1: a creation (CRE, CRS) naming the numéro of a live demand is refused by the
worker, ``demande_existante`` — not applied, not dispatched, dead-lettered — instead of
being taken as a new version (which replaced the snapshot, moved the demand to the
sender's territory and told every holder to delete it).

The decision (``hub.domain.decisions.decide``), the processor (hub.dlq letter, feeds,
state, the consecutive-letters stop) and the statistics fold, which must agree with the
worker. What stays a creation: a numéro never seen, or deleted (SUP: the SNE poller
publishes a CRE for a demand deleted and found again). What stays a harmless duplicate:
the same CRE (same eventId) published again, and a CRE identical to the demand's current
snapshot past the dedup window."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from hub.core.errors import InputError
from hub.domain.decisions import DEMANDE, RETRAIT, Delivery, decide
from hub.domain.matching import TerritoryIndex
from hub.domain.state import RECENT_EVENT_IDS, DemandeState
from hub.services.statistics_folder import Folder, Record
from hub.stores.cotation.store import DeclarationStore
from hub.stores.statistics.store import StatisticsStore
from hub.stores.statistics.tables import stat_demandes
from tests.support.demandes import demande_event, new_num_unique
from tests.support.sqlite_db import migrated_sqlite
from tests.unit.test_change_authorship import Rig
from tests.unit.test_clock import LE_HAVRE, ROUEN, _actor


@pytest.fixture()
def index(geography: Any) -> TerritoryIndex:
    return TerritoryIndex(geography, [_actor("rouen", communes=[ROUEN]),
                                      _actor("havre", communes=[LE_HAVRE])])  # fmt: skip


def _live(index: TerritoryIndex, num: str) -> DemandeState:
    d = decide(demande_event(num, [ROUEN]), None, index, partition=0, offset=1)
    assert d.state is not None and d.deliveries == [Delivery("rouen", DEMANDE)]
    return d.state


# -- the decision ----------------------------------------------------------------------


@pytest.mark.parametrize("op", ["CRE", "CRS"])
def test_a_creation_of_an_active_demand_is_refused(index: TerritoryIndex, op: str) -> None:
    """The audit's scenario: another territory's actor "creates" the numéro again."""
    num = new_num_unique()
    state = _live(index, num)
    with pytest.raises(InputError) as refused:
        decide(demande_event(num, [LE_HAVRE], operation=op), state, index, partition=0,
               offset=2)  # fmt: skip
    assert refused.value.code == "demande_existante"
    assert "active" in refused.value.message and "DUPONT" not in refused.value.message


def test_a_creation_of_a_radiated_demand_is_refused(index: TerritoryIndex) -> None:
    num = new_num_unique()
    rad = demande_event(
        num,
        [ROUEN],
        operation="RAD",
        radiation={"dateRadiation": "2026-01-02", "motifRadiation": "RADABA"},
    )
    state = decide(rad, _live(index, num), index, partition=0, offset=2).state
    assert state is not None and not state.active
    with pytest.raises(InputError) as refused:
        decide(demande_event(num, [LE_HAVRE]), state, index, partition=0, offset=3)
    assert refused.value.code == "demande_existante" and "radiée" in refused.value.message


def test_a_deleted_demand_may_be_created_again(index: TerritoryIndex) -> None:
    """Deleted (SUP: a deletion marker) and found again: a creation, at the next version."""
    num = new_num_unique()
    gone = decide(demande_event(num, [ROUEN], operation="SUP"), _live(index, num), index,
                  partition=0, offset=2)  # fmt: skip
    assert gone.state is not None and gone.state.deleted
    again = decide(demande_event(num, [LE_HAVRE]), gone.state, index, partition=0, offset=3)
    assert again.deliveries == [Delivery("havre", DEMANDE)]
    assert again.state is not None and again.state.active and again.state.version == 2


def test_the_same_creation_published_again_stays_a_duplicate(index: TerritoryIndex) -> None:
    """Same eventId (an at-least-once re-delivery, a retried API call) at a later offset."""
    num = new_num_unique()
    cre = demande_event(num, [ROUEN])
    state = decide(cre, None, index, partition=0, offset=1).state
    mod = demande_event(num, [ROUEN], operation="MOD")
    state = decide(mod, state, index, partition=0, offset=2).state
    again = decide(cre, state, index, partition=0, offset=3)
    assert again.skipped and again.state is state


def test_a_creation_past_the_dedup_window_is_a_no_op_while_identical(
    index: TerritoryIndex,
) -> None:
    """The creation's id forgotten (more than RECENT_EVENT_IDS events since: a file dropped
    again months later): identical to the demand's snapshot, it is skipped — not dead-
    lettered as a takeover; once the demand changed, applying it would roll the demand back:
    refused."""
    num = new_num_unique()
    cre = demande_event(num, [ROUEN])
    state = decide(cre, None, index, partition=0, offset=1).state
    assert state is not None
    for i in range(RECENT_EVENT_IDS):  # MODs carrying the same snapshot
        mod = {**demande_event(num, [ROUEN], operation="MOD"), "demande": cre["demande"]}
        state = decide(mod, state, index, partition=0, offset=2 + i).state
        assert state is not None
    assert cre["eventId"] not in state.recent_event_ids
    again = decide(copy.deepcopy(cre), state, index, partition=1, offset=99)
    assert again.skipped and again.state is state
    changed = copy.deepcopy(cre["demande"])
    changed["demandeLogement"]["precision"] = "a changed telephone"
    mod = {**demande_event(num, [ROUEN], operation="MOD"), "demande": changed}
    state = decide(mod, state, index, partition=0, offset=50).state
    with pytest.raises(InputError) as refused:
        decide(cre, state, index, partition=1, offset=100)
    assert refused.value.code == "demande_existante"


# -- through the processor ---------------------------------------------------------------


def test_a_takeover_leaves_the_holders_alone_and_goes_to_the_dlq(
    codec: Any, geography: Any
) -> None:
    rig = Rig(codec, geography)
    num = new_num_unique()
    rig.run(demande_event(num, [ROUEN]))
    before = rig.state(num)
    takeover = demande_event(num, [LE_HAVRE])
    rig.run(takeover)
    assert rig.feed("rouen", num) == [("DEMANDE", None)]  # no RETRAIT
    assert rig.feed("havre", num) == []  # nothing reaches the sender's territory
    after = rig.state(num)
    assert after == before and after.demande == before.demande
    (letter,) = rig.letters()
    assert letter["reason"] == "demande_existante" and letter["key"] == num.encode()
    assert codec.decode(letter["payload"])[1]["eventId"] == takeover["eventId"]  # replayable
    assert rig.proc._consecutive_dead == 0


def test_a_run_of_takeovers_does_not_stop_the_worker(codec: Any, geography: Any) -> None:
    """Any API actor can write such creations: they must not trip the consecutive-letters
    stop (``worker.max_consecutive_dead_letters``), which would halt every worker."""
    rig = Rig(codec, geography, max_consecutive_dead_letters=3)
    nums = [new_num_unique() for _ in range(5)]
    rig.run(*(demande_event(n, [ROUEN]) for n in nums))
    rig.run(*(demande_event(n, [LE_HAVRE]) for n in nums))  # five refusals in a row
    assert [x["reason"] for x in rig.letters()] == ["demande_existante"] * 5
    late = new_num_unique()
    rig.run(demande_event(late, [ROUEN]))
    assert rig.feed("rouen", late) == [("DEMANDE", None)]


def test_a_replayed_letter_is_a_creation_once_the_demand_is_deleted(
    codec: Any, geography: Any
) -> None:
    rig = Rig(codec, geography)
    num = new_num_unique()
    rig.run(demande_event(num, [ROUEN]))
    refused = demande_event(num, [LE_HAVRE])
    rig.run(refused)
    rig.run(demande_event(num, [ROUEN], operation="SUP"))
    rig.run(refused)  # hub dlq replay: the same bytes, at a later offset
    assert rig.feed("rouen", num) == [("DEMANDE", None), (RETRAIT, "demande_supprimee")]
    assert rig.feed("havre", num) == [("DEMANDE", None)]
    assert rig.state(num).active and rig.state(num).last_event_id == refused["eventId"]


# -- the statistics fold agrees ----------------------------------------------------------


@pytest.fixture()
def engine(tmp_path: Path) -> Iterator[Engine]:
    with migrated_sqlite(tmp_path / "stats.db") as e:
        yield e


def test_the_statistics_fold_refuses_the_takeover_too(codec: Any, engine: Engine) -> None:
    folder = Folder(StatisticsStore(engine), DeclarationStore(engine), codec=codec)
    num = new_num_unique()
    offsets = iter(range(100))

    def fold(*events: dict[str, Any]) -> dict[str, int]:
        return dict(
            folder.fold(
                [
                    Record(
                        0, next(offsets), e["numUnique"].encode(), codec.encode("DemandeEvent", e)
                    )
                    for e in events
                ]
            )
        )

    def commune() -> str | None:
        with engine.connect() as conn:
            return conn.execute(select(stat_demandes.c.commune).where(
                stat_demandes.c.num_unique == num)).scalar_one()  # fmt: skip

    assert fold(demande_event(num, [ROUEN])) == {"folded": 1}
    assert fold(demande_event(num, [LE_HAVRE])) == {"demande_existante": 1}
    assert commune() == ROUEN
    rad = demande_event(
        num,
        [ROUEN],
        operation="RAD",
        radiation={"dateRadiation": "2026-01-02", "motifRadiation": "RADABA"},
    )
    assert fold(rad, demande_event(num, [LE_HAVRE], operation="CRS")) == {
        "folded": 1, "demande_existante": 1}  # fmt: skip
    assert fold(demande_event(num, [ROUEN], operation="SUP"),
                demande_event(num, [LE_HAVRE])) == {"folded": 2}  # fmt: skip
    assert commune() == "76351"
