"""Turning raw inputs into validated, encoded demand events, and producing them.

Used by ``hub publish``, ``hub demo``, the REST API and the connectors. Validation is the
same the worker applies (schema, numéro unique, codes, known communes), so what a person
publishes does not end in the DLQ for a reason that could have been told at once.

A creation without numéro unique (CRE/CRS the SNE has not numbered yet) is legal input:
:func:`prepare_event` has it numbered by the SNE (:mod:`hub.numbering`) after every check
of the hub passed and before the event is keyed; :func:`check_event` validates without
calling the SNE (dry runs). Nothing is ever keyed by an empty number.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

from dispatch.logic import TERRITORY_FREE_OPERATIONS, validate_event
from dispatch.matching import WISHED_COMMUNE
from dispatch.state import wished_communes
from hub import topics
from hub.errors import InputError, UnknownCommuneError
from hub.geo import get_geography
from hub.jsonlines import read_objects
from hub.kafka.admin import core_topics, ensure_topics
from hub.kafka.client import new_producer
from hub.numbering import CREATIONS, needs_number, number, require_sne
from hub.settings import HubSettings
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


#: what :func:`iter_inputs` yields for one event: JSON object, XML bytes, or the refusal
Raw: TypeAlias = dict[str, Any] | bytes | InputError


def iter_inputs(paths: Iterable[Path], limits: InputLimits) -> Iterator[tuple[str, Raw]]:
    """Yield (location, raw) for every event in files or folders: an object per JSON line
    (location ``file:line``), the bytes of an XML document (one interfaceNuu document per
    file), or the :class:`InputError` refusing that line or file (unreadable ones too).
    Memory stays bounded by ``limits`` whatever the files hold; never raises."""
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            suffix = f.suffix.lower()
            if suffix not in (".xml", ".jsonl", ".json", ".ndjson"):
                if not path.is_dir():  # other files in a folder are not ours
                    yield str(f), InputError(
                        f"unsupported file type {suffix or '(none)'}; use .jsonl or .xml"
                    )
                continue
            try:
                if suffix == ".xml":
                    yield str(f), read_bounded(f, limits.max_file_bytes)
                    continue
                with f.open("rb") as fh:
                    for n, raw in read_objects(fh, max_line_bytes=limits.max_line_bytes,
                                               max_depth=limits.max_json_depth):
                        yield f"{f}:{n}", raw
            except OSError as exc:  # unreadable: refused like bad content, the rest goes on
                yield str(f), InputError(f"cannot read the file ({exc.strerror or exc})")


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
_PENDING_NUMBER = "000000000000000000"


def _parse(raw: Raw, max_xml_bytes: int | None) -> tuple[dict[str, Any], bytes | None]:
    """(event, XML document or None) of a raw input; :class:`InputError` if unusable."""
    if isinstance(raw, InputError):
        raise raw
    if isinstance(raw, bytes):
        from connectors.interfacenuu import xmlsafe
        from connectors.interfacenuu.mapping import parse_demande_xml

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
        probe = {**event, "numUnique": _PENDING_NUMBER,
                 "demande": {**demande, "demandeLogement": dl} if demande else None}
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


def check_event(raw: Raw, *, max_xml_bytes: int | None = None) -> dict[str, Any]:
    """Validate one raw event as :func:`prepare_event` does, without calling the SNE: the
    event (a creation without number keeps an empty ``numUnique``: see
    :func:`hub.numbering.needs_number`; refused when no SNE is configured)."""
    event, _ = _parse(raw, max_xml_bytes)
    _checked(event)
    return event


def prepare_event(raw: Raw, *, max_xml_bytes: int | None = None) -> PreparedEvent:
    """Validate one raw event and encode it. Raises :class:`InputError` with one line for
    anything that is not a valid DemandeEvent, whatever its JSON type or shape: the
    record must fit the DemandeEvent schema before the business rules look at it.
    A creation without numéro unique is numbered by the SNE once the hub's checks passed
    (:func:`hub.numbering.number`: refused in one line when no SNE is configured or the SNE
    refuses; ``SneUnavailable``, retriable, when it cannot be reached), then keyed by
    that number. ``max_xml_bytes``: cap of an XML document (default: the XML parser's own)."""
    event, document = _parse(raw, max_xml_bytes)
    value = _checked(event)
    if needs_number(event):
        event = number(event, document)
        value = get_codec().encode("DemandeEvent", event)
        validate_event(event)
    return PreparedEvent(key=event["numUnique"].encode(), value=value, event=event)


async def publish_events(settings: HubSettings, events: Iterable[PreparedEvent]) -> int:
    """Produce events to hub.demandes (keyed by numéro unique); return the count acked."""
    await ensure_topics(settings, core_topics(settings))
    producer = new_producer(settings)
    await producer.start()
    count = 0
    try:
        futures = []
        for ev in events:
            futures.append(await producer.send(topics.DEMANDES, ev.value, key=ev.key))
            count += 1
        for fut in futures:
            await fut
    finally:
        await producer.stop()
    return count
