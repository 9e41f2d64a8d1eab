"""The SNE simulator: the three SNE services over a SQLAlchemy store (``hub sne-simulator``).

:func:`create_app` gives the Starlette app (services under ``/sne/<Service>``, ``?wsdl``
served); the store is the given database URL, migrated at start (SQLite by default).
"""

from __future__ import annotations

from typing import Any

from anyio import to_thread
from starlette.applications import Starlette

from connectors.sne.server import soap_app
from connectors.sne.soap import Request
from hub.core.db import make_engine, migrate
from hub.dev.sne_simulator.demandes import DemandeService
from hub.dev.sne_simulator.gp import GpService
from hub.dev.sne_simulator.recherche import MAX_RESULTS, RechercheService
from hub.dev.sne_simulator.store import SimulatorStore

#: the simulator's default bind address (settings ``sne.simulator_port``)
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8790/sne"


def create_app(
    database_url: str, public_url: str = DEFAULT_PUBLIC_URL, *, max_results: int = MAX_RESULTS
) -> Starlette:
    """The simulator app on the store at ``database_url`` (migrated now); its WSDLs give
    the address ``<public_url>/<Service>`` whatever the request says (``hub sne-simulator``
    passes settings ``sne.simulator_public_url`` or its bind address). A search matching
    more than ``max_results`` demands answers ``TROPRESULT``."""
    engine = make_engine(database_url)
    migrate(engine)
    store = SimulatorStore(engine)
    services: list[Any] = [
        DemandeService(store),
        GpService(store),
        RechercheService(store, max_results=max_results),
    ]

    async def handle(request: Request) -> dict[str, Any]:
        impl = next(s for s in services if hasattr(s, request.operation))
        method = getattr(impl, request.operation)
        result: dict[str, Any] = await to_thread.run_sync(method, request.params)
        return result

    return soap_app(handle, public_url)
