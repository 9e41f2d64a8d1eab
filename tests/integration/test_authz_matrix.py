"""REST authorization matrix (issue 7.5): many actors, each asking for every demand outside
its scope on every route that reads or acts on an object, gets 403/404 every time; the same
calls on its own demands succeed (so the matrix can fail).

24 actors of every kind are registered through the real actor service (so the real worker
knows them), their territories spread over 12 communes of 7 départements; one demand per
commune is published to ``hub.demandes`` and dispatched by the real worker. Each actor's
scope is computed from its filters (the oracle), independently of the hub. The routes are
enumerated from the app: a new route that is neither in :data:`PROBES` nor declared public
or object-free makes :func:`test_every_route_is_checked_or_declared` fail.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from connectors.ingress.publishing import prepare_event, publish_events
from hub.core.db import make_engine, migrate
from hub.core.settings import HubSettings
from hub.domain.actors import Actor, ActorFilters
from hub.stores.access.keys import KeyStore
from tests.support.demandes import demande_event, new_num_unique

pytestmark = pytest.mark.kafka

#: communes no other integration test uses, two per département where possible
COMMUNES = ["13055", "13001", "69123", "69266", "33063", "33281", "31555", "31069",
            "59350", "59512", "44109", "35238"]
KINDS = ["bailleur", "guichet", "commune", "epci", "reservataire", "etat"]
N_ACTORS = 24
#: served without authentication, about no object (``/docs-assets``: the docs pages' files)
PUBLIC = {("GET", "/health"), ("GET", "/openapi.json"), ("GET", "/docs"),
          ("GET", "/docs/oauth2-redirect"), ("GET", "/redoc"), ("GET", "/docs-assets")}
#: authenticated, but about no demand: nothing to scope
NO_OBJECT = {("GET", "/catalogue"), ("GET", "/statistiques/{niveau}/{code}"),
             ("GET", "/schemas/{fingerprint}")}


@dataclass
class Who:
    actor: Actor
    headers: dict[str, str]
    scope: set[str] = field(default_factory=set)  # numéros of its demands (the oracle)


@dataclass
class World:
    client: TestClient
    actors: list[Who]
    demands: dict[str, str]  # commune -> numéro


def _dep(commune: str) -> str:
    return commune[:2].zfill(3)


def _communes_of(i: int) -> list[str]:
    """Actor ``i``'s territory: one commune, plus one of another département for half."""
    first = COMMUNES[i % len(COMMUNES)]
    if i < len(COMMUNES):
        return [first]
    second = COMMUNES[(i * 5 + 3) % len(COMMUNES)]
    return sorted({first, second})


@pytest.fixture(scope="module")
def world(worker: Any, actor_service: Any, settings: HubSettings) -> Iterator[World]:
    from hub.api.app import create_app

    engine = make_engine(settings.database_url)
    migrate(engine)
    suffix = uuid.uuid4().hex[:8]
    keys = KeyStore(engine)
    actors = []
    for i in range(N_ACTORS):
        kind = KINDS[i % len(KINDS)]
        actor = Actor(id=f"mx-{kind[:4]}-{i:02d}-{suffix}", name=f"matrix {i}",
                      kind=kind,  # type: ignore[arg-type]
                      profile="consultant_demande",
                      filters=ActorFilters(communes=_communes_of(i)))
        actor_service.add_or_update(actor)
        actors.append(Who(actor, {"Authorization": f"Bearer {keys.create(actor.id).key}"}))
    demands = {c: new_num_unique(_dep(c)) for c in COMMUNES}
    for who in actors:
        who.scope = {demands[c] for c in who.actor.filters.communes}
    events = [prepare_event(demande_event(num, [c])) for c, num in demands.items()]
    asyncio.run(publish_events(settings, events))
    with TestClient(create_app(settings, engine)) as client:
        world = World(client, actors, demands)
        _wait_dispatched(world, worker)
        yield world
    engine.dispose()


def _wait_dispatched(world: World, worker: Any, timeout: float = 300.0) -> None:
    """Until every actor reads each demand of its scope (the holders catch up its feed).
    Generous timeout: the shared test consumer group may be rebalancing when we start."""
    pending = {(i, n) for i, w in enumerate(world.actors) for n in w.scope}
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for i, num in sorted(pending):
            r = world.client.get(f"/demandes/{num}/timeline", headers=world.actors[i].headers)
            if r.status_code == 200:
                pending.discard((i, num))
        if pending:
            assert worker.alive(), f"worker died; see {worker.log}"
            time.sleep(1.0)
    assert not pending, f"{len(pending)} (actor, demand) pairs never dispatched"


# --- the matrix: for each route, the calls that act on or read one demand ---------------

Call = tuple[str, str, Any]  # method, url, JSON body
Probe = Callable[[Who, str, str], list[Call]]  # (caller, target numéro, one of its own)


def _timeline(_w: Who, num: str, _own: str) -> list[Call]:
    return [("GET", f"/demandes/{num}/timeline", None),
            ("GET", f"/demandes/{num}/timeline?vue=demandeur", None)]


def _gp(_w: Who, num: str, _own: str) -> list[Call]:
    return [("POST", f"/demandes/{num}/evenements-gp",
             {"codeTypeEvenement": "VISPROP", "dateSurvenance": "2025-06-01",
              "caracteristiques": {"DATEVIS": "2025-06-05"}})]


def _submit(_w: Who, num: str, _own: str) -> list[Call]:
    commune = "76540"  # any valid commune: the check is on the numéro
    return [("POST", "/demandes/evenements", [demande_event(num, [commune], operation=op)])
            for op in ("MOD", "REN", "RAD", "CRE")]


def _cal(_w: Who, num: str, own: str) -> list[Call]:
    return [("POST", "/cal/decisions",
             {"codeCal": "CAL-MX", "logement": "L1", "dateDecision": "2025-06-10",
              "candidats": [{"numUnique": own, "decision": "ATTR"},
                            {"numUnique": num, "decision": "NONATTR", "motif": "x"}]})]


def _cal_answer(_w: Who, num: str, _own: str) -> list[Call]:
    return [("POST", f"/cal/decisions/dec-mx-{num}/reponses",
             {"numUnique": num, "accepte": True, "dateReponse": "2025-06-12"})]


def _audit(w: Who, num: str, _own: str) -> list[Call]:
    if w.actor.kind == "etat":
        return []  # the etat administrator sees every delivery: see ETAT_AUDIT below
    return [("GET", f"/audit?numUnique={num}", None)]


def _cotation(_w: Who, num: str, _own: str) -> list[Call]:
    return [("GET", f"/demandes/{num}/cotation", None),
            ("POST", f"/demandes/{num}/cotation/declarations",
             {"epci": "200023414", "critere": "JEUNE_ASE", "valeur": True})]


def _similaires(_w: Who, num: str, _own: str) -> list[Call]:
    return [("GET", f"/demandes/{num}/cotation/similaires", None)]


PROBES: dict[tuple[str, str], Probe] = {
    ("GET", "/demandes/{num_unique}/timeline"): _timeline,
    ("POST", "/demandes/{num_unique}/evenements-gp"): _gp,
    ("POST", "/demandes/evenements"): _submit,
    ("POST", "/cal/decisions"): _cal,
    ("POST", "/cal/decisions/{decision_id}/reponses"): _cal_answer,
    ("GET", "/audit"): _audit,
    ("GET", "/demandes/{num_unique}/cotation"): _cotation,
    ("POST", "/demandes/{num_unique}/cotation/declarations"): _cotation,
    ("GET", "/demandes/{num_unique}/cotation/similaires"): _similaires,
}
#: routes scoped to the caller by construction, checked by content in their own tests
CALLER_SCOPED = {("GET", "/feed")}


def _flat_routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(path, route) of every route, included routers flattened (FastAPI ≥ 0.16x keeps
    ``include_router`` as a nested router object)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            sub = getattr(getattr(route, "include_context", None), "prefix", "") or ""
            yield from _flat_routes(inner.routes, prefix + sub)
        else:
            yield prefix + route.path, route


def _routes(client: TestClient, api_only: bool = False) -> set[tuple[str, str]]:
    out = set()
    for path, route in _flat_routes(client.app.routes):  # type: ignore[attr-defined]
        if api_only and not isinstance(route, APIRoute):
            continue
        methods = getattr(route, "methods", None) or {"GET"}
        out |= {(m, path) for m in methods - {"HEAD", "OPTIONS"}}
    return out


def _call(client: TestClient, who: Who, call: Call) -> Any:
    method, url, body = call
    return client.request(method, url, headers=who.headers, json=body)


def test_every_route_is_checked_or_declared(world: World) -> None:
    """A route added without an entry here fails: it must be probed, public or object-free;
    and every non-public route refuses an anonymous caller."""
    routes = _routes(world.client)
    declared = set(PROBES) | CALLER_SCOPED | PUBLIC | NO_OBJECT
    assert routes - declared == set(), "routes missing from the authorization matrix"
    assert set(PROBES) | CALLER_SCOPED | NO_OBJECT <= routes, "stale matrix entries"
    num = next(iter(world.demands.values()))
    api_routes = _routes(world.client, api_only=True)
    assert len(api_routes) >= 8
    for method, path in sorted(api_routes - PUBLIC):
        url = path.replace("{num_unique}", num).replace("{decision_id}", "d1")
        url = url.replace("{niveau}", "departement").replace("{code}", "76")
        r = world.client.request(method, url)
        assert r.status_code == 401, (method, path, r.status_code)


def test_in_scope_calls_succeed(world: World) -> None:
    """Each actor reads its own demands, its audit of them and its own feed (only its own
    demands of the matrix are in it)."""
    ours = set(world.demands.values())
    for who in world.actors:
        for num in sorted(who.scope):
            for call in _timeline(who, num, num) + _audit(who, num, num):
                r = _call(world.client, who, call)
                assert r.status_code == 200, (who.actor.id, call[1], r.text)
        seen: set[str] = set()
        cursor, end = 0, 1
        while cursor < end:
            page = world.client.get(f"/feed?cursor={cursor}&limit=1000", headers=who.headers)
            assert page.status_code == 200, page.text
            body = page.json()
            seen |= {rec["numUnique"] for rec in body["records"]}
            cursor, end = body["nextCursor"], body["endCursor"]
            if not body["records"]:
                break
        assert seen & ours == who.scope, who.actor.id
    # a bailleur records a GP event on its own demand (the write path is open in scope)
    landlord = next(w for w in world.actors if w.actor.kind == "bailleur")
    own = sorted(landlord.scope)[0]
    r = _call(world.client, landlord, _gp(landlord, own, own)[0])
    assert r.status_code in (200, 201), r.text


def test_out_of_scope_is_refused_for_every_actor_and_route(world: World) -> None:
    """Every (actor, foreign demand, route) call gets 403/404, never a 2xx nor a 5xx."""
    failures: list[tuple[str, str, str, int]] = []
    checked = 0
    for who in world.actors:
        own = sorted(who.scope)[0]
        for num in sorted(set(world.demands.values()) - who.scope):
            for route, probe in PROBES.items():
                for call in probe(who, num, own):
                    r = _call(world.client, who, call)
                    checked += 1
                    if r.status_code not in (403, 404):
                        failures.append((who.actor.id, route[1], call[1], r.status_code))
    n_foreign = sum(len(world.demands) - len(w.scope) for w in world.actors)
    assert n_foreign >= N_ACTORS * 9 and checked >= n_foreign * 9
    assert failures == []


def test_another_actors_audit_and_feed_are_not_readable(world: World) -> None:
    """``/audit?actorId=<other>`` is refused to every non-etat actor; ``/feed`` has no
    parameter naming an actor (an attempt is an unknown parameter, refused) and answers
    the caller's own feed."""
    for i, who in enumerate(world.actors):
        other = world.actors[(i + 1) % len(world.actors)]
        if who.actor.kind != "etat":
            r = world.client.get(f"/audit?actorId={other.actor.id}", headers=who.headers)
            assert r.status_code == 403, (who.actor.id, r.text)
        r = world.client.get(f"/feed?actor={other.actor.id}&actorId={other.actor.id}"
                             "&limit=1000", headers=who.headers)
        assert r.status_code == 422 and "unknown query parameter" in r.json()["detail"]
        r = world.client.get("/feed?limit=1000", headers=who.headers)
        assert r.status_code == 200
        nums = {rec["numUnique"] for rec in r.json()["records"]}
        assert not nums & (set(world.demands.values()) - who.scope), who.actor.id


def test_etat_audit_is_the_documented_exception(world: World) -> None:
    """ETAT_AUDIT: an ``etat`` actor (the administrator) may query the audit of any demand
    (docs/api.md); the answer is 200 — kept visible here so a policy change shows."""
    etat = next(w for w in world.actors if w.actor.kind == "etat")
    foreign = sorted(set(world.demands.values()) - etat.scope)[0]
    assert world.client.get(f"/audit?numUnique={foreign}", headers=etat.headers).status_code == 200


def test_a_creation_cannot_take_over_another_actors_demand(
        settings: HubSettings, tmp_path: Any) -> None:
    """The hole the matrix found: a CRE naming another actor's numéro used to make the
    submitter a holder (202, then its timeline read 200). Now 403, and no access."""
    from hub.api.app import create_app
    from tests.integration.api_support import register

    engine = make_engine(f"sqlite:///{tmp_path / 'api.db'}")
    migrate(engine)
    owner, thief = register(engine), register(engine, communes=("76451",))
    num = new_num_unique()
    with TestClient(create_app(settings, engine)) as client:
        r = client.post("/demandes/evenements", headers=owner.headers,
                        json=[demande_event(num, ["76540"])])
        assert r.status_code == 202, r.text
        r = client.post("/demandes/evenements", headers=thief.headers,
                        json=[demande_event(num, ["76451"])])
        assert r.status_code == 403, r.text
        assert client.get(f"/demandes/{num}/timeline", headers=thief.headers).status_code == 403
        # the owner may send its creation again (idempotent resubmission)
        r = client.post("/demandes/evenements", headers=owner.headers,
                        json=[demande_event(num, ["76540"])])
        assert r.status_code == 202, r.text
    engine.dispose()
