"""Monitoring of a faust worker: the sensor, the lag timer, ``/metrics`` and ``/health``.

``/health`` answers 200 ``{"status": "ok", ...}``, or 503 (``"stalled"`` /
``"broker_unreachable"``) when a partition's committed offset has not moved for
``monitoring.stall_after_s`` while input waits, or the broker has not answered for
``monitoring.broker_unreachable_after_s`` (monitoring/health.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import faust

from dispatch.runtime.sensor import DispatchSensor
from hub.core.settings import HubSettings
from monitoring.exposition import metrics_payload
from monitoring.health import report
from monitoring.offsets import GroupOffsets


def install_monitoring(
    app: faust.App, settings: HubSettings, agents: Mapping[str, str]
) -> DispatchSensor:
    """Attach the sensor and the web views to ``app``; ``agents`` maps input topic to
    agent name. Returns the sensor (the agent passes it each batch's stats)."""
    sensor = DispatchSensor(
        group=settings.worker.app_id,
        agents=agents,
        stall_after_s=settings.monitoring.stall_after_s,
        broker_unreachable_after_s=settings.monitoring.broker_unreachable_after_s,
    )
    app.sensors.add(sensor)
    offsets = GroupOffsets(
        settings,
        settings.worker.app_id,
        timeout_s=min(5.0, settings.monitoring.broker_unreachable_after_s),
    )

    async def close_offsets(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        await offsets.stop()  # its clients, before faust waits for every task left

    # mode types a handler's signal argument with a name mypy does not resolve here
    app.on_before_shutdown.connect(close_offsets)  # type: ignore[arg-type]

    @app.timer(settings.monitoring.refresh_interval_s, name="passerelle-monitoring-refresh")  # type: ignore[untyped-decorator]
    async def refresh() -> None:
        await sensor.refresh(app.consumer, offsets)

    @app.page("/metrics")
    async def metrics_view(self: Any, request: Any) -> Any:
        body, content_type = metrics_payload("worker")
        # aiohttp refuses a charset inside content_type=: pass the header as is
        return self.bytes(body, headers={"Content-Type": content_type})

    @app.page("/health")
    async def health_view(self: Any, request: Any) -> Any:
        status, body = report(sensor.verdict())
        return self.json(body, status=status)

    return sensor
