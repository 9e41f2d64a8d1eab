"""Two statistics folds overlapping on a partition (audit R, R-F3), on SQLite and
PostgreSQL: the old owner of a partition still writing its batch after a rebalance gave
the partition to another process, or two ``hub stats fold`` of different groups on one
database. The slower fold must never write its older facts and marks over the newer
ones, nor lose a record as ``unstorable`` on PostgreSQL's unique key: its write is
conditional on the marks it read, and the batch is decided again when they changed
(docs/statistics.md, "The fold", step 4).

* the auditor's interleaving: fold B folds the whole partition between fold A's read
  and fold A's write;
* real concurrency: two Folders on two threads, each its own connection, both read
  before either writes (a barrier), over several rounds.

Before the fix both end with the radiation undone (the stock 12, the mark back at the
creation's offset); on PostgreSQL the threaded one can also end ``unstorable``."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import Engine

from hub.services.statistics import territory
from hub.services.statistics_folder import Folder, Record
from hub.stores.cotation.store import DeclarationStore
from hub.stores.statistics.store import Change, Prior, StatisticsStore
from tests.support.stat_events import event, records
from tests.support.stat_events import num as _num

RAD = {"dateRadiation": "2026-04-01", "motifRadiation": "RADABA"}
AT = date(2026, 6, 30)


def _partition(first: int, offset: int = 0) -> list[Record]:
    """Offsets ``offset``… of partition 0: 12 creations, then the radiation of the first."""
    nums = [_num(first + i) for i in range(12)]
    events = [event(n, "CRE", date(2026, 3, 1)) for n in nums]
    events.append(event(nums[0], "RAD", date(2026, 4, 1), radiation=RAD))
    return records(events, offset)


def _folder(store: StatisticsStore) -> Folder:
    return Folder(store, DeclarationStore(store.engine))


def test_an_older_batch_written_late_does_not_undo_a_newer_one(
    migrated_db: tuple[str, Engine],
) -> None:
    """The auditor's reproduction: B (the partition's new owner) folds the creations and
    the radiation while A's batch of the creations only is between its read and its
    write. A's write finds the marks changed, decides again: all duplicates."""
    _url, engine = migrated_db
    b = _folder(StatisticsStore(engine))
    records = _partition(0)
    outcomes: list[Counter[str]] = []

    class Late(StatisticsStore):
        """Fold A's store: B folds the whole partition while A's batch is in flight."""

        def write(self, changes: list[Change], *read: Any) -> None:
            if not outcomes:
                outcomes.append(b.fold(records))  # B: creations and the radiation, committed
            super().write(changes, *read)  # A: its (older) batch lands afterwards

    a = _folder(Late(engine)).fold(records[:12])  # A's batch: the creations only
    # the département's figure: Rouen's own would say its EPCI's other communes hold no
    # demand, withheld between territories (docs/statistics.md)
    s = territory(StatisticsStore(engine), "departement", "76", AT)
    assert s.stock_actif.valeur == 11, f"stock {s.stock_actif.valeur}: the radiation was undone"
    prior = StatisticsStore(engine).priors([_num(0)])[_num(0)]
    assert prior.mark.offset == 12 and prior.radiated
    assert outcomes == [Counter(folded=13)]
    assert a == Counter(duplicate=12)  # decided again over B's marks: nothing to write


class _Together(StatisticsStore):
    """A store whose first read of each batch waits for the other fold's: both folds
    decide from the same marks, then write at once."""

    def __init__(self, engine: Engine, barrier: threading.Barrier) -> None:
        super().__init__(engine)
        self.barrier, self.first = barrier, True

    def priors(self, nums: Iterable[str]) -> dict[str, Prior]:
        found = super().priors(nums)
        if self.first:
            self.first = False
            self.barrier.wait(timeout=30)
        return found


def test_two_folds_on_two_threads_keep_the_newest_fact(migrated_db: tuple[str, Engine]) -> None:
    """Real concurrency: A (the creations) and B (the creations and the radiation) on
    their own threads and connections, both reading before either writes, six rounds on
    new demands. Each round ends as folding B alone would: the radiation kept, its mark
    the newest, every record folded once (none ``unstorable``), whichever commits first."""
    _url, engine = migrated_db
    for round_ in range(6):
        records = _partition(100 * round_, 13 * round_)
        barrier = threading.Barrier(2)
        got: dict[str, Counter[str]] = {}
        errors: list[BaseException] = []

        def run(name: str, batch: list[Record], barrier: threading.Barrier = barrier,
                got: dict[str, Counter[str]] = got,
                errors: list[BaseException] = errors) -> None:  # fmt: skip
            try:
                got[name] = _folder(_Together(engine, barrier)).fold(batch)
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=("a", records[:12])),
                   threading.Thread(target=run, args=("b", records))]  # fmt: skip
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
        total = got["a"] + got["b"]
        first = StatisticsStore(engine).priors([_num(100 * round_)])[_num(100 * round_)]
        assert first.radiated and first.mark.offset == 13 * round_ + 12, (round_, got)
        s = territory(StatisticsStore(engine), "departement", "76", AT)  # as above
        assert s.stock_actif.valeur == 11 * (round_ + 1), (round_, got)
        assert total["unstorable"] == 0, (round_, got)
        assert total["folded"] == 13 and total["duplicate"] == 12, (round_, got)
