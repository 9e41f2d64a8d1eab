"""Review Q, F3: the one-time upgrade pass (now run on every partition after dbbc756's
marker generation 2, and after every new geography since 6ece7fa) records the filters
applied for the actors *registered* only. An actor removed by the control that triggers
the pass is withdrawn everything, but its "filters applied" record keeps the filters of
before the removal. Registered again later with those filters, the partition sees no
move (applied == new) and sends no COPIE: the actor never gets its demands back.

Two variants of how a partition comes to be "not indexed" with its applied records in
place: a generation-1 marker (the release before dbbc756: simulated by removing the
generation-2 marker only), and a worker restarted on a new geography table."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest

from dispatch.processor import Processor
from hub.domain.actors import Actor, ActorFilters
from hub.domain.matching import TerritoryIndex
from tests.support.demandes import demande_event
from tests.support.memory import MemorySender, MemoryStore, run_pipelined
from tests.unit.test_geography_update import _new_table
from tests.unit.test_redispatch import N, _held, _process_draining, _records

ROUEN = "76540"


@pytest.mark.parametrize("how", ["generation-1 marker", "new geography"])
def test_an_actor_removed_then_registered_again_gets_its_demands_back(
        geography: Any, codec: Any, tmp_path: Path, how: str) -> None:  # fmt: skip
    f = ActorFilters(communes=[ROUEN])
    nums = [f"0761125{i:06d}00042" for i in range(6)]
    steps: list[tuple[str, Any]] = [("actor", ("x", 1, f, False))]
    steps += [("event", demande_event(n, [ROUEN])) for n in nums]
    store, sender = MemoryStore(N), MemorySender()
    proc = Processor(TerritoryIndex(geography), codec, store, sender)
    asyncio.run(run_pipelined(proc, _records(steps, codec), random.Random(1), sender=sender))
    assert _held(sender, codec, "x") == set(nums)

    actors = [Actor(id="x", name="x", kind="bailleur", version=1, filters=f)]
    if how == "generation-1 marker":
        for k in [k for k in store.own if k[1].startswith(b"\x00t-complete2:")]:
            del store.own[k]
        geo = geography
    else:
        geo = _new_table(tmp_path)
    proc = Processor(TerritoryIndex(geo, actors), codec, store, sender)
    # the control that meets the partition first is a removal: the upgrade pass runs
    _process_draining(proc, sender, _records([("actor", ("x", 2, f, True))], codec))
    assert _held(sender, codec, "x") == set()
    # registered again, same filters: every demand is owed again
    _process_draining(proc, sender, _records([("actor", ("x", 3, f, False))], codec))
    assert _held(sender, codec, "x") == set(nums)
