"""``hub publish FILE...``: validate demand events (JSON lines or InterfaceNuu XML) and
produce them to hub.demandes.

Every refused line or file is one line on stderr, ``<file>:<line>: <reason>`` (or
``<file>: <reason>``), within the limits of docs/limits.md. Exit status: 0 when the events
were published (or validated, ``--dry-run``); 1 when any is invalid without
``--skip-invalid`` (nothing is published), or when none is valid with it.

Creations without numéro unique are numbered by the SNE (:mod:`hub.numbering`) only once
every event passed the hub's checks, so a file the hub refuses registers nothing at the
SNE; ``--dry-run`` never calls the SNE (it says how many would be numbered). A creation
the SNE then refuses is reported like an invalid event; the others, which the SNE may
already hold, are published all the same (exit status 1).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from hub.errors import HubError, InputError
from hub.numbering import needs_number
from hub.publishing import (
    InputLimits,
    PreparedEvent,
    Raw,
    check_event,
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
    valid: list[tuple[str, Raw]] = []
    to_number = 0
    errors = 0
    for where, raw in iter_inputs(paths, limits):
        try:
            event = check_event(raw, max_xml_bytes=limits.max_file_bytes)
        except InputError as exc:
            errors += 1
            click.echo(one_line(f"{where}: {exc.message}"), err=True)
            continue
        to_number += needs_number(event)
        valid.append((where, event if isinstance(raw, dict) else raw))
    if errors and not skip_invalid:
        raise click.ClickException(
            f"{errors} invalid event(s), nothing published (use --skip-invalid to publish the rest)"
        )
    if errors and not valid:
        raise click.ClickException(f"{errors} invalid event(s) and no valid one, nothing published")
    numbered = f", {to_number} would be numbered by the SNE" if to_number else ""
    if dry_run:
        click.echo(
            f"{len(valid)} valid event(s){numbered}, {errors} invalid; nothing published (dry run)"
        )
        return
    ready: list[PreparedEvent] = []
    refused, unavailable = 0, ""
    for where, raw in valid:  # creations without number: the SNE numbers them now
        try:
            ready.append(prepare_event(raw, max_xml_bytes=limits.max_file_bytes))
        except InputError as exc:
            refused += 1
            click.echo(one_line(f"{where}: {exc.message}"), err=True)
        except HubError as exc:  # the SNE cannot be reached: what it numbered still goes
            unavailable = f"; stopped at {where}: {exc.message}"
            break
    if ready:
        asyncio.run(publish_events(settings, ready))
    summary = f"published {len(ready)} event(s) to hub.demandes" + (
        f", skipped {errors} invalid" if errors else ""
    )
    if refused or unavailable:
        raise click.ClickException(one_line(
            f"{summary}" + (f"; the SNE refused {refused} creation(s)" if refused else "")
            + unavailable))
    click.echo(summary)
