"""Turning raw inputs into validated, encoded demand events, and producing them.

Used by ``hub publish``, ``hub demo`` and the connectors. Validation is the same the
worker applies (schema, numéro unique, codes, known communes), so what a person publishes
does not end in the DLQ for a reason that could have been told at once.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dispatch.logic import validate_event
from dispatch.state import wished_communes
from hub import topics
from hub.errors import InputError
from hub.geo import get_geography
from hub.kafka.admin import core_topics, ensure_topics
from hub.kafka.client import new_producer
from hub.settings import HubSettings
from schemas import get_codec

MAX_LINE = 1_000_000


@dataclass(frozen=True, slots=True)
class PreparedEvent:
    key: bytes
    value: bytes
    event: dict[str, Any]


def iter_inputs(paths: Iterable[Path]) -> Iterator[tuple[str, dict[str, Any] | bytes]]:
    """Yield (location, raw) for every event in files or folders: dicts from JSON lines,
    bytes from XML documents (one interfaceNuu document per file)."""
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            suffix = f.suffix.lower()
            if suffix == ".xml":
                yield str(f), f.read_bytes()
            elif suffix in (".jsonl", ".json", ".ndjson"):
                with f.open("rb") as fh:
                    for n, line in enumerate(fh, 1):
                        if not line.strip():
                            continue
                        if len(line) > MAX_LINE:
                            yield f"{f}:{n}", {"__error__": "line longer than 1 MB"}
                            continue
                        try:
                            yield f"{f}:{n}", json.loads(line)
                        except ValueError as exc:
                            yield f"{f}:{n}", {"__error__": f"not JSON: {exc}"}
            elif path.is_dir():
                continue  # other files in a folder are not ours
            else:
                yield (
                    str(f),
                    {
                        "__error__": f"unsupported file type {suffix or '(none)'}; "
                        "use .jsonl or .xml"
                    },
                )


def prepare_event(raw: dict[str, Any] | bytes) -> PreparedEvent:
    """Validate one raw event and encode it. Raises :class:`InputError` with one line."""
    if isinstance(raw, bytes):
        from connectors.interfacenuu.mapping import parse_demande_xml

        event = parse_demande_xml(raw)
    else:
        if "__error__" in raw:
            raise InputError(str(raw["__error__"]))
        if not isinstance(raw, dict):
            raise InputError("a JSON line must be an object")
        event = dict(raw)
        event.setdefault("eventId", str(uuid.uuid4()))
        event.setdefault("occurredAt", int(time.time() * 1000))
        event.setdefault("source", "cli")
        for required in ("numUnique", "operation"):
            if not isinstance(event.get(required), str):
                raise InputError(f"missing or non-string field {required!r}")
    validate_event(event)
    geography = get_geography()
    for commune in wished_communes(event.get("demande")):
        geography.commune(commune)  # raises UnknownCommuneError
    value = get_codec().encode("DemandeEvent", event)
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
