"""Property (audit D, F4): a demand's events published again — the same ``eventId``, at any
later position, across deletions (``SUP``) and re-creations — change nothing. For random
sequences of CRE/MOD/SUP/RAD over two demands and random copies of their events
re-inserted later, cut into random batches:

* the worker (the in-memory processor): every actor's feed, renewal notices at a later
  tick included, equals the feed of the same sequence without the copies;
* the statistics fold (``Folder`` into SQLite): every demand's fact and the stock equal
  those folded from the sequence without the copies.

Each demand has at most 12 events, within the 16 recent event ids a demand remembers (a
copy older than that is applied again: docs/reliability.md, "Duplicates"). A CRE is drawn
only where it creates the demand (first, or after a SUP): a creation of a live demand is
refused, not applied (``demande_existante``), so a copy of it published after a deletion
is a creation like a replayed letter (tests/unit/test_creation_of_existing.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, select

from hub.core import topics
from hub.core.db import make_engine, migrate
from hub.services.statistics_folder import Folder, Record
from hub.stores.cotation.store import DeclarationStore
from hub.stores.statistics.store import StatisticsStore
from hub.stores.statistics.tables import stat_demande_epcis, stat_demandes
from tests.support.memory import MemorySender, MemoryStore
from tests.unit.test_clock import LE_HAVRE, ROUEN, N, _ev_rec, _event, _ms, _processor, _ticks

NUMS = ("076112599000110691", "076112599000210691")
OPS = ("CRE", "MOD", "SUP", "RAD")
Step = tuple[int, str, str]  # (demand, operation, commune)


@st.composite
def streams(draw: st.DrawFn) -> tuple[list[Step], list[tuple[int, int]], list[int]]:
    """(events, copies: (event index, position after which it is published again),
    batch sizes)."""
    n = draw(st.integers(1, 20))
    steps: list[Step] = []
    per, live = [0, 0], [False, False]
    for _ in range(n):
        d = draw(st.integers(0, 1))
        if per[d] == 12:
            continue
        per[d] += 1
        op = draw(st.sampled_from(OPS))
        if op == "CRE" and live[d]:  # refused, not applied: see the module doc
            op = "MOD"
        live[d] = op != "SUP"
        steps.append((d, op, draw(st.sampled_from((ROUEN, LE_HAVRE)))))
    copies = draw(
        st.lists(
            st.integers(0, len(steps) - 1).flatmap(
                lambda i: st.tuples(st.just(i), st.integers(i, len(steps) - 1))
            ),
            max_size=8,
        )
    )
    sizes = draw(st.lists(st.integers(1, 6), min_size=1, max_size=8))
    return steps, copies, sizes


def _events(steps: list[Step]) -> list[dict[str, Any]]:
    return [_event(NUMS[d], commune, op, created="2025-01-10") for d, op, commune in steps]


def _with_copies(events: list[dict[str, Any]],
                 copies: list[tuple[int, int]]) -> list[dict[str, Any]]:  # fmt: skip
    out = []
    for j, ev in enumerate(events):
        out.append(ev)
        out += [events[i] for i, after in copies if after == j]
    return out


def _cut(items: list[Any], sizes: list[int]) -> Iterator[list[Any]]:
    i, k = 0, 0
    while i < len(items):
        size = sizes[k % len(sizes)]
        yield items[i : i + size]
        i, k = i + size, k + 1


def _dispatch(codec: Any, geography: Any, events: list[dict[str, Any]],
              sizes: list[int]) -> dict[str, list[tuple[Any, ...]]]:  # fmt: skip
    store, sender = MemoryStore(N), MemorySender()
    proc = _processor(codec, geography, store, sender)
    for batch in _cut(events, sizes):
        asyncio.run(proc.process([_ev_rec(codec, e) for e in batch]))
    asyncio.run(proc.process(_ticks(codec, proc, _ms(dt.date(2026, 1, 1)))))
    feeds: dict[str, list[tuple[Any, ...]]] = {}
    for actor in ("rouen", "havre", "dep"):
        recs = [codec.decode_as(v, "FeedRecord") for _, v in sender.sent[topics.feed_topic(actor)]]
        feeds[actor] = [
            (r["numUnique"], r["kind"], r["reason"], r["demandeVersion"])
            + (() if r["kind"] == "AVIS" else (r["operation"], r["eventId"]))
            for r in recs
        ]
    return feeds


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, Engine]]:
    home: Path = tmp_path_factory.mktemp("dups")
    pair = []
    for name in ("plain", "copies"):
        engine = make_engine(f"sqlite:///{home / name}.db")
        migrate(engine)
        pair.append(engine)
    yield pair[0], pair[1]
    for engine in pair:
        engine.dispose()


def _fold(codec: Any, engine: Engine, events: list[dict[str, Any]],
          sizes: list[int]) -> tuple[set[tuple[Any, ...]], dict[str, int]]:  # fmt: skip
    with engine.begin() as conn:
        conn.execute(delete(stat_demande_epcis))
        conn.execute(delete(stat_demandes))
    store = StatisticsStore(engine)
    folder = Folder(store, DeclarationStore(engine), codec=codec)
    records = [Record(0, i, e["numUnique"].encode(), codec.encode("DemandeEvent", e))
               for i, e in enumerate(events)]  # fmt: skip
    for batch in _cut(records, sizes):
        folder.fold(batch)
    cols = [c for c in stat_demandes.c if c.name not in ("last_offset", "updated_at")]
    with engine.connect() as conn:
        rows = {tuple(r) for r in conn.execute(select(*cols))}
        rows |= {("epci", *r) for r in conn.execute(select(stat_demande_epcis))}
    return rows, store.stock_actif(["76"])


SETTINGS = settings(max_examples=50, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])  # fmt: skip


@SETTINGS
@given(stream=streams())
def test_the_feed_is_the_feed_without_the_copies(
    codec: Any, geography: Any, stream: tuple[list[Step], list[tuple[int, int]], list[int]]
) -> None:
    steps, copies, sizes = stream
    events = _events(steps)
    again = _with_copies(events, copies)
    assert _dispatch(codec, geography, again, sizes) == _dispatch(codec, geography, events, sizes)


@SETTINGS
@given(stream=streams())
def test_the_facts_are_the_facts_without_the_copies(
    codec: Any, engines: tuple[Engine, Engine],
    stream: tuple[list[Step], list[tuple[int, int]], list[int]],
) -> None:  # fmt: skip
    steps, copies, sizes = stream
    events = _events(steps)
    plain, with_copies = engines
    # the marks' recent ids are the same (copies are skipped); positions differ: not compared
    again = _fold(codec, with_copies, _with_copies(events, copies), sizes)
    assert again == _fold(codec, plain, events, sizes)
