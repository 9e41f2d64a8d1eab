"""The result document (JSON) and its markdown table."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Any

TARGETS = {
    "fanout_ratio_n10": 0.5,  # hub deliveries/s >= 0.5 x baseline (c) at N=10
    "p99_ms_500": 100.0,  # p99 <= 100 ms at 500 ev/s, N=10
    "matching_ratio": 1.5,  # cost at 10,000 actors <= 1.5 x at 10
    "full_backfill_minutes": 15.0,
    "full_backfill_rss_mib": 1024.0,
}


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "loadavg_at_start": os.getloadavg(),
    }


def versions() -> dict[str, str]:
    out = {}
    for dist in ("passerelle", "faust-streaming", "aiokafka", "fastavro"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "absent"
    try:
        out["git"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        out["git"] = "?"
    return out


def verdicts(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each target: measured value, threshold, met (None when not measured)."""
    out: dict[str, dict[str, Any]] = {}
    w2 = result.get("fanout", {}).get("by_n", {}).get("10")
    if w2:
        out["fanout_ratio_n10"] = _v(
            w2["ratio_deliveries_per_s"], TARGETS["fanout_ratio_n10"], ">="
        )
    for s in result.get("stream", []):
        if s["rate"] == 500:
            out["p99_ms_500"] = _v(s["latency_ms"]["p99"], TARGETS["p99_ms_500"], "<=")
    m = result.get("matching")
    if m:
        out["matching_ratio"] = _v(m["ratio_max_to_min"], TARGETS["matching_ratio"], "<=")
    b = result.get("backfill")
    if b:
        full = b.get("full", False)
        out["full_backfill_minutes"] = _v(
            b["seconds"] / 60 if full else b["projected_full_minutes"],
            TARGETS["full_backfill_minutes"],
            "<=",
            projected=not full,
        )
        out["full_backfill_rss_mib"] = _v(
            b["worker_peak_rss_mib"] if full else b["projected_full_rss_mib"],
            TARGETS["full_backfill_rss_mib"],
            "<=",
            projected=not full,
        )
    return out


def _v(value: float | None, limit: float, op: str, projected: bool = False) -> dict[str, Any]:
    met = None if value is None else (value >= limit if op == ">=" else value <= limit)
    return {"value": value, "target": f"{op} {limit:g}", "met": met, "projected": projected}


def write(result: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    js = out_dir / f"bench-{stamp}.json"
    md = out_dir / f"bench-{stamp}.md"
    js.write_text(json.dumps(result, indent=2, default=str))
    md.write_text(markdown(result))
    return js, md


def _f(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):  # ratios need two decimals (0.46 is not 0.5)
        return f"{v:,.2f}" if abs(v) < 10 else f"{v:,.1f}"
    return f"{v:,}"


def markdown(r: dict[str, Any]) -> str:
    lines = [
        f"Run {r['started']} · suite `{r['suite']}` · {r['machine']['cpus']} CPUs "
        f"({r['machine']['cpu']}) · load at start {r['machine']['loadavg_at_start'][0]:.1f} · "
        f"faust {r['versions']['faust-streaming']}, aiokafka {r['versions']['aiokafka']}, "
        f"git {r['versions'].get('git', '?')}"
        + (
            f" · worker settings {r['config']['worker_env']}"
            if r.get("config", {}).get("worker_env")
            else ""
        ),
        "",
    ]
    lines += ["### Targets", "", "| target | measured | threshold | met |", "|---|---|---|---|"]
    for name, v in r.get("verdicts", {}).items():
        proj = " (projected)" if v["projected"] else ""
        met = {True: "yes", False: "**no**", None: "n/a"}[v["met"]]
        lines.append(f"| {name} | {_f(v['value'])}{proj} | {v['target']} | {met} |")
    f = r.get("fanout")
    if f:
        lines += [
            "",
            "### Baselines and W2 fan-out (medians over interleaved rounds)",
            "",
            "| run | N | events/s | deliveries/s | ratio to (c) | CPU µs/event proc | "
            "CPU µs/delivery proc | CPU µs/delivery broker | ledger lost/dup/ooo |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for mode in ("a", "b"):
            b = f.get(f"baseline_{mode}")
            if b:
                lines.append(
                    f"| baseline ({mode}) | 1 | {_f(b['events_per_s'])} | "
                    f"{_f(b['deliveries_per_s'])} | | {_f(b['process_cpu_us_per_event'])} | "
                    f"{_f(b['process_cpu_us_per_delivery'])} | "
                    f"{_f(b['broker_cpu_us_per_delivery'])} | |"
                )
        for n, row in f["by_n"].items():
            for who in ("baseline_c", "hub"):
                b = row[who]
                led = row["ledger"]
                lines.append(
                    f"| {'baseline (c)' if who == 'baseline_c' else 'hub'} | {n} | "
                    f"{_f(b['events_per_s'])} | {_f(b['deliveries_per_s'])} | "
                    f"{_f(row['ratio_deliveries_per_s']) if who == 'hub' else ''} | "
                    f"{_f(b['process_cpu_us_per_event'])} | "
                    f"{_f(b['process_cpu_us_per_delivery'])} | "
                    f"{_f(b['broker_cpu_us_per_delivery'])} | "
                    + (
                        f"{led['lost']}/{led['duplicated']}/{led['out_of_order']} |"
                        if who == "hub"
                        else " |"
                    )
                )
    if r.get("stream"):
        lines += [
            "",
            "### W3 open-loop stream (N=10)",
            "",
            "| events/s | events | deliveries | late sends | p50 ms | p99 ms | p99.9 ms | "
            "max ms | ledger lost/dup/ooo | p99 parts (ms): generator late / "
            "generator send → hub send / hub send → read |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for s in r["stream"]:
            q, led = s["latency_ms"], s["ledger"]
            split = s.get("latency_split_ms") or {}
            late_ms, hub, read = (
                split.get(k, {}).get("p99")
                for k in ("generator_late", "generator_to_hub_send", "hub_send_to_read")
            )
            lines.append(
                f"| {s['rate']} | {s['events']} | {s['deliveries']} | {s['late_sends']} | "
                f"{_f(q['p50'])} | {_f(q['p99'])} | {_f(q['p999'])} | {_f(q['max'])} | "
                f"{led['lost']}/{led['duplicated']}/{led['out_of_order']} | "
                f"{_f(late_ms)} / {_f(hub)} / {_f(read)} |"
            )
    m = r.get("matching")
    if m:
        lines += [
            "",
            "### Matching micro-benchmark",
            "",
            "| actors | µs/demand (10 recipients) | national mix: µs/demand | "
            "recipients/demand | µs/recipient |",
            "|---|---|---|---|---|",
        ]
        for row in m["by_actors"].values():
            lines.append(
                f"| {row['actors']:,} | {row['us_per_demand']} | "
                f"{row['national_us_per_demand']} | "
                f"{row['national_recipients_per_demand']} | "
                f"{row['national_us_per_recipient']} |"
            )
    b = r.get("backfill")
    if b:
        led = b["ledger"]
        lines += [
            "",
            "### W1 backfill",
            "",
            f"{b['events']:,} demands, {b['actors']:,} actors, {b['deliveries']:,} deliveries "
            f"in {b['seconds']:.1f} s: {b['events_per_s']:,.0f} events/s, "
            f"{b['deliveries_per_s']:,.0f} deliveries/s; hub CPU "
            f"{_f(b['hub_cpu_us_per_event'])} µs/event, {_f(b['hub_cpu_us_per_delivery'])} "
            f"µs/delivery; broker CPU {_f(b['broker_cpu_us_per_delivery'])} µs/delivery; "
            f"worker RSS {b['worker_rss_start_mib']} → {b.get('worker_rss_mid_mib')} → "
            f"{b['worker_rss_end_mib']} MiB (peak {b['worker_peak_rss_mib']}), "
            f"{b['rss_growth_bytes_per_demand']} B per demand overall, "
            f"{b.get('rss_marginal_bytes_per_demand')} B in the second half; "
            f"projected 1.9 M: {b['projected_full_minutes']} min, "
            f"{b['projected_full_rss_mib']} MiB. Ledger: {led['expected']:,} expected, "
            f"lost {led['lost']}, duplicated {led['duplicated']}, out of order "
            f"{led['out_of_order']}, unexpected {led['unexpected']}. Mean dispatch batch: "
            f"{_f(b.get('mean_batch_inputs'))} input records.",
        ]
        if bc := b.get("baseline_c"):
            lines += [
                "",
                f"Baseline (c) over the same actors and as many topics, same halves just "
                f"before the hub's: {bc['events_per_s']:,.0f} events/s, "
                f"{bc['deliveries_per_s']:,.0f} deliveries/s; its CPU "
                f"{_f(bc['process_cpu_us_per_event'])} µs/event; broker CPU "
                f"{_f(bc['broker_cpu_us_per_delivery'])} µs/delivery; projected 1.9 M: "
                f"{bc['projected_full_minutes']} min. Hub / baseline (c) deliveries/s: "
                f"**{b['ratio_deliveries_per_s']:.2f}**.",
            ]
        lines += [
            "",
            f"Recipients per demand: `{json.dumps(b.get('distribution', {}))}`",
        ]
    if r.get("w4"):
        from bench.w4_report import markdown as w4_markdown

        lines += w4_markdown(r["w4"])
    if r.get("push"):
        from bench.push import markdown as push_markdown

        lines += push_markdown(r["push"])
    return "\n".join(lines) + "\n"
