"""Reading connector metrics from the hub's registry, for before/after deltas in tests."""

from __future__ import annotations

from monitoring.metrics import REGISTRY
from monitoring.recorder import OUTCOMES


def sample(name: str, **labels: str) -> float:
    """A sample's value, 0 when the labelled child does not exist yet."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def calls(connector: str, operation: str) -> dict[str, float]:
    """Calls by outcome, plus ``duration`` (observations of the latency histogram)."""
    out = {
        o: sample(
            "passerelle_connector_calls_total",
            connector=connector,
            operation=operation,
            outcome=o,
        )
        for o in OUTCOMES
    }
    out["duration"] = sample(
        "passerelle_connector_call_duration_seconds_count",
        connector=connector,
        operation=operation,
    )
    return out


def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """The entries that changed, by how much."""
    return {k: after[k] - before[k] for k in after if after[k] != before[k]}
