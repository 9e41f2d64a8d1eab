"""``GET /feed`` answers no more than the caller's profile allows *now* (independent audit
E2): a record written before a downgrade, for the wider profile, is cut again as the
dispatcher cuts it for the narrower one (snapshot, changedFields, scores); a record cut to
a narrower profile is served as it is (never widened)."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from dispatch import cotation
from dispatch.cotation import Scoring
from dispatch.ports import InputRecord
from hub.api.recut import recut
from hub.core import topics
from hub.core.db import make_engine, migrate
from hub.core.settings import DatabaseSettings, HubSettings
from hub.domain.actors import Actor, ActorFilters
from hub.stores.access.keys import KeyStore
from hub.stores.registry.store import ActorStore
from tests.support.profile_scores import (
    PROFILES,
    ROUEN,
    declared_codes,
    dispatcher,
    port,
    sent,
)
from tests.unit.test_actor_changes import sensitive_event

CHANGED = ["demandeLogement.listeHandicap", "demandeLogement.logementRecherche"]


@pytest.fixture(scope="module")
def records(codec: Any, geography: Any) -> dict[str, dict[str, Any]]:
    """profile -> the DEMANDE record an actor of that profile received for one event (its
    scores with every declared criterion met, its changedFields naming a sensitive field)."""
    scoring = Scoring(declarations=port({c: True for c in declared_codes()}))
    cotation.install(scoring)
    try:
        proc, sender = dispatcher(codec, geography, scoring)
        ev = sensitive_event("076112500000001234", [ROUEN])
        ev["changedFields"] = CHANGED
        rec = InputRecord(topics.DEMANDES, 0, 1, ev["numUnique"].encode(),
                          codec.encode("DemandeEvent", ev))  # fmt: skip
        asyncio.run(proc.process([rec]))
    finally:
        cotation.install(None)
    return {p: codec.decode_as(*sent(sender, p), "FeedRecord") for p in PROFILES}


def test_a_wider_record_is_cut_as_the_dispatcher_cuts_it(records: dict[str, Any]) -> None:
    for wide, narrow in itertools.combinations(reversed(PROFILES), 2):
        assert records[wide] != records[narrow]  # each profile's cut differs here
        assert recut(records[wide], narrow) == records[narrow], (wide, narrow)
    for narrow, wide in itertools.combinations(PROFILES, 2):
        assert recut(records[narrow], wide) is records[narrow]  # never widened
    for p in PROFILES:
        assert recut(records[p], p) is records[p]
    unknown = {**records["consultant_sensible"], "profile": "consultant_inconnu"}
    assert recut(unknown, "consultant_simple") == records["consultant_simple"]  # fails closed


def test_get_feed_serves_records_cut_to_the_callers_profile_now(
        tmp_path: Path, records: dict[str, Any],
        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """An actor downgraded to consultant_simple reading its feed from 0 again: the record
    written for it as consultant_sensible comes back cut."""
    from hub.api.app import create_app
    from hub.core.kafka.feed_pool import FeedPages

    url = f"sqlite:///{tmp_path / 'hub.db'}"
    engine = make_engine(url)
    migrate(engine)
    actor = Actor(id="bailleur-e2", name="B", kind="bailleur", profile="consultant_simple",
                  filters=ActorFilters(communes=[ROUEN]))  # fmt: skip
    ActorStore(engine).save(actor)
    key = KeyStore(engine).create(actor.id).key
    written = [{**records["consultant_sensible"], "offset": 0},
               {**records["consultant_simple"], "offset": 1}]  # fmt: skip

    async def page(self: Any, actor_id: str, cursor: int, limit: int) -> Any:
        assert actor_id == actor.id
        return written[cursor : cursor + limit], len(written), len(written)

    monkeypatch.setattr(FeedPages, "read", page)
    settings = HubSettings(home=tmp_path, database=DatabaseSettings(url=SecretStr(url)))
    with TestClient(create_app(settings, engine)) as client:
        r = client.get("/feed?cursor=0", headers={"Authorization": f"Bearer {key}"})
    engine.dispose()
    assert r.status_code == 200, r.text
    got = r.json()["records"]
    assert [g["profile"] for g in got] == ["consultant_simple"] * 2
    assert got[0]["demande"] == got[1]["demande"]
    assert got[0]["demande"]["demandeLogement"]["listeHandicap"] is None
    assert got[0]["changedFields"] == got[1]["changedFields"] == CHANGED[1:]
    assert got[0]["cotations"] == got[1]["cotations"]
