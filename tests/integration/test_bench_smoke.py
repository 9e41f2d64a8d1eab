"""Smoke run of the benchmark suite (issue 6): every workload at tiny size, end to end, on
a private broker (never the shared one). Checks that each workload measured something and
that every per-actor ledger is clean; the numbers themselves are not judged here."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bench import report
from bench.__main__ import run

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(180)]


def _clean(ledger: dict[str, int]) -> None:
    assert ledger["expected"] > 0
    assert ledger["received"] == ledger["expected"]
    assert (ledger["lost"], ledger["duplicated"], ledger["out_of_order"]) == (0, 0, 0)
    assert ledger["unexpected"] == 0


def test_smoke_suite_runs_every_workload(tmp_path: Path) -> None:
    result = asyncio.run(run("smoke", False, 7, tmp_path / "home"))

    fan = result["fanout"]
    for mode in ("a", "b"):
        assert fan[f"baseline_{mode}"]["deliveries_per_s"] > 0
    assert set(fan["by_n"]) == {"1", "10"}
    for n, row in fan["by_n"].items():
        assert row["hub"]["deliveries"] == row["hub"]["events"] * int(n)
        assert row["baseline_c"]["deliveries_per_s"] > 0
        assert row["hub"]["process_cpu_us_per_event"] > 0
        _clean(row["ledger"])

    (s,) = result["stream"]
    assert s["latency_ms"]["p50"] is not None and s["latency_ms"]["p50"] >= 0
    split = s["latency_split_ms"]  # where the time goes, every record of the window counted
    assert set(split) == {"generator_late", "generator_to_hub_send", "hub_send_to_read"}
    assert split["generator_to_hub_send"]["p50"] > 0 and split["hub_send_to_read"]["p50"] >= 0
    _clean(s["ledger"])

    b = result["backfill"]
    assert b["worker_peak_rss_mib"] > 0 and b["distribution"]["demands"] == b["events"]
    assert b["mean_batch_inputs"] is not None and b["mean_batch_inputs"] >= 1  # /metrics read
    _clean(b["ledger"])
    # the raw client's W1 figure: same actors, same demands, every delivery counted
    bc = b["baseline_c"]
    assert bc["deliveries"] == b["deliveries"] and bc["events"] == b["events"]
    assert bc["process_cpu_us_per_event"] > 0 and bc["projected_full_minutes"] > 0
    assert b["ratio_deliveries_per_s"] > 0

    m = result["matching"]["by_actors"]
    assert m["10"]["recipients_per_demand"] == 10 == m["100"]["recipients_per_demand"]

    assert {"fanout_ratio_n10", "matching_ratio", "full_backfill_minutes"} <= set(
        result["verdicts"]
    )
    js, md = report.write(result, tmp_path / "out")
    assert js.is_file() and "### W1 backfill" in md.read_text()
    assert "Baseline (c) over the same actors" in md.read_text()
    assert "p99 parts (ms): generator late" in md.read_text()
