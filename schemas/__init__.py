"""Avro schemas of the hub and their single-object codec.

``get_codec().encode("DemandeEvent", record)`` / ``get_codec().decode(data)``; see
:mod:`schemas.codec` for the wire format and error contract and :mod:`schemas.registry`
for how schemas are loaded, fingerprinted and evolved.
"""

from schemas.codec import DEFAULT_MAX_BYTES, HEADER_SIZE, MARKER, Codec, get_codec
from schemas.registry import AVRO_DIR, SchemaRegistry, WriterSchema

__all__ = [
    "AVRO_DIR",
    "DEFAULT_MAX_BYTES",
    "HEADER_SIZE",
    "MARKER",
    "Codec",
    "SchemaRegistry",
    "WriterSchema",
    "get_codec",
]
