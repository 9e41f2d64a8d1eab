"""Several ``hub api`` on one database (audit M, F1, F3, F4), on SQLite and PostgreSQL,
each replica with an engine (connections) of its own: races made certain with barriers
rather than hoped for.

* F1: the holders' catch-up of one actor, folded by three processes at once from one feed
  (a stand-in for the broker: the processes read pages of random lengths of one record
  list, then all write together) applies every record once and in feed order, the
  projection is the feed's fold and the cursor its end after every round — no collision
  on the cursor's key (500s on PostgreSQL), no record applied again. And a replica that
  read a shorter page and commits last does not bring back a withdrawn holding or
  snapshot (access to a withdrawn demand coming back "for a while").
* F3: the same gestion partagée event appended by two replicas at once: both answer as a
  retry does (stored once), no "is being recorded" conflict.
* F4: two actors creating one new numéro at once through two app instances: one becomes
  its holder, the other gets the 403 a later creator gets.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Column, Engine, Integer, MetaData, Table, select

import hub.stores.access.fold as fold
from hub.api.snapshots import LatestSnapshots
from hub.core.db import make_engine
from hub.core.errors import ConflictError
from hub.core.settings import DatabaseSettings, HubSettings
from hub.domain.gp.validation import GPInput
from hub.stores.access.holders import Holders
from hub.stores.access.tables import api_feed_cursors, api_holders
from hub.stores.gp.service import GPService
from hub.stores.gp.store import GPStore
from hub.stores.gp.tables import gp_events
from tests.integration.api_support import Caller, register
from tests.support.demandes import demande_event, new_num_unique

FOLDERS, ROUNDS, ACTOR = 3, 8, "fold-actor"
#: what each fold applied, in the order the folds committed it (the test's witness)
applied = Table("test_fold_applied", MetaData(),
                Column("seq", Integer, primary_key=True, autoincrement=True),
                Column("offset", Integer, nullable=False))  # fmt: skip


def _feed(seed: int, size: int) -> list[dict[str, Any]]:
    """An actor's feed: records of a few demands, taken and withdrawn over and over."""
    rng = random.Random(seed)
    nums = [f"0761125{i:06d}FOLD0" for i in range(6)]
    out = []
    for offset in range(size):
        kind = rng.choice(["DEMANDE", "DEMANDE", "COPIE", "RADIATION", "RETRAIT", "RETRAIT"])
        reason = "ancien_destinataire" if kind == "RADIATION" and rng.random() < 0.3 else None
        out.append({"offset": offset, "kind": kind, "numUnique": rng.choice(nums),
                    "reason": reason})  # fmt: skip
    return out


def _expected(records: list[dict[str, Any]]) -> set[str]:
    """The holdings a sequential fold of ``records`` gives (docs/api.md's rule)."""
    held: set[str] = set()
    for r in records:
        if r["reason"] == "ancien_destinataire":
            continue
        (held.discard if r["kind"] == "RETRAIT" else held.add)(r["numUnique"])
    return held


def _folder(url: str, seed: int, ends: list[int], me: int, rounds: Any, reads: Any,
            errors: Any) -> None:  # fmt: skip
    """One replica (a process of its own): each round, catch the actor up through
    ``Holders.sync``, its feed read in pages of random lengths, the first page of the round
    written only once every replica has read one (``reads``)."""
    feed, rng = _feed(seed, ends[-1]), random.Random(seed * 100 + me)
    state = {"end": 0, "first": True}

    async def read(_s: Any, _actor: str, offset: int, _limit: int) -> Any:
        stop = min(state["end"], offset + rng.randint(1, 5))
        if state["first"]:
            state["first"] = False
            await asyncio.to_thread(reads.wait)
        return feed[offset:stop], max(stop, offset), state["end"]

    original = Holders._fold

    def witnessed(self: Holders, conn: Any, actor_id: str, records: list[Any]) -> None:
        if records:
            conn.execute(applied.insert(), [{"offset": r["offset"]} for r in records])
        original(self, conn, actor_id, records)

    fold.read_feed_page = read  # type: ignore[assignment]
    Holders._fold = witnessed  # type: ignore[method-assign]
    engine = make_engine(url)
    settings = HubSettings(database=DatabaseSettings(url=url))  # type: ignore[arg-type]
    try:
        for end in ends:
            rounds.wait()
            state.update(end=end, first=True)
            try:  # a new instance: no "caught up a moment ago" of the last round
                asyncio.run(Holders(engine, settings).sync(ACTOR))
            except Exception as exc:  # reported to the test, which fails on it
                errors.put(f"replica {me}: {type(exc).__name__}: {str(exc)[:300]}")
                reads.abort()
            rounds.wait()
    finally:
        engine.dispose()


def test_replicas_folding_one_feed_at_once_apply_each_record_once(
        migrated_db: tuple[str, Engine]) -> None:  # fmt: skip
    url, engine = migrated_db
    applied.create(engine)
    seed, ends = random.randrange(10**6), [6 * (r + 1) for r in range(ROUNDS)]
    ctx = multiprocessing.get_context("spawn")
    rounds, reads = ctx.Barrier(FOLDERS + 1, timeout=60), ctx.Barrier(FOLDERS, timeout=30)
    errors = ctx.SimpleQueue()
    procs = [ctx.Process(target=_folder, args=(url, seed, ends, i, rounds, reads, errors))
             for i in range(FOLDERS)]  # fmt: skip
    for p in procs:
        p.start()
    feed = _feed(seed, ends[-1])
    try:
        for end in ends:
            rounds.wait()  # go
            rounds.wait()  # every replica caught up
            assert errors.empty(), f"seed {seed}: {errors.get()}"
            with engine.connect() as conn:
                cursor = conn.execute(select(api_feed_cursors.c.next_offset)).scalar_one()
                held = set(conn.execute(select(api_holders.c.num_unique).where(
                    api_holders.c.actor_id == ACTOR)).scalars())  # fmt: skip
                order = list(conn.execute(select(applied.c.offset).order_by(applied.c.seq))
                             .scalars())  # fmt: skip
            assert order == list(range(end)), f"seed {seed}: records applied {order}"
            assert cursor == end, f"seed {seed}"
            assert held == _expected(feed[:end]), f"seed {seed}, end {end}"
    except BaseException:
        rounds.abort()  # no replica waits for a round that will not come
        raise
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    assert all(p.exitcode == 0 for p in procs)


def _snapshot_record(num: str, offset: int, kind: str) -> dict[str, Any]:
    demande = demande_event(num, ["76540"])["demande"] if kind == "DEMANDE" else None
    return {"offset": offset, "kind": kind, "numUnique": num, "reason": None,
            "demandeVersion": 1, "demande": demande}  # fmt: skip


@pytest.mark.parametrize("projection", ["holders", "snapshots"])
def test_a_replica_committing_a_shorter_page_last_brings_nothing_back(
        migrated_db: tuple[str, Engine], projection: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """Replica A reads the feed when it holds only the DEMANDE; replica B reads it with the
    RETRAIT and commits first; A commits its shorter page last. A's answer, right after
    its own catch-up, must not grant the withdrawn demand."""
    url, _ = migrated_db
    num = new_num_unique()
    feed = [_snapshot_record(num, 0, "DEMANDE"), _snapshot_record(num, 1, "RETRAIT")]
    at_a, at_b = (HubSettings(home=tmp_path / n, database=DatabaseSettings(url=url))  # type: ignore[arg-type]
                  for n in "ab")  # fmt: skip
    b_done = asyncio.Event()

    async def read(s: HubSettings, _actor: str, offset: int, limit: int, **_: Any) -> Any:
        if s is at_a and offset == 0 and limit > 1:  # A's catch-up: before the RETRAIT
            await b_done.wait()
            return feed[:1], 1, 1
        return feed[offset:offset + limit], min(len(feed), offset + limit), len(feed)

    monkeypatch.setattr(fold, "read_feed_page", read)
    monkeypatch.setattr("hub.api.snapshots.read_feed_page", read)
    engines = [make_engine(url), make_engine(url)]

    async def race() -> bool:
        if projection == "holders":
            a, b = (Holders(e, s) for e, s in zip(engines, (at_a, at_b), strict=True))
            answer = asyncio.create_task(a.holds(ACTOR, num))
            await asyncio.sleep(0)  # A has read its cursor and waits on the broker
            await b.sync(ACTOR)
            b_done.set()
            return await answer
        sa, sb = (LatestSnapshots(e, s) for e, s in zip(engines, (at_a, at_b), strict=True))
        latest = asyncio.create_task(sa.latest(ACTOR, num))
        await asyncio.sleep(0)
        await sb.sync(ACTOR)
        b_done.set()
        return await latest is not None

    try:
        granted = asyncio.run(race())
    finally:
        for e in engines:
            e.dispose()
    assert not granted, f"A's late, shorter fold brought the withdrawn demand back ({projection})"


def _record(engine: Engine, num: str, event_id: str) -> dict[str, Any]:
    data = GPInput(num_unique=num, code="VISPROP", date_survenance=date(2025, 6, 1),
                   caracteristiques={"DATEVIS": "2025-06-05"}, event_id=event_id)  # fmt: skip
    return GPService(GPStore(engine), None).prepare(data, "bailleur-x")  # type: ignore[arg-type]


class MeetAfterReading(GPStore):
    """The real store; on PostgreSQL both appends look the id up (not found) before either
    inserts — the window two replicas hit now and then, made certain."""

    def __init__(self, engine: Engine, met: threading.Barrier) -> None:
        super().__init__(engine)
        self.met = met

    def append_all(self, records: list[dict[str, Any]], check: Any = None) -> Any:
        if self.engine.dialect.name == "postgresql":  # SQLite's write lock: one at a time
            original = self._by_id

            def meet(conn: Any, event_id: str) -> Any:
                found = original(conn, event_id)
                self.met.wait()
                return found

            self._by_id = meet  # type: ignore[method-assign]
        return super().append_all(records, check)


def test_one_event_appended_by_two_replicas_at_once_is_stored_once(
        migrated_db: tuple[str, Engine]) -> None:  # fmt: skip
    url, engine = migrated_db
    record = _record(engine, new_num_unique(), "gp-twice-at-once")
    met, results = threading.Barrier(2, timeout=20), []
    engines = [make_engine(url), make_engine(url)]

    def append(e: Engine) -> None:
        try:
            results.append(MeetAfterReading(e, met).append(dict(record))[1])
        except ConflictError as exc:
            results.append(exc)

    threads = [threading.Thread(target=append, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    for e in engines:
        e.dispose()
    # one created it, the other found it stored with the same content: a retry's answer
    assert sorted(results, key=str) == [False, True], results
    with engine.connect() as conn:
        ids = conn.execute(select(gp_events.c.event_id).where(
            gp_events.c.event_id == record["eventId"])).scalars().all()  # fmt: skip
    assert len(ids) == 1


class Sent:
    """Stands for the broker: what an app published."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def publish(self, _topic: str, key: bytes, _value: bytes) -> None:
        self.sent.append(key)

    async def close(self) -> None:
        return None


@pytest.fixture
def two_replicas(migrated_db: tuple[str, Engine], tmp_path: Path
                 ) -> Iterator[list[tuple[TestClient, Sent]]]:  # fmt: skip
    """Two app instances on one database, an engine each, a stand-in broker each."""
    from hub.api.app import create_app

    url, _ = migrated_db
    settings = HubSettings(home=tmp_path, database=DatabaseSettings(url=url))  # type: ignore[arg-type]
    engines = [make_engine(url), make_engine(url)]
    apps = [create_app(settings, e) for e in engines]
    replicas = []
    for app in apps:
        sent = Sent()
        app.state.hub.publisher = sent
        replicas.append((TestClient(app), sent))
    try:
        yield replicas
    finally:
        for e in engines:
            e.dispose()


def test_two_actors_creating_one_new_numero_at_once_one_holds_it(
        migrated_db: tuple[str, Engine], two_replicas: list[tuple[TestClient, Sent]],
        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """Both creations pass the route's first check before either is claimed (the window
    of two replicas, made certain): exactly one becomes the holder, the other is refused
    as if it came second; only the winner's creation is published."""
    import hub.api.routes_demandes as routes

    engine = migrated_db[1]
    first, second = register(engine, kind="bailleur"), register(engine, kind="guichet")
    num = new_num_unique()
    checked = threading.Barrier(2, timeout=20)
    unchecked = routes.claimed_by_others

    def check_then_meet(*args: Any) -> bool:
        found = unchecked(*args)
        checked.wait()
        return found

    monkeypatch.setattr(routes, "claimed_by_others", check_then_meet)
    answers: dict[str, int] = {}

    def create(client: TestClient, who: Caller) -> None:
        r = client.post("/demandes/evenements", headers=who.headers,
                        json=[demande_event(num, ["76540"])])  # fmt: skip
        answers[who.actor.id] = r.status_code

    threads = [threading.Thread(target=create, args=(client, who))
               for (client, _), who in zip(two_replicas, (first, second), strict=True)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(answers.values()) == [202, 403], answers
    with engine.connect() as conn:
        holders = conn.execute(select(api_holders.c.actor_id).where(
            api_holders.c.num_unique == num)).scalars().all()  # fmt: skip
    winner = next(a for a, status in answers.items() if status == 202)
    assert holders == [winner]
    assert sum(len(sent.sent) for _, sent in two_replicas) == 1
