"""``hub worker``: run the dispatcher (a faust worker, ``dispatch.runtime``; start several to
scale out)."""

from __future__ import annotations

import asyncio
import os

import click

from hub.core.errors import ConfigError
from hub.core.settings import get_settings

#: what faust's logging setup takes (anything else was a 40-line traceback at start)
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


@click.command()
@click.option(
    "--loglevel",
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    default="warning",
    show_default=True,
    help="The worker's log level.",
)
@click.option("--web-port", type=int, help="Port of the worker's web server (metrics/health).")
def worker(loglevel: str, web_port: int | None) -> None:
    """Dispatch hub.demandes to the actors' feeds until stopped (SIGTERM/Ctrl-C)."""
    from dispatch.feedwire import configure_feed_wire
    from dispatch.runtime.app import create_app
    from dispatch.runtime.worker import run_worker
    from hub.core import topics
    from hub.core.kafka.admin import cluster_id, core_topics, ensure_topics, partition_count

    # what the worker writes (its RocksDB state: personal data) is owner-only
    os.umask(0o077)
    settings = get_settings()
    if web_port is not None:
        settings = settings.model_copy(
            update={"worker": settings.worker.model_copy(update={"web_port": web_port})}
        )
    # The state table and its changelog are partitioned like the inputs (a demand's state
    # lives in its input partition): a topic with another count, e.g. auto-created by a
    # broker with num.partitions=1, would scatter them. Stop rather than run on.
    expected = settings.kafka.partitions
    changelog = f"{settings.worker.app_id}-demande-state-changelog"
    for topic in (topics.DEMANDES, topics.EVENEMENTS, changelog):
        actual = asyncio.run(partition_count(settings, topic))
        if actual is not None and actual != expected:
            raise ConfigError(
                f"{topic} has {actual} partitions, the dispatch state expects {expected} "
                f"(HUB_KAFKA__PARTITIONS): stopping. Topics are created by the hub only "
                f"(keep auto.create.topics.enable=false on the broker, docs/operations.md); "
                f"set HUB_KAFKA__PARTITIONS={actual} if that count is the intended one, or "
                f"recreate {topic} with {expected} partitions"
            )
    asyncio.run(ensure_topics(settings, core_topics(settings)))
    # HUB_REGISTRY__WIRE_FORMAT=confluent: FeedRecord registered before any record is read
    configure_feed_wire(settings)
    # local state (RocksDB) is kept per broker cluster: never reused on a wiped broker
    app = create_app(settings, cluster=asyncio.run(cluster_id(settings)))
    run_worker(app, loglevel)
