"""Review Q, F3 (b): a profile change carried by the control that triggers the
partition's one-time upgrade pass (every partition after dbbc756's generation 2, every
new geography after 6ece7fa) owes every held demand a COPIE (profil_modifie) cut to the
new profile. The pass only copies/withdraws where recipients differ and records the new
profile as applied: the recut copies are never sent, the actor keeps its demands cut to
the former profile (sensitive fields after a downgrade to consultant_simple)."""

from __future__ import annotations

from typing import Any

from dispatch.processor import Processor
from hub.domain.actors import ActorFilters
from hub.domain.matching import TerritoryIndex
from tests.support.demandes import new_num_unique
from tests.unit.test_actor_changes import ROUEN, SENSIBLE, SIMPLE, Hub, sensitive_event


def test_a_profile_change_meeting_the_upgrade_pass_recuts(codec: Any, geography: Any) -> None:
    hub = Hub(codec, geography)
    num = new_num_unique()
    hub.run(hub.control("x", ActorFilters(communes=[ROUEN]), SENSIBLE),
            hub.event(sensitive_event(num, [ROUEN])))
    assert hub.feed("x", num)[-1]["profile"] == SENSIBLE
    # a partition indexed by the release before (generation-1 marker): drop generation 2
    store = hub.proc.store
    for k in [k for k in store.own if k[1].startswith(b"\x00t-complete2:")]:
        del store.own[k]
    hub.proc = Processor(TerritoryIndex(geography, hub.proc.index.actors()), codec, store,
                         hub.sender)
    hub.run(hub.control("x", ActorFilters(communes=[ROUEN]), SIMPLE))
    latest = hub.feed("x", num)[-1]
    assert (latest["kind"], latest["reason"], latest["profile"]) == (
        "COPIE", "profil_modifie", SIMPLE), latest["kind"]
