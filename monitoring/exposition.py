"""The ``/metrics`` payload of one process (:data:`monitoring.metrics.PROCESS_METRICS`),
served by the worker's faust web server; a Starlette app mounts it with::

    from monitoring.exposition import metrics_response
    app.add_route("/metrics", lambda request: metrics_response("api"))
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from monitoring.metrics import process_registry


def metrics_payload(process: str) -> tuple[bytes, str]:
    """The text exposition of ``process``'s metrics and its content type."""
    return generate_latest(process_registry(process)), CONTENT_TYPE_LATEST


def metrics_response(process: str) -> Any:
    """A Starlette ``Response`` with the metrics (imported late: the worker lacks no
    Starlette, but this module must stay importable without it)."""
    from starlette.responses import Response

    body, content_type = metrics_payload(process)
    return Response(
        content=body, media_type=content_type.split(";")[0], headers={"Content-Type": content_type}
    )
