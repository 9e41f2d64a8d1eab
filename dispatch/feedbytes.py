"""Encode-once fan-out across profiles: one FeedRecord encoding reused for every profile
that sees the same snapshot.

A FeedRecord differs between two profiles only by its ``profile`` field when the profile
cut left the snapshot unchanged (the common case: no sensitive field set). Re-encoding
the whole snapshot for each profile would cost a full Avro write per profile; instead the
``profile`` string is replaced in the bytes already written. This is valid Avro because
the fields before it (kind, eventId, numUnique, operation: strings; demandeVersion,
occurredAt, dispatchedAt: longs) are skipped exactly, and the result is byte-identical to
a full encode (tested). If the current FeedRecord schema does not start with those
fields, :class:`FeedBytes` falls back to full encodes.
"""

from __future__ import annotations

from typing import Any

from schemas import Codec
from schemas.codec import HEADER_SIZE
from schemas.compiled import read_long, write_long

_HEAD = [
    ("kind", "string"),
    ("eventId", "string"),
    ("numUnique", "string"),
    ("operation", "string"),
    ("demandeVersion", "long"),
    ("occurredAt", "long"),
    ("dispatchedAt", "long"),
    ("profile", "string"),
]


def _type(t: Any) -> Any:
    return t["type"] if isinstance(t, dict) else t


def _long_bytes(n: int) -> bytes:
    out = bytearray()
    write_long(n, out)
    return bytes(out)


class FeedBytes:
    """Per-emission cache: ``encode(record)`` returns the record's bytes, reusing an
    earlier encoding of the same kind/reason/snapshot with another profile."""

    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        schema = codec.registry.current("FeedRecord").schema
        fields = schema.get("fields", []) if isinstance(schema, dict) else []
        self.splice = [(f["name"], _type(f["type"])) for f in fields[: len(_HEAD)]] == _HEAD
        self._done: list[tuple[dict[str, Any], bytes]] = []

    def encode(self, record: dict[str, Any]) -> bytes:
        if self.splice:
            for prev, data in self._done:
                if (
                    prev["kind"] == record["kind"]
                    and prev["reason"] == record["reason"]
                    and prev["eventId"] == record["eventId"]
                    and prev["dispatchedAt"] == record["dispatchedAt"]
                    and prev["operation"] == record["operation"]
                    and prev["changedFields"] == record["changedFields"]
                    and prev["evenement"] == record["evenement"]
                    and (
                        prev["demande"] is record["demande"] or prev["demande"] == record["demande"]
                    )
                ):
                    if prev["profile"] == record["profile"]:
                        return data
                    return self._with_profile(data, record["profile"])
        data = self.codec.encode("FeedRecord", record)
        self._done.append((record, data))
        return data

    @staticmethod
    def _with_profile(data: bytes, profile: str) -> bytes:
        pos = HEADER_SIZE
        for _ in range(4):  # kind, eventId, numUnique, operation
            n, pos = read_long(data, pos)
            pos += n
        for _ in range(3):  # demandeVersion, occurredAt, dispatchedAt
            _, pos = read_long(data, pos)
        n, end = read_long(data, pos)
        raw = profile.encode()
        return data[:pos] + _long_bytes(len(raw)) + raw + data[end + n :]
