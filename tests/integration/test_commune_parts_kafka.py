"""A commune and its parts on the real broker and a real ``hub worker`` (audit P, F1): an
actor registered on an arrondissement (75112) or a commune déléguée (74011 Annecy-le-Vieux)
receives the demands wishing the whole commune (75056 Paris, 74010 Annecy), not those of
another part; an actor whose filter becomes 75112 gets a COPIE of the active demand
wishing Paris, and a RETRAIT when it leaves. Inputs from INSEE's COG, not the generators."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from hub.core.settings import HubSettings
from hub.domain.actors import Actor, ActorFilters
from tests.integration.conftest import collect_feed
from tests.integration.test_dispatch_kafka import publish
from tests.support.demandes import demande_event, new_num_unique

pytestmark = pytest.mark.kafka


def _kinds(records: list[dict[str, Any]], num: str) -> list[str]:
    return [r["kind"] for r in records if r["numUnique"] == num]


def test_an_actor_on_a_part_receives_the_whole_communes_demands(
        worker: Any, actor_service: Any, settings: HubSettings) -> None:  # fmt: skip
    run = uuid.uuid4().hex[:8]
    on_12th, on_annecy_le_vieux, moving = (f"part-{n}-{run}" for n in ("p12", "alv", "mv"))
    for aid, communes in ((on_12th, ["75112"]), (on_annecy_le_vieux, ["74011"]),
                          (moving, ["76540"])):  # fmt: skip
        actor_service.add_or_update(Actor(id=aid, name=aid, kind="bailleur",
                                          filters=ActorFilters(communes=communes)))  # fmt: skip
    paris, thirteenth, annecy = new_num_unique(), new_num_unique(), new_num_unique()
    publish(settings, demande_event(paris, ["75056"]), demande_event(thirteenth, ["75113"]),
            demande_event(annecy, ["74010"]))  # fmt: skip
    got = collect_feed(settings, on_12th, worker=worker, until=lambda rs: _kinds(rs, paris))
    assert _kinds(got, paris) == ["DEMANDE"]
    got = collect_feed(settings, on_annecy_le_vieux, worker=worker,
                       until=lambda rs: _kinds(rs, annecy))  # fmt: skip
    assert _kinds(got, annecy) == ["DEMANDE"]
    # the filter of an actor changes to the 12th: the active demand wishing Paris is copied
    actor_service.add_or_update(Actor(id=moving, name=moving, kind="bailleur",
                                      filters=ActorFilters(communes=["75112"])))  # fmt: skip
    got = collect_feed(settings, moving, worker=worker, until=lambda rs: _kinds(rs, paris))
    assert _kinds(got, paris) == ["COPIE"]
    # and withdrawn when it leaves for Rouen
    actor_service.add_or_update(Actor(id=moving, name=moving, kind="bailleur",
                                      filters=ActorFilters(communes=["76540"])))  # fmt: skip
    got = collect_feed(settings, moving, worker=worker,
                       until=lambda rs: len(_kinds(rs, paris)) >= 2)  # fmt: skip
    assert _kinds(got, paris) == ["COPIE", "RETRAIT"]
    # the 13th's demand reached none of them: another part of Paris
    for aid in (on_12th, moving):
        assert not _kinds(collect_feed(settings, aid, worker=worker, until=lambda rs: True),
                          thirteenth), aid  # fmt: skip
