"""``hub worker``: run the dispatcher (a faust worker; start several to scale out)."""

from __future__ import annotations

import asyncio
import logging
import os
import threading

import click

from hub.core.errors import ConfigError
from hub.core.settings import get_settings

log = logging.getLogger(__name__)


@click.command()
@click.option("--loglevel", default="warning", show_default=True)
@click.option("--web-port", type=int, help="Port of the worker's web server (metrics/health).")
def worker(loglevel: str, web_port: int | None) -> None:
    """Dispatch hub.demandes to the actors' feeds until stopped (SIGTERM/Ctrl-C)."""
    from dispatch.runtime.app import create_app
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
    # local state (RocksDB) is kept per broker cluster: never reused on a wiped broker
    app = create_app(settings, cluster=asyncio.run(cluster_id(settings)))
    import faust

    try:
        faust.Worker(app, loglevel=loglevel, quiet=True).execute_from_commandline()
    except SystemExit as done:
        _exit_despite_stuck_clients(done)
        raise


def _exit_despite_stuck_clients(done: SystemExit) -> None:
    """faust has stopped (tables closed, what could be committed committed); a Kafka
    client thread still waiting for a broker that does not answer (its stop given up after
    ``worker.shutdown_timeout_s``) would keep the process alive for its request timeouts:
    exit now. Its inputs were not committed, so they are dispatched again at restart."""
    stuck = [t.name for t in threading.enumerate()
             if t is not threading.main_thread() and t.is_alive() and not t.daemon]  # fmt: skip
    if stuck:
        log.error("stopping: client threads still waiting for the broker (%s): exiting now",
                  ", ".join(stuck))  # fmt: skip
        logging.shutdown()
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        os._exit(code)
