"""Faults that raised no alert of monitoring/alerts.yml (independent audit S, S-F3 and
S-F4), checked with promtool against the series the audit scraped from the real processes:

* S-F3: a worker whose broker is frozen exports ``passerelle_broker_unreachable 1`` (its
  /health 503) while its lag gauges keep their last value (0) and its agent is not stalled;
* S-F4: ``hub deliver`` down (no webhook retry counted), and a DIS file outbox growing
  while ``hub files outbox`` writes nothing.

Each case asks promtool to expect no alert from every rule of alerts.yml at 20 min: the
rules it reports as got are those firing. At least one must fire."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

RULES = Path(__file__).resolve().parents[2] / "monitoring" / "alerts.yml"
ALERTS = [r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
W = 'instance="w1:6066",job="passerelle-worker"'
LAG = 'topic="hub.demandes",partition="0",group="passerelle-dispatch"'
FILES = 'connector="files",operation="outbox",outcome="transport_error"'
N = 80  # 20 min of 15 s samples


def fired(tmp_path: Path, series: dict[str, str], at: str = "20m") -> list[str]:
    """The alerts of alerts.yml firing at ``at`` given ``series``."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool not found: apt-get install prometheus (scripts/bootstrap.sh)")
    (tmp_path / "alerts.yml").write_text(RULES.read_text())
    lines = ["rule_files: [alerts.yml]", "evaluation_interval: 15s", "tests:",
             "  - interval: 15s", "    input_series:"]  # fmt: skip
    for s, v in series.items():
        lines += [f"      - series: '{s}'", f"        values: '{v}'"]
    lines.append("    alert_rule_test:")
    for a in ALERTS:
        lines += [f"      - eval_time: {at}", f"        alertname: {a}", "        exp_alerts: []"]
    (tmp_path / "t.yml").write_text("\n".join(lines) + "\n")
    r = subprocess.run([promtool, "test", "rules", "t.yml"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=60)  # fmt: skip
    out = r.stdout + r.stderr
    if r.returncode == 0:
        return []
    return sorted(a for a in ALERTS if f"alertname: {a}," in out or f"alertname: {a}\n" in out)


def test_broker_unreachable_fires_an_alert(tmp_path: Path) -> None:
    """A frozen/down broker: the worker is up and scraped, /health 503 broker_unreachable."""
    series = {
        f"up{{{W}}}": f"1x{N}",
        f"passerelle_broker_unreachable{{{W}}}": f"1x{N}",
        f'passerelle_agent_stalled{{agent="dispatch",{W}}}': f"0x{N}",
        f"passerelle_consumer_lag{{{LAG},{W}}}": f"0x{N}",
        f'passerelle_agent_last_event_timestamp_seconds{{agent="dispatch",{W}}}': f"0x{N}",
        f"process_start_time_seconds{{{W}}}": f"1000x{N}",
    }  # fmt: skip
    assert "PasserelleBrokerUnreachable" in fired(tmp_path, series), (
        "the broker unreachable for 20 min fires no alert"
    )


def test_push_delivery_stopped_without_retries_fires_an_alert(tmp_path: Path) -> None:
    """hub deliver down while an actor's outbox holds records: no retry counted."""
    D = 'instance="deliver:9466",job="passerelle-deliver"'
    series = {
        f"up{{{W}}}": f"1x{N}",
        f"up{{{D}}}": f"0x{N}",
        f'passerelle_outbox_depth{{actor="aud-w",{D}}}': f"23x{N}",
        f'passerelle_webhook_retries_total{{actor="aud-w",{D}}}': f"9x{N}",
    }
    assert "PasserelleDeliveryDown" in fired(tmp_path, series), (
        "push delivery stopped for 20 min fires no alert"
    )


def test_file_outbox_not_draining_fires_an_alert(tmp_path: Path) -> None:
    """hub files outbox runs (scraped) but writes nothing (its folder unwritable, say): the
    file actor's depth grows for 20 min."""
    F = 'instance="files:9467",job="passerelle-files"'
    series = {
        f"up{{{W}}}": f"1x{N}",
        f"up{{{F}}}": f"1x{N}",
        f'passerelle_outbox_depth{{actor="aud-f",{F}}}': f"23+5x{N}",
        f"passerelle_connector_calls_total{{{FILES},{F}}}": f"0+1x{N}",
    }  # fmt: skip
    assert "PasserelleOutboxNotDraining" in fired(tmp_path, series), (
        "a file outbox growing for 20 min fires no alert"
    )


def test_a_healthy_deployment_fires_nothing(tmp_path: Path) -> None:
    """The same processes healthy: nothing fires (the new rules are no noise)."""
    D = 'instance="deliver:9466",job="passerelle-deliver"'
    series = {
        f"up{{{W}}}": f"1x{N}",
        f"up{{{D}}}": f"1x{N}",
        f"passerelle_broker_unreachable{{{W}}}": f"0x{N}",
        f'passerelle_agent_stalled{{agent="dispatch",{W}}}': f"0x{N}",
        # a busy actor: records always waiting, and delivered
        f'passerelle_outbox_depth{{actor="busy",{D}}}': f"40x{N}",
        f'passerelle_records_delivered_total{{channel="webhook",actor="busy",{D}}}': f"0+30x{N}",
        f'passerelle_actor_not_served{{actor="busy",{D}}}': f"0x{N}",
        f'passerelle_delivery_last_round_timestamp_seconds{{channel="push",{D}}}': f"0+15x{N}",
    }
    assert fired(tmp_path, series) == []
