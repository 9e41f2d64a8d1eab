"""One field of a record carried as its encoded bytes: read its span, write it back as is.

Why: a demand event's snapshot (``demande``, most of its ~1 kB) goes unchanged into the
demand's state and into the feed records of every profile that sees it whole. Writing it
again costs a full Avro encode per state and per feed record, the largest item of a
dispatch worker's profile once decoding is counted. Avro's binary encoding of a record is
the concatenation of its fields' encodings, so a record whose field ``f`` holds the same
value, of the same type, can be written as ``prefix + bytes of f as read + suffix``.

Contracts:

* :class:`FieldSplice` is built for one current schema and one field name; ``usable`` is
  False when the field is missing or its neighbours cannot be compiled on their own (a
  named type defined on one side and used on the other); every method then declines.
* ``read(buf, pos)`` returns the record exactly as the schema's compiled reader does,
  plus the ``(start, end)`` span of the field's bytes; it raises what that reader raises.
* ``write(record, raw)`` returns the body (no single-object header) whose field ``f`` is
  ``raw`` and whose other fields come from ``record``; it raises
  :class:`~schemas.compiled.Mismatch` like the schema's writer. ``raw`` must be an
  encoding of ``record[f]`` with the same field type (:func:`same_type` checks two fields):
  the result then decodes to ``record``. It is byte-identical to a full encode when
  ``raw`` came from this package's writer (any Avro writer may block arrays differently:
  the result still decodes to the same value).
"""

from __future__ import annotations

import json
from typing import Any

from schemas.compiled import Mismatch, compile_schema
from schemas.registry import WriterSchema, strip_logical


def _field_type(ws: WriterSchema, field: str) -> Any | None:
    for f in strip_logical(ws.schema).get("fields", []):
        if f["name"] == field:
            return f["type"]
    return None


def same_type(a: WriterSchema, field_a: str, b: WriterSchema, field_b: str) -> bool:
    """Field ``field_a`` of ``a`` and ``field_b`` of ``b`` have the same type (so the
    bytes of one are a valid encoding of the other)."""
    ta, tb = _field_type(a, field_a), _field_type(b, field_b)
    if ta is None or tb is None:
        return False
    return json.dumps(ta, sort_keys=True) == json.dumps(tb, sort_keys=True)


def _part(name: str, fields: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "record", "name": name, "fields": fields}


class FieldSplice:
    def __init__(self, ws: WriterSchema, field: str) -> None:
        self.schema = ws
        self.field = field
        fields = strip_logical(ws.schema).get("fields", [])
        names = [f["name"] for f in fields]
        self.usable = field in names
        if not self.usable:
            return
        i = names.index(field)
        self._names = frozenset(names)
        self._before = frozenset(names[:i])
        self._after = frozenset(names[i + 1 :])
        try:  # each part stand-alone; a named type shared across parts: no splice
            self._write_before, self._read_before = compile_schema(_part("Before", fields[:i]))
            _, self._read_field = compile_schema(fields[i]["type"])
            self._write_after, self._read_after = compile_schema(_part("After", fields[i + 1 :]))
        except Exception:
            self.usable = False

    def read(self, buf: bytes, pos: int) -> tuple[dict[str, Any], int, tuple[int, int]]:
        """(record, end, (start, end) of the field's bytes) from ``buf`` at ``pos``."""
        rec, start = self._read_before(buf, pos)
        rec[self.field], end = self._read_field(buf, start)
        after, stop = self._read_after(buf, end)
        rec.update(after)
        return rec, stop, (start, end)

    def write(self, record: dict[str, Any], raw: bytes) -> bytes:
        """The body of ``record`` with ``raw`` as its field's bytes (see the module doc)."""
        if not self._names.issuperset(record):
            unknown = ", ".join(sorted(set(record) - self._names))
            raise Mismatch(f"{self.schema.fullname}: unknown fields {unknown}")
        before = self._write_before({k: v for k, v in record.items() if k in self._before})
        after = self._write_after({k: v for k, v in record.items() if k in self._after})
        return before + raw + after
