"""REST authorization matrix (issue 7.5): many actors, each asking for every demand outside
its scope on every route that reads or acts on an object, gets 403/404 every time; the same
calls on its own demands succeed (so the matrix can fail).

24 actors of every kind are registered through the real actor service (so the real worker
knows them), their territories spread over 12 communes of 7 départements; one demand per
commune is published to ``hub.demandes`` and dispatched by the real worker. Each actor's
scope is computed from its filters (the oracle), independently of the hub. The routes are
enumerated from the app: a new route that is neither in :data:`PROBES` nor declared public
or object-free makes :func:`test_every_route_is_checked_or_declared` fail.

Write rights (independent audit K, F3-F5), beyond holding: every route that writes is
declared in :data:`WRITES` with its rule (a new write route fails
:func:`test_every_write_route_is_declared`). 18 more actors — every kind × write right
(default of its kind, ``enregistreur: true``, ``false``), the three profiles — each hold a
demand of their own in one commune of the Métropole Rouen Normandie (its cotation grid)
and try every demand operation on it: only registering offices get 202, the others 403
naming the write right, and their demands stay. A CAL's acts are refused to non-landlords on
the gestion partagée route too, the applicant's answer to another actor's decision is
refused, and a profile declares only the cotation criteria it reads.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import product
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from connectors.ingress.publishing import prepare_event, publish_events
from hub.core.db import make_engine, migrate
from hub.core.settings import HubSettings
from hub.domain.actors import Actor, ActorFilters
from hub.domain.profiles import PROFILES
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


# --- write rights (independent audit K) ------------------------------------------------

#: every route that writes, and what it needs beyond holding the demand (docs/api.md)
WRITES = {
    ("POST", "/demandes/evenements"): "a registering office (enregistreur)",
    ("POST", "/demandes/{num_unique}/evenements-gp"): "a CAL's acts: a bailleur",
    ("POST", "/cal/decisions"): "a bailleur",
    ("POST", "/cal/decisions/{decision_id}/reponses"): "the decision's author",
    ("POST", "/demandes/{num_unique}/cotation/declarations"): "a criterion its profile reads",
}
#: the commune of the write-right actors: in the Métropole Rouen Normandie (a cotation
#: grid), used by no other test
WRITERS_COMMUNE = "76237"
RADIATION = {"dateRadiation": "2026-01-02", "motifRadiation": "RADABA"}
ROUEN_EPCI = "200023414"


@dataclass
class Writer:
    who: Who
    own: str  # the demand it tries every operation on (no other writer touches it)


@dataclass
class Writers:
    client: TestClient
    writers: list[Writer]
    shared: str  # held by every writer, modified by none (declarations)


def _wait_held(client: TestClient, pairs: set[tuple[int, str]], whos: list[Who],
               worker: Any, timeout: float = 300.0) -> None:
    """Until each (index in ``whos``, numéro) is read by that actor."""
    pending = set(pairs)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for i, num in sorted(pending):
            if client.get(f"/demandes/{num}/timeline", headers=whos[i].headers).status_code == 200:
                pending.discard((i, num))
        if pending:
            assert worker.alive(), f"worker died; see {worker.log}"
            time.sleep(1.0)
    assert not pending, f"{len(pending)} (actor, demand) pairs never dispatched"


@pytest.fixture(scope="module")
def writers(world: World, worker: Any, actor_service: Any,
            settings: HubSettings) -> Iterator[Writers]:  # fmt: skip
    engine = make_engine(settings.database_url)
    keys = KeyStore(engine)
    suffix = uuid.uuid4().hex[:8]
    whos = []
    for i, (kind, right) in enumerate(product(KINDS, (None, True, False))):
        actor = Actor(id=f"wr-{kind[:4]}-{i:02d}-{suffix}", name=f"writer {i}",
                      kind=kind, enregistreur=right,  # type: ignore[arg-type]
                      profile=PROFILES[i % len(PROFILES)],  # type: ignore[arg-type]
                      filters=ActorFilters(communes=[WRITERS_COMMUNE]))  # fmt: skip
        actor_service.add_or_update(actor)
        whos.append(Who(actor, {"Authorization": f"Bearer {keys.create(actor.id).key}"}))
    owns = [new_num_unique() for _ in whos]
    shared = new_num_unique()
    asyncio.run(publish_events(settings, [prepare_event(demande_event(n, [WRITERS_COMMUNE]))
                                          for n in [*owns, shared]]))  # fmt: skip
    pairs = {(i, n) for i, own in enumerate(owns) for n in (own, shared)}
    _wait_held(world.client, pairs, whos, worker)
    yield Writers(world.client, [Writer(w, n) for w, n in zip(whos, owns, strict=True)], shared)
    engine.dispose()


def _routes_of(client: TestClient, method: str) -> set[tuple[str, str]]:
    return {r for r in _routes(client, api_only=True) if r[0] == method}


def test_every_write_route_is_declared(world: World) -> None:
    """Every POST route writes something: it must say what it needs (:data:`WRITES`)."""
    assert _routes_of(world.client, "POST") == set(WRITES)
    assert {m for m, _ in _routes(world.client, api_only=True)} <= {"GET", "POST"}


def _problem(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert body["type"] == f"urn:passerelle:problem:{code}", body
    return body


#: what each write rule's 403 says (the type is ``forbidden``, as every refusal)
NO_WRITE_RIGHT = "does not write demands"
NOT_CAL_AUTHOR = "records a CAL's acts"
NOT_DECISION_AUTHOR = "is recorded by the actor that recorded the decision"
WITHHELD = "declares only the criteria it reads"


def _refused(r: Any, says: str) -> dict[str, Any]:
    body = _problem(r, 403, "forbidden")
    assert says in body["detail"], body
    return body


def test_only_registering_offices_write_demands(writers: Writers, worker: Any) -> None:
    """F3: MOD, REN, RAD, SUP on a demand it holds and CRE of a new one: 202 for an actor
    that writes demands (bailleur and guichet by default, any kind registered
    ``enregistreur: true``), 403 naming the write right for the others whatever their
    profile — and their demands are still there for everyone."""
    client = writers.client
    outcome: dict[tuple[str, bool | None], bool] = {}
    for w in writers.writers:
        actor = w.who.actor
        calls = [demande_event(w.own, [WRITERS_COMMUNE], operation=op,
                               radiation=RADIATION if op == "RAD" else None)
                 for op in ("MOD", "REN", "RAD", "SUP")]  # fmt: skip
        calls.append(demande_event(new_num_unique(), [WRITERS_COMMUNE]))
        for event in calls:
            r = client.post("/demandes/evenements", headers=w.who.headers, json=[event])
            if actor.writes_demands:
                assert r.status_code == 202, (actor.id, event["operation"], r.text)
            else:
                body = _refused(r, NO_WRITE_RIGHT)
                assert actor.id in body["detail"] and "enregistreur" in body["detail"]
        outcome[(actor.kind, actor.enregistreur)] = actor.writes_demands
    assert outcome == {(k, right): (right if right is not None else k in ("bailleur", "guichet"))
                       for k, right in product(KINDS, (None, True, False))}  # fmt: skip
    # the writers' deletions reach their holders; the refused ones' demands stay
    allowed = [w for w in writers.writers if w.who.actor.writes_demands]
    refused = [w for w in writers.writers if not w.who.actor.writes_demands]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        gone = [client.get(f"/demandes/{w.own}/timeline", headers=w.who.headers).status_code
                for w in allowed]  # fmt: skip
        if set(gone) == {403}:
            break
        assert worker.alive(), f"worker died; see {worker.log}"
        time.sleep(1.0)
    assert set(gone) == {403}, "a registering office's SUP was not applied"
    reader = allowed[0].who
    for w in refused:
        for who in (w.who, reader):
            r = client.get(f"/demandes/{w.own}/timeline", headers=who.headers)
            assert r.status_code == 200, (w.who.actor.id, who.actor.id, r.text)


def _gp_body(code: str, fields: dict[str, str], on: date) -> dict[str, Any]:
    return {"codeTypeEvenement": code, "dateSurvenance": on.isoformat(), "caracteristiques": fields}


def test_only_a_landlord_records_a_cal_act_whatever_the_route(world: World) -> None:
    """F4: the CAL's agenda, examination and decision posted as gestion partagée events by
    a holder that is no ``bailleur`` are 403 (only a bailleur), as ``/cal/decisions``
    is; nothing is recorded. A designation stays open (réservataires designate); a
    landlord's decision goes on to the CAL rules."""
    day = date.today() - timedelta(days=3)
    acts = {
        "ORDREJCAL": {"CODECAL": "CAL-K", "DATECAL": day.isoformat()},
        "EXAMCAL": {"CODECAL": "CAL-K", "DATECAL": day.isoformat()},
        "DECISCAL": {"CODECAL": "CAL-K", "LOGEMENT": "LGT-1", "DECISIONID": "",
                     "DECISION": "IRREC", "MOTIF": "IRRRES", "DATEDEC": day.isoformat()},
    }  # fmt: skip
    for who in world.actors:
        num = sorted(who.scope)[0]
        url = f"/demandes/{num}/evenements-gp"
        decision = {**acts["DECISCAL"], "DECISIONID": f"k-{uuid.uuid4().hex[:12]}"}
        if who.actor.kind == "bailleur":
            r = world.client.post(url, headers=who.headers,
                                  json=_gp_body("DECISCAL", decision, day))
            _problem(r, 422, "cal_rule")  # past the author's kind, the CAL rules apply
            continue
        for code, fields in {**acts, "DECISCAL": decision}.items():
            r = world.client.post(url, headers=who.headers, json=_gp_body(code, fields, day))
            body = _refused(r, NOT_CAL_AUTHOR)
            assert code in body["detail"] and who.actor.kind in body["detail"]
        r = world.client.post("/cal/decisions", headers=who.headers, json={
            "codeCal": "CAL-K", "logement": "LGT-1", "dateDecision": day.isoformat(),
            "candidats": [{"numUnique": num, "decision": "IRREC", "motif": "IRRRES"}]})
        _refused(r, NOT_CAL_AUTHOR)
        r = world.client.post(url, headers=who.headers, json=_gp_body(
            "DESIGCAL", {"CODECAL": "CAL-K", "LOGEMENT": "LGT-1"}, day))
        assert r.status_code in (200, 201), r.text
        timeline = world.client.get(f"/demandes/{num}/timeline", headers=who.headers).json()
        assert not {e["codeTypeEvenement"] for e in timeline["evenements"]} & set(acts)


def test_only_the_decisions_author_records_the_applicants_answer(world: World) -> None:
    """F4: a landlord's attribution is answered (for the applicant) by that landlord only:
    another holder of the demand gets 403 (not the decision's author) on both routes and
    cannot lock the decision's one answer; the landlord's answer is then recorded."""
    landlord, num, other = next(
        (w, n, o) for w in world.actors if w.actor.kind == "bailleur"
        for n in sorted(w.scope) for o in world.actors if o is not w and n in o.scope)
    client, cal = world.client, f"CAL-A-{uuid.uuid4().hex[:8]}"
    day = date.today() - timedelta(days=2)
    url = f"/demandes/{num}/evenements-gp"
    for code, fields in (("DESIGCAL", {"CODECAL": cal, "LOGEMENT": "LGT-9", "DESIGPREF": "true"}),
                         ("EXAMCAL", {"CODECAL": cal, "DATECAL": day.isoformat()})):
        r = client.post(url, headers=landlord.headers, json=_gp_body(code, fields, day))
        assert r.status_code == 201, r.text
    decision_id = f"dec-{uuid.uuid4().hex[:12]}"
    r = client.post("/cal/decisions", headers=landlord.headers, json={
        "decisionId": decision_id, "codeCal": cal, "logement": "LGT-9",
        "dateDecision": day.isoformat(), "candidats": [{"numUnique": num, "decision": "ATTR",
                                                        "rang": 1}]})  # fmt: skip
    assert r.status_code == 201, r.text
    answer = {"numUnique": num, "accepte": False, "motif": "trop loin",
              "dateReponse": (day + timedelta(days=1)).isoformat()}  # fmt: skip
    r = client.post(f"/cal/decisions/{decision_id}/reponses", headers=other.headers, json=answer)
    _refused(r, NOT_DECISION_AUTHOR)
    r = client.post(url, headers=other.headers, json=_gp_body(
        "REFUSDEM", {"DECISIONID": decision_id, "MOTIF": "trop loin"}, day + timedelta(days=1)))
    _refused(r, NOT_DECISION_AUTHOR)
    r = client.post(f"/cal/decisions/{decision_id}/reponses", headers=landlord.headers,
                    json={**answer, "accepte": True, "motif": None})
    assert r.status_code == 201, r.text
    assert r.json()["evenement"]["auteur"] == landlord.actor.id


def test_a_profile_declares_only_the_cotation_criteria_it_reads(writers: Writers) -> None:
    """F5: a criterion withheld from a profile (docs/profiles.md) is neither declared nor
    withdrawn by it: 403, word for word the answer to a code no grid has
    (nothing tells the criterion is on the demand's grid); the full profile's declaration
    stands. A criterion every profile reads is declared by any."""
    client, num = writers.client, writers.shared
    url = f"/demandes/{num}/cotation/declarations"
    sensible = next(w.who for w in writers.writers if w.who.actor.profile == "consultant_sensible")
    body = {"epci": ROUEN_EPCI, "critere": "VIOL_AGRESSION_DOMICILE", "valeur": True}
    r = client.post(url, headers=sensible.headers, json=body)
    assert r.status_code == 201, r.text
    others = [w.who for w in writers.writers if w.who.actor.profile != "consultant_sensible"]
    for who in others:
        answers = []
        for code in ("VIOL_AGRESSION_DOMICILE", "JEUNE_ASE", "ASTROLOGIE"):
            r = client.post(url, headers=who.headers,
                            json={**body, "critere": code, "valeur": False})
            answers.append(_refused(r, WITHHELD)["detail"].replace(code, "X"))
        assert len(set(answers)) == 1, answers  # word for word, whatever the code
    r = client.post(url, headers=others[0].headers,
                    json={**body, "critere": "REPRISE_ACTIVITE"})
    assert r.status_code == 201, r.text
    r = client.get(f"/demandes/{num}/cotation", headers=sensible.headers)
    assert r.status_code == 200, r.text
    (score,) = r.json()["cotations"]
    viol = next(c for c in score["criteres"] if c["code"] == "VIOL_AGRESSION_DOMICILE")
    assert viol["statut"] == "rempli" and viol["declaration"]["auteur"] == sensible.actor.id
