"""Avro binary writer/reader compiled once per schema into closures.

Why: fastavro picks a union branch by validating the whole datum against each branch, so
writing our deeply nested ``["null", record]`` snapshots costs O(depth × size) — about 2 ms
for a full demand. Compiled closures know the branch from ``value is None`` and read and
write in a single pass. fastavro stays the reference implementation: the tests check both
agree byte for byte, and it still does schema resolution for historical writer versions.

Contracts: ``writer(schema)(value) -> bytes`` raises :class:`Mismatch` (with the field path,
never the value) when the value does not fit; records refuse unknown keys and fill missing
ones from the field default. ``reader(schema)(buf, pos) -> (value, pos)`` raises
:class:`Corrupt`, ``IndexError`` (truncated) or ``UnicodeDecodeError``; a declared
array/map block count larger than the bytes left is refused at once (every item takes at
least one byte, which the registry guarantees), so hostile lengths cost nothing.
Input schemas are stand-alone (named types expanded at first use), logical types stripped.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

Write = Callable[[Any, bytearray], None]
Read = Callable[[bytes, int], tuple[Any, int]]
_MISSING = object()
_RANGES = {"int": (-(2**31), 2**31), "long": (-(2**63), 2**63)}
_STRUCTS = {"float": struct.Struct("<f"), "double": struct.Struct("<d")}
_SHOWN_NAMES, _NAME_CHARS = 3, 40


def _field_names(extra: set[Any]) -> str:
    """Unknown field names for an error message: one line and short whatever the input
    (a few names, each cut, escaped by ``repr`` unless a plain identifier)."""
    shown = []
    for name in sorted(map(str, extra))[:_SHOWN_NAMES]:
        plain = name.isidentifier() and name.isascii() and len(name) <= _NAME_CHARS
        shown.append(name if plain else repr(name[:_NAME_CHARS]))
    more = len(extra) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more else "")


class Mismatch(ValueError):
    """The value does not fit the schema at ``path``."""


class Corrupt(ValueError):
    """The bytes are not a valid encoding of the schema."""


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


def _fullname(node: dict[str, Any], ns: str | None) -> str:
    name: str = node["name"]
    return name if "." in name or not ns else f"{ns}.{name}"


class _Compiler:
    def __init__(self) -> None:
        self.writers: dict[str, Write] = {}
        self.readers: dict[str, Read] = {}

    def compile(self, node: Any, ns: str | None, path: str) -> tuple[Write, Read]:
        if isinstance(node, list):
            return self.union(node, ns, path)
        if isinstance(node, str):
            if node in self.writers:  # a named type defined earlier
                return self.writers[node], self.readers[node]
            full = node if "." in node or not ns else f"{ns}.{node}"
            if full in self.writers:
                return self.writers[full], self.readers[full]
            return self.primitive(node, path)
        t = node["type"]
        if isinstance(t, (list, dict)) or t not in (
            "record",
            "error",
            "enum",
            "fixed",
            "array",
            "map",
        ):
            return self.compile(t, ns, path)
        if t in ("array", "map"):
            return self.container(node, ns, path)
        ns = node.get("namespace", ns)
        full = _fullname(node, ns)
        w, r = self.record(node, ns, full) if t in ("record", "error") else self.simple(node, path)
        self.writers[full], self.readers[full] = w, r
        return w, r

    def primitive(self, t: str, path: str) -> tuple[Write, Read]:
        def fail(v: Any) -> Mismatch:
            return Mismatch(f"{path}: expected {t}, got {type(v).__name__}")

        if t == "null":

            def w(v: Any, out: bytearray) -> None:
                if v is not None:
                    raise fail(v)

            return w, lambda buf, pos: (None, pos)
        if t == "boolean":

            def w(v: Any, out: bytearray) -> None:
                if v is not True and v is not False:
                    raise fail(v)
                out.append(1 if v else 0)

            def r(buf: bytes, pos: int) -> tuple[Any, int]:
                b = buf[pos]
                if b > 1:
                    raise Corrupt(f"{path}: boolean byte {b}")
                return b == 1, pos + 1

            return w, r
        if t in _RANGES:
            lo, hi = _RANGES[t]

            def w(v: Any, out: bytearray) -> None:
                if type(v) is not int or not lo <= v < hi:
                    raise fail(v)
                write_long(v, out)

            def r(buf: bytes, pos: int) -> tuple[Any, int]:
                v, pos = read_long(buf, pos)
                if not lo <= v < hi:
                    raise Corrupt(f"{path}: {t} out of range")
                return v, pos

            return w, r
        if t in _STRUCTS:
            st = _STRUCTS[t]

            def wfloat(v: Any, out: bytearray) -> None:
                if type(v) not in (int, float):
                    raise fail(v)
                out += st.pack(v)

            def rfloat(buf: bytes, pos: int) -> tuple[Any, int]:
                return st.unpack_from(buf, pos)[0], pos + st.size

            return wfloat, rfloat
        if t not in ("string", "bytes"):
            raise ValueError(f"unsupported Avro type {t!r} at {path}")
        text = t == "string"

        def wstr(v: Any, out: bytearray) -> None:
            if text and type(v) is str:
                try:
                    v = v.encode()
                except UnicodeEncodeError:
                    raise Mismatch(f"{path}: string is not encodable as UTF-8") from None
            elif text or type(v) not in (bytes, bytearray):
                raise fail(v)
            write_long(len(v), out)
            out += v

        def rstr(buf: bytes, pos: int) -> tuple[Any, int]:
            n = buf[pos]
            if n < 0x80 and not n & 1:  # fast path: a length below 64 is one even byte
                n, pos = n >> 1, pos + 1
            else:
                n, pos = read_long(buf, pos)
            end = pos + n
            if n < 0 or end > len(buf):
                raise IndexError(f"{path}: {t} longer than the message")
            return (str(buf[pos:end], "utf-8") if text else bytes(buf[pos:end])), end

        return wstr, rstr

    def record(self, node: dict[str, Any], ns: str | None, full: str) -> tuple[Write, Read]:
        fields: list[tuple[str, Write, Read, Any]] = []
        names = frozenset(f["name"] for f in node["fields"])
        # registered before the fields so that a recursive reference finds it
        self.writers[full] = lambda v, out: w(v, out)
        self.readers[full] = lambda buf, pos: r(buf, pos)
        for f in node["fields"]:
            fw, fr = self.compile(f["type"], ns, f"{full}.{f['name']}")
            fields.append((f["name"], fw, fr, f.get("default", _MISSING)))

        def w(v: Any, out: bytearray) -> None:
            if type(v) is not dict:
                raise Mismatch(f"{full}: expected a dict, got {type(v).__name__}")
            if not names.issuperset(v):
                raise Mismatch(f"{full}: unknown fields {_field_names(set(v) - names)}")
            for name, fw, _, default in fields:
                x = v.get(name, default)
                if x is _MISSING:
                    raise Mismatch(f"{full}.{name}: missing and without default")
                fw(x, out)

        def r(buf: bytes, pos: int) -> tuple[Any, int]:
            rec = {}
            for name, _, fr, _ in fields:
                rec[name], pos = fr(buf, pos)
            return rec, pos

        return w, r

    def union(self, branches: list[Any], ns: str | None, path: str) -> tuple[Write, Read]:
        compiled = [self.compile(b, ns, path) for b in branches]
        if len(branches) == 2 and branches[0] == "null":  # the common ["null", T]
            (_, _), (tw, tr) = compiled

            def w(v: Any, out: bytearray) -> None:
                if v is None:
                    out.append(0)
                else:
                    out.append(2)
                    tw(v, out)

            def r(buf: bytes, pos: int) -> tuple[Any, int]:
                b = buf[pos]
                if b == 0:
                    return None, pos + 1
                if b != 2:
                    raise Corrupt(f"{path}: union index byte {b}")
                return tr(buf, pos + 1)

            if branches[1] != "string":
                return w, r

            def rs(buf: bytes, pos: int) -> tuple[Any, int]:  # r with the string read inlined
                b = buf[pos]
                if b == 0:
                    return None, pos + 1
                if b != 2:
                    raise Corrupt(f"{path}: union index byte {b}")
                n = buf[pos + 1]
                if n < 0x80 and not n & 1:
                    end = pos + 2 + (n >> 1)
                    if end > len(buf):
                        raise IndexError(f"{path}: string longer than the message")
                    return str(buf[pos + 2 : end], "utf-8"), end
                return tr(buf, pos + 1)

            return w, rs

        def wg(v: Any, out: bytearray) -> None:
            for index, (bw, _) in enumerate(compiled):  # first branch that takes the value
                tmp = bytearray()
                try:
                    bw(v, tmp)
                except Mismatch:
                    continue
                write_long(index, out)
                out += tmp
                return
            raise Mismatch(f"{path}: value fits no branch of the union")

        def rg(buf: bytes, pos: int) -> tuple[Any, int]:
            index, pos = read_long(buf, pos)
            if not 0 <= index < len(compiled):
                raise Corrupt(f"{path}: union index {index}")
            return compiled[index][1](buf, pos)

        return wg, rg

    def container(self, node: dict[str, Any], ns: str | None, path: str) -> tuple[Write, Read]:
        is_map = node["type"] == "map"
        iw, ir = self.compile(node["values" if is_map else "items"], ns, path + "[]")
        kw, kr = self.primitive("string", path + "{}")

        def w(v: Any, out: bytearray) -> None:
            ok = type(v) is dict if is_map else type(v) in (list, tuple)
            if not ok:
                raise Mismatch(f"{path}: expected a {node['type']}, got {type(v).__name__}")
            if v:
                write_long(len(v), out)
                if is_map:
                    for key, item in v.items():
                        kw(key, out)
                        iw(item, out)
                else:
                    for item in v:
                        iw(item, out)
            out.append(0)

        def r(buf: bytes, pos: int) -> tuple[Any, int]:
            items: Any = {} if is_map else []
            count, pos = read_long(buf, pos)
            while count:
                if count < 0:  # a block with its byte size: skip the size
                    count = -count
                    _, pos = read_long(buf, pos)
                if count > len(buf) - pos:  # each item takes ≥ 1 byte: cheap length guard
                    raise Corrupt(f"{path}: declared {count} items, {len(buf) - pos} bytes left")
                for _ in range(count):
                    if is_map:
                        key, pos = kr(buf, pos)
                        items[key], pos = ir(buf, pos)
                    else:
                        item, pos = ir(buf, pos)
                        items.append(item)
                count, pos = read_long(buf, pos)
            return items, pos

        return w, r

    def simple(self, node: dict[str, Any], path: str) -> tuple[Write, Read]:
        if node["type"] == "fixed":
            size = int(node["size"])

            def wf(v: Any, out: bytearray) -> None:
                if type(v) not in (bytes, bytearray) or len(v) != size:
                    raise Mismatch(f"{path}: expected {size} fixed bytes")
                out += v

            def rf(buf: bytes, pos: int) -> tuple[Any, int]:
                if pos + size > len(buf):
                    raise IndexError(f"{path}: fixed longer than the message")
                return bytes(buf[pos : pos + size]), pos + size

            return wf, rf
        symbols: list[str] = node["symbols"]
        index = {s: i for i, s in enumerate(symbols)}

        def we(v: Any, out: bytearray) -> None:
            if type(v) is not str or v not in index:
                raise Mismatch(f"{path}: not a symbol of the enum")
            write_long(index[v], out)

        def re_(buf: bytes, pos: int) -> tuple[Any, int]:
            i, pos = read_long(buf, pos)
            if not 0 <= i < len(symbols):
                raise Corrupt(f"{path}: enum index {i}")
            return symbols[i], pos

        return we, re_


def compile_schema(schema: Any) -> tuple[Callable[[Any], bytes], Read]:
    """(writer, reader) of a stand-alone schema without logical types."""
    w, r = _Compiler().compile(
        schema, None, schema.get("name", "") if isinstance(schema, dict) else ""
    )

    def write(value: Any) -> bytes:
        out = bytearray()
        w(value, out)
        return bytes(out)

    return write, r
