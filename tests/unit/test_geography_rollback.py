"""Review Q, F4: index entries under a key the current geography does not give the
demand are never deleted — not by a write on an unindexed partition (UNKNOWN deletes the
prior's entries *as this geography computes them*), nor by the upgrade pass (it writes
the new entries, deletes nothing). After a forward change of table they are orphans; as
soon as two geographies alternate on a partition (a rollback of a release with a new
table, docs/operations.md "Rollback"; a rolling upgrade whose old and new workers trade
partitions) such an entry is live: it claims the demand still wishes a commune it no
longer wishes. A re-dispatch finding the demand under that stale key and under its true
key keeps the hits of the entry scanned *last* (redispatch._chunk: found[num] = mine),
decides on the stale hits only, and a COPIE owed is lost.

Déville-lès-Rouen (76216) merges into Rouen (76540) in the new table (the test table of
tests/unit/test_geography_update.py)."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

from dispatch import territory
from dispatch.processor import Processor
from hub.domain.actors import Actor, ActorFilters
from hub.domain.matching import TerritoryIndex
from tests.support.demandes import demande_event
from tests.support.memory import MemorySender, MemoryStore, run_pipelined
from tests.unit.test_geography_update import INTO, OLD, _new_table
from tests.unit.test_redispatch import N, _held, _process_draining, _records

LE_HAVRE = "76351"


def test_a_rollback_leaves_no_live_stale_entry(geography: Any, codec: Any,
                                               tmp_path: Path) -> None:  # fmt: skip
    g1, g2 = geography, _new_table(tmp_path)
    num = "076112500000100042"
    on_into = ActorFilters(communes=[INTO])
    store, sender = MemoryStore(N), MemorySender()
    steps: list[tuple[str, Any]] = [("actor", ("on-into", 1, on_into, False)),
                                    ("event", demande_event(num, [OLD]))]
    proc = Processor(TerritoryIndex(g1), codec, store, sender)
    asyncio.run(run_pipelined(proc, _records(steps, codec), random.Random(1), sender=sender))
    assert _held(sender, codec, "on-into") == set()  # Déville is not Rouen (yet)

    def restart(geo: Any, version: int) -> Processor:
        actors = [Actor(id="on-into", name="x", kind="bailleur", version=1, filters=on_into),
                  Actor(id="other", name="o", kind="bailleur", version=version - 1,
                        filters=ActorFilters(communes=["27229"]))]
        p = Processor(TerritoryIndex(geo, actors), codec, store, sender)
        # an unrelated actor change: the partition's upgrade pass
        _process_draining(p, sender, _records(
            [("actor", ("other", version, ActorFilters(communes=["27229"]), False))], codec))
        return p

    restart(g2, 2)  # the new release: Déville is Rouen, the actor on Rouen gets the demand
    assert _held(sender, codec, "on-into") == {num}
    proc = restart(g1, 3)  # rolled back: withdrawn again
    assert _held(sender, codec, "on-into") == set()
    # the demand now wishes Le Havre
    _process_draining(proc, sender, _records(
        [("event", demande_event(num, [LE_HAVRE], operation="MOD"))], codec))
    stale = [k for (_, k) in store.own if k.startswith(territory.scan_prefix(f"c:{INTO}"))]
    # the actor on Rouen adds Le Havre: the demand is owed
    _process_draining(proc, sender, _records(
        [("actor", ("on-into", 2, ActorFilters(communes=[INTO, LE_HAVRE]), False))], codec))
    assert _held(sender, codec, "on-into") == {num}, f"stale entries: {stale}"


def test_a_partition_revoked_is_asked_of_the_store_again(geography: Any, codec: Any,
                                                          tmp_path: Path) -> None:  # fmt: skip
    """Review Q, F4 (the cache): a worker remembered a partition as indexed for its whole
    life; passed meanwhile by a worker of another geography, it came back still "indexed".
    Revoked (the runtime's on_partitions_revoked), it is read from the store again."""
    store, sender = MemoryStore(N), MemorySender()
    proc = Processor(TerritoryIndex(geography), codec, store, sender)
    steps: list[tuple[str, Any]] = [("actor", ("a", 1, ActorFilters(communes=[INTO]), False))]
    asyncio.run(run_pipelined(proc, _records(steps, codec), random.Random(1), sender=sender))
    assert all(proc._indexed_partition(p) for p in range(N))
    other = territory.geography_id(_new_table(tmp_path))
    for p in range(N):  # another worker's pass, with its table
        store.put(territory.marker(p), p, other)
    assert all(proc._indexed_partition(p) for p in range(N))  # the cache answers
    proc.forget_partitions(range(N))
    assert not any(proc._indexed_partition(p) for p in range(N))
