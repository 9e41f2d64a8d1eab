"""Audit D, F1: a demand dated 2287 or later stopped the renewal clock of its whole
partition — its due key, on 14 digits, sorted before the due keys of every other demand
and the tick's scan stopped at it (dispatch/dueindex.py, docs/lifecycle.md "The due-time
index"). Here: key order is due-time order for any due time; a far-future state beside a
normal demand leaves the latter all its notices; a partition an earlier version poisoned
heals at its next tick; the door refuses the dates the clock cannot compute with.

The expected notices come from this file's dates (tests.unit.test_clock's arithmetic)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from dispatch.dueindex import PREFIX, due_in_store, entry_key, misplaced, parse
from hub.core.errors import InputError
from hub.domain.carriable import check_carriable
from hub.domain.state import DemandeState
from tests.support.demandes import new_num_unique
from tests.support.memory import MemorySender, MemoryStore
from tests.unit.test_clock import (
    ROUEN,
    N,
    _avis,
    _ev_rec,
    _event,
    _ms,
    _part,
    _processor,
    _thresholds,
    _ticks,
)
from tests.unit.test_publish_cli import _hub

#: 10^13 ms, 2286-11-20T17:46:40Z: where 13 digits end
WIDE = 10**13
LIMIT = 10**19 - 1
due_times = st.one_of(
    st.integers(-LIMIT, LIMIT),
    st.integers(WIDE - 10**6, WIDE + 10**6),
    st.integers(-(10**6), 10**6),
    st.sampled_from([0, -1, 1, WIDE - 1, WIDE, WIDE + 1, LIMIT, -LIMIT, 253_402_300_799_999]),
)
codes = st.sampled_from(["renouvellement_m-2", "echeance_depassee", "cotation",
                         "delai_anormalement_long"])  # fmt: skip
nums = st.sampled_from(["076112500000110691", "076112599999910691", "9"])


@given(a=due_times, b=due_times, code_a=codes, code_b=codes, num_a=nums, num_b=nums)
@example(a=WIDE - 1, b=WIDE, code_a="echeance_depassee", code_b="cotation",
         num_a="9", num_b="0")  # fmt: skip
@example(a=1_767_222_000_000, b=10_440_054_000_000, code_a="renouvellement_m-2",
         code_b="renouvellement_m-2", num_a="9", num_b="9")  # the audit's two demands
def test_key_order_is_due_order(a: int, b: int, code_a: str, code_b: str, num_a: str,
                                num_b: str) -> None:  # fmt: skip
    ka, kb = entry_key(a, code_a, num_a), entry_key(b, code_b, num_b)
    if a != b:
        assert (ka < kb) == (a < b)
    assert parse(ka) == (a, code_a, num_a)
    assert ka.startswith(PREFIX) and not misplaced(ka)


@given(st.integers(-(10**30), 10**30), st.integers(-(10**30), 10**30))
def test_due_times_past_the_field_are_clamped_in_order(a: int, b: int) -> None:
    ka, kb = entry_key(a, "c", "1"), entry_key(b, "c", "1")
    if a <= b:
        assert ka <= kb
    assert parse(ka)[0] == max(-LIMIT, min(LIMIT, a))


def _legacy(due: int, code: str, num: str) -> bytes:
    """The key an earlier version wrote: ``%013d`` whatever the due time."""
    return PREFIX + b"%013d\x00%s\x00%s" % (due, code.encode(), num.encode())


def test_misplaced_keys_are_the_earlier_wide_ones() -> None:
    assert _legacy(1_767_222_000_000, "c", "1") == entry_key(1_767_222_000_000, "c", "1")
    assert not misplaced(_legacy(WIDE - 1, "c", "1"))
    assert misplaced(_legacy(WIDE, "c", "1")) and misplaced(_legacy(10**14, "c", "1"))


@pytest.mark.parametrize("kind", ["memory", "rocksdict"])
def test_the_scan_returns_misplaced_keys_and_stops_at_the_first_due_later(
        kind: str, tmp_path: Path) -> None:  # fmt: skip
    """Both worker stores: a misplaced key sorted among due ones is returned, never
    stopped at; the scan stops at the first well-placed key not due."""
    from dispatch.runtime.tablestore import MemoryTableStore, RocksTableStore

    if kind == "memory":
        store: Any = MemoryTableStore(SimpleNamespace(data={}), N)
    else:
        from rocksdict import Rdict

        dbs = {p: Rdict(str(tmp_path / f"p{p}")) for p in range(N)}
        store = RocksTableStore(SimpleNamespace(data=SimpleNamespace(
            _db_for_partition=lambda p: dbs[p])), N)  # fmt: skip
    num = new_num_unique()
    p = _part(num.encode())
    now = _ms(dt.date(2026, 1, 1))
    due = [entry_key(_ms(dt.date(2025, 11, 10)), "renouvellement_m-2", num),
           _legacy(10_440_054_000_000, "renouvellement_m-2", num),  # sorts as 2003
           entry_key(now, "echeance_depassee", num)]  # fmt: skip
    later = [entry_key(now + 1, "cotation", num), entry_key(10_440_054_000_000, "c", num),
             entry_key(WIDE, "c", num)]  # fmt: skip
    for key in due + later:
        store._apply(p, key, b"")
    assert due_in_store(store, p, now, 100) == sorted(due)
    assert due_in_store(store, p, now, 2) == sorted(due)[:2]
    if kind == "rocksdict":
        for db in dbs.values():
            db.close()


def _same_partition(count: int) -> list[str]:
    out: list[str] = []
    while len(out) < count:
        num = new_num_unique()
        if not out or _part(num.encode()) == _part(out[0].encode()):
            out.append(num)
    return out


def _store_state(codec: Any, store: MemoryStore, num: str, created: str) -> None:
    """A demand as a hub without the door stored it (the door refuses it now)."""
    state = DemandeState(num_unique=num, version=1, active=True,
                         recipients=frozenset({"rouen", "dep"}), last_event_id="far",
                         last_operation="CRE", occurred_at=0,
                         demande=_event(num, ROUEN, created=created)["demande"])  # fmt: skip
    store.put(num.encode(), _part(num.encode()), codec.encode("DemandeState", state.to_avro()))


def _told(codec: Any, sender: MemorySender) -> list[tuple[str, str, int]]:
    return [(r["numUnique"], r["reason"], r["occurredAt"]) for r in _avis(codec, sender, "rouen")]


def _cycle(num: str, created: dt.date) -> list[tuple[str, str, int]]:
    return [(num, code, _ms(day)) for day, code in _thresholds(created)]


@pytest.mark.parametrize("poisoned", [False, True])
def test_a_far_future_demand_leaves_its_partition_every_notice(
        codec: Any, geography: Any, poisoned: bool) -> None:  # fmt: skip
    """The audit's scenario, a demand created 2300-01-01 beside one created 2025-01-10 in
    one partition, the clock running: the latter gets its three notices, each once, at
    the ticks they fall due; the former none. ``poisoned``: its stored due entry is the
    14-digit key an earlier version wrote — the tick removes it and writes the current
    one (without the fix, no notice at all: the scan stopped at it)."""
    store, sender = MemoryStore(N), MemorySender()
    proc = _processor(codec, geography, store, sender)
    good, far = _same_partition(2)
    p = _part(good.encode())
    asyncio.run(proc.process(_ticks(codec, proc, _ms(dt.date(2025, 1, 1)))))  # upgrade done
    _store_state(codec, store, far, "2300-01-01")
    current = entry_key(_ms(dt.date(2300, 11, 1)), "renouvellement_m-2", far)
    stored = _legacy(_ms(dt.date(2300, 11, 1)), "renouvellement_m-2", far) if poisoned \
        else current  # fmt: skip
    store.put(stored, p, b"")
    asyncio.run(proc.process([_ev_rec(codec, _event(good, ROUEN, created="2025-01-10"))]))
    asyncio.run(proc.process(_ticks(codec, proc, _ms(dt.date(2026, 1, 1)))))
    assert _told(codec, sender) == _cycle(good, dt.date(2025, 1, 10))[:2]
    assert (p, current) in store.own and not any(misplaced(k) for _, k in store.own
                                                 if k.startswith(PREFIX))  # fmt: skip
    for day in (dt.date(2026, 1, 1), dt.date(2026, 1, 11), dt.date(2026, 3, 1)):
        asyncio.run(proc.process(_ticks(codec, proc, _ms(day))))
    assert _told(codec, sender) == _cycle(good, dt.date(2025, 1, 10))
    assert {parse(k)[2] for _, k in store.own if k.startswith(PREFIX)} == {far}


@pytest.mark.parametrize(("path", "day", "refused"), [
    (("dateCreationDemande",), "2300-01-01", True),
    (("dateCreationDemande",), "2287-01-01", True),
    (("dateCreationDemande",), "9999-06-01", True),
    (("dateCreationDemande",), "1899-12-31", True),
    (("dateCreationDemande",), "2199-12-31", False),
    (("dateCreationDemande",), "1900-01-01", False),
    (("renouvellement", "dateRenouvellement"), "2200-01-01", True),
    (("renouvellement", "dateRenouvellement"), "2026-02-01", False),
    (("dateCreationDemande",), "not a date", False),  # no threshold: the clock ignores it
])  # fmt: skip
def test_the_door_refuses_a_clock_date_outside_the_hubs_days(
        path: tuple[str, ...], day: str, refused: bool) -> None:  # fmt: skip
    event = _event(new_num_unique(), ROUEN)
    node = event["demande"]["demandeLogement"]
    for name in path[:-1]:
        node = node.setdefault(name, {})
    node[path[-1]] = day
    if not refused:
        check_carriable(event)
        return
    with pytest.raises(InputError) as caught:
        check_carriable(event)
    assert caught.value.code == "date_out_of_range"
    assert caught.value.message == (
        f"demande.demandeLogement.{'.'.join(path)}: outside the dates the hub computes with "
        "(1900-01-01 to 2199-12-31)")  # fmt: skip


def test_the_worker_dead_letters_a_far_future_demand_and_the_partition_goes_on(
        codec: Any, geography: Any) -> None:  # fmt: skip
    """Written to hub.demandes past the door: a dead letter naming the field; the other
    demand of its partition gets its notices."""
    from hub.core import topics

    store, sender = MemoryStore(N), MemorySender()
    proc = _processor(codec, geography, store, sender)
    good, far = _same_partition(2)
    asyncio.run(proc.process([_ev_rec(codec, _event(good, ROUEN, created="2025-01-10")),
                              _ev_rec(codec, _event(far, ROUEN, created="2300-01-01"))]))
    letters = [codec.decode_as(v, "DeadLetter") for _, v in sender.sent[topics.DLQ]]
    assert [(x["reason"], x["message"]) for x in letters] == [(
        "date_out_of_range", "demande.demandeLogement.dateCreationDemande: outside the "
        "dates the hub computes with (1900-01-01 to 2199-12-31)")]  # fmt: skip
    assert store.get(far.encode()) is None
    asyncio.run(proc.process(_ticks(codec, proc, _ms(dt.date(2026, 3, 1)))))
    assert _told(codec, sender) == _cycle(good, dt.date(2025, 1, 10))


def test_hub_publish_refuses_a_far_future_demand_in_one_line(tmp_path: Path) -> None:
    event = _event("076112800000110691", ROUEN, created="2300-01-01")
    path = tmp_path / "far.jsonl"
    path.write_text(json.dumps({k: event[k] for k in ("numUnique", "operation", "demande")})
                    + "\n")  # fmt: skip
    res = subprocess.run([*_hub(), "publish", "--dry-run", str(path)],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    assert res.stderr.splitlines()[0] == (
        f"{path}:1: demande.demandeLogement.dateCreationDemande: outside the dates the hub "
        "computes with (1900-01-01 to 2199-12-31)")  # fmt: skip
