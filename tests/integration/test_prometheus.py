"""The monitoring artefacts checked with the real tools (Debian's ``prometheus`` package,
installed by scripts/bootstrap.sh): promtool on the alert rules and their unit tests,
and a real Prometheus scraping the running `hub worker`, loading our rules, answering
queries after a known workload, and accepting every expression of the dashboard."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from connectors.ingress.publishing import prepare_event, publish_events
from hub.domain.actors import Actor, ActorFilters
from tests.integration.conftest import collect_feed
from tests.support.demandes import demande_event
from tests.support.worker_metrics import nums_on, owned_partitions

MONITORING = Path(__file__).resolve().parents[2] / "monitoring"
SOTTEVILLE = "76681"


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: install Debian's prometheus package (scripts/bootstrap.sh)")
    return path


def test_promtool_checks_the_rules_and_runs_their_unit_tests() -> None:
    promtool = tool("promtool")
    check = subprocess.run(
        [promtool, "check", "rules", str(MONITORING / "alerts.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    rules = [r for g in yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"]
             for r in g["rules"]]  # fmt: skip
    assert f"SUCCESS: {len(rules)} rules found" in check.stdout
    tested = (MONITORING / "alerts_test.yml").read_text()
    assert all(f"alertname: {r['alert']}" in tested for r in rules), "an alert without a test"
    unit = subprocess.run(
        [promtool, "test", "rules", "alerts_test.yml"],
        cwd=MONITORING,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert unit.returncode == 0, unit.stdout + unit.stderr
    assert "SUCCESS" in unit.stdout


def test_every_alert_has_a_runbook_and_a_unit_test() -> None:
    import yaml

    rules = [
        r
        for g in yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"]
        for r in g["rules"]
    ]
    tested = {
        t["alertname"]
        for case in yaml.safe_load((MONITORING / "alerts_test.yml").read_text())["tests"]
        for t in case["alert_rule_test"]
        if t.get("exp_alerts")
    }
    for rule in rules:
        assert len(rule["annotations"]["runbook"]) > 80, rule["alert"]
        assert rule["alert"] in tested, f"{rule['alert']} never fires in alerts_test.yml"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


@pytest.fixture()
def prometheus(worker: Any, tmp_path: Path) -> Iterator[str]:
    binary = tool("prometheus")
    port = _free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"rule_files:\n  - {MONITORING / 'alerts.yml'}\n"
        "scrape_configs:\n  - job_name: passerelle-worker\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{worker.env['HUB_WORKER__WEB_PORT']}']\n"
    )
    log = (tmp_path / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{base}/-/ready", timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"prometheus did not start; see {tmp_path / 'prometheus.log'}")
                time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def query(base: str, expr: str) -> dict[str, Any]:
    return _get(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))  # type: ignore[no-any-return]


def poll_value(base: str, expr: str, want: float, timeout: float = 45.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        result = query(base, expr)["data"]["result"]
        if result and float(result[0]["value"][1]) == want:
            return result  # type: ignore[no-any-return]
        if time.monotonic() > deadline:
            raise AssertionError(f"{expr} = {result}, wanted {want}")
        time.sleep(0.5)


@pytest.mark.kafka
def test_prometheus_scrapes_the_worker(settings, worker, actor_service, prometheus) -> None:  # type: ignore[no-untyped-def]
    aid = f"prom-{uuid.uuid4().hex[:8]}"
    actor_service.add_or_update(
        Actor(id=aid, name=aid, kind="bailleur", filters=ActorFilters(communes=[SOTTEVILLE]))
    )
    # demands on the scraped worker's partitions (another session's worker may share the group)
    owned = owned_partitions(int(worker.env["HUB_WORKER__WEB_PORT"]))
    nums = nums_on(owned, 3, settings.kafka.partitions)
    events = [demande_event(n, [SOTTEVILLE]) for n in nums]
    events.append(demande_event(nums[0], [SOTTEVILLE], operation="MOD"))
    asyncio.run(publish_events(settings, [prepare_event(e) for e in events]))
    mine = set(nums)
    collect_feed(
        settings, aid, worker=worker, until=lambda rs: sum(r["numUnique"] in mine for r in rs) >= 4
    )

    poll_value(prometheus, 'up{job="passerelle-worker"}', 1)
    try:
        result = poll_value(
            prometheus, f'passerelle_feed_records_out_total{{actor="{aid}",kind="DEMANDE"}}', 4
        )
    except AssertionError as exc:  # say whether a rebalance moved the partitions meanwhile
        now = owned_partitions(int(worker.env["HUB_WORKER__WEB_PORT"]))
        raise AssertionError(f"{exc}; partitions owned before {owned}, now {now}") from None
    assert result[0]["metric"]["job"] == "passerelle-worker"
    poll_value(prometheus, 'max(passerelle_agent_stalled{agent="dispatch"})', 0)

    groups = _get(f"{prometheus}/api/v1/rules")["data"]["groups"]
    loaded = {r["name"] for g in groups for r in g["rules"]}
    assert {
        "PasserelleConsumerLagGrowing",
        "PasserelleDeadLetters",
        "PasserelleAgentStalled",
        "PasserelleWebhookFailing",
        "PasserelleSnePollerBehind",
    } <= loaded
    assert all(r["health"] != "err" for g in groups for r in g["rules"])

    dashboard = json.loads((MONITORING / "dashboards" / "passerelle.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(exprs) >= 10
    for expr in exprs:
        answer = query(prometheus, expr)
        assert answer["status"] == "success", (expr, answer)
    # the per-actor delivery panel shows this actor's deliveries
    # (increase() needs two samples of the series: a few scrapes)
    panel = "sum by (actor, kind) (increase(passerelle_feed_records_out_total[24h]))"
    deadline = time.monotonic() + 20
    while True:
        series = query(prometheus, panel)["data"]["result"]
        if any(s["metric"].get("actor") == aid for s in series) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert any(s["metric"].get("actor") == aid for s in series), f"{aid} not in the panel"
