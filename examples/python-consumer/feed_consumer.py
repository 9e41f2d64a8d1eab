"""Read an actor's Passerelle feed (Kafka topic ``hub.feed.<actor>``) and decode every
record with fastavro and the ``.avsc`` files of ``schemas/avro/`` (docs/consumers.md).

    python feed_consumer.py --bootstrap 127.0.0.1:29092 --actor my-actor \
        --schemas path/to/schemas/avro [--idle 5]

Prints one JSON line per record (partition, offset and the main fields) and exits once no
record came for ``--idle`` seconds. Needs ``fastavro`` and ``aiokafka`` (pip install).

Each message value is Avro "single object encoding": ``C3 01``, then the 8-byte
CRC-64-AVRO fingerprint of the writer schema, then the Avro binary body. The fingerprint
says which version of ``FeedRecord`` wrote the record: the current one or an archived one
(``history/FeedRecord.v<N>.avsc``); the body is read with that writer schema and resolved
to the current one (fields added since then take their default).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from fastavro import parse_schema, schemaless_reader
from fastavro.schema import fingerprint, load_schema, to_parsing_canonical_form

MARKER = b"\xc3\x01"


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


def decode(value: bytes, reader: Any, writers: dict[bytes, Any]) -> dict[str, Any]:
    """One FeedRecord from a message value; ValueError if it is not one we know."""
    if value[:2] != MARKER:
        raise ValueError("not an Avro single-object message")
    writer = writers.get(value[2:10])
    if writer is None:
        raise ValueError(f"unknown writer schema {value[2:10].hex()}: update schemas/avro")
    record: dict[str, Any] = schemaless_reader(io.BytesIO(value[10:]), writer, reader)
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


async def consume(bootstrap: str, actor: str, avro_dir: Path, idle_s: float) -> None:
    reader, writers = feed_schemas(avro_dir)
    consumer = AIOKafkaConsumer(f"hub.feed.{actor}", bootstrap_servers=bootstrap,
                                group_id=None,  # no group: every partition, no commit
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        while batch := await consumer.getmany(timeout_ms=int(idle_s * 1000)):
            for messages in batch.values():
                for m in messages:
                    record = decode(m.value, reader, writers)
                    print(json.dumps({"partition": m.partition, "offset": m.offset,
                                      **summary(record)}), flush=True)
    finally:
        await consumer.stop()


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    args.add_argument("--bootstrap", default="127.0.0.1:29092")
    args.add_argument("--actor", required=True)
    args.add_argument("--schemas", type=Path, default=Path("schemas/avro"))
    args.add_argument("--idle", type=float, default=5.0, help="exit after this many idle s")
    a = args.parse_args()
    asyncio.run(consume(a.bootstrap, a.actor, a.schemas, a.idle))


if __name__ == "__main__":
    main()
