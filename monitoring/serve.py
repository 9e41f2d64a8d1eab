"""``/metrics`` for the long-running commands that have no web server of their own.

``hub sne-poll``, ``hub deliver``, ``hub files watch|outbox`` and ``hub soap-gateway`` feed
connector metrics (calls, webhook retries, outbox depth, SNE poller) into
:data:`monitoring.metrics.REGISTRY` in their own process; ``--metrics-port`` makes them
scrapable. Off by default: two commands on one host must not fight for a port.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click
from prometheus_client import start_http_server

from monitoring.metrics import process_registry

F = TypeVar("F", bound=Callable[..., Any])


def serve_metrics(port: int | None, host: str, process: str) -> int | None:
    """Serve ``process``'s metrics (:data:`monitoring.metrics.PROCESS_METRICS`: its own,
    not another process's at 0) on ``http://host:port/metrics`` from a daemon thread
    (None: do nothing). Returns the bound port (useful with ``port=0``)."""
    if port is None:
        return None
    server, _thread = start_http_server(port, addr=host, registry=process_registry(process))
    return int(server.server_port)


def metrics_port_option(command: F) -> F:
    """The ``--metrics-port`` option (bound to settings ``monitoring.web_host``)."""
    return click.option(
        "--metrics-port",
        type=int,
        default=None,
        help="Serve Prometheus /metrics on this port (on monitoring.web_host). Default: off.",
    )(command)
