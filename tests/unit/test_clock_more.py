"""Issue 20: the demand's clock, in memory — the délai anormalement long, schema
evolution, metrics, the worker's ticks, the upgrade of a store that predates the clock,
stale entries, the push channels, the stores' due scan (dispatch/deadlines.py). The
renewal notices themselves: tests/unit/test_clock.py."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
from typing import Any

import pytest
from fastavro import schemaless_writer

from dispatch.deadlines import Deadlines
from hub.core import topics
from hub.core.errors import ConfigError
from hub.domain.delais import DelaiTable
from hub.domain.state import DemandeState
from schemas.codec import MARKER
from tests.support.demandes import new_num_unique
from tests.support.memory import MemorySender, MemoryStore
from tests.unit.test_clock import (
    ROUEN,
    N,
    _avis,
    _due_keys,
    _ev_rec,
    _event,
    _ms,
    _part,
    _processor,
    _ticks,
)

DELAIS = {"version": "test", "departements": {
    "76": {"status": "known", "months": 18, "source": "test fixture, not a real arrêté",
           "date": "2026-01-01"},
    "27": {"status": "unknown", "months": None, "source": None, "date": None}}}


def test_delai_anormalement_long(codec: Any, geography: Any) -> None:
    """Crossing the table's délai notifies once and sets the flag; the SNE's indicator
    wins over the table, and a disagreement is counted."""
    store, sender = MemoryStore(N), MemorySender()
    table = DelaiTable.from_dict(DELAIS)
    proc = _processor(codec, geography, store, sender,
                      deadlines=Deadlines((2, 1, 0), table))  # fmt: skip
    a, b, c = new_num_unique(), new_num_unique(), new_num_unique()
    created = "2025-01-15"  # 18 months: 15 July 2026 (renewed, so no renewal notice then)
    asyncio.run(proc.process([
        _ev_rec(codec, _event(a, ROUEN, "REN", created=created, renewed="2026-01-10")),
        _ev_rec(codec, _event(b, ROUEN, "REN", created=created, renewed="2026-01-10")),
        _ev_rec(codec, _event(c, ROUEN, "REN", created=created, renewed="2026-01-10",
                              dal=False))]))  # fmt: skip
    # b: the SNE says "délai anormalement long" before the table would: it wins, no notice;
    # counted as a disagreement (at occurredAt, March 2026, the table says not yet)
    stats = asyncio.run(proc.process([_ev_rec(codec, _event(
        b, ROUEN, "MOD", created=created, renewed="2026-01-10", dal=True,
        occurred_at=_ms(dt.date(2026, 3, 1))))]))
    assert stats.delai_disagreements == 1
    for day in (dt.date(2026, 7, 14), dt.date(2026, 7, 15), dt.date(2026, 8, 1)):
        asyncio.run(proc.process(_ticks(codec, proc, _ms(day))))
    dal = [r for r in _avis(codec, sender, "rouen") if r["reason"] == "delai_anormalement_long"]
    assert [(r["numUnique"], r["occurredAt"]) for r in dal] == [(a, _ms(dt.date(2026, 7, 15)))]
    states = {n: DemandeState.from_avro(codec.decode_as(store.get(n.encode()), "DemandeState"))
              for n in (a, b, c)}  # fmt: skip
    assert (states[a].delai_anormalement_long, states[a].delai_source) == (True, "hub")
    assert (states[b].delai_anormalement_long, states[b].delai_source) == (True, "sne")
    assert (states[c].delai_anormalement_long, states[c].delai_source) == (False, "sne")
    # a later MOD without the indicator keeps the flag; the SNE saying False after the
    # crossing disagrees with the table
    stats = asyncio.run(proc.process([
        _ev_rec(codec, _event(a, ROUEN, "MOD", created=created, renewed="2026-01-10")),
        _ev_rec(codec, _event(c, ROUEN, "MOD", created=created, renewed="2026-01-10",
                              dal=False, occurred_at=_ms(dt.date(2026, 8, 2))))]))
    assert stats.delai_disagreements == 1
    st = DemandeState.from_avro(codec.decode_as(store.get(a.encode()), "DemandeState"))
    assert (st.delai_anormalement_long, st.delai_source) == (True, "hub")


def test_the_shipped_table_knows_no_value_it_cannot_source() -> None:
    table = DelaiTable.load()
    assert len(table.by_departement) >= 101
    assert {d.months for d in table.by_departement.values()} == {None}
    with pytest.raises(ConfigError, match="needs months > 0, a source and a date"):
        DelaiTable.from_dict({"departements": {"76": {"status": "known", "months": 12}}})


def test_a_v5_state_reads_with_the_clock_defaults(codec: Any) -> None:
    """A state written before the clock (DemandeState v5) decodes with no notice sent and
    the délai unknown."""
    ws = codec.registry.version("DemandeState", "v5")
    old = {"numUnique": "076112500000110691", "version": 1, "active": True,
           "recipients": ["rouen"], "lastEventId": "e", "lastOperation": "CRE",
           "occurredAt": 1, "partition": 0, "offset": 3, "demande": None, "former": [],
           "recentEventIds": ["e"]}  # fmt: skip
    body = io.BytesIO()
    schemaless_writer(body, ws.parsed, old)
    state = DemandeState.from_avro(codec.decode_as(MARKER + ws.fingerprint + body.getvalue(),
                                                   "DemandeState"))  # fmt: skip
    assert state.notices_sent == () and state.delai_anormalement_long is None
    assert state.delai_source is None and state.recipients == frozenset({"rouen"})


def test_recorder_counts_disagreements_and_clock_reads() -> None:
    from dispatch.processor import BatchStats
    from dispatch.recording import record_batch
    from monitoring import metrics as m

    def value(name: str) -> float:
        return m.REGISTRY.get_sample_value(name) or 0.0

    before = (value("passerelle_delai_disagreements_total"),
              value("passerelle_clock_states_read_total"))  # fmt: skip
    record_batch(BatchStats(delai_disagreements=2, clock_reads=5,
                            inputs={(topics.DEMANDES, "TICK"): 1}))  # fmt: skip
    assert value("passerelle_delai_disagreements_total") - before[0] == 2
    assert value("passerelle_clock_states_read_total") - before[1] == 5
    assert m.REGISTRY.get_sample_value("passerelle_events_in_total",
                                       {"topic": topics.DEMANDES, "operation": "TICK"})


def test_the_worker_ticks_its_assigned_partitions(codec: Any, geography: Any) -> None:
    """The timer writes one tick per assigned hub.demandes partition, routed there by the
    default partitioner; ``hub clock tick --now`` reads a naive time as Europe/Paris."""
    from aiokafka import TopicPartition as TP

    from dispatch.ticks import tick_assigned
    from hub.cli.clock import parse_now

    sender = MemorySender()
    proc = _processor(codec, geography, MemoryStore(N), sender)
    assigned = {TP(topics.DEMANDES, 3), TP(topics.DEMANDES, 1), TP("other", 0)}
    assert asyncio.run(tick_assigned(assigned, proc, codec, sender, now_ms=1234)) == [1, 3]
    sent = sender.sent[topics.DEMANDES]
    assert [_part(k) for k, _ in sent if k is not None] == [1, 3]
    assert [codec.decode_as(v, "DispatchTick")["now"] for _, v in sent] == [1234, 1234]
    assert parse_now("2026-09-02") == _ms(dt.date(2026, 9, 2))


def test_states_stored_before_the_clock_are_brought_in_by_chunks(
        codec: Any, geography: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A store whose states predate the due index (no entries, no marker): the ticks
    write their entries a chunk at a time and each demand is told its notice once,
    including one modified (entries unchanged, so not written by its diff) before the
    pass reached it."""
    import dispatch.deadlines as deadlines

    monkeypatch.setattr(deadlines, "UPGRADE_CHUNK", 3)
    store, sender = MemoryStore(N), MemorySender()
    proc = _processor(codec, geography, store, sender)
    old = [new_num_unique() for _ in range(30)]
    for num in old:  # what a hub without the clock stored
        state = DemandeState(num_unique=num, version=1, active=True,
                             recipients=frozenset({"rouen", "dep"}), last_event_id="e",
                             last_operation="CRE", occurred_at=0,
                             demande=_event(num, ROUEN, created="2025-02-10")["demande"])
        store.put(num.encode(), _part(num.encode()), codec.encode("DemandeState",
                                                                 state.to_avro()))
    assert _due_keys(store) == set()
    asyncio.run(proc.process([_ev_rec(codec, _event(old[-1], ROUEN, "MOD",
                                                    created="2025-02-10"))]))
    now = _ms(dt.date(2025, 12, 11))  # the -2 months notice of all of them (10 Dec.)
    asyncio.run(proc.process(_ticks(codec, proc, now)))
    per_partition = [sum(_part(n.encode()) == p for n in old) for p in range(N)]
    # the chunk brought in by a tick is told at that tick, not one later
    assert len(_avis(codec, sender, "rouen")) == sum(min(3, k) for k in per_partition)
    for _ in range(11):
        asyncio.run(proc.process(_ticks(codec, proc, now)))
    told = [r["numUnique"] for r in _avis(codec, sender, "rouen")]
    assert sorted(told) == sorted(old)
    assert all(store.get(b"\x00d-complete:%d" % p, p) == b"1" for p in range(N))
    assert {c for _, c, _ in _due_keys(store)} == {"renouvellement_m-1"}


def test_notice_months_are_checked() -> None:
    with pytest.raises(ConfigError, match="0 to 11"):
        Deadlines((2, 12))
    assert Deadlines((0, 3)).notice_months == (3, 0)


def test_a_stale_entry_is_removed_never_fired(codec: Any, geography: Any) -> None:
    """An entry the demand's state does not have (left by a race of the upgrade pass) is
    checked against the state, removed, and sends nothing; a live one beside it fires."""
    store, sender = MemoryStore(N), MemorySender()
    proc = _processor(codec, geography, store, sender)
    num, gone = new_num_unique(), new_num_unique()
    asyncio.run(proc.process([_ev_rec(codec, _event(num, ROUEN, created="2025-03-20"))]))
    p = _part(num.encode())
    stale = b"\x00d:%013d\x00renouvellement_m-1\x00%s" % (_ms(dt.date(2025, 6, 1)), num.encode())
    orphan = b"\x00d:%013d\x00echeance_depassee\x00%s" % (_ms(dt.date(2025, 6, 1)),
                                                          gone.encode())  # fmt: skip
    store.put(stale, p, b"")
    store.put(orphan, _part(gone.encode()), b"")
    asyncio.run(proc.process(_ticks(codec, proc, _ms(dt.date(2026, 1, 21)))))
    assert [(r["numUnique"], r["reason"]) for r in _avis(codec, sender, "rouen")] == [
        (num, "renouvellement_m-2")]
    assert (p, stale) not in store.own and (_part(gone.encode()), orphan) not in store.own
    assert {c for _, c, n in _due_keys(store)} == {"renouvellement_m-1"}


def test_a_notice_reaches_the_file_and_soap_channels(codec: Any, geography: Any) -> None:
    """The push channels copy the feed: an AVIS is an ``enregistrement`` of a DIS file
    and a SOAP push with ``nature="AVIS"`` and its threshold as ``motif``."""
    import json

    from connectors.files.disfile import render_batch
    from connectors.outbound.soap_envelope import envelope

    store, sender = MemoryStore(N), MemorySender()
    proc = _processor(codec, geography, store, sender)
    num = new_num_unique()
    asyncio.run(proc.process([_ev_rec(codec, _event(num, ROUEN, created="2025-03-20"))]))
    asyncio.run(proc.process(_ticks(codec, proc, _ms(dt.date(2026, 1, 21)))))
    avis = _avis(codec, sender, "rouen")[0]
    doc = render_batch("rouen", 0, [(7, avis)])
    assert b'nature="AVIS"' in doc and b'motif="renouvellement_m-2"' in doc
    soap = envelope(json.dumps(avis).encode(), 7)
    assert b'nature="AVIS"' in soap and b'motif="renouvellement_m-2"' in soap


@pytest.mark.parametrize("kind", ["memory", "rocksdict"])
def test_the_worker_stores_scan_due_entries_in_due_order(kind: str, tmp_path: Any) -> None:
    """Both faust-table stores answer the due scan (an open prefix, ``\\x00d:``): only
    the partition's due entries, in key (due) order, after the cursor — and the territorial
    scan (prefixes closed by a NUL) is unchanged."""
    from types import SimpleNamespace

    from dispatch.deadlines import PREFIX, entry_key
    from dispatch.runtime.tablestore import MemoryTableStore, RocksTableStore

    nums = [new_num_unique() for _ in range(40)]
    if kind == "memory":
        store: Any = MemoryTableStore(SimpleNamespace(data={}), N)
        put = store._apply
    else:
        from rocksdict import Rdict

        dbs = {p: Rdict(str(tmp_path / f"p{p}")) for p in range(N)}
        store = RocksTableStore(SimpleNamespace(data=SimpleNamespace(
            _db_for_partition=lambda p: dbs[p])), N)
        put = store._apply
    want: dict[int, list[bytes]] = {p: [] for p in range(N)}
    for i, num in enumerate(nums):
        p = _part(num.encode())
        key = entry_key(1_700_000_000_000 + (i * 7919) % 1000, "echeance_depassee", num)
        put(p, key, b"")
        put(p, b"\x00t:c:76540\x00" + num.encode(), b"0|T2")
        put(p, num.encode(), b"state")
        want[p].append(key)
    for p in range(N):
        got = [k for k, _ in store.scan_from(p, [PREFIX], PREFIX, 1000)]
        assert got == sorted(want[p])
        if len(got) > 2:
            assert [k for k, _ in store.scan_from(p, [PREFIX], got[1], 1000)] == got[2:]
        territorial = [k for k, _ in store.scan_from(p, [b"\x00t:c:76540\x00"], b"", 1000)]
        assert len(territorial) == len(want[p])
    if kind == "rocksdict":
        for db in dbs.values():
            db.close()
