"""Avro binary writer/reader built once per schema (:func:`compile_schema`).

Why: fastavro picks a union branch by validating the whole datum against each branch, so
writing our deeply nested ``["null", record]`` snapshots costs O(depth × size) — about 2 ms
for a full demand. The hub's writer and reader know the branch from ``value is None`` and
read and write in a single pass; they are generated as Python source
(:mod:`schemas.codegen`). fastavro stays the reference implementation: the tests check
both agree byte for byte, and it still does schema resolution for historical writer
versions.

Contracts: ``writer(schema)(value) -> bytes`` raises :class:`Mismatch` (with the field path,
never the value) when the value does not fit; records refuse unknown keys and fill missing
ones from the field default. ``reader(schema)(buf, pos) -> (value, pos)`` raises
:class:`Corrupt`, ``IndexError`` (truncated) or ``UnicodeDecodeError``; a declared
array/map block count larger than the bytes left is refused at once (every item takes at
least one byte, which the registry guarantees), so hostile lengths cost nothing.
Input schemas are stand-alone (named types expanded at first use), logical types stripped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from schemas.avro_binary import Corrupt, Mismatch, read_long, write_long
from schemas.codegen import Read, Write, generate

__all__ = ["Corrupt", "Mismatch", "Read", "Write", "compile_schema", "read_long", "write_long"]


def compile_schema(schema: Any) -> tuple[Callable[[Any], bytes], Read]:
    """(writer, reader) of a stand-alone schema without logical types."""
    label = schema.get("name", "") if isinstance(schema, dict) else ""
    w, r, _ = generate(schema, label)

    def write(value: Any) -> bytes:
        out = bytearray()
        w(value, out)
        return bytes(out)

    return write, r
