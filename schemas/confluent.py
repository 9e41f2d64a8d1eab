"""The Confluent wire format of a Kafka record value, beside Avro single-object encoding.

Layout (Confluent Schema Registry, "Wire format")::

    00 | 4 bytes: schema id, big-endian (signed 32-bit, >= 0 in practice) | Avro binary body

The body is the same Avro binary as in single-object encoding (``C3 01`` + 8-byte
fingerprint + body, :mod:`schemas.codec`): going from one framing to the other only swaps
the header, so the hub encodes once (and splices, :mod:`dispatch.feedbytes`) in
single-object form and reframes at the end.

Contracts:

* :func:`frame` / :func:`unframe` are exact inverses over ids in ``0 .. 2**31 - 1`` and
  any body; :func:`unframe` refuses (``DecodeError``) a value shorter than 5 bytes or not
  starting with ``00``.
* :class:`SchemaIds` maps registry ids to the hub's writer fingerprints (both ways). An id
  it does not know is asked of its ``resolver`` (the registry, installed by
  :mod:`hub.core.schema_registry`), once per id; with no resolver, or an id the resolver
  does not know, decoding raises ``DecodeError`` (code ``unknown_schema``).
* :data:`IDS` is the process-wide table the codec reads Confluent-framed values with
  (:meth:`schemas.codec.Codec.decode`), as :func:`schemas.codec.get_codec` is the
  process-wide codec.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from fastavro.schema import fingerprint, to_parsing_canonical_form

from hub.core.errors import DecodeError

MAGIC = b"\x00"
PREFIX_SIZE = 5
MAX_ID = 2**31 - 1
#: the single-object header this module swaps for the Confluent prefix
_SINGLE_MARKER = b"\xc3\x01"
_SINGLE_SIZE = 10


def frame(schema_id: int, body: bytes) -> bytes:
    """``00`` + ``schema_id`` (4 bytes, big-endian) + ``body``."""
    if not 0 <= schema_id <= MAX_ID:
        raise ValueError(f"schema id {schema_id} out of 0..{MAX_ID}")
    return MAGIC + schema_id.to_bytes(4, "big") + body


def unframe(data: bytes) -> tuple[int, bytes]:
    """(schema id, Avro body) of a Confluent-framed value."""
    if len(data) < PREFIX_SIZE:
        raise DecodeError(f"message is {len(data)} bytes, shorter than the 5-byte prefix")
    if data[:1] != MAGIC:
        raise DecodeError(f"bad magic byte {bytes(data[:1]).hex()}, expected 00 (Confluent)")
    return int.from_bytes(data[1:PREFIX_SIZE], "big"), bytes(data[PREFIX_SIZE:])


def schema_fingerprint(schema: Any) -> bytes:
    """The 8-byte CRC-64-AVRO fingerprint (single-object order) of a schema given as JSON
    text or data, over its Parsing Canonical Form: what :mod:`schemas.registry` computes
    for its own files, so a schema read back from a registry finds its writer version."""
    obj = json.loads(schema) if isinstance(schema, str) else schema
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(obj), "CRC-64-AVRO"))


class SchemaIds:
    """Registry ids <-> writer fingerprints of one process. Thread-safe."""

    def __init__(self) -> None:
        self._by_id: dict[int, bytes] = {}
        self._by_fp: dict[bytes, int] = {}
        self._lock = threading.Lock()
        #: id -> fingerprint of the schema the registry holds under that id, or None
        self.resolver: Callable[[int], bytes | None] | None = None

    def learn(self, schema_id: int, fp: bytes) -> None:
        with self._lock:
            self._by_id[schema_id] = fp
            self._by_fp[fp] = schema_id

    def forget(self) -> None:
        """Drop every id (and the resolver): back to a process that never met a registry."""
        with self._lock:
            self._by_id.clear()
            self._by_fp.clear()
        self.resolver = None

    def id_of(self, fp: bytes) -> int | None:
        """The registry id learned for writer fingerprint ``fp``, or None."""
        return self._by_fp.get(fp)

    def fingerprint_of(self, schema_id: int) -> bytes:
        """The writer fingerprint of ``schema_id`` (asks the resolver once when unknown)."""
        fp = self._by_id.get(schema_id)
        if fp is None and self.resolver is not None:
            fp = self.resolver(schema_id)
            if fp is not None:
                self.learn(schema_id, fp)
        if fp is None:
            raise DecodeError(f"unknown schema id {schema_id}", code="unknown_schema")
        return fp

    def to_single_object(self, data: bytes) -> bytes:
        """A Confluent-framed value as single-object bytes (same body)."""
        schema_id, body = unframe(data)
        return _SINGLE_MARKER + self.fingerprint_of(schema_id) + body

    def to_confluent(self, data: bytes) -> bytes:
        """Single-object bytes as a Confluent-framed value (same body); ``KeyError`` when
        no id was learned for their writer schema (register it first)."""
        schema_id = self._by_fp[bytes(data[2:_SINGLE_SIZE])]
        return frame(schema_id, bytes(data[_SINGLE_SIZE:]))


#: the process's table (read by :class:`schemas.codec.Codec` for ``00``-framed values)
IDS = SchemaIds()
