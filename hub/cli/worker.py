"""``hub worker``: run the dispatcher (a faust worker; start several to scale out)."""

from __future__ import annotations

import asyncio
import logging

import click

from hub.settings import get_settings

log = logging.getLogger(__name__)


@click.command()
@click.option("--loglevel", default="warning", show_default=True)
@click.option("--web-port", type=int, help="Port of the worker's web server (metrics/health).")
def worker(loglevel: str, web_port: int | None) -> None:
    """Dispatch hub.demandes to the actors' feeds until stopped (SIGTERM/Ctrl-C)."""
    from dispatch.app import create_app
    from hub import topics
    from hub.kafka.admin import cluster_id, core_topics, ensure_topics, partition_count

    settings = get_settings()
    if web_port is not None:
        settings = settings.model_copy(
            update={"worker": settings.worker.model_copy(update={"web_port": web_port})}
        )
    asyncio.run(ensure_topics(settings, core_topics(settings)))
    # The state table, its changelog and the per-partition scans on actor changes must use
    # the partition count hub.demandes really has, whoever created it.
    actual = asyncio.run(partition_count(settings, topics.DEMANDES))
    if actual is not None and actual != settings.kafka.partitions:
        log.warning(
            "%s has %d partitions, not the configured %d: using %d",
            topics.DEMANDES, actual, settings.kafka.partitions, actual,
        )
        settings = settings.model_copy(
            update={"kafka": settings.kafka.model_copy(update={"partitions": actual})}
        )
    # local state (RocksDB) is kept per broker cluster: never reused on a wiped broker
    app = create_app(settings, cluster=asyncio.run(cluster_id(settings)))
    import faust

    faust.Worker(app, loglevel=loglevel, quiet=True).execute_from_commandline()
