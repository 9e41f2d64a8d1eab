"""Smoke run of the push benchmark (``python -m bench run --only push``, issue 22 point 4)
at tiny size, without its broker part: both measurements produce figures, every record
reached the receiver once and in order, and the verdicts are computed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bench import push

pytestmark = pytest.mark.timeout(120)


def test_push_workload_smoke(tmp_path: Path) -> None:
    s = push.PUSH_SUITES["smoke"]
    result = asyncio.run(push.push(tmp_path, "smoke", 3))
    iso, backlog = result["isolation"], result["backlog"]
    assert iso["ratios"] == s.actors - 1 and iso["ratio_min"] > 0
    for run in iso["runs"]:
        for who in ("reference", "with_slow"):
            assert run[who]["records"] == (s.actors - 1) * s.records
            assert run[who]["disorder"] == 0
    assert backlog["batch"]["records"] == s.backlog and backlog["batch"]["disorder"] == 0
    assert backlog["batch"]["requests"] < s.backlog  # arrays, not one request per record
    assert backlog["single"]["records"] == backlog["single"]["requests"] == s.single_backlog
    assert backlog["raw_loop"]["records_per_s"] > 0
    verdicts = push.verdicts(result)
    assert set(verdicts) == {"push_other_actors_rate_ratio_min", "push_backlog_records_per_s"}
    assert "Push channels" in "\n".join(push.markdown(result))
