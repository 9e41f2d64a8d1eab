"""The partners' REST API (``hub api``): FastAPI app factory.

``create_app(settings)`` wires the stores on the configured database (migrated at
start), the Kafka publisher (started at the first publish, stopped at shutdown), the
republisher of the gestion partagée events Kafka has not acknowledged
(:mod:`hub.services.gp_republish`: at startup, then every ``api.republish_interval_s``,
until shutdown) and the routes. OpenAPI is served at ``/openapi.json``: every status a
route answers is declared, errors as ``application/problem+json``
:class:`~hub.api.problems.Problem`. Its pages, Swagger UI at ``/docs`` and ReDoc at
``/redoc``, load every asset from the hub itself (``/docs-assets/``, bundled by the
``fastapi-offline`` package), never from a CDN: they work on a closed network. The docs
pages and assets are public and not in the document. Every error is such an answer
(:mod:`hub.api.problems`); bodies are bounded and callers authenticated before a body is
read (:mod:`hub.api.limits`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi_offline import FastAPIOffline
from sqlalchemy import Engine

from hub.api import (
    problems,
    routes_cal,
    routes_cotation,
    routes_demandes,
    routes_feed,
    routes_gp,
    routes_schemas,
    routes_statistics,
    unpublished,
)
from hub.api.context import ApiContext
from hub.core.db import make_engine, migrate
from hub.core.kafka.feed_pool import FeedPages
from hub.core.kafka.publisher import KafkaPublisher
from hub.core.settings import HubSettings
from hub.services.gp_republish import republish_forever
from hub.stores.access.holders import Holders
from hub.stores.access.keys import KeyStore
from hub.stores.audit.store import AuditStore
from hub.stores.cal.service import CALService
from hub.stores.gp.service import GPService
from hub.stores.gp.store import GPStore

#: where the docs pages' scripts, styles and favicon are served from (public, static)
DOCS_ASSETS = "/docs-assets"


def build_context(settings: HubSettings, engine: Engine | None = None) -> ApiContext:
    if engine is None:
        settings.home.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.database_url, echo=settings.database.echo)
    migrate(engine)
    publisher = KafkaPublisher(settings)
    gp = GPService(GPStore(engine), publisher)
    pages = FeedPages(settings)
    return ApiContext(
        settings=settings,
        keys=KeyStore(engine),
        holders=Holders(engine, settings, pages),
        pages=pages,
        publisher=publisher,
        gp=gp,
        cal=CALService(gp),
        audit=AuditStore(engine),
    )


def create_app(settings: HubSettings, engine: Engine | None = None) -> FastAPI:
    ctx = build_context(settings, engine)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(republish_forever(ctx.gp, settings.api.republish_interval_s))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await ctx.publisher.close()
        await ctx.pages.close()

    app = FastAPIOffline(
        title="Passerelle hub API",
        version="1",
        lifespan=lifespan,
        static_url=DOCS_ASSETS,
        description="Partners' API: demand events, gestion partagée, CAL "
        "decisions, timelines, feeds by cursor. See docs/api.md.",
    )
    app.state.hub = ctx
    problems.install(app)
    unpublished.install(app)
    app.include_router(routes_demandes.build_router(settings))
    for module in (routes_gp, routes_cal, routes_cotation, routes_statistics, routes_feed,
                   routes_schemas):  # fmt: skip
        app.include_router(module.router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, plus the :class:`~hub.api.problems.Problem` schema that every
    error answer declares (FastAPI's own validation-error schemas are never answered)."""
    if app.openapi_schema is None:
        doc = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        problem = problems.Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(problem.pop("$defs", {}))
        schemas["Problem"] = problem
        schemas.update(unpublished.openapi_schemas())
        app.openapi_schema = doc
    return app.openapi_schema
