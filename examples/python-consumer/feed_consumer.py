"""Read an actor's Passerelle feed (Kafka topic ``hub.feed.<actor>``) and decode every
record with fastavro and the ``.avsc`` files of ``schemas/avro/`` (docs/consumers.md).

    cd examples/python-consumer
    python feed_consumer.py --bootstrap 127.0.0.1:29092 --actor my-actor [--idle 5] \
        [--schemas path/to/schemas/avro] [--registry URL]

Prints one JSON line per record (partition, offset and the main fields) and exits once no
record came for ``--idle`` seconds. Needs ``fastavro`` and ``aiokafka`` (pip install).
``--schemas`` defaults to the ``schemas/avro`` folder of the repository holding this file,
wherever it is run from.

Each message value is Avro "single object encoding": ``C3 01``, then the 8-byte
CRC-64-AVRO fingerprint of the writer schema, then the Avro binary body. The fingerprint
says which version of ``FeedRecord`` wrote the record: the current one or an archived one
(``history/FeedRecord.v<N>.avsc``); the body is read with that writer schema and resolved
to the current one (fields added since then take their default).

A deployment with the registry option writes the Confluent wire format instead: ``00``,
the 4-byte schema id (big-endian), the same body. With ``--registry URL`` (the registry's
Confluent-compatible API, the hub's ``HUB_REGISTRY__URL``) the writer schema is asked of
``URL/schemas/ids/<id>`` once per id; without it such a record stops the example with one
line saying so.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import os
import sys
import urllib.request
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaConnectionError
from fastavro import parse_schema, schemaless_reader
from fastavro.repository.base import SchemaRepositoryError
from fastavro.schema import fingerprint, load_schema, to_parsing_canonical_form

MARKER = b"\xc3\x01"  # Avro single-object encoding (the default)
MAGIC = b"\x00"  # the Confluent wire format (a deployment's registry option)
FEED_RECORD = "fr.passerelle.hub.FeedRecord.avsc"
#: the repository's schemas/avro, found from this file (examples/python-consumer/), not cwd
DEFAULT_SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "avro"


class Unreadable(ValueError):
    """A message value this example cannot decode; the message says what to do."""


def feed_schemas(avro_dir: Path) -> tuple[Any, dict[bytes, Any]]:
    """(reader schema, {fingerprint: writer schema}) for every FeedRecord version.

    ``load_schema`` (not ``parse_schema``): FeedRecord.avsc names the types
    ``fr.passerelle.sne.Demande`` and ``fr.passerelle.hub.EvenementGP``, which it loads
    from their own files in the same folder. Archived versions are stand-alone files."""
    reader = load_schema(avro_dir / "fr.passerelle.hub.FeedRecord.avsc")
    versions = [reader] + [parse_schema(json.loads(p.read_text()))
                           for p in sorted(avro_dir.glob("history/FeedRecord.v*.avsc"))]
    return reader, {bytes.fromhex(fingerprint(to_parsing_canonical_form(s), "CRC-64-AVRO")): s
                    for s in versions}


class Registry:
    """Writer schemas by id from a Confluent-compatible registry, each asked once."""

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        self.url, self.timeout_s = url.rstrip("/"), timeout_s
        self.schemas: dict[int, Any] = {}

    def schema(self, schema_id: int) -> Any:
        if schema_id not in self.schemas:
            url = f"{self.url}/schemas/ids/{schema_id}"
            try:
                with urllib.request.urlopen(url, timeout=self.timeout_s) as answer:
                    text = json.load(answer)["schema"]
                # the hub registers FeedRecord with its named types inlined: no files
                self.schemas[schema_id] = parse_schema(json.loads(text))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise Unreadable(f"schema id {schema_id} not read from {url}: "
                                 f"{type(exc).__name__}: {exc}") from None
        return self.schemas[schema_id]


def decode(value: bytes, reader: Any, writers: dict[bytes, Any],
           registry: Registry | None = None) -> dict[str, Any]:
    """One FeedRecord from a message value; Unreadable if it is not one we can read."""
    if value[:2] == MARKER:
        writer, body = writers.get(value[2:10]), value[10:]
        if writer is None:
            raise Unreadable(f"unknown writer schema {value[2:10].hex()}: update schemas/avro")
    elif value[:1] == MAGIC and len(value) >= 5:
        schema_id = int.from_bytes(value[1:5], "big")
        if registry is None:
            raise Unreadable(f"the record is in the Confluent wire format (magic byte 0, "
                             f"schema id {schema_id}), not Avro single-object encoding: give "
                             "--registry URL, the registry's Confluent-compatible API (the "
                             "hub's HUB_REGISTRY__URL, e.g. "
                             "http://127.0.0.1:28081/apis/ccompat/v7)")
        writer, body = registry.schema(schema_id), value[5:]
    else:
        raise Unreadable(f"not a FeedRecord: neither Avro single-object encoding (C3 01) nor "
                         f"the Confluent wire format (00); first bytes {value[:4].hex()}")
    record: dict[str, Any] = schemaless_reader(io.BytesIO(body), writer, reader)
    return record


def summary(record: dict[str, Any]) -> dict[str, Any]:
    """The fields every kind has, and what tells the kinds apart."""
    evenement = record["evenement"] or {}
    return {"kind": record["kind"], "numUnique": record["numUnique"],
            "eventId": record["eventId"], "operation": record["operation"],
            "demandeVersion": record["demandeVersion"], "profile": record["profile"],
            "reason": record["reason"], "hasDemande": record["demande"] is not None,
            "codeTypeEvenement": evenement.get("codeTypeEvenement"),
            # since FeedRecord v4 (older records read them at their defaults)
            "delaiAnormalementLong": record["delaiAnormalementLong"],
            "cotations": {c["epci"]: c["total"] for c in record["cotations"]}}


def load_schemas(avro_dir: Path) -> tuple[Any, dict[bytes, Any]]:
    """:func:`feed_schemas`, or Unreadable saying in one line what is wrong with the dir."""
    if not (avro_dir / FEED_RECORD).is_file():
        raise Unreadable(f"--schemas {avro_dir}: no {FEED_RECORD} there; give the schemas/avro "
                         f"folder of the Passerelle repository (default: {DEFAULT_SCHEMAS})")
    try:
        return feed_schemas(avro_dir)
    except (OSError, ValueError, SchemaRepositoryError) as exc:
        raise Unreadable(f"--schemas {avro_dir}: cannot load FeedRecord: "
                         f"{type(exc).__name__}: {exc}") from None


async def consume(bootstrap: str, actor: str, avro_dir: Path, idle_s: float,
                  registry: Registry | None = None) -> None:
    reader, writers = load_schemas(avro_dir)
    topic = f"hub.feed.{actor}"
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap,
                                group_id=None,  # no group: every partition, no commit
                                auto_offset_reset="earliest", enable_auto_commit=False)
    try:
        await consumer.start()
    except KafkaConnectionError:
        await consumer.stop()
        raise Unreadable(f"Kafka not reachable at {bootstrap} (--bootstrap)") from None
    try:
        # a topic the broker does not hold would be waited for, then fail: say it at once
        if topic not in await consumer.topics():
            raise Unreadable(f"no topic {topic} at {bootstrap}: is the actor {actor!r} "
                             "registered? (hub actors list)")
        consumer.subscribe([topic])
        while batch := await consumer.getmany(timeout_ms=int(idle_s * 1000)):
            for messages in batch.values():
                for m in messages:
                    try:
                        record = decode(m.value or b"", reader, writers, registry)
                    except Unreadable as exc:  # stop: a consumer must not skip a record
                        raise Unreadable(f"{m.topic} partition {m.partition} offset "
                                         f"{m.offset}: {exc}") from None
                    print(json.dumps({"partition": m.partition, "offset": m.offset,
                                      **summary(record)}), flush=True)
    finally:
        await consumer.stop()


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    args.add_argument("--bootstrap", default="127.0.0.1:29092")
    args.add_argument("--actor", required=True)
    args.add_argument("--schemas", type=Path, default=DEFAULT_SCHEMAS,
                      help="the repository's schemas/avro (default: %(default)s)")
    args.add_argument("--registry", metavar="URL", default=None,
                      help="Confluent-compatible registry API, for a feed in the Confluent "
                           "wire format (e.g. http://127.0.0.1:28081/apis/ccompat/v7)")
    args.add_argument("--idle", type=float, default=5.0, help="exit after this many idle s")
    a = args.parse_args()
    registry = Registry(a.registry) if a.registry else None
    # the client's own warnings (reconnections, metadata) would bury this example's output;
    # what stops it is said in one line below
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        asyncio.run(consume(a.bootstrap, a.actor, a.schemas, a.idle, registry))
    except Unreadable as exc:
        sys.exit(f"feed_consumer.py: error: {exc}")
    except BrokenPipeError:  # piped into `head`: the reader has had enough, not an error
        # stdout's buffer still holds bytes for the closed pipe: point it at /dev/null so
        # the interpreter's final flush does not raise again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


if __name__ == "__main__":
    main()
