"""The ``/metrics`` payload, shared by the worker (faust web) and the REST API.

The API (Starlette/FastAPI) mounts it with::

    from monitoring.exposition import metrics_response
    app.add_route("/metrics", lambda request: metrics_response())
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from monitoring.metrics import REGISTRY


def metrics_payload() -> tuple[bytes, str]:
    """The text exposition of :data:`monitoring.metrics.REGISTRY` and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def metrics_response() -> Any:
    """A Starlette ``Response`` with the metrics (imported late: the worker lacks no
    Starlette, but this module must stay importable without it)."""
    from starlette.responses import Response

    body, content_type = metrics_payload()
    return Response(
        content=body, media_type=content_type.split(";")[0], headers={"Content-Type": content_type}
    )
