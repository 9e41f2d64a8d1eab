"""``hub publish FILE...``: validate demand events (JSON lines or InterfaceNuu XML) and
produce them to hub.demandes.

Every refused line or file is one line on stderr, ``<file>:<line>: <reason>`` (or
``<file>: <reason>``), within the limits of docs/limits.md; a file given by name that is
refused as a whole (unsupported type, unreadable) is counted as a refused file, not as an
invalid event, and the files of a folder passed over for their name are counted in one
line on stderr (the first few named). Exit status: 0 when the events were published (or
validated, ``--dry-run``); 1 when any event or file is refused without ``--skip-invalid``
(nothing is published), when none is valid with it, or when the inputs hold no event at
all (an empty file, blank lines only, a folder without a file of ours); 130 on Ctrl-C,
after one line saying what was sent: nothing during the check pass, during the send pass
how many events the broker acknowledged (the all-or-nothing rule cannot hold once sending
has begun) and how to send the rest.

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
from dataclasses import dataclass
from pathlib import Path

import click

from connectors.ingress.checking import SLICE_BYTES, Checker, default_jobs
from connectors.ingress.publish_files import Published, Validated, publish_spool, validate_files
from connectors.ingress.publishing import InputLimits, input_bytes
from connectors.ingress.spool import Spool, spool_dir
from hub.cli import one_line
from hub.cli.progress import progress_meter
from hub.core.errors import HubError
from hub.core.settings import get_settings


def _report(where: str, message: str) -> None:
    click.echo(one_line(f"{where}: {message}"), err=True)


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # unreachable


def _names(names: list[str], total: int) -> str:
    """``names`` (the first of ``total``), and how many more."""
    return ", ".join(names) + (f" and {total - len(names)} more" if total > len(names) else "")


@dataclass(slots=True)
class _Run:
    """How far the command got, for the line a Ctrl-C prints."""

    dry_run: bool
    #: the check pass's counts, once it is over
    checked: Validated | None = None
    #: the send pass's progress, once it has begun
    sending: Published | None = None


def interrupted_line(run: _Run) -> str:
    """What a Ctrl-C leaves: nothing sent before the send pass; during it, the events
    the broker acknowledged (the first ones of the spool, in input order) and how to send
    the rest: the same input again only when that duplicates nothing, i.e. every event
    carries its own ``eventId`` (the dispatcher skips an event id it has already applied
    to the demand, :func:`hub.domain.decisions.decide`) and none is a creation the SNE
    numbers as it is sent (docs/operations.md, "Interrupted hub publish")."""
    if run.sending is None or run.checked is None:
        return "interrupted during the check: nothing sent" + (
            " (dry run)" if run.dry_run else "; all or nothing holds, publish the same input again"
        )
    done, unsettled, checked = run.sending.published, run.sending.unsettled, run.checked
    if not (done or unsettled):
        return (f"interrupted before Kafka acknowledged any of the {checked.valid:,} event(s): "
                "nothing sent; publish the same input again")  # fmt: skip
    return "interrupted: " + sent_so_far(run)


def sent_so_far(run: _Run) -> str:
    """How far the send pass went (``run.sending`` and ``run.checked`` set, something
    sent or handed over) and how to send the rest: after a Ctrl-C or a failure of Kafka."""
    assert run.sending is not None and run.checked is not None
    done, unsettled, checked = run.sending.published, run.sending.unsettled, run.checked
    line = (f"{done:,} of {checked.valid:,} event(s) sent (acknowledged by Kafka) "
            "before the stop; the rest not sent")  # fmt: skip
    if unsettled:
        line += (f" ({unsettled:,} more were handed to Kafka without an acknowledgement: they "
                 "may be on hub.demandes)")  # fmt: skip
    line += ". Sending had begun, so all or nothing could not hold"
    reasons = ([f"{checked.ids_given:,} event(s) have no eventId (the hub gives a new one at "
                "each publish)"] if checked.ids_given else []) + (
               [f"{checked.to_number:,} creation(s) get their numéro from the SNE as they are "
                "sent"] if checked.to_number else [])  # fmt: skip
    if reasons:
        return (f"{line}; {' and '.join(reasons)}, so publishing the same input again would "
                f"duplicate what was sent: to send the rest, publish only the events after the "
                f"first {done:,} valid ones (docs/operations.md)")  # fmt: skip
    return line + (
        "; to send the rest, publish the same input again: every event carries its eventId "
        "and the hub skips one it has already applied (docs/operations.md)"
    )


def _refusal(checked: Validated, paths: tuple[Path, ...], skip_invalid: bool) -> str | None:
    """The ``Error:`` line when nothing may be sent, None when the rest may go."""
    if not (checked.valid or checked.refused):
        return (
            f"no event found in {_names([str(p) for p in paths[:3]], len(paths))}; "
            "nothing published"
        )
    what = " and ".join(
        ([f"{checked.invalid} invalid event(s)"] if checked.invalid else [])
        + ([f"{checked.files_refused} refused file(s)"] if checked.files_refused else [])
    )
    if not (checked.valid or checked.invalid):  # no rest to publish
        return f"{what} and no event found, nothing published"
    if checked.refused and not skip_invalid:
        return f"{what}, nothing published (use --skip-invalid to publish the rest)"
    if checked.refused and not checked.valid:
        return f"{what} and no valid event, nothing published"
    return None


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Publish the valid events even if some events or files are refused.",
)
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
    progress bar shows on a terminal.

    \b
    Exit status:
      0    published (validated with --dry-run)
      1    an event or file refused (nothing published, unless --skip-invalid: then
           when none is valid), no event at all in PATHS, or Kafka or the SNE failed
      2    usage error (a path that does not exist…)
      130  Ctrl-C: nothing sent during the check; during the send pass one line says
           how many events Kafka acknowledged and how to send the rest"""
    run = _Run(dry_run=dry_run)
    try:
        _publish(paths, skip_invalid, dry_run, jobs, run)
    except KeyboardInterrupt:
        # One line and out. Not click's own "Aborted!" path: a Ctrl-C landing while the
        # check pool builds a multiprocessing finalizer leaves a half-built one, and the
        # interpreter's exit then hung on it (seen once under load: "Finalize object has
        # no attribute _key", then no exit in 60 s). Nothing is lost by skipping the
        # exit handlers: the spool has no name, the check workers were killed (Checker).
        click.echo(interrupted_line(run), err=True)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)


def _publish(paths: tuple[Path, ...], skip_invalid: bool, dry_run: bool,
             jobs: int | None, run: _Run) -> None:  # fmt: skip
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
        if checked.skipped:
            names = _names(checked.skipped_names, checked.skipped)
            click.echo(one_line(f"passed over {checked.skipped} file(s) in folders, not "
                                f"named .jsonl, .ndjson, .json or .xml: {names}"),
                       err=True)  # fmt: skip
        refusal = _refusal(checked, paths, skip_invalid)
        if refusal is not None:
            raise click.ClickException(one_line(refusal))
        errors = checked.invalid
        files = f", {checked.files_refused} refused file(s)" if checked.files_refused else ""
        numbered = (
            f", {checked.to_number} would be numbered by the SNE" if checked.to_number else ""
        )
        if spool is None:
            click.echo(
                f"{checked.valid} valid event(s){numbered}, {errors} invalid{files}; "
                "nothing published (dry run)"
            )
            return
        run.checked = checked
        with progress_meter("publishing", spool.bytes_written) as meter:
            run.sending = Published()
            try:
                done = asyncio.run(publish_spool(settings, spool, _report, meter, out=run.sending))
            except HubError as exc:  # Kafka failed mid-way: say what it had already taken
                if not (run.sending.published or run.sending.unsettled):
                    raise
                raise click.ClickException(one_line(f"{exc.message}; {sent_so_far(run)}")) from exc
    elapsed = max(time.monotonic() - started, 1e-3)
    summary = (
        f"published {done.published} event(s) to hub.demandes"
        + (f", skipped {errors} invalid" if errors else "")
        + files
    )
    problems = (f"; the SNE refused {done.refused} creation(s)" if done.refused else "") + (
        f"; stopped at {done.stopped}" if done.stopped else "")  # fmt: skip
    if problems:
        raise click.ClickException(one_line(summary + problems))
    click.echo(f"{summary} ({_size(total)} in {elapsed:.1f} s, "
               f"{done.published / elapsed:,.0f} events/s)")  # fmt: skip
