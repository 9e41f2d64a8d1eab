"""Turning raw inputs into validated, encoded demand events, and producing them.

Used by ``hub publish``, ``hub demo``, the REST API and the connectors. Validation is the
same the worker applies (schema, numéro unique, codes, known communes), so what a person
publishes does not end in the DLQ for a reason that could have been told at once.

A creation without numéro unique (CRE/CRS the SNE has not numbered yet) is legal input:
:func:`prepare_event` has it numbered by the SNE (:mod:`connectors.sne.numbering`) after every check
of the hub passed and before the event is keyed; :func:`check_event` validates without
calling the SNE (dry runs). Nothing is ever keyed by an empty number.

Memory: :func:`iter_inputs` reads one event at a time (a folder is walked lazily, only
the names of one folder at a time are held) and :func:`publish_events` keeps at most
``window`` sends unacknowledged, so ``hub publish`` runs in constant memory whatever
the size of its input (issue 21 point 4).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeAlias

from aiokafka.errors import KafkaError

from connectors.ingress.json_files import document_refusal
from connectors.sne.numbering import CREATIONS, needs_number, number, require_sne
from hub.core import topics
from hub.core.errors import InputError, TransientError, UnknownCommuneError
from hub.core.jsonlines import read_objects
from hub.core.kafka.admin import core_topics, ensure_topics
from hub.core.kafka.client import new_producer
from hub.core.settings import HubSettings
from hub.domain.decisions import TERRITORY_FREE_OPERATIONS, validate_event
from hub.domain.geo import get_geography
from hub.domain.matching import WISHED_COMMUNE
from hub.domain.refdata import PENDING_NUM_UNIQUE
from hub.domain.state import wished_communes
from schemas import get_codec


@dataclass(frozen=True, slots=True)
class PreparedEvent:
    key: bytes
    value: bytes
    event: dict[str, Any]


@dataclass(frozen=True, slots=True)
class InputLimits:
    """Bounds on what :func:`iter_inputs` reads (docs/limits.md)."""

    max_line_bytes: int
    max_json_depth: int
    max_file_bytes: int

    @classmethod
    def of(cls, settings: HubSettings) -> InputLimits:
        return cls(
            max_line_bytes=settings.publish.max_line_bytes,
            max_json_depth=settings.publish.max_json_depth,
            max_file_bytes=settings.files.max_file_bytes,
        )


#: the names (lowercase endings) of the files ``hub publish`` reads; in a folder, the
#: others are passed over, a file given by name is refused
SUFFIXES = (".xml", ".jsonl", ".json", ".ndjson")

#: what :func:`iter_inputs` yields for one event: JSON object, XML bytes, or the refusal
Raw: TypeAlias = dict[str, Any] | bytes | InputError


def iter_inputs(paths: Iterable[Path], limits: InputLimits,
                on_bytes: Callable[[int], None] | None = None,
                ) -> Iterator[tuple[str, Raw]]:  # fmt: skip
    """Yield (location, raw) for every event in files or folders: an object per JSON line
    (location ``file:line``), the bytes of an XML document (one interfaceNuu document per
    file), or the :class:`InputError` refusing that line or file (unreadable ones too; a
    ``.json`` file holding one multi-line JSON document is refused whole, in one line:
    :mod:`connectors.ingress.json_files`).
    Files of a folder come in the order of their sorted paths, found by a lazy walk.
    Memory stays bounded by ``limits`` (and the names of one folder) whatever the files
    hold; never raises. ``on_bytes(n)``: called with the input bytes consumed since its
    previous call, after each event (progress meters)."""
    for path in paths:
        files = walk_files(path) if path.is_dir() else iter([path])
        for f in files:
            suffix = f.suffix.lower()
            if suffix not in SUFFIXES:
                if not path.is_dir():  # other files in a folder are not ours
                    yield (
                        str(f),
                        InputError(
                            f"unsupported file type {suffix or '(none)'}; use .jsonl or .xml"
                        ),
                    )
                continue
            refusal = document_refusal(f)  # a pretty-printed .json: one line, not one a line
            if refusal is not None:
                if on_bytes is not None:
                    on_bytes(_size(f))
                yield str(f), InputError(refusal)
                continue
            try:
                if suffix == ".xml":
                    document = read_bounded(f, limits.max_file_bytes)
                    if on_bytes is not None:
                        on_bytes(len(document) if isinstance(document, bytes) else _size(f))
                    yield str(f), document
                    continue
                with f.open("rb") as fh:
                    done = 0
                    for n, raw in read_objects(
                        fh, max_line_bytes=limits.max_line_bytes, max_depth=limits.max_json_depth
                    ):
                        if on_bytes is not None:
                            at = fh.tell()
                            on_bytes(at - done)
                            done = at
                        yield f"{f}:{n}", raw
                    if on_bytes is not None:
                        on_bytes(fh.tell() - done)  # blank lines after the last event
            except OSError as exc:  # unreadable: refused like bad content, the rest goes on
                yield str(f), InputError(f"cannot read the file ({exc.strerror or exc})")


def walk_files(folder: Path) -> Iterator[Path]:
    """The files below ``folder`` in the order of ``sorted(folder.rglob("*"))``, found
    lazily: one folder's entry names are held at a time (plus those of the folders above
    it), never the whole tree. Symbolic links to folders are not followed (as ``rglob``);
    an unreadable folder is skipped."""
    try:
        with os.scandir(folder) as entries:
            found = sorted((e.name, e.is_dir(follow_symlinks=False), e.is_file())
                           for e in entries)  # fmt: skip
    except OSError:
        return
    for name, is_dir, is_file in found:
        if is_dir:
            yield from walk_files(folder / name)
        elif is_file:
            yield folder / name


def input_bytes(paths: Iterable[Path]) -> int:
    """Total size of the files :func:`iter_inputs` would read (progress totals): those
    named as :data:`SUFFIXES` says, the others are not read."""
    total = 0
    for path in paths:
        for f in walk_files(path) if path.is_dir() else (path,):
            if f.suffix.lower() in SUFFIXES:
                total += _size(f)
    return total


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def read_bounded(path: Path, max_bytes: int) -> bytes | InputError:
    """The bytes of ``path``, or an :class:`InputError` if it holds more than
    ``max_bytes``: never more than ``max_bytes`` + 1 bytes are read."""
    with path.open("rb") as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        return InputError(f"file larger than the {max_bytes} bytes cap", code="too_large")
    return data


#: stands for the number the SNE will give, while the hub checks a creation without one
#: (matches the numbering pattern, never keyed nor published)
_PENDING_NUMBER = PENDING_NUM_UNIQUE  # hub.domain.refdata: accepted for a creation only


def _parse(raw: Raw, max_xml_bytes: int | None) -> tuple[dict[str, Any], bytes | None]:
    """(event, XML document or None) of a raw input; :class:`InputError` if unusable."""
    if isinstance(raw, InputError):
        raise raw
    if isinstance(raw, bytes):
        from connectors.interfacenuu.mapping import parse_demande_xml
        from hub.core import xmlsafe

        event = parse_demande_xml(raw, max_bytes=max_xml_bytes or xmlsafe.DEFAULT_MAX_BYTES)
        return event, raw
    if not isinstance(raw, dict):
        raise InputError(f"an event must be a JSON object, got {type(raw).__name__}")
    event = dict(raw)
    event.setdefault("eventId", str(uuid.uuid4()))
    event.setdefault("occurredAt", int(time.time() * 1000))
    event.setdefault("source", "cli")
    if event.get("operation") in CREATIONS and event.get("numUnique") is None:
        event["numUnique"] = ""  # the SNE numbers it
    for required in ("numUnique", "operation"):
        if not isinstance(event.get(required), str):
            raise InputError(f"missing or non-string field {required!r}")
    return event, None


def _checked(event: dict[str, Any]) -> bytes:
    """The encoded event once every check passed (:class:`InputError` otherwise). A
    creation to be numbered is checked with a stand-in number, after :func:`require_sne`."""
    probe = event
    if needs_number(event):
        require_sne(event)
        demande = event.get("demande") or {}
        dl = {**(demande.get("demandeLogement") or {}), "numUnique": _PENDING_NUMBER}
        probe = {
            **event,
            "numUnique": _PENDING_NUMBER,
            "demande": {**demande, "demandeLogement": dl} if demande else None,
        }
    value = get_codec().encode("DemandeEvent", probe)  # the shape first: InputError
    validate_event(probe)
    if probe["operation"] in TERRITORY_FREE_OPERATIONS:
        return value  # a RAD/SUP is never refused for a territorial reason (issue 17)
    geography = get_geography()
    for commune in wished_communes(probe.get("demande")):
        try:
            geography.commune(geography.resolve(commune))  # a former code: its successor
        except UnknownCommuneError as exc:
            raise UnknownCommuneError(f"{WISHED_COMMUNE}: {exc.message}") from None
    return value


@dataclass(frozen=True, slots=True)
class Checked:
    """A raw event that passed every check of the hub (:func:`check_raw`)."""

    event: dict[str, Any]
    #: the XML document as received (numbering sends it to the SNE), None for JSON
    document: bytes | None
    #: the encoded event (a creation still to be numbered: encoded with a stand-in number)
    value: bytes


def check_raw(raw: Raw, *, max_xml_bytes: int | None = None) -> Checked:
    """Every check of :func:`prepare_event`, without calling the SNE: :class:`InputError`
    for anything that is not a valid DemandeEvent."""
    event, document = _parse(raw, max_xml_bytes)
    return Checked(event, document, _checked(event))


def check_event(raw: Raw, *, max_xml_bytes: int | None = None) -> dict[str, Any]:
    """Validate one raw event as :func:`prepare_event` does, without calling the SNE: the
    event (a creation without number keeps an empty ``numUnique``: see
    :func:`connectors.sne.numbering.needs_number`; refused when no SNE is configured)."""
    return check_raw(raw, max_xml_bytes=max_xml_bytes).event


def numbered(checked: Checked) -> PreparedEvent:
    """The prepared event of a checked one: a creation without numéro unique is numbered
    by the SNE first (:func:`connectors.sne.numbering.number`: :class:`InputError` when the SNE
    refuses it, ``SneUnavailable`` when it cannot be reached)."""
    event, value = checked.event, checked.value
    if needs_number(event):
        event = number(event, checked.document)
        value = get_codec().encode("DemandeEvent", event)
        validate_event(event)
    return PreparedEvent(key=event["numUnique"].encode(), value=value, event=event)


def prepare_event(raw: Raw, *, max_xml_bytes: int | None = None) -> PreparedEvent:
    """Validate one raw event and encode it. Raises :class:`InputError` with one line for
    anything that is not a valid DemandeEvent, whatever its JSON type or shape: the
    record must fit the DemandeEvent schema before the business rules look at it.
    A creation without numéro unique is numbered by the SNE once the hub's checks passed
    (:func:`connectors.sne.numbering.number`: refused in one line when no SNE is configured
    or the SNE
    refuses; ``SneUnavailable``, retriable, when it cannot be reached), then keyed by
    that number. ``max_xml_bytes``: cap of an XML document (default: the XML parser's own)."""
    return numbered(check_raw(raw, max_xml_bytes=max_xml_bytes))


#: sends :func:`publish_events` keeps unacknowledged at most (each holds its record until
#: the broker acknowledges it): bounds memory, leaves the producer's batches full
DEFAULT_WINDOW = 10_000
#: sends between two turns of the event loop given to the producer's own tasks
YIELD_EVERY = 256


@dataclass(slots=True)
class Sent:
    """How far :func:`send_all` got, kept up to date as it goes: a caller interrupted in
    the middle (Ctrl-C) still reads it."""

    #: records the broker acknowledged
    acked: int = 0
    #: records handed to the producer, neither acknowledged nor failed when it stopped
    #: (a stop before their outcome: they may or may not be on the topic)
    unsettled: int = 0


class Sender(Protocol):
    """What :func:`send_all` needs of a producer (``AIOKafkaProducer.send``)."""

    def send(self, topic: str, value: bytes, *, key: bytes) -> Awaitable[asyncio.Future[Any]]: ...


async def send_all(producer: Sender, events: Iterable[PreparedEvent] | AsyncIterator[PreparedEvent],
                   *, window: int = DEFAULT_WINDOW,
                   on_acked: Callable[[int], None] | None = None,
                   sent: Sent | None = None) -> int:  # fmt: skip
    """Send ``events`` to hub.demandes in order, pulling the next one only while fewer
    than ``window`` sends await their acknowledgement (the producer batches them); return
    the count acknowledged. The first failed send raises (what follows is not sent), once
    the records handed over before it are acknowledged or failed, and counted in ``sent``.
    ``on_acked(n)``: called as acknowledgements arrive, with how many since last call;
    ``sent``: kept up to date (:class:`Sent`).

    Cancelled (Ctrl-C under ``asyncio.run``): no further event is taken, the records the
    producer holds are waited for (each is acknowledged or fails within the producer's
    own timeouts) and the acknowledged ones counted, then the cancellation goes on; a
    second cancellation stops that wait, the records still awaited are then counted in
    :attr:`Sent.unsettled`."""
    pending: deque[asyncio.Future[Any]] = deque()
    sent = sent if sent is not None else Sent()

    def count(done: int) -> None:
        sent.acked += done
        if done and on_acked is not None:
            on_acked(done)

    async def settle(keep: int) -> None:
        done = 0
        try:
            while len(pending) > keep or (pending and pending[0].done()):
                head = pending[0]
                if not head.done():  # not ``await head``: a cancel would cancel the send
                    await asyncio.wait((head,))
                pending.popleft().result()  # raises the send's error, if any
                done += 1
        finally:
            count(done)

    async def drain() -> None:
        try:
            if pending:
                await asyncio.wait(pending)
        finally:
            over = [f for f in pending if f.done()]
            count(sum(1 for f in over if not f.cancelled() and f.exception() is None))
            sent.unsettled = len(pending) - len(over)

    async def each() -> AsyncIterator[PreparedEvent]:
        if isinstance(events, AsyncIterator):
            async for ev in events:
                yield ev
        else:
            for ev in events:
                yield ev

    try:
        async for ev in each():
            pending.append(await producer.send(topics.DEMANDES, ev.value, key=ev.key))
            if len(pending) % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # the producer's sender runs between records of a sync input
            if len(pending) >= window or pending[0].done():  # acknowledged ones let go at once
                await settle(window // 2 if len(pending) >= window else len(pending))
        await settle(0)
    except (asyncio.CancelledError, Exception):
        # what the producer holds: acknowledged or failed, and counted (a Ctrl-C, or a
        # failed send: the records before it may have reached the broker, and the caller
        # says how many did)
        await drain()
        raise
    return sent.acked


async def publish_events(settings: HubSettings,
                         events: Iterable[PreparedEvent] | AsyncIterator[PreparedEvent],
                         *, window: int = DEFAULT_WINDOW,
                         on_acked: Callable[[int], None] | None = None,
                         sent: Sent | None = None) -> int:  # fmt: skip
    """Produce events to hub.demandes (keyed by numéro unique); return the count acked.
    Streams: see :func:`send_all` (at most ``window`` records held at a time; ``sent``:
    its progress, also when cancelled). A failure of Kafka is a :class:`TransientError`
    (what was acknowledged before stays published)."""
    await ensure_topics(settings, core_topics(settings))
    producer = new_producer(settings)
    try:
        await producer.start()
        return await send_all(producer, events, window=window, on_acked=on_acked, sent=sent)
    except KafkaError as exc:
        raise TransientError(f"publishing to {topics.DEMANDES} failed: {exc}") from exc
    finally:
        await producer.stop()
