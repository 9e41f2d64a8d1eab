"""``python -m reliability run [--full] [--events N] [--scenario NAME...]``.

Default: the small mixed run of the test suite (3,000 events, every fault once or twice),
then the delivery scenarios ``pg-down`` and ``webhook-down`` (1,000 events, 60 s down).
``--full``: every scenario separately (kill -9 x10, SIGTERM x10, broker restart, rebalance
storm) at 200,000 events, then ``pg-down`` (60 s) and ``webhook-down`` (300 s) at 20,000
events (``reliability/delivery_runner.py``). ``--down-s`` sets the delivery faults'
length. Results go to ``reliability/results/<mode>.json`` (``<mode>-<scenarios>.json``
with ``--scenario``) and a
markdown table on stdout (the one docs/reliability.md shows). Exit 1 if any figure that
must be 0 is not, or personal data was found in a log.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from reliability.cluster import PrivateHub
from reliability.delivery_runner import DELIVERY_SCENARIOS, delivery_table, run_delivery
from reliability.runner import BAD_EVENTS, SCENARIOS, Result, run_scenario

RESULTS = Path(__file__).resolve().parent / "results"


def table(results: list[Result]) -> str:
    head = ("| scenario | events | owed | delivered (raw) | lost | dup raw | dup after dedup "
            "| reordered | out of scope | recovery s (median / max) | drain s | DLQ "
            "| PII in logs |")
    lines = [head, "|" + "---|" * 13]
    for r in results:
        f = r.figures
        rec = sorted(r.recoveries_s)
        recovery = f"{rec[len(rec) // 2]:.1f} / {rec[-1]:.1f}" if rec else "n/a"
        lines.append(
            f"| {r.scenario}: {r.description} | {r.events} | {f['owed']} | "
            f"{f['delivered_raw']} | {f['lost']} | {f['duplicated_raw']} | "
            f"{f['duplicated_after_dedup']} | {f['reordered']} | {f['out_of_scope']} | "
            f"{recovery} | {r.drain_s} | {r.dead_lettered}/{BAD_EVENTS} | "
            f"{len(r.pii_leaks)} |")  # fmt: skip
    return "\n".join(lines)


def run_on(hub: PrivateHub, names: list[str], events: int | None, seed: int, *,
           down_s: float | None = None, full: bool = False) -> list[Result]:  # fmt: skip
    """Run the scenarios ``names`` in turn on the running private ``hub``. ``events``
    None: 3,000, or with ``full`` 200,000 (delivery scenarios: their own defaults).
    ``down_s``: how long a delivery scenario's fault lasts (default: the scenario's)."""
    results: list[Result] = []
    for i, name in enumerate(names):
        t0 = time.monotonic()
        if name in DELIVERY_SCENARIOS:
            dsc = DELIVERY_SCENARIOS[name]
            n = events or (dsc.full_events if full else dsc.small_events)
            down = down_s if down_s is not None else (dsc.full_down_s if full else None)
            result = run_delivery(hub, dsc, events=n, seed=seed + i, down_s=down)
        else:
            n = events or (200_000 if full else 3_000)
            result = run_scenario(hub, SCENARIOS[name], events=n, seed=seed + i)
        print(f"{name}: ok={result.ok} in {time.monotonic() - t0:.0f}s "
              f"{result.figures['lost']} lost", file=sys.stderr, flush=True)  # fmt: skip
        results.append(result)
    return results


def run(names: list[str], events: int | None, seed: int, keep: bool,
        down_s: float | None = None, full: bool = False) -> list[Result]:  # fmt: skip
    home = Path(tempfile.mkdtemp(prefix="passerelle-reliability-"))
    hub = PrivateHub(home)
    try:
        hub.up()
        return run_on(hub, names, events, seed, down_s=down_s, full=full)
    finally:
        hub.down()
        if not keep:
            shutil.rmtree(home, ignore_errors=True)
        else:
            print(f"kept {home}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reliability")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run fault scenarios on a private broker")
    p.add_argument("--full", action="store_true", help="every scenario at 200,000 events")
    p.add_argument("--events", type=int, help="events per scenario (default 3000 / 200000;"
                   " delivery scenarios 1000 / 20000)")
    p.add_argument("--scenario", action="append",
                   choices=sorted(SCENARIOS) + sorted(DELIVERY_SCENARIOS))
    p.add_argument("--down-s", type=float, help="seconds the PostgreSQL / webhook receiver "
                   "stays down (default 60; webhook-down 300 with --full)")
    p.add_argument("--seed", type=int, default=20261101)
    p.add_argument("--keep", action="store_true", help="keep the private home (logs)")
    args = parser.parse_args(argv)
    names = args.scenario or (["kill9", "sigterm", "broker", "rebalance"] if args.full
                              else ["mixed"]) + sorted(DELIVERY_SCENARIOS)  # fmt: skip
    results = run(names, args.events, args.seed, args.keep, args.down_s, args.full)
    RESULTS.mkdir(exist_ok=True)
    mode = "full" if args.full else "small"
    # a run of chosen scenarios does not overwrite the default run's results
    out = RESULTS / (f"{mode}-{'+'.join(args.scenario)}.json" if args.scenario
                     else f"{mode}.json")  # fmt: skip
    out.write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    print(table(results))
    if delivered := [r for r in results if r.scenario in DELIVERY_SCENARIOS]:
        print("\n" + delivery_table(delivered))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
