"""``hub publish`` of files in two passes: constant memory, all or nothing.

Pass 1 (:func:`validate_files`) reads every input once and checks every event as the
worker would (:func:`connectors.ingress.publishing.check_raw`), calling nobody, cut into
units checked in this process or in worker processes (:mod:`connectors.ingress.checking`,
results in input order): each refusal goes to ``report`` as it is found (a file refused
as a whole is counted apart from the invalid events; the files of a folder passed over
for their name are counted, the first few named), and the records
of the valid events, already encoded, go to a :class:`~connectors.ingress.spool.Spool`
(a nameless file of the hub's private temp area). The caller decides from the counts
whether anything may be sent (nothing if one event is invalid, unless
``--skip-invalid``); once an event is refused without ``skip_invalid`` the spool stops
growing (it will not be sent).

Pass 2 (:func:`publish_spool`) reads the spool back in order and streams its records to
hub.demandes (:func:`connectors.ingress.publishing.publish_events`: the producer's own
batching, at most ``window`` records awaiting their acknowledgement): no input is read,
parsed, checked nor encoded again, so an input changed between the passes is irrelevant.
Creations without numéro unique are numbered by the SNE here, in pass 2 only, once every
check passed: an SNE refusal is reported and counted in :attr:`Published.refused`, the
rest still goes; an SNE that cannot be reached stops the pass
(:attr:`Published.stopped`), what it numbered before is published. Its counts are kept
up to date as it goes: a Ctrl-C (the pass waits for the records the producer holds) leaves
the number of events the broker acknowledged in the caller's :class:`Published`.

Neither pass holds more than a few units of events (plus the producer's window),
whatever the size of the inputs; progress goes to a :class:`Meter` (bytes, events).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from connectors.ingress.checking import Checker, units
from connectors.ingress.publishing import (
    DEFAULT_WINDOW,
    Checked,
    InputLimits,
    PreparedEvent,
    Sent,
    numbered,
    publish_events,
)
from connectors.ingress.spool import READY, Spool
from hub.core.errors import HubError, InputError
from hub.core.settings import HubSettings

#: ``report(where, message)``: one refused event or file
Report = Callable[[str, str], None]


class Meter(Protocol):
    """Where the passes tell their progress (``hub.cli.progress``)."""

    def read(self, nbytes: int) -> None:
        """``nbytes`` more input bytes consumed."""

    def events(self, n: int) -> None:
        """``n`` more events checked (pass 1) or acknowledged by the broker (pass 2)."""


class NoMeter:
    """A :class:`Meter` that shows nothing."""

    def read(self, nbytes: int) -> None:
        pass

    def events(self, n: int) -> None:
        pass


#: names of passed-over files :class:`Validated` keeps (for the report)
SKIPPED_NAMES = 3


@dataclass(slots=True)
class Validated:
    """Counts of pass 1."""

    valid: int = 0
    #: refused events (a file refused as a whole is counted in ``files_refused``)
    invalid: int = 0
    to_number: int = 0
    #: files given by name refused as a whole (unsupported type, unreadable)
    files_refused: int = 0
    #: files of the folders passed over for their name (not .jsonl, .xml…), and the
    #: first :data:`SKIPPED_NAMES` of them
    skipped: int = 0
    skipped_names: list[str] = field(default_factory=list)
    #: valid JSON events without an ``eventId``: the hub gives one, new at each publish
    ids_given: int = 0

    @property
    def refused(self) -> int:
        """Invalid events and refused files: what ``--skip-invalid`` passes over."""
        return self.invalid + self.files_refused


@dataclass(slots=True)
class Published:
    """Outcome of pass 2, kept up to date as it goes (a caller interrupted reads it)."""

    #: events acknowledged by the broker
    published: int = 0
    #: events handed to the producer whose acknowledgement had not come when the pass
    #: was stopped (Ctrl-C twice): they may or may not be on the topic
    unsettled: int = 0
    #: creations the SNE refused to number (reported)
    refused: int = 0
    #: ``where: message`` of the SNE outage that stopped the pass, "" otherwise
    stopped: str = ""


#: spool entries between two progress updates of pass 2 (the bar costs more than a read)
_METER_EVERY = 512


def validate_files(paths: Iterable[Path], limits: InputLimits, report: Report,
                   meter: Meter | None = None, *, spool: Spool | None = None,
                   checker: Checker | None = None,
                   skip_invalid: bool = False) -> Validated:  # fmt: skip
    """Pass 1: check every event of ``paths``; refusals to ``report``, the valid events'
    records to ``spool`` (none: a dry run) (module doc). ``checker``: where the units are
    checked (default: in this process)."""
    meter = meter or NoMeter()
    checker = checker or Checker(limits)
    out = Validated()

    def skipped(f: Path) -> None:
        out.skipped += 1
        if len(out.skipped_names) < SKIPPED_NAMES:
            out.skipped_names.append(str(f))

    for outcome in checker.run(units(paths, skipped), keep=spool is not None):
        for where, message in outcome.refused:
            report(where, message)
        out.valid += outcome.valid
        out.invalid += len(outcome.refused) - outcome.files_refused
        out.files_refused += outcome.files_refused
        out.to_number += outcome.to_number
        out.ids_given += outcome.ids_given
        if spool is not None and outcome.framed and (skip_invalid or not out.refused):
            spool.write(outcome.framed, outcome.valid)
        meter.read(outcome.nbytes)
        meter.events(outcome.valid + len(outcome.refused))
    return out


async def publish_spool(settings: HubSettings, spool: Spool, report: Report,
                        meter: Meter | None = None, window: int = DEFAULT_WINDOW,
                        out: Published | None = None) -> Published:  # fmt: skip
    """Pass 2: send the spooled records in order (module doc); ``meter`` counts the
    spool's bytes read and the acknowledgements. Raises :class:`HubError` when Kafka
    fails (what was acknowledged before stays published). ``out``: filled as the pass
    goes, so that a caller interrupted (Ctrl-C: the pass waits for the records the
    producer holds, :func:`connectors.ingress.publishing.send_all`) knows how many
    events the broker acknowledged."""
    meter = meter or NoMeter()
    out = out if out is not None else Published()
    sent = Sent()

    def acked(n: int) -> None:
        out.published += n
        meter.events(n)

    def ready_events() -> Iterator[PreparedEvent]:
        unread = 0
        for n, entry in enumerate(spool.entries(), 1):
            unread += entry.size
            if n % _METER_EVERY == 0:
                meter.read(unread)
                unread = 0
            if entry.kind == READY:
                yield PreparedEvent(key=entry.key, value=entry.value, event={})
                continue
            where, event, document = entry.pending()
            try:
                yield numbered(Checked(event, document, b""))
            except InputError as exc:  # the SNE refused it
                out.refused += 1
                report(where, exc.message)
            except HubError as exc:  # the SNE cannot be reached: what it numbered goes
                out.stopped = f"{where}: {exc.message}"
                return
        meter.read(unread)

    try:
        await publish_events(settings, ready_events(), window=window, on_acked=acked,
                             sent=sent)  # fmt: skip
    finally:
        out.unsettled = sent.unsettled
    return out
