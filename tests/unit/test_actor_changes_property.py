"""Property (independent audit E: E2, E3): over any sequence of actor operations — added,
filters changed, profile changed, removed, registered again — interleaved with demand
events (CRE, MOD, RAD, SUP; an event may fall between an actor change and its
re-dispatch), after each step:

* what each actor holds by its feed (the latest record of each demand: DEMANDE, COPIE or
  RADIATION hold it, RETRAIT releases it) equals a ledger kept here from the documented
  rules alone (docs/architecture.md, docs/profiles.md; matching by
  ``reliability.ledger.in_scope``): a registered actor holds the active demands it
  matches, a radiation goes to those holding the demand or matching it while registered,
  nothing stays with a removed actor but the radiations it received;
* so does what a consumer applying the (eventId, kind) rule of docs/reliability.md holds;
* the latest record of each active demand held is of the demand's current version, cut to
  the actor's current profile (no sensitive field, sensitive document or reference the
  profile lacks; all of them for ``consultant_sensible``);

and at the end, the API's holders projection (``hub.stores.access.holders``, folded from
the same feeds) agrees with the ledger.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka.partitioner import murmur2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from dispatch.processor import InputRecord, Processor
from hub.core import topics
from hub.domain.actors import Actor, ActorFilters
from hub.domain.matching import TerritoryIndex
from reliability.ledger import in_scope
from tests.support.memory import MemorySender, MemoryStore
from tests.unit.test_actor_changes import consumer_holds, sensitive_event

N = 2  # partitions
COMMUNES = ["76540", "76212", "76351", "27229"]
TYPOS = ["T1", "T2", "T3"]
PROFILES = ["consultant_simple", "consultant_demande", "consultant_sensible"]
ACTORS = ["pa", "pb"]
SENSITIVE_CATEGORIES = {"MOTIF", "HAND", "INT"}


def _part(key: bytes) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % N


@st.composite
def _filters(draw: Any) -> ActorFilters:
    return ActorFilters(
        communes=draw(st.lists(st.sampled_from(COMMUNES), min_size=1, max_size=2, unique=True)),
        typologies=draw(st.lists(st.sampled_from(TYPOS), max_size=1)),
        premier_choix_seulement=draw(st.booleans()))  # fmt: skip


@st.composite
def scenarios(draw: Any) -> list[tuple[str, Any]]:
    """Steps: ("actor", (id, filters or None: removed, profile, window)) and ("event",
    DemandeEvent). ``window``: the next event is read before the change's re-dispatch."""
    steps: list[tuple[str, Any]] = []
    regs: dict[str, tuple[ActorFilters, str] | None] = {}
    live: dict[str, bool] = {}
    run = draw(st.integers(0, 99_999))
    for _ in range(draw(st.integers(6, 28))):
        what = draw(st.sampled_from(["cre", "cre", "mod", "rad", "sup",
                                     "actor", "actor", "actor"]))  # fmt: skip
        if what == "actor" or (not live and what != "cre"):
            aid = draw(st.sampled_from(ACTORS))
            cur = regs.get(aid)
            op = draw(st.sampled_from(["set", "profile", "remove"])) if cur else "set"
            window = draw(st.booleans())
            if op == "remove":
                regs[aid] = None
                steps.append(("actor", (aid, None, "consultant_simple", window)))
                continue
            if op == "profile" and cur is not None:
                filters = cur[0]
                profile = draw(st.sampled_from([p for p in PROFILES if p != cur[1]]))
            else:
                filters, profile = draw(_filters()), draw(st.sampled_from(PROFILES))
            regs[aid] = (filters, profile)
            steps.append(("actor", (aid, filters, profile, window)))
            continue
        if what == "cre":
            num = f"0761125{len(steps):06d}{run:05d}"
            live[num] = True
            op = "CRE"
        else:
            num = draw(st.sampled_from(sorted(live)))
            op = {"mod": "MOD", "rad": "RAD", "sup": "SUP"}[what]
            if not live[num] and op != "SUP":
                op = "MOD"  # a radiated demand modified: legal input, reactivates it
            if op == "SUP":
                del live[num]
            else:
                live[num] = op != "RAD"
        wishes = draw(st.lists(st.sampled_from(COMMUNES), min_size=1, max_size=2, unique=True))
        typos = draw(st.lists(st.sampled_from(TYPOS), min_size=1, max_size=2, unique=True))
        # radiated for non-renewal (RADREN) and modified within 18 months of the cycle's
        # start (created 2025-11-02, events of 2026-01-15): a legal reactivation; a demand
        # radiated for attribution (RADATT) never comes back (audit N, N2)
        radiation = {"dateRadiation": "2026-01-02", "motifRadiation": "RADREN"} if op == "RAD" \
            else None  # fmt: skip
        steps.append(("event", sensitive_event(num, wishes, operation=op, typologies=typos,
                                               radiation=radiation,
                                               occurred_at=OCCURRED_MS)))  # fmt: skip
    return steps


#: every event's occurredAt (2026-01-15T12:00Z): within the reactivation window, whatever
#: the day the test runs
OCCURRED_MS = 1_768_478_400_000


class Ledger:
    """The documented rules, written down apart from the dispatcher's code."""

    def __init__(self, geography: Any) -> None:
        self.geo = geography
        self.regs: dict[str, Actor | None] = {}
        self.holders: dict[str, set[str]] = {}
        self.active: dict[str, bool] = {}
        self.version: dict[str, int] = {}
        #: numéro -> its latest event (the wishes the rules read)
        self.events: dict[str, dict[str, Any]] = {}

    def _matched(self, ev: dict[str, Any]) -> set[str]:
        lr = ev["demande"]["demandeLogement"]["logementRecherche"]
        wishes = [w["commune"] for w in lr["listeLocalisationSouhaite"]]
        typos = lr["listeTypeLogement"]
        return {a for a, r in self.regs.items()
                if r is not None and in_scope(r, wishes, typos, self.geo)}  # fmt: skip

    def event(self, ev: dict[str, Any]) -> None:
        num, op = ev["numUnique"], ev["operation"]
        if op == "SUP":
            for d in (self.holders, self.active, self.version, self.events):
                d.pop(num, None)  # type: ignore[attr-defined]
            return
        self.version[num] = self.version.get(num, 0) + 1
        if op == "RAD":  # those holding it or matching it, while registered
            held = self.holders.get(num, set()) | self._matched(ev)
            self.holders[num] = {a for a in held if self.regs.get(a) is not None}
            self.active[num] = False
        else:
            self.holders[num] = self._matched(ev)
            self.active[num] = True
        self.events[num] = ev

    def settle(self) -> None:
        """Once an actor change is re-dispatched: an active demand is held by exactly the
        registered actors it matches; a radiated one is left as it was."""
        for num, ev in self.events.items():
            if self.active.get(num):
                self.holders[num] = self._matched(ev)

    def held(self, aid: str) -> set[str]:
        return {n for n, hs in self.holders.items() if aid in hs}


def _latest(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for r in records:
        if r["reason"] != "ancien_destinataire":
            out[r["numUnique"]] = r
    return out


def _within(record: dict[str, Any], profile: str) -> None:
    """``record``'s snapshot holds what ``profile`` receives and nothing more
    (docs/profiles.md; every test event carries every sensitive part)."""
    assert record["profile"] == profile, (record["kind"], record["profile"], profile)
    dl = record["demande"]["demandeLogement"]
    motive = dl["principauxMotifDemande"] or {}
    categories = {p["categorie"] for p in record["demande"]["piecesJustificatives"]}
    refs = {p["reference"] is not None for p in record["demande"]["piecesJustificatives"]}
    sensible = profile == "consultant_sensible"
    assert (dl["listeHandicap"] is not None) == sensible
    assert (motive.get("compAutreMotif") is not None) == sensible
    assert (motive.get("compDateJugement") is not None) == sensible
    assert bool(categories & SENSITIVE_CATEGORIES) == sensible
    assert refs == {profile != "consultant_simple"}


class Driver:
    def __init__(self, codec: Any, geography: Any, chunk: int, batch: int) -> None:
        self.codec = codec
        self.batch = batch  # records per batch (the controls of a step, its re-dispatch)
        self.sender = MemorySender()
        self.proc = Processor(TerritoryIndex(geography), codec, MemoryStore(N), self.sender,
                              redispatch_chunk=chunk)  # fmt: skip
        self.parts = {self.proc.partition_key(p): p for p in range(N)}
        self.offsets = itertools.count()
        self.versions: dict[str, int] = {}
        # an actor matching none of the demands, registered first: every partition's index
        # is complete from then on, as in service (a partition's first control otherwise
        # runs the one-time upgrade pass, at once instead of behind the events after it)
        self.run(self.controls("pz", ActorFilters(communes=["76217"]), "consultant_simple"))

    def controls(self, aid: str, filters: ActorFilters | None, profile: str) -> list[InputRecord]:
        version = self.versions[aid] = self.versions.get(aid, 0) + 1
        reg = Actor(id=aid, name=aid, kind="bailleur", version=version, profile=profile,  # type: ignore[arg-type]
                    filters=filters or ActorFilters()).to_avro(deleted=filters is None)  # fmt: skip
        value = self.codec.encode("DispatchControl", {"controlId": str(uuid.uuid4()),
                                                      "issuedAt": 0, "actor": reg})  # fmt: skip
        return [InputRecord(topics.DEMANDES, p, next(self.offsets), aid.encode(), value)
                for p in range(N)]  # fmt: skip

    def event(self, ev: dict[str, Any]) -> InputRecord:
        key = ev["numUnique"].encode()
        return InputRecord(topics.DEMANDES, _part(key), next(self.offsets), key,
                           self.codec.encode("DemandeEvent", ev))  # fmt: skip

    def run(self, records: list[InputRecord]) -> None:
        queue = list(records)

        async def go() -> None:
            while queue:
                seen = len(self.sender.sent.get(topics.DEMANDES, []))
                await self.proc.process(queue[: self.batch])
                del queue[: self.batch]
                for k, v in self.sender.sent.get(topics.DEMANDES, [])[seen:]:
                    assert k is not None
                    queue.append(InputRecord(topics.DEMANDES, self.parts[k],
                                             next(self.offsets), k, v))  # fmt: skip

        asyncio.run(go())

    def feed(self, aid: str) -> list[dict[str, Any]]:
        return [self.codec.decode_as(v, "FeedRecord")
                for _, v in self.sender.sent.get(topics.feed_topic(aid), [])]  # fmt: skip


def _check(driver: Driver, ledger: Ledger) -> None:
    for aid in ACTORS:
        feed = driver.feed(aid)
        latest = _latest(feed)
        by_feed = {n for n, r in latest.items() if r["kind"] != "RETRAIT"}
        assert by_feed == ledger.held(aid), aid
        assert consumer_holds(feed) == ledger.held(aid), aid
        reg = ledger.regs.get(aid)
        for num in ledger.held(aid):
            if ledger.active.get(num):
                assert reg is not None  # a removed actor holds no active demand
                assert latest[num]["demandeVersion"] == ledger.version[num]
                _within(latest[num], reg.profile)


@pytest.fixture(scope="module")
def holders(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from hub.core.db import make_engine, migrate
    from hub.stores.access.holders import Holders

    engine = make_engine(f"sqlite:///{Path(tmp_path_factory.mktemp('holders')) / 'hub.db'}")
    migrate(engine)
    return Holders(engine, None)  # type: ignore[arg-type]  # folding needs no settings


@settings(max_examples=150, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])  # fmt: skip
@given(steps=scenarios(), chunk=st.sampled_from([1, 2, 5000]), batch=st.sampled_from([1, 4]))
def test_actor_changes_keep_holdings_and_profile_cuts(
        codec: Any, geography: Any, holders: Any, steps: list[tuple[str, Any]],
        chunk: int, batch: int) -> None:  # fmt: skip
    """``chunk``: index entries per re-dispatch record; ``batch``: records per batch."""
    from hub.core.db import write_transaction
    from hub.stores.access.tables import api_holders

    driver, ledger = Driver(codec, geography, chunk, batch), Ledger(geography)
    i = 0
    while i < len(steps):
        kind, body = steps[i]
        if kind == "event":
            driver.run([driver.event(body)])
            ledger.event(body)
            i += 1
        else:
            aid, filters, profile, window = body
            records = driver.controls(aid, filters, profile)
            ledger.regs[aid] = None if filters is None else Actor(
                id=aid, name=aid, kind="bailleur", profile=profile, filters=filters)  # fmt: skip
            i += 1
            if window and i < len(steps) and steps[i][0] == "event":
                records.append(driver.event(steps[i][1]))  # read before the re-dispatch
                ledger.event(steps[i][1])
                i += 1
            driver.run(records)
            ledger.settle()
        _check(driver, ledger)
    with write_transaction(holders.engine) as conn:
        conn.execute(delete(api_holders))
        for aid in ACTORS:
            holders._fold(conn, aid, driver.feed(aid))
    with holders.engine.connect() as conn:
        rows = conn.execute(select(api_holders.c.actor_id, api_holders.c.num_unique)).all()
    assert {(a, n) for a, n in rows} == {(a, n) for a in ACTORS for n in ledger.held(a)}
