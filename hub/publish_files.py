"""``hub publish`` of files in two streaming passes: constant memory, all or nothing.

Pass 1 (:func:`validate_files`) reads every input once and checks every event as the
worker would (:func:`hub.publishing.check_raw`), calling nobody: each refusal goes to
``report`` as it is found, and only counts are kept. The caller decides from the counts
whether anything may be published (nothing if one event is invalid, unless
``--skip-invalid``).

Pass 2 (:func:`publish_files`) reads the inputs again and streams what passes the same
checks to hub.demandes (:func:`hub.publishing.publish_events`: the producer's own
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

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from hub.errors import HubError, InputError
from hub.numbering import needs_number
from hub.publishing import (
    DEFAULT_WINDOW,
    InputLimits,
    PreparedEvent,
    check_raw,
    iter_inputs,
    numbered,
    publish_events,
)
from hub.settings import HubSettings

#: events handed from the reading thread at a time, and chunks queued at most: with the
#: producer's window, what pass 2 holds at most
CHUNK = 256
QUEUED_CHUNKS = 4
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
    loop = asyncio.get_running_loop()
    # chunks of events from the reading thread: a handoff per chunk, not per event
    queue: asyncio.Queue[list[PreparedEvent] | None] = asyncio.Queue(maxsize=QUEUED_CHUNKS)
    stop = threading.Event()

    def hand(item: list[PreparedEvent] | None) -> None:
        asyncio.run_coroutine_threadsafe(queue.put(item), loop).result()

    def produce() -> None:  # in a thread: parsing and checks overlap the producer's I/O
        nonlocal seen_valid
        chunk: list[PreparedEvent] = []
        try:
            for where, raw in iter_inputs(paths, limits, on_bytes=meter.read):
                if stop.is_set():
                    return
                try:
                    checked = check_raw(raw, max_xml_bytes=limits.max_file_bytes)
                except InputError:
                    continue  # reported by pass 1
                seen_valid += 1
                try:
                    chunk.append(numbered(checked))
                except InputError as exc:  # the SNE refused it
                    out.refused += 1
                    report(where, exc.message)
                except HubError as exc:  # the SNE cannot be reached: what it numbered goes
                    out.stopped = f"{where}: {exc.message}"
                    break
                if len(chunk) >= CHUNK:
                    hand(chunk)
                    chunk = []
            if chunk and not stop.is_set():
                hand(chunk)
        finally:
            hand(None)

    async def ready_events() -> AsyncIterator[PreparedEvent]:
        while (chunk := await queue.get()) is not None:
            for ev in chunk:
                yield ev

    reader = loop.run_in_executor(None, produce)
    try:
        out.published = await publish_events(settings, ready_events(), window=window,
                                             on_acked=meter.events)  # fmt: skip
    finally:
        stop.set()
        while not reader.done():  # let a blocked reader hand its last chunk and end
            while not queue.empty():
                queue.get_nowait()
            await asyncio.sleep(0.01)
        await reader
    if not out.stopped:
        out.drift = abs(seen_valid - expected.valid)
    return out
