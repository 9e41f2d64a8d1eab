"""W4's verdicts (issue 22's Done-when targets), projections and markdown table."""

from __future__ import annotations

from typing import Any

from bench.w4 import NATIONAL_STOCK


def _v(value: float | None, limit: float, projected: bool = False) -> dict[str, Any]:
    return {"value": value, "target": f"<= {limit:g}",
            "met": None if value is None else value <= limit, "projected": projected}  # fmt: skip


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else round(a / b, 2)


def verdicts(w4: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """(a) 1 % actor: CPU per copy / CPU per new-event delivery <= 2; (b) bulk import of 20
    <= 3 x the time of one (20 territories of 1 %, and 20 actors of one such territory);
    (c) national actor: trickle p99 <= 1 s, peak RSS <= 1 GiB.
    Plus the projections to the national stock (linear in the copies)."""
    s = w4["scenarios"]
    out: dict[str, dict[str, Any]] = {}
    one, b20, nat = s.get("one_percent"), s.get("bulk20"), s.get("national")
    if one:
        out["w4_a_cpu_copy_over_new_event"] = _v(one.get("cpu_ratio_copy_to_new_event"), 2)
    if one and b20:
        out["w4_b_bulk20_time_over_one"] = _v(_ratio(b20["seconds"], one["seconds"]), 3)
    shared = s.get("bulk20_shared")
    if one and shared:  # the same target read for twenty actors of one 1 % territory
        out["w4_b_bulk20_shared_time_over_one"] = _v(_ratio(shared["seconds"], one["seconds"]), 3)
    if nat:
        out["w4_c_national_trickle_p99_ms"] = _v(nat["trickle"]["latency_ms"]["p99"], 1000)
        out["w4_c_national_peak_rss_mib"] = _v(nat["worker_peak_rss_mib"], 1024)
    for name, row in projections(w4).items():
        out[f"w4_projected_1.9M_{name}_minutes"] = {
            "value": row["minutes"],
            "target": "-",
            "met": None,
            "projected": True,
        }
    return out


def projections(w4: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Time at the national stock, scaling each scenario's measured time by the copies
    (proportional to the stock: the same actors over 1.9 M / N times the demands)."""
    stock = w4["config"]["stock"]
    out = {}
    for name, row in w4["scenarios"].items():
        if row.get("seconds") is None:
            continue
        factor = NATIONAL_STOCK / stock
        out[name] = {"copies": round(row["copies_expected"] * factor),
                     "minutes": round(row["seconds"] * factor / 60, 1)}  # fmt: skip
    return out


def _f(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:,.2f}" if abs(v) < 10 else f"{v:,.1f}"
    return f"{v:,}"


def markdown(w4: dict[str, Any]) -> list[str]:
    c, load = w4["config"], w4["load"]
    lines = [
        "", f"### W4 actor changes over a stock of {c['stock']:,} demands", "",
        f"Stock loaded in {load['seconds']} s ({load['demands_per_s']:,} demands/s, worker "
        f"CPU {load['worker_cpu_s']} s, RSS {load['worker_rss_mib']} MiB after). 1 % actor: "
        f"département {c['one_percent_departement']} "
        f"({c['one_percent_population_share'] * 100:.2f} % of the population). Trickle "
        f"{c['trickle_rate']:g} events/s.", "",
        "| scenario | actors | copies | time s | copies/s | worker CPU s | CPU µs/copy | "
        "peak RSS MiB | trickle p50/p99/max ms | /health max ms | exact |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for name, r in w4["scenarios"].items():
        lat = r["trickle"]["latency_ms"]
        lines.append(
            f"| {name} | {r['actors']:,} | {r['copies_expected']:,} | {_f(r['seconds'])} | "
            f"{_f(r['copies_per_s'])} | {_f(r['worker_cpu_s'])} | "
            f"{_f(r['worker_cpu_us_per_copy'])} | {_f(r['worker_peak_rss_mib'])} | "
            f"{_f(lat['p50'])} / {_f(lat['p99'])} / {_f(lat['max'])} | "
            f"{_f(r['health']['max_ms'])} | {'yes' if r['exact'] else '**no**'} |"
        )
        new = r.get("as_new_events")
        if new:
            lines.append(
                f"| ↳ same demands as new events | 1 | {new['deliveries']:,} | "
                f"{_f(new['seconds'])} | | {_f(new['worker_cpu_s'])} | "
                f"{_f(new['worker_cpu_us_per_delivery'])} (per delivery) | | | | |"
            )
    proj = projections(w4)
    if proj:
        lines += ["", "Projected to 1.9 M demands (linear in the copies; **projected, not "
                  "measured**): " + "; ".join(
                      f"{n} {p['copies']:,} copies ≈ {p['minutes']} min"
                      for n, p in proj.items())]  # fmt: skip
    return lines
