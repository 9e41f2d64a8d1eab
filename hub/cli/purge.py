"""``hub purge``: remove demands radiated or deleted more than a year ago from the hub's
stores (and their files: inbox copies, SNE attestations)."""

from __future__ import annotations

import asyncio
import logging
import time

import click

from hub.core.errors import HubError
from hub.core.settings import get_settings

log = logging.getLogger(__name__)


@click.command()
@click.option(
    "--older-than-days",
    type=click.IntRange(min=1),
    default=365,
    show_default=True,
    help="Purge demands radiated or deleted more than this many days ago.",
)
@click.option(
    "--dry-run", is_flag=True, help="Only count what would be purged; list the files to remove."
)
@click.option(
    "--files-retention-days",
    type=click.IntRange(min=1),
    default=None,
    help="Also remove every inbox copy (done/, error/) and SNE attestation older than this "
    "many days, whatever its demand (default: off).",
)
@click.option(
    "--every",
    "every_s",
    type=click.FloatRange(min=60),
    default=None,
    help="Run again every SECONDS (the scheduled job; e.g. 86400).",
)
def purge(
    older_than_days: int, dry_run: bool, files_retention_days: int | None, every_s: float | None
) -> None:
    """Purge radiated or deleted demands (dispatch state, SQL stores, inbox copies and SNE
    attestations); see docs/reliability.md."""
    from hub.services.purge import run_purge

    settings = get_settings()
    while True:
        try:
            report = asyncio.run(run_purge(settings, older_than_days=older_than_days,
                                           dry_run=dry_run,
                                           files_retention_days=files_retention_days))  # fmt: skip
            click.echo(("dry run: " if dry_run else "") + str(report))
        except HubError as exc:
            if every_s is None or not exc.retriable:
                raise
            log.warning("purge failed, next try in %.0fs: %s", every_s, exc.message)
        if every_s is None:
            return
        time.sleep(every_s)
