"""Per-tick cost of the demand's clock (issue 20): ``python -m bench.clock``.

On demand, in-process, on the production store (``dispatch.runtime.tablestore.RocksTableStore``
over real RocksDB databases, one per partition; its changelog producer replaced by an
in-memory one). A stock of N active demands is written straight into the store (states
and due entries, as ``Processor._store`` leaves them, the partitions' upgrade markers
set); the same ``--due`` demands fall due at each of ``--ticks`` successive days, every
other demand's thresholds lie months later. Each tick (one ``DispatchTick`` per
partition, through ``Processor.process``) is timed; the figure is the median over the
ticks. The claim checked: the tick's work follows the due demands, not the stock
(N = 10,000 vs 200,000 with the same due count: within 1.5x).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka.partitioner import murmur2

from dispatch.deadlines import Deadlines, add_months, day_ms
from dispatch.processor import InputRecord, Processor
from dispatch.runtime.tablestore import RocksTableStore
from hub.core import topics
from hub.domain.actors import Actor, ActorFilters
from hub.domain.geo import get_geography
from hub.domain.matching import TerritoryIndex
from hub.domain.state import DemandeState
from schemas import get_codec

PARTITIONS = 4
COMMUNE = "76540"
#: the first tick's day; the deadlines are one year after the creation dates
FIRST = dt.date(2026, 9, 1)


class _Done:
    offset = 0


class _Producer:
    """Stands for the changelog producer: every send acknowledged at once."""

    async def send(self, topic: str, value: Any, key: Any = None, partition: int = 0) -> Any:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        fut.set_result(_Done())
        return fut


class _Data:
    def __init__(self, root: Path) -> None:
        from rocksdict import Rdict

        self.dbs = {p: Rdict(str(root / f"p{p}")) for p in range(PARTITIONS)}

    def _db_for_partition(self, partition: int) -> Any:
        return self.dbs[partition]

    def set_persisted_offset(self, tp: Any, offset: int) -> None:
        pass


class _Table:
    def __init__(self, root: Path) -> None:
        self.data = _Data(root)
        self.changelog_topic = type("T", (), {"get_topic_name": lambda self: "changelog"})()
        producer = _Producer()
        self.app = type(
            "A", (), {"producer": type("P", (), {"_ensure_producer": lambda self: producer})()}
        )()


class _Sender:
    def __init__(self) -> None:
        self.sent = 0

    async def send(self, topic: str, key: bytes | None, value: bytes) -> Any:
        self.sent += 1
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut


def _part(key: bytes) -> int:
    return int((murmur2(key) & 0x7FFFFFFF) % PARTITIONS)


def _state(num: str, created: dt.date) -> DemandeState:
    demande = {
        "informationDalo": None,
        "demandeLogement": {
            "numGuichet": "10691",
            "numUnique": num,
            "dateCreationDemande": created.isoformat(),
            "precision": "",
            "logementRecherche": {
                "demandeElargie": False,
                "listeTypeLogement": ["T2"],
                "listeLocalisationSouhaite": [{"commune": COMMUNE, "quartier": None}],
            },
        },
    }
    return DemandeState(num_unique=num, version=1, active=True, recipients=frozenset({"a", "b"}),
                        last_event_id=str(uuid.uuid4()), last_operation="CRE", occurred_at=0,
                        demande=demande)  # fmt: skip


def build(root: Path, stock: int, due: int, ticks: int) -> tuple[RocksTableStore, Processor]:
    """The store with ``stock`` demands: ``due`` of them reach their -2 months notice at
    each of the ``ticks`` days from FIRST, the others months later."""
    codec, geo = get_codec(), get_geography()
    index = TerritoryIndex(geo, [Actor(id=a, name=a, kind="bailleur",
                                       filters=ActorFilters(communes=[COMMUNE]))
                                 for a in ("a", "b")])  # fmt: skip
    store = RocksTableStore(_Table(root), PARTITIONS)
    deadlines = Deadlines()
    for i in range(stock):
        num = f"076{i:015d}"
        if i < due * ticks:  # deadline - 2 months = FIRST + i // due days (no clamping)
            created = add_months(FIRST + dt.timedelta(days=i // due), -10)
        else:  # months later
            created = FIRST + dt.timedelta(days=120 + i % 200) - dt.timedelta(days=300)
        state = _state(num, created)
        p = _part(num.encode())
        db = store._db(p)
        for k, v in deadlines.entries(state, geo).items():
            db.put(k, v)
        db.put(num.encode(), codec.encode("DemandeState", state.to_avro()))
    for p in range(PARTITIONS):
        store._db(p).put(b"\x00d-complete:%d" % p, b"1")
    proc = Processor(index, codec, store, _Sender(), deadlines=deadlines, due_chunk=10 * due)
    return store, proc


async def _ticks(proc: Processor, now: int, offset: int) -> tuple[float, int, int]:
    codec = proc.codec
    recs = [InputRecord(topics.DEMANDES, p, offset + p, proc.partition_key(p),
                        codec.encode("DispatchTick", {"tickId": "t", "partition": p, "now": now}))
            for p in range(PARTITIONS)]  # fmt: skip
    t0 = time.perf_counter()
    stats = await proc.process(recs)
    return time.perf_counter() - t0, stats.clock_reads, stats.deliveries.get("AVIS", 0)


def measure(stock: int, due: int, ticks: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-clock-") as tmp:
        t0 = time.perf_counter()
        _, proc = build(Path(tmp), stock, due, ticks)
        built = time.perf_counter() - t0
        runs = []
        for r in range(ticks):
            now = day_ms(FIRST + dt.timedelta(days=r)) + 12 * 3_600_000
            runs.append(asyncio.run(_ticks(proc, now, 1000 * r)))
    secs = [s for s, _, _ in runs]
    return {
        "stock": stock,
        "due": due,
        "ticks": ticks,
        "build_s": round(built, 1),
        "tick_ms_median": round(statistics.median(secs) * 1000, 1),
        "tick_ms_min": round(min(secs) * 1000, 1),
        "reads": [r for _, r, _ in runs],
        "notices": [n for _, _, n in runs],
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.clock", description=__doc__)
    ap.add_argument("--stocks", default="10000,200000")
    ap.add_argument("--due", type=int, default=500)
    ap.add_argument("--ticks", type=int, default=5)
    args = ap.parse_args(argv)
    results = [measure(int(n), args.due, args.ticks) for n in args.stocks.split(",")]
    for r in results:
        print(r)
    base, top = results[0]["tick_ms_median"], results[-1]["tick_ms_median"]
    print(
        f"ratio {results[-1]['stock']} / {results[0]['stock']}: {top / base:.2f} "
        f"({'within' if top / base <= 1.5 else 'ABOVE'} 1.5x)"
    )


if __name__ == "__main__":
    main()
