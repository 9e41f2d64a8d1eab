"""Independent audit E3 and E2 on the real broker, a real `hub worker` and the API: an
actor removed, then registered again on a smaller territory with a narrower profile.

* the removal withdraws (RETRAIT filtres_modifies) every demand it held;
* the re-registration copies only what the smaller territory matches, each copy with an
  event id of its own, cut to the new profile; the demand outside it is not copied again,
  nor sent at its later event or radiation (only the outcome, to a former recipient);
* the API's holder check follows the feed: `/timeline` answers 403 for the demand outside
  the territory, 200 for the one inside; `GET /feed` from 0 serves no record wider than the
  new profile;
* the removal revoked its API key: the old key is refused after the re-registration, a
  new one is created (independent audit K, F11).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hub.core.db import make_engine, migrate
from hub.core.settings import HubSettings
from hub.domain.actors import Actor, ActorFilters
from hub.stores.access.keys import KeyStore
from tests.integration.conftest import collect_feed
from tests.integration.test_dispatch_kafka import publish
from tests.unit.test_actor_changes import consumer_holds, sensitive_event

pytestmark = pytest.mark.kafka

DARNETAL, ROUEN = "76212", "76540"


def _kinds(records: list[dict[str, Any]], num: str) -> list[tuple[str, str | None]]:
    return [(r["kind"], r["reason"]) for r in records if r["numUnique"] == num]


def test_remove_then_readd_smaller_withdraws_and_the_api_follows(
        worker: Any, actor_service: Any, settings: HubSettings) -> None:  # fmt: skip
    from hub.api.app import create_app

    engine = make_engine(settings.database_url)
    migrate(engine)
    aid = f"e3-{uuid.uuid4().hex[:8]}"

    def register(communes: list[str], profile: str) -> None:
        actor_service.add_or_update(Actor(
            id=aid, name="E3", kind="bailleur", profile=profile,  # type: ignore[arg-type]
            filters=ActorFilters(communes=communes)))  # fmt: skip

    register([DARNETAL, ROUEN], "consultant_sensible")
    key = KeyStore(engine).create(aid).key
    headers = {"Authorization": f"Bearer {key}"}
    out, kept = (f"0761125{uuid.uuid4().int % 10**11:011d}" for _ in range(2))
    publish(settings, sensitive_event(out, [DARNETAL]), sensitive_event(kept, [ROUEN]))
    got = collect_feed(settings, aid, worker=worker,
                       until=lambda rs: all(_kinds(rs, n) for n in (out, kept)))  # fmt: skip
    assert _kinds(got, out) == _kinds(got, kept) == [("DEMANDE", None)]

    actor_service.remove(aid)
    got = collect_feed(settings, aid, worker=worker, until=lambda rs: all(
        len(_kinds(rs, n)) == 2 for n in (out, kept)))  # fmt: skip
    for n in (out, kept):
        assert _kinds(got, n) == [("DEMANDE", None), ("RETRAIT", "filtres_modifies")], n

    register([ROUEN], "consultant_simple")  # smaller territory, narrower profile
    publish(settings, sensitive_event(out, [DARNETAL], operation="MOD"))
    publish(settings, sensitive_event(out, [DARNETAL], operation="RAD", radiation={
        "dateRadiation": "2026-01-02", "motifRadiation": "RADABA"}))  # fmt: skip
    got = collect_feed(settings, aid, worker=worker, until=lambda rs: all(
        len(_kinds(rs, n)) == 3 for n in (out, kept)))  # fmt: skip
    assert _kinds(got, kept) == [("DEMANDE", None), ("RETRAIT", "filtres_modifies"),
                                 ("COPIE", None)]  # fmt: skip
    assert _kinds(got, out) == [("DEMANDE", None), ("RETRAIT", "filtres_modifies"),
                                ("RADIATION", "ancien_destinataire")]  # fmt: skip
    first, *_, copy = [r for r in got if r["numUnique"] == kept]
    assert copy["eventId"] != first["eventId"] and copy["profile"] == "consultant_simple"
    assert copy["demande"]["demandeLogement"]["listeHandicap"] is None
    # (the broker is shared: the actor's territory may hold other tests' demands too)
    assert consumer_holds(got) & {out, kept} == {kept}

    with TestClient(create_app(settings, engine)) as client:
        # the removal revoked its key: registered again, it needs a new one (audit K F11)
        assert client.get("/feed?limit=1", headers=headers).status_code == 401
        headers = {"Authorization": f"Bearer {KeyStore(engine).create(aid).key}"}
        assert client.get(f"/demandes/{out}/timeline", headers=headers).status_code == 403
        assert client.get(f"/demandes/{kept}/timeline", headers=headers).status_code == 200
        records: list[dict[str, Any]] = []
        cursor = 0  # page by page: the shared broker's territory may hold more than a page
        while True:
            page = client.get(f"/feed?cursor={cursor}&limit=1000", headers=headers)
            assert page.status_code == 200, page.text
            body = page.json()
            records += body["records"]
            if not body["records"] or body["nextCursor"] >= body["endCursor"]:
                break
            cursor = body["nextCursor"]
    assert len(records) == len(got)
    for r in records:  # the DEMANDEs written for consultant_sensible, cut again
        assert r["profile"] == "consultant_simple"
        if r["demande"] is not None:
            assert r["demande"]["demandeLogement"]["listeHandicap"] is None
            cats = {p["categorie"] for p in r["demande"]["piecesJustificatives"] or ()}
            assert not cats & {"MOTIF", "HAND", "INT"}, r["numUnique"]
            assert r["numUnique"] not in (out, kept) or cats == {"IDD"}
    engine.dispose()


def test_a_profile_downgrade_recopies_held_demands_cut(
        worker: Any, actor_service: Any, settings: HubSettings) -> None:  # fmt: skip
    """Audit E2 on the real worker: consultant_sensible → consultant_simple sends a COPIE
    (profil_modifie) of the demand held, without the sensitive parts."""
    aid = f"e2-{uuid.uuid4().hex[:8]}"

    def register(profile: str) -> None:
        actor_service.add_or_update(Actor(
            id=aid, name="E2", kind="bailleur", profile=profile,  # type: ignore[arg-type]
            filters=ActorFilters(communes=[ROUEN])))  # fmt: skip

    register("consultant_sensible")
    num = f"0761125{uuid.uuid4().int % 10**11:011d}"
    publish(settings, sensitive_event(num, [ROUEN]))
    got = collect_feed(settings, aid, worker=worker, until=lambda rs: _kinds(rs, num))
    assert _kinds(got, num) == [("DEMANDE", None)]
    first = next(r for r in got if r["numUnique"] == num)
    assert first["demande"]["demandeLogement"]["listeHandicap"] is not None
    register("consultant_simple")
    got = collect_feed(settings, aid, worker=worker, until=lambda rs: len(_kinds(rs, num)) == 2)
    assert _kinds(got, num) == [("DEMANDE", None), ("COPIE", "profil_modifie")]
    latest = [r for r in got if r["numUnique"] == num][-1]
    assert latest["profile"] == "consultant_simple"
    assert latest["demande"]["demandeLogement"]["listeHandicap"] is None
    assert {p["categorie"] for p in latest["demande"]["piecesJustificatives"]} == {"IDD"}
