"""``python -m bench.publish``: ``hub publish`` at scale (issue 21 point 4).

One run on a private broker (``bench.broker.private_broker``): synthetic demands
(``bench.data``) written as one JSONL file and, rendered as InterfaceNuu documents
(``connectors.interfacenuu.mapping.render_demande_xml``), as a folder of XML files; then

* **raw producer**: the same number of records, already encoded (the first 2,000 events
  encoded, cycled), sent by an aiokafka producer with the hub's delivery settings and
  the same bounded window as ``hub publish`` (``connectors.ingress.publishing.send_all``), in this
  process: what the client and the broker can take, the ceiling of ``hub publish``;
* **hub publish** of each input as a real ``hub`` child process (``--dry-run`` first when
  asked: the first pass alone), timed from spawn to exit, with ``--jobs`` when given
  (default: the command's own, one check process per CPU); peak RSS is ``ru_maxrss`` from
  ``os.wait4`` (the largest of the command and its check workers, each alone), and the
  **tree** figures are sampled every 0.2 s from ``/proc``: the peak of the summed RSS of
  the command and its workers (pages they share counted once per process) and the peak
  of their summed PSS (shared pages split between them: the memory the tree really
  takes); events/s is events over the whole command (both passes, interpreter start
  included), the ratio is that rate over the raw producer's. The load average of the
  machine is recorded at each run's start and end (others' work shares the CPUs).

**CPU**: user + system seconds of the command and its check workers (``os.wait4``; the
workers are reaped by the command), per event: what the load of other programs on a
shared machine changes least (the wall time of a run is the CPU time it was given).
``--baseline DIR`` also runs ``hub publish`` from another source tree (e.g. ``git
archive <commit> | tar -x -C DIR``: the package imported from ``DIR`` first), right after
the runs of the current one on each input, so both see about the same load: before and
after, back to back. ``--work DIR`` keeps the inputs there and reuses those already
written.

Prints a markdown table and writes the JSON result next to it (``--out``). Sizes:
``--demands`` JSONL events (several sizes allowed, e.g. ``200000,400000``: flat RSS across
them is the point), ``--xml-files``. Never timed in tests.

Generating demands costs more than publishing them (~1,000 to 3,000 a second on the
reference machine): above :data:`UNIQUE` the JSONL file repeats the generated lines.
``hub publish`` checks every line alone (it does not look for duplicates), so the load
is the same as distinct demands of the same sizes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import report
from bench.broker import create_topics, private_broker
from bench.data import demand_events, write_jsonl
from bench.harness import producer
from connectors.ingress.publishing import PreparedEvent, prepare_event, send_all
from hub.domain.geo import get_geography

RAW_TOPIC = "bench.raw"
PARTITIONS = 4
_ROOT = Path(__file__).resolve().parent.parent


#: distinct demands generated at most; a larger JSONL input repeats them (module doc)
UNIQUE = 200_000


def write_demands(path: Path, n: int, seed: int) -> int:
    """``n`` demand lines in ``path``: the first :data:`UNIQUE` generated, then repeated
    (same bytes) up to ``n``; return the count of distinct ones."""
    unique = write_jsonl(path, demand_events(min(n, UNIQUE), seed, get_geography()))
    left = n - unique
    with path.open("ab") as out:
        while left > 0:
            with path.open("rb") as src:
                for line in itertools.islice(src, min(left, unique)):
                    out.write(line)
                    left -= 1
    return unique


def write_xml_folder(folder: Path, n: int, seed: int) -> int:
    """``n`` demand documents, one file each, in sub-folders of 1,000; return total bytes."""
    from connectors.interfacenuu.mapping import render_demande_xml

    total = 0
    for i, event in enumerate(demand_events(n, seed + 7, get_geography())):
        sub = folder / f"{i // 1000:04d}"
        if i % 1000 == 0:
            sub.mkdir(parents=True, exist_ok=True)
        data = render_demande_xml(event)
        (sub / f"demande-{i:07d}.xml").write_bytes(data)
        total += len(data)
    return total


def _written(path: Path, done: bool = False) -> bool:
    """Whether ``path`` was written whole by an earlier run (``--work``); ``done``: say so."""
    marker = path.with_name(path.name + ".done")
    if done:
        marker.touch()
    return marker.exists()


async def raw_producer(bootstrap: str, jsonl: Path, n: int) -> dict[str, Any]:
    """Send ``n`` pre-encoded records (module doc); events/s from first send to last ack."""
    samples: list[PreparedEvent] = []
    with jsonl.open("rb") as fh:
        for line in itertools.islice(fh, 2_000):
            samples.append(prepare_event(json.loads(line)))

    def records() -> Iterator[PreparedEvent]:
        for i in range(n):
            yield samples[i % len(samples)]

    prod = producer(bootstrap)
    await prod.start()
    try:
        start = time.monotonic()
        sent = await send_all(_RawTopic(prod), records())
        elapsed = time.monotonic() - start
    finally:
        await prod.stop()
    return {"events": sent, "seconds": round(elapsed, 2), "events_per_s": round(sent / elapsed)}


class _RawTopic:
    """A producer that sends to :data:`RAW_TOPIC` whatever topic it is asked for."""

    def __init__(self, prod: Any) -> None:
        self.prod = prod

    async def send(self, topic: str, value: bytes, *, key: bytes) -> Any:
        return await self.prod.send(RAW_TOPIC, value, key=key)


def _tree_kib(root: int) -> tuple[int, int]:
    """(summed RSS, summed PSS) in KiB of ``root`` and its direct children, from /proc."""
    pids = [root]
    try:
        for task in Path(f"/proc/{root}/task").iterdir():
            children = (task / "children").read_text().split()
            pids += [int(c) for c in children]
    except OSError:
        return 0, 0
    rss = pss = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:  # gone meanwhile
            continue
    return rss, pss


def run_hub(args: list[str], env: dict[str, str], log: Path) -> dict[str, Any]:
    """Run ``hub ARGS`` as a child; wall seconds, exit status, peak RSS (module doc), its
    last line."""
    start = time.monotonic()
    peaks = [0, 0]
    done = threading.Event()
    with log.open("wb") as out:
        argv = [sys.executable, "-c", "from hub.cli import main; main()", *args]
        # run from the log's folder: ``-c`` puts the current folder first on the path, and
        # the code must come from PYTHONPATH (the current tree or ``--baseline``)
        child = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                 cwd=log.parent)  # fmt: skip

        def sample() -> None:
            while not done.wait(0.2):
                rss, pss = _tree_kib(child.pid)
                peaks[0], peaks[1] = max(peaks[0], rss), max(peaks[1], pss)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(child.pid, 0)
        done.set()
        sampler.join()
        child.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.monotonic() - start
    lines = log.read_text(errors="replace").strip().splitlines()
    return {"seconds": round(elapsed, 2), "exit": child.returncode,
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),  # Linux: kilobytes
            "tree_rss_mib": round(peaks[0] / 1024, 1), "tree_pss_mib": round(peaks[1] / 1024, 1),
            "last_line": lines[-1] if lines else ""}  # fmt: skip


def measure(name: str, path: Path, n: int, env: dict[str, str], home: Path,
            dry_run: bool, jobs: int | None = None,
            label: str = "current") -> dict[str, Any]:  # fmt: skip
    size = (
        sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        if path.is_dir()
        else path.stat().st_size
    )
    out: dict[str, Any] = {"input": name, "events": n, "bytes": size, "jobs": jobs,
                           "code": label, "loadavg_before": os.getloadavg()}  # fmt: skip
    opts = ["--jobs", str(jobs)] if jobs else []
    if dry_run:
        out["dry_run"] = run_hub(["publish", "--dry-run", *opts, str(path)], env,
                                 home / f"{name}-dry.log")  # fmt: skip
    run = run_hub(["publish", *opts, str(path)], env, home / f"{name}.log")
    out["loadavg_after"] = os.getloadavg()
    if run["exit"] != 0:
        raise SystemExit(f"hub publish {name} failed: {run['last_line']}")
    out["publish"] = run
    out["events_per_s"] = round(n / run["seconds"])
    out["cpu_us_per_event"] = round(run["cpu_s"] / n * 1e6)
    return out


async def main_async(sizes: list[int], xml_files: int, seed: int, home: Path,
                     dry_run: bool, jobs: list[int | None],
                     baseline: Path | None = None) -> dict[str, Any]:  # fmt: skip
    result: dict[str, Any] = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "seed": seed,
                              "machine": report.machine(), "versions": report.versions(),
                              "runs": []}  # fmt: skip
    inputs: list[tuple[str, Path, int]] = []
    samples = home / "samples.jsonl"  # what the raw producer sends, encoded once
    write_jsonl(samples, demand_events(2_000, seed + 1, get_geography()))
    for n in sizes:
        t = time.monotonic()
        path = home / f"demandes-{n}.jsonl"
        if not _written(path):
            write_demands(path, n, seed)
            _written(path, True)
        print(f"generated {n} demands as JSONL in {time.monotonic() - t:.0f} s", flush=True)
        inputs.append((f"jsonl-{n}", path, n))
    if xml_files:
        t = time.monotonic()
        folder = home / f"xml-{xml_files}"
        if not _written(folder):
            write_xml_folder(folder, xml_files, seed)
            _written(folder, True)
        print(f"rendered {xml_files} XML files in {time.monotonic() - t:.0f} s", flush=True)
        inputs.append((f"xml-{xml_files}", folder, xml_files))
    run_dir = Path(tempfile.mkdtemp(dir=home, prefix="run-"))  # broker, hub home, logs
    try:
        return await _measure_all(result, inputs, run_dir, samples, sizes, xml_files, dry_run,
                                  jobs, baseline)  # fmt: skip
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


async def _measure_all(result: dict[str, Any], inputs: list[tuple[str, Path, int]],
                       home: Path, samples: Path, sizes: list[int], xml_files: int,
                       dry_run: bool, jobs: list[int | None],
                       baseline: Path | None) -> dict[str, Any]:  # fmt: skip
    with private_broker(home / "broker") as broker:
        await create_topics(broker.bootstrap, {RAW_TOPIC: PARTITIONS})
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        env.update(HUB_KAFKA__BOOTSTRAP_SERVERS=broker.bootstrap, HUB_HOME=str(home / "hub"),
                   HUB_KAFKA__PARTITIONS=str(PARTITIONS), HUB_SNE__URL="",
                   PYTHONPATH=str(_ROOT))  # fmt: skip
        raw = await raw_producer(broker.bootstrap, samples, max([*sizes, xml_files]))
        result["raw_producer"] = raw
        print(f"raw producer: {raw['events_per_s']} events/s", flush=True)
        for name, path, n in inputs:
            # the ceiling again, under the load of this moment, for this input's ratios
            here = await raw_producer(broker.bootstrap, samples, n)
            print(f"raw producer before {name}: {here['events_per_s']} events/s", flush=True)
            runs = [measure(name, path, n, env, home, dry_run, j) for j in jobs]
            if baseline is not None:
                old = {**env, "PYTHONPATH": str(baseline)}
                runs.append(measure(name, path, n, old, home, False, label="baseline"))
            for run in runs:
                run["raw_events_per_s"] = here["events_per_s"]
                run["ratio_to_raw"] = round(run["events_per_s"] / here["events_per_s"], 3)
                result["runs"].append(run)
                print(json.dumps(run), flush=True)
    result["bench_peak_rss_mib"] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
    )
    return result


def markdown(result: dict[str, Any]) -> str:
    raw = result["raw_producer"]
    dry = any("dry_run" in r for r in result["runs"])
    rows = [
        "| input | code | jobs | events | MB | wall s | events/s | × raw | CPU µs/event "
        "| peak RSS MiB | tree RSS / PSS MiB | load before → after |"
        + (" dry-run s |" if dry else ""),
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|" + ("---:|" if dry else ""),
    ]
    for r in result["runs"]:
        p = r["publish"]
        load = f"{r['loadavg_before'][0]:.1f} → {r['loadavg_after'][0]:.1f}"
        dry_s = f" {r['dry_run']['seconds']} |" if "dry_run" in r else (" |" if dry else "")
        ceiling = r.get("raw_events_per_s", raw["events_per_s"])
        rows.append(f"| {r['input']} | {r.get('code', 'current')} | {r['jobs'] or 'default'} "
                    f"| {r['events']:,} | {r['bytes'] / 1e6:,.0f} | {p['seconds']} "
                    f"| {r['events_per_s']:,} | {r['ratio_to_raw']} (raw {ceiling:,}) "
                    f"| {r.get('cpu_us_per_event', '')} | {p['peak_rss_mib']} "
                    f"| {p['tree_rss_mib']} / {p['tree_pss_mib']} | {load} |{dry_s}")  # fmt: skip
    return "\n".join([f"raw producer: {raw['events']:,} records in {raw['seconds']} s, "
                      f"{raw['events_per_s']:,} events/s", "", *rows])  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.publish")
    p.add_argument("--demands", default="200000", help="JSONL sizes, comma-separated (0: none)")
    p.add_argument("--xml-files", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--dry-run", action="store_true", help="also time the first pass alone")
    p.add_argument(
        "--jobs", default="", help="hub publish --jobs values, comma-separated (default: its own)"
    )
    p.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="also run hub publish from this source tree (module doc)",
    )
    p.add_argument("--work", type=Path, default=None,
                   help="keep the inputs in this folder and reuse those there")  # fmt: skip
    p.add_argument("--out", type=Path, default=Path("bench-results"))
    args = p.parse_args(argv)
    sizes = [int(v) for v in args.demands.split(",") if int(v)]
    jobs: list[int | None] = [int(v) for v in args.jobs.split(",") if v] or [None]
    baseline = args.baseline.resolve() if args.baseline else None
    with contextlib.ExitStack() as stack:
        if args.work is None:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="hub-bench-publish-"))
            work = Path(tmp)
        else:
            work = args.work.resolve()
            work.mkdir(parents=True, exist_ok=True)
        result = asyncio.run(main_async(sizes, args.xml_files, args.seed, work,
                                        args.dry_run, jobs, baseline))  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    (args.out / f"publish-{stamp}.json").write_text(json.dumps(result, indent=2))
    md = markdown(result)
    (args.out / f"publish-{stamp}.md").write_text(md + "\n")
    print(md)


if __name__ == "__main__":
    main()
