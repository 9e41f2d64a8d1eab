"""The pieces every Avro binary writer and reader of the hub shares: its two errors, the
zigzag varint, and how an error names unknown fields.

Contracts: :func:`write_long` appends the zigzag varint of any int of the ``long`` range;
:func:`read_long` returns (value, next position), raises :class:`Corrupt` past 10 bytes
and ``IndexError`` when the bytes end first. :func:`field_names` is one short line whatever
the names (a few shown, each cut, escaped by ``repr`` unless a plain identifier).
"""

from __future__ import annotations

from typing import Any

_SHOWN_NAMES, _NAME_CHARS = 3, 40


class Mismatch(ValueError):
    """The value does not fit the schema at ``path``."""


class Corrupt(ValueError):
    """The bytes are not a valid encoding of the schema."""


def field_names(extra: set[Any]) -> str:
    """Unknown field names for an error message (see the module doc)."""
    shown = []
    for name in sorted(map(str, extra))[:_SHOWN_NAMES]:
        plain = name.isidentifier() and name.isascii() and len(name) <= _NAME_CHARS
        shown.append(name if plain else repr(name[:_NAME_CHARS]))
    more = len(extra) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more else "")


def write_long(n: int, out: bytearray) -> None:
    n = (n << 1) ^ (n >> 63)  # zigzag
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def read_long(buf: bytes, pos: int) -> tuple[int, int]:
    b = buf[pos]
    pos += 1
    n, shift = b & 0x7F, 7
    while b & 0x80:
        if shift > 63:
            raise Corrupt("varint longer than 10 bytes")
        b = buf[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        shift += 7
    return (n >> 1) ^ -(n & 1), pos
