"""``hub worker``: run the dispatcher (a faust worker; start several to scale out)."""

from __future__ import annotations

import asyncio

import click

from hub.settings import get_settings


@click.command()
@click.option("--loglevel", default="warning", show_default=True)
@click.option("--web-port", type=int, help="Port of the worker's web server (metrics/health).")
def worker(loglevel: str, web_port: int | None) -> None:
    """Dispatch hub.demandes to the actors' feeds until stopped (SIGTERM/Ctrl-C)."""
    from dispatch.app import create_app
    from hub.kafka.admin import core_topics, ensure_topics

    settings = get_settings()
    if web_port is not None:
        settings = settings.model_copy(
            update={"worker": settings.worker.model_copy(update={"web_port": web_port})}
        )
    asyncio.run(ensure_topics(settings, core_topics(settings)))
    app = create_app(settings)
    import faust

    faust.Worker(app, loglevel=loglevel, quiet=True).execute_from_commandline()
