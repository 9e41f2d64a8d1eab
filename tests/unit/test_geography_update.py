"""A new geography table under demands already dispatched (independent audit P, F2): next
year's INSEE list moves a commune to another EPCI and merges a commune into another. The
stored demands' recipients and index entries were computed with the former table; the
partitions' markers name it, so the first actor change after the upgrade re-applies the
territories: the EPCI actors swap the moved commune's demand (RETRAIT / COPIE), the actor
registered on the merged commune's old code is on the commune it became (it gets the
demands of both codes), the actor on the absorbing commune gets the old code's demand.
The oracle: reliability.ledger.in_scope over the new table, place by place."""

from __future__ import annotations

import asyncio
import gzip
import logging
import random
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from dispatch.processor import Processor
from hub.domain.actors import Actor, ActorFilters
from hub.domain.geo import SUCCESSORS_FILE, Geography
from hub.domain.matching import TerritoryIndex
from tests.support.demandes import demande_event
from tests.support.memory import MemorySender, MemoryStore, run_pipelined
from tests.unit.test_redispatch import N, _check, _expected, _held, _process_draining, _records

ROUEN_EPCI, LE_HAVRE_EPCI = "200023414", "200084952"
MOVED = "76212"  # Darnétal: Métropole Rouen Normandie → (in the new table) Le Havre's EPCI
OLD, INTO = "76216", "76540"  # Déville-lès-Rouen merged into Rouen in the new table


def _new_table(tmp: Path) -> Geography:
    """The packaged table with the two changes, under a source of its own."""
    table = gzip.decompress(resources.files("hub").joinpath("data/geo.tsv.gz").read_bytes())
    lines = table.decode().splitlines()
    out = ["# source: test-cog-2027"]
    for line in lines[1:]:
        fields = line.split("\t")
        if line.startswith("C\t") and fields[1] == OLD:
            continue
        if line.startswith("C\t") and fields[1] == MOVED:
            fields[4] = LE_HAVRE_EPCI
        out.append("\t".join(fields))
    (tmp / "geo.tsv.gz").write_bytes(gzip.compress("\n".join(out).encode()))
    history = gzip.decompress(resources.files("hub").joinpath(f"data/{SUCCESSORS_FILE}")
                              .read_bytes()).decode()  # fmt: skip
    history += f"\nS\t{OLD}\t{INTO}\t2027-01-01\tcog\ttest\n"
    (tmp / SUCCESSORS_FILE).write_bytes(gzip.compress(history.replace(
        "# source: ", "# source: test-2027 ", 1).encode()))  # fmt: skip
    return Geography.load(tmp / "geo.tsv.gz")


@pytest.mark.parametrize("chunk", [1, 5000])
def test_a_new_table_is_applied_at_the_next_actor_change(
        geography: Any, codec: Any, tmp_path: Path, chunk: int,
        caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    new_geo = _new_table(tmp_path)
    assert new_geo.commune(MOVED).epci == LE_HAVRE_EPCI and new_geo.resolve(OLD) == INTO
    filters = {"epci-rouen": ActorFilters(epcis=[ROUEN_EPCI]),
               "epci-havre": ActorFilters(epcis=[LE_HAVRE_EPCI]),
               "on-old": ActorFilters(communes=[OLD]), "on-into": ActorFilters(communes=[INTO])}
    steps: list[tuple[str, Any]] = [("actor", (aid, 1, f, False)) for aid, f in filters.items()]
    nums = {c: f"0761125{i:06d}00042" for i, c in enumerate((MOVED, OLD, INTO))}
    steps += [("event", demande_event(n, [c])) for c, n in nums.items()]
    store, sender = MemoryStore(N), MemorySender()
    proc = Processor(TerritoryIndex(geography), codec, store, sender, redispatch_chunk=chunk)
    asyncio.run(run_pipelined(proc, _records(steps, codec), random.Random(3), sender=sender))
    _check(store, sender, codec, _expected(steps, geography))
    assert _held(sender, codec, "epci-rouen") == set(nums.values())
    assert _held(sender, codec, "on-old") == {nums[OLD]}

    # the worker restarts with the new table (the registry's actors, as it reads them)
    actors = [Actor(id=aid, name=aid, kind="bailleur", version=1, filters=f)
              for aid, f in filters.items()]  # fmt: skip
    proc = Processor(TerritoryIndex(new_geo, actors), codec, store, sender,
                     redispatch_chunk=chunk)  # fmt: skip
    # an event meanwhile: the partition is said to be dispatched with another geography
    between = [("event", demande_event(nums[INTO], [INTO], operation="MOD"))]
    with caplog.at_level(logging.WARNING, logger="dispatch.processor"):
        asyncio.run(run_pipelined(proc, _records(between, codec), random.Random(5),
                                  sender=sender))  # fmt: skip
    said = [r for r in caplog.records if "another geography" in r.getMessage()]
    assert len(said) == 1 and "hub actors publish" in said[0].getMessage()
    steps += between
    # the first actor change (an unrelated new actor) re-applies the territories
    change: list[tuple[str, Any]] = [("actor", ("other", 1, ActorFilters(communes=["27229"]),
                                                False))]  # fmt: skip
    _process_draining(proc, sender, _records(change, codec))
    _check(store, sender, codec, _expected(steps + change, new_geo))
    assert _held(sender, codec, "epci-rouen") == {nums[OLD], nums[INTO]}  # Darnétal left
    assert _held(sender, codec, "epci-havre") == {nums[MOVED]}
    assert _held(sender, codec, "on-old") == _held(sender, codec, "on-into") == {
        nums[OLD], nums[INTO]}  # fmt: skip
    # a demand published afterwards wishing the old code reaches both, and Darnétal's the
    # new EPCI's actor
    later = [("event", demande_event("076112500099900042", [OLD])),
             ("event", demande_event("076112500099800042", [MOVED]))]
    asyncio.run(run_pipelined(proc, _records(later, codec), random.Random(4), sender=sender))
    _check(store, sender, codec, _expected(steps + change + later, new_geo))
