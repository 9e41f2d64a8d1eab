"""``python -m bench run [--suite default|smoke] [--full-backfill] [--only push] [--out DIR]``,
``python -m bench run --only w4 --stock N [--w4-scenarios a,b]`` (actor changes, bench/w4.py),
``python -m bench data --demands N --out FILE.jsonl`` (the synthetic data as JSONL).

One run: a private broker; phase 1 = W2 fan-out sweep with baselines a, b, c, then W3
open-loop streams on the same worker; phase 2 = W1 backfill on a fresh worker over the
national actors; the matching micro-benchmark in-process. Writes JSON + markdown.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from bench import report
from bench.broker import private_broker
from bench.data import ActorMix, demand_events, match_distribution, national_actors, write_jsonl
from bench.micro import matching
from bench.phase import start_phase, stop_phase
from bench.processes import worker_env
from bench.w4 import SCENARIOS as W4_SCENARIOS
from bench.w4 import W4Config, w4
from bench.w4_report import verdicts as w4_verdicts
from bench.workloads import backfill, fanout_sets, fanout_sweep, stream
from hub.core.errors import HubError
from hub.domain.geo import get_geography


@dataclass(frozen=True)
class Suite:
    ns: tuple[int, ...]
    rounds: int
    target: int  # deliveries per W2 round
    min_events: int
    max_events: int
    rates: tuple[int, ...]
    stream_s: float
    backfill: int
    mix: ActorMix
    micro_sizes: tuple[int, ...]
    micro_demands: int


SUITES = {
    # 1/50 of the national stock, ~10 recipients per demand
    "default": Suite(
        (1, 5, 10, 30, 100),
        5,  # rounds: medians of 5 hold on a machine with noisy neighbours
        20_000,
        300,
        4_000,
        (100, 500, 1000),
        20.0,
        38_000,
        ActorMix(),
        (10, 1_000, 10_000),
        5_000,
    ),
    "smoke": Suite(
        (1, 10),
        1,
        200,
        20,
        100,
        (20,),
        2.0,
        150,
        ActorMix(guichets=40, landlords=10),
        (10, 100),
        100,
    ),
}


async def run(
    suite_name: str,
    full: bool,
    seed: int,
    home: Path,
    only: str = "all",
    backfill_size: int | None = None,
    ns: tuple[int, ...] | None = None,
    worker_env: dict[str, str] | None = None,
    push_db: str | None = None,
    w4_config: W4Config | None = None,
) -> dict[str, Any]:
    s = SUITES[suite_name]
    if ns:
        s = replace(s, ns=ns)
    geo = get_geography()
    result: dict[str, Any] = {
        "suite": suite_name,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seed": seed,
        "config": {
            **asdict(s),
            "full_backfill": full,
            "only": only,
            "backfill_size": backfill_size,
            "worker": "hub worker subprocess, default HUB_WORKER__* and HUB_KAFKA__*"
            + (f" except {worker_env}" if worker_env else ""),
            "worker_env": worker_env or {},
        },
        "machine": report.machine(),
        "versions": report.versions(),
    }
    if only in ("all", "matching"):
        result["matching"] = matching(geo, s.micro_sizes, s.micro_demands, 5, seed)
    if only == "matching":
        result["verdicts"] = report.verdicts(result)
        return result
    if only == "push":  # outbox -> receiver, then feed -> receiver (bench/push.py)
        from bench import push

        result["push"] = p = await push.push(home / "push", suite_name, seed, push_db)
        with private_broker(home) as broker:  # started after: its JVM idles during the rest
            result["broker"] = {"bootstrap": broker.bootstrap, "kafka": broker.version}
            p["backlog"]["from_feed"] = await push.from_feed(
                home / "push", broker.bootstrap, push.PUSH_SUITES[suite_name], seed, push_db
            )
        result["verdicts"] = {**report.verdicts(result), **push.verdicts(result["push"])}
        return result
    if only == "w4":  # actor changes over a stock (bench/w4.py), not in 'all'
        with private_broker(home) as broker:
            result["broker"] = {"bootstrap": broker.bootstrap, "kafka": broker.version}
            result["w4"] = await w4(
                broker.bootstrap, home, geo, w4_config or W4Config(50_000, seed=seed), worker_env
            )
        result["verdicts"] = w4_verdicts(result["w4"])
        return result
    with private_broker(home) as broker:
        bootstrap, broker_pid = broker.bootstrap, broker.status().pid
        result["broker"] = {"bootstrap": bootstrap, "kafka": broker.version}
        previous: list[Any] = []
        if only in ("all", "fanout"):
            sets = fanout_sets(list(s.ns))
            fan_actors = [a for _, actors in sets.values() for a in actors]
            phase = await start_phase(bootstrap, home, geo, fan_actors, extra_env=worker_env)
            try:
                result["fanout"] = await fanout_sweep(
                    phase,
                    sets,
                    broker_pid,
                    s.rounds,
                    s.target,
                    s.min_events,
                    s.max_events,
                    home,
                    seed,
                )
                dep10, set10 = sets.get(10, next(iter(sets.values())))
                result["stream"] = [
                    await stream(phase, set10, dep10, rate, s.stream_s, seed + rate)
                    for rate in s.rates
                ]
            finally:
                await stop_phase(phase)
            previous = phase.actors
        if only == "fanout":
            result["verdicts"] = report.verdicts(result)
            return result
        n = 1_900_000 if full else (backfill_size or s.backfill)
        actors = national_actors(geo, seed, s.mix)
        events = list(demand_events(n, seed, geo))
        phase = await start_phase(
            bootstrap, home, geo, actors, previous=previous, extra_env=worker_env
        )
        try:
            result["backfill"] = await backfill(
                phase, actors, events, broker_pid, (seed, s.mix.guichets, s.mix.landlords), home
            )
            result["backfill"]["full"] = full
            result["backfill"]["distribution"] = match_distribution(phase.index, events)
        finally:
            await stop_phase(phase)
    result["verdicts"] = report.verdicts(result)
    return result


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run a suite on a private broker")
    r.add_argument("--suite", choices=sorted(SUITES), default="default")
    r.add_argument("--full-backfill", action="store_true", help="W1 on the full 1.9 M stock")
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--out", type=Path, default=Path("bench-results"))
    r.add_argument(
        "--only",
        choices=("all", "backfill", "fanout", "matching", "push", "w4"),
        default="all",
        help="run only W1 (backfill), only W2 + W3 (fanout), only the matching "
        "micro-benchmark, only the push channels (webhook delivery), or only W4 "
        "(actor changes over a stock); the last two are not in 'all'",
    )
    r.add_argument(
        "--stock",
        type=int,
        default=50_000,
        metavar="N",
        help="--only w4: demands in the stock before the actor changes",
    )
    r.add_argument(
        "--w4-scenarios",
        type=lambda v: tuple(v.split(",")),
        default=W4_SCENARIOS,
        metavar="S,S",
        help=f"--only w4: scenarios to run, in order (default {','.join(W4_SCENARIOS)})",
    )
    r.add_argument(
        "--ns",
        type=lambda v: tuple(int(x) for x in v.split(",")),
        default=None,
        metavar="N,N",
        help="W2 fan-out sizes instead of the suite's (e.g. 10)",
    )
    r.add_argument(
        "--worker-env",
        action="append",
        default=[],
        metavar="HUB_X=V",
        help="a setting of the measured hub worker (tuning runs); repeatable",
    )
    r.add_argument(
        "--backfill",
        type=int,
        default=None,
        metavar="N",
        help="W1 sample size instead of the suite's (1/50 national: 38,000)",
    )
    r.add_argument(
        "--push-db",
        default=None,
        metavar="URL",
        help="--only push: outbox and audit in a fresh schema of this PostgreSQL "
        "database instead of a SQLite file",
    )
    d = sub.add_parser("data", help="write the synthetic demands as JSONL")
    d.add_argument("--demands", type=int, default=38_000)
    d.add_argument("--seed", type=int, default=1)
    d.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    try:
        if args.cmd == "data":
            if not args.out.parent.is_dir():  # a one-line refusal, not a traceback
                raise HubError(f"--out: no folder {args.out.parent}")
            n = write_jsonl(args.out, demand_events(args.demands, args.seed, get_geography()))
            print(f"{n} demands written to {args.out}")
            return
        env = worker_env(args.worker_env)
        # the harness's own producer (the generator) uses the same producer settings
        os.environ.update({k: v for k, v in env.items() if k.startswith("HUB_KAFKA__")})
        with tempfile.TemporaryDirectory(prefix="hub-bench-") as tmp:
            bad = set(args.w4_scenarios) - set(W4_SCENARIOS)
            if bad:
                raise HubError(f"--w4-scenarios: unknown {sorted(bad)}; known {W4_SCENARIOS}")
            w4_config = W4Config(args.stock, args.w4_scenarios, seed=args.seed)
            result = asyncio.run(
                run(
                    args.suite,
                    args.full_backfill,
                    args.seed,
                    Path(tmp),
                    args.only,
                    args.backfill,
                    args.ns,
                    env,
                    args.push_db,
                    w4_config,
                )
            )
        js, md = report.write(result, args.out)
        print(md.read_text())
        print(f"written: {js} {md}")
    except HubError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
