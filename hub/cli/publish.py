"""``hub publish FILE...``: validate demand events (JSON lines or InterfaceNuu XML) and
produce them to hub.demandes.

Every refused line or file is one line on stderr, ``<file>:<line>: <reason>`` (or
``<file>: <reason>``), within the limits of docs/limits.md. Exit status: 0 when the events
were published (or validated, ``--dry-run``); 1 when any is invalid without
``--skip-invalid`` (nothing is published), or when none is valid with it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from hub.errors import InputError
from hub.publishing import (
    InputLimits,
    PreparedEvent,
    iter_inputs,
    prepare_event,
    publish_events,
)
from hub.settings import get_settings


def one_line(text: str, limit: int = 500) -> str:
    """``text`` as one printable line (a file name may hold a newline): control
    characters escaped, cut at ``limit`` characters."""
    if not text.isprintable():
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--skip-invalid", is_flag=True, help="Publish the valid events even if some are not.")
@click.option("--dry-run", is_flag=True, help="Validate only; produce nothing.")
def publish(paths: tuple[Path, ...], skip_invalid: bool, dry_run: bool) -> None:
    """Validate and publish demand events from .jsonl/.json or .xml files, or folders of them."""
    settings = get_settings()
    limits = InputLimits.of(settings)
    ready: list[PreparedEvent] = []
    errors = 0
    for where, raw in iter_inputs(paths, limits):
        try:
            ready.append(prepare_event(raw, max_xml_bytes=limits.max_file_bytes))
        except InputError as exc:
            errors += 1
            click.echo(one_line(f"{where}: {exc.message}"), err=True)
    if errors and not skip_invalid:
        raise click.ClickException(
            f"{errors} invalid event(s), nothing published (use --skip-invalid to publish the rest)"
        )
    if errors and not ready:
        raise click.ClickException(f"{errors} invalid event(s) and no valid one, nothing published")
    if dry_run:
        click.echo(f"{len(ready)} valid event(s), {errors} invalid; nothing published (dry run)")
        return
    asyncio.run(publish_events(settings, ready))
    click.echo(
        f"published {len(ready)} event(s) to hub.demandes"
        + (f", skipped {errors} invalid" if errors else "")
    )
