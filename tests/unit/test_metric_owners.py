"""Each hub process exports its own metrics on ``/metrics`` and no other process's (audit
L F6): the API served the worker's ``passerelle_broker_unreachable 0``, a value a panel
or a query without a ``job`` matcher takes for a measurement. The metrics stay declared
in one module (monitoring/metrics.py); ``PROCESS_METRICS`` says which process feeds each,
and every command serving ``/metrics`` is one of its processes."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import click
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.parser import text_string_to_metric_families

from hub.cli import main
from monitoring import metrics
from monitoring.exposition import metrics_payload
from monitoring.metrics import PROCESS_METRICS, family_name

REPO = Path(__file__).resolve().parents[2]


def exposed(process: str) -> set[str]:
    body, _ = metrics_payload(process)
    families = text_string_to_metric_families(body.decode())
    # the text parser reads an unlabelled counter's `_created` sample as a family
    return {family.name for family in families if not family.name.endswith("_created")}


def test_every_metric_is_fed_by_a_process() -> None:
    declared = {name: value for name, value in vars(metrics).items()
                if isinstance(value, Counter | Gauge | Histogram)}  # fmt: skip
    assert len(declared) > 30
    placed = {id(metric) for owned in PROCESS_METRICS.values() for metric in owned}
    assert [name for name, metric in declared.items() if id(metric) not in placed] == []


def test_a_process_exports_its_own_metrics_only() -> None:
    for process, owned in PROCESS_METRICS.items():
        names = exposed(process)
        assert {n for n in names if n.startswith("passerelle_")} == {
            family_name(metric) for metric in owned
        }, process
        assert "process_start_time_seconds" in names, process  # the process collectors
    # the audit's examples: the API's broker, the worker's owed events and audit feeds
    api = metrics_payload("api")[0].decode()
    assert "passerelle_broker_unreachable" not in api
    assert "passerelle_gp_unpublished_events 0.0" in api
    worker = metrics_payload("worker")[0].decode()
    assert "passerelle_gp_unpublished_events" not in worker
    assert "passerelle_audit_feeds_stopped" not in worker
    assert "passerelle_broker_unreachable " in worker


def _commands(group: click.Group, path: str = "") -> dict[str, click.Command]:
    found: dict[str, click.Command] = {}
    ctx = click.Context(group)  # list_commands/get_command: hub's commands load when named
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        full = f"{path} {name}".strip()
        found[full] = command
        if isinstance(command, click.Group):
            found.update(_commands(command, full))
    return found


def test_every_command_serving_metrics_is_a_process_and_serves_its_own() -> None:
    commands = _commands(main)
    with_port = {path for path, command in commands.items()
                 if any(p.name == "metrics_port" for p in command.params)}  # fmt: skip
    assert with_port == set(PROCESS_METRICS) - {"worker"}
    assert any(p.name == "web_port" for p in commands["worker"].params)  # the worker's /metrics
    # each command hands serve_metrics its own name
    served: set[str] = set()
    for path in (REPO / "hub" / "cli").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef):
                continue
            for call in ast.walk(node):
                if (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
                        and call.func.id == "serve_metrics"):  # fmt: skip
                    [process] = [a.value for a in call.args[2:] if isinstance(a, ast.Constant)]
                    command = next(c for p, c in commands.items() if p == process)
                    assert command.callback is not None
                    assert command.callback.__name__ == node.name, (process, node.name)
                    served.add(process)
    assert served == with_port


def test_the_docs_table_says_who_exports_what() -> None:
    text = (REPO / "docs" / "connector-metrics.md").read_text()
    table = text.split("**Who exports what.**", 1)[1].split("\n\n", 2)[1]
    rows = {}
    for line in table.splitlines()[2:]:
        process_cell, metrics_cell = line.strip("|").split("|")
        process = re.findall(r"`([^`]+)`", process_cell)[0]
        names = re.findall(r"`([a-z_]+)(?:\{[^`]*\})?`", metrics_cell)
        rows[process] = {"passerelle_" + n.removesuffix("_total") for n in names}
    assert rows == {p: {family_name(m) for m in owned} for p, owned in PROCESS_METRICS.items()}
