"""``hub files``: the legacy file exchange (inbox scan/watch, DIS outboxes).

Long-running commands run a connector (:mod:`connectors.shape`) and stop cleanly on
SIGTERM or Ctrl-C; a crash (even ``kill -9``) loses and duplicates nothing
(docs/connectors-files.md).
"""

from __future__ import annotations

import asyncio

import click

from hub.core.settings import get_settings
from monitoring.serve import metrics_port_option, serve_metrics


@click.group()
def files() -> None:
    """Legacy systems exchanging InterfaceNuu XML files with the hub."""


@files.command()
@click.option("--source", help="Only this inbox source.")
def scan(source: str | None) -> None:
    """One pass over the inboxes: publish valid files, move each to done/ or error/."""
    from connectors.files.scan import scan as scan_all
    from connectors.files.scan import summary

    for name, stats in asyncio.run(scan_all(get_settings(), source)).items():
        click.echo(f"{name}: {summary(stats)}")


@files.command()
@click.option("--source", help="Only this inbox source.")
@metrics_port_option
def watch(source: str | None, metrics_port: int | None) -> None:
    """Process the inboxes every files.poll_interval_s seconds until stopped."""
    from connectors.files.scan import FileInbox
    from connectors.shape import run_until_signal

    settings = get_settings()
    serve_metrics(metrics_port, settings.monitoring.web_host, "files watch")
    run_until_signal(FileInbox(settings, source))


@files.command()
@click.option("--actor", "actor_id", help="Only this actor (its channel must be file).")
@click.option("--once", is_flag=True, help="Write what is pending, then exit.")
@metrics_port_option
def outbox(actor_id: str | None, once: bool, metrics_port: int | None) -> None:
    """Write the feeds of the actors delivering by file as DIS files."""
    from connectors.outbound.file_service import FileOutbox, run_once
    from connectors.shape import run_until_signal

    settings = get_settings()
    serve_metrics(metrics_port, settings.monitoring.web_host, "files outbox")
    if once:
        for name, stats in asyncio.run(run_once(settings, actor_id)).items():
            click.echo(
                f"{name}: {stats.counts['files']} file(s), {stats.counts['records']} record(s)"
            )
        return
    run_until_signal(FileOutbox(settings, actor_id))
