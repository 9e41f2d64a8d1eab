"""``hub publish FILE...``: validate demand events (JSON lines or InterfaceNuu XML) and
produce them to hub.demandes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from hub.errors import InputError
from hub.publishing import PreparedEvent, iter_inputs, prepare_event, publish_events
from hub.settings import get_settings


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--skip-invalid", is_flag=True, help="Publish the valid events even if some are not.")
@click.option("--dry-run", is_flag=True, help="Validate only; produce nothing.")
def publish(paths: tuple[Path, ...], skip_invalid: bool, dry_run: bool) -> None:
    """Validate and publish demand events from .jsonl/.json or .xml files, or folders of them."""
    ready: list[PreparedEvent] = []
    errors = 0
    for where, raw in iter_inputs(paths):
        try:
            ready.append(prepare_event(raw))
        except InputError as exc:
            errors += 1
            click.echo(f"{where}: {exc.message}", err=True)
    if errors and not skip_invalid:
        raise click.ClickException(
            f"{errors} invalid event(s), nothing published (use --skip-invalid to publish the rest)"
        )
    if dry_run:
        click.echo(f"{len(ready)} valid event(s), {errors} invalid; nothing published (dry run)")
        return
    asyncio.run(publish_events(get_settings(), ready))
    click.echo(
        f"published {len(ready)} event(s) to hub.demandes"
        + (f", skipped {errors} invalid" if errors else "")
    )
