"""``hub publish`` of files in two streaming passes: constant memory, all or nothing.

Pass 1 (:func:`validate_files`) reads every input once and checks every event as the
worker would (:func:`connectors.ingress.publishing.check_raw`), calling nobody: each refusal goes to
``report`` as it is found, and only counts are kept. The caller decides from the counts
whether anything may be published (nothing if one event is invalid, unless
``--skip-invalid``).

Pass 2 (:func:`publish_files`) reads the inputs again and streams what passes the same
checks to hub.demandes (:func:`connectors.ingress.publishing.publish_events`: the producer's own
batching, at most ``window`` records awaiting their acknowledgement). Events refused in
pass 1 are skipped without a second report. Creations without numéro unique are
numbered by the SNE here, in pass 2 only, once every check passed: an SNE refusal is
reported and counted in :attr:`Published.refused`, the rest still goes; an SNE that
cannot be reached stops the pass (:attr:`Published.stopped`), what it numbered before
is published.

An input that changes between the passes is noticed by the counts only (pass 2 sees
another number of valid events than pass 1): :attr:`Published.drift`.

Neither pass holds more than one event at a time (plus the producer's window), whatever
the size of the inputs; progress goes to a :class:`Meter` (bytes read, events).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from connectors.ingress.publishing import (
    DEFAULT_WINDOW,
    InputLimits,
    PreparedEvent,
    check_raw,
    iter_inputs,
    numbered,
    publish_events,
)
from connectors.sne.numbering import needs_number
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


@dataclass(slots=True)
class Validated:
    """Counts of pass 1."""

    valid: int = 0
    invalid: int = 0
    to_number: int = 0


@dataclass(slots=True)
class Published:
    """Outcome of pass 2."""

    published: int = 0
    #: creations the SNE refused to number (reported)
    refused: int = 0
    #: events valid now that pass 1 refused, or the reverse (inputs changed meanwhile)
    drift: int = 0
    #: ``where: message`` of the SNE outage that stopped the pass, "" otherwise
    stopped: str = ""


def validate_files(paths: Iterable[Path], limits: InputLimits, report: Report,
                   meter: Meter | None = None) -> Validated:  # fmt: skip
    """Pass 1: check every event of ``paths``; refusals to ``report`` (module doc)."""
    meter = meter or NoMeter()
    out = Validated()
    for where, raw in iter_inputs(paths, limits, on_bytes=meter.read):
        try:
            checked = check_raw(raw, max_xml_bytes=limits.max_file_bytes)
        except InputError as exc:
            out.invalid += 1
            report(where, exc.message)
        else:
            out.valid += 1
            out.to_number += needs_number(checked.event)
        meter.events(1)
    return out


async def publish_files(settings: HubSettings, paths: Iterable[Path], limits: InputLimits,
                        expected: Validated, report: Report, meter: Meter | None = None,
                        window: int = DEFAULT_WINDOW) -> Published:  # fmt: skip
    """Pass 2: publish the valid events of ``paths`` as they are read (module doc).
    ``expected``: the counts of pass 1. Raises :class:`HubError` when Kafka fails (what
    was acknowledged before stays published)."""
    meter = meter or NoMeter()
    out = Published()
    seen_valid = 0

    def ready_events() -> Iterator[PreparedEvent]:
        nonlocal seen_valid
        for where, raw in iter_inputs(paths, limits, on_bytes=meter.read):
            try:
                checked = check_raw(raw, max_xml_bytes=limits.max_file_bytes)
            except InputError:
                continue  # reported by pass 1
            seen_valid += 1
            try:
                yield numbered(checked)
            except InputError as exc:  # the SNE refused it
                out.refused += 1
                report(where, exc.message)
            except HubError as exc:  # the SNE cannot be reached: what it numbered goes
                out.stopped = f"{where}: {exc.message}"
                return

    out.published = await publish_events(settings, ready_events(), window=window,
                                         on_acked=meter.events)  # fmt: skip
    if not out.stopped:
        out.drift = abs(seen_valid - expected.valid)
    return out
