"""``hub publish FILE...``: validate demand events (JSON lines or InterfaceNuu XML) and
produce them to hub.demandes.

Every refused line or file is one line on stderr, ``<file>:<line>: <reason>`` (or
``<file>: <reason>``), within the limits of docs/limits.md. Exit status: 0 when the events
were published (or validated, ``--dry-run``); 1 when any is invalid without
``--skip-invalid`` (nothing is published), or when none is valid with it.

Creations without numéro unique are numbered by the SNE (:mod:`connectors.sne.numbering`) only once
every event passed the hub's checks, so a file the hub refuses registers nothing at the
SNE; ``--dry-run`` never calls the SNE (it says how many would be numbered). A creation
the SNE then refuses is reported like an invalid event; the others, which the SNE may
already hold, are published all the same (exit status 1).

Constant memory whatever the size of the inputs (:mod:`connectors.ingress.publish_files`): a first
streaming pass checks every event, in ``--jobs`` worker processes (default: one per
CPU, none forked for less than 1 MiB of input; results kept in input order), and spools
the records it encoded to a nameless file
of the hub's private temp area (``<home>/tmp``; the disk it takes is about the size of
the encoded events, given back when the command ends, however it ends); the second pass
sends the spool to the producer (numbering happens there). On a terminal a progress bar
(bytes, events, rates, time left) shows on stderr during each pass; the last line says
what was published, the bytes read and the rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from pathlib import Path

import click

from connectors.ingress.checking import SLICE_BYTES, Checker, default_jobs
from connectors.ingress.publish_files import publish_spool, validate_files
from connectors.ingress.publishing import InputLimits, input_bytes
from connectors.ingress.spool import Spool, spool_dir
from hub.cli.progress import progress_meter
from hub.core.settings import get_settings


def one_line(text: str, limit: int = 500) -> str:
    """``text`` as one printable line (a file name may hold a newline): control
    characters escaped, cut at ``limit`` characters."""
    if not text.isprintable():
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _report(where: str, message: str) -> None:
    click.echo(one_line(f"{where}: {message}"), err=True)


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # unreachable


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--skip-invalid", is_flag=True, help="Publish the valid events even if some are not.")
@click.option("--dry-run", is_flag=True, help="Validate only; produce nothing.")
@click.option("--jobs", "-j", type=click.IntRange(1, 64), default=None,
              help="Processes checking the events (default: one per CPU, one for inputs "
                   "under 1 MiB).")  # fmt: skip
def publish(paths: tuple[Path, ...], skip_invalid: bool, dry_run: bool, jobs: int | None) -> None:
    """Validate and publish demand events to hub.demandes.

    PATHS are files or folders of them: JSON lines (.jsonl, .ndjson or .json: one
    DemandeEvent object per line) and SNE InterfaceNuu XML (.xml: one document per file).
    A file named otherwise is refused; in a folder, such files are passed over.

    Two passes, in constant memory: every event is checked first (in --jobs processes)
    and its encoded record spooled to a temporary file of the hub's home; nothing is sent
    if one is invalid (unless --skip-invalid), else the spool is streamed to Kafka. A
    progress bar shows on a terminal."""
    try:
        _publish(paths, skip_invalid, dry_run, jobs)
    except KeyboardInterrupt:
        # One line and out. Not click's own "Aborted!" path: a Ctrl-C landing while the
        # check pool builds a multiprocessing finalizer leaves a half-built one, and the
        # interpreter's exit then hung on it (seen once under load: "Finalize object has
        # no attribute _key", then no exit in 60 s). Nothing is lost by skipping the
        # exit handlers: the spool has no name, the check workers were killed (Checker).
        click.echo("Aborted!", err=True)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)


def _publish(paths: tuple[Path, ...], skip_invalid: bool, dry_run: bool,
             jobs: int | None) -> None:  # fmt: skip
    settings = get_settings()
    limits = InputLimits.of(settings)
    total = input_bytes(paths)
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        spool = None if dry_run else stack.enter_context(Spool(spool_dir(settings)))
        # the workers are forked before the progress bar starts its thread
        # by default one process per CPU, but no workers to fork for less than one unit
        jobs = jobs or (default_jobs() if total >= SLICE_BYTES else 1)
        with Checker(limits, jobs=jobs) as checker, \
                progress_meter("checking", total) as meter:  # fmt: skip
            checked = validate_files(paths, limits, _report, meter, spool=spool,
                                     checker=checker, skip_invalid=skip_invalid)  # fmt: skip
        errors = checked.invalid
        if errors and not skip_invalid:
            raise click.ClickException(
                f"{errors} invalid event(s), nothing published (use --skip-invalid to publish "
                "the rest)"
            )
        if errors and not checked.valid:
            raise click.ClickException(
                f"{errors} invalid event(s) and no valid one, nothing published"
            )
        numbered = (
            f", {checked.to_number} would be numbered by the SNE" if checked.to_number else ""
        )
        if spool is None:
            click.echo(
                f"{checked.valid} valid event(s){numbered}, {errors} invalid; "
                "nothing published (dry run)"
            )
            return
        with progress_meter("publishing", spool.bytes_written) as meter:
            done = asyncio.run(publish_spool(settings, spool, _report, meter))
    elapsed = max(time.monotonic() - started, 1e-3)
    summary = f"published {done.published} event(s) to hub.demandes" + (
        f", skipped {errors} invalid" if errors else ""
    )
    problems = (f"; the SNE refused {done.refused} creation(s)" if done.refused else "") + (
        f"; stopped at {done.stopped}" if done.stopped else "")  # fmt: skip
    if problems:
        raise click.ClickException(one_line(summary + problems))
    click.echo(f"{summary} ({_size(total)} in {elapsed:.1f} s, "
               f"{done.published / elapsed:,.0f} events/s)")  # fmt: skip
