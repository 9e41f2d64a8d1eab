"""Avro binary writer and reader generated as Python source, once per schema.

Why: a writer or reader built of one closure per schema node pays a Python call, a tuple
and its unpacking for every value; a full demand holds ~350 of them. Generated source
reads or writes every field of a record inline (varint and string fast paths included),
with one function per named record: a full demand is written in about half the time and
read in about 70 % (``docs/performance.md``, "The check made cheaper"). fastavro stays
the reference: the tests check both agree byte for byte.

Contracts (those of :func:`schemas.compiled.compile_schema`, which calls this module):

* the writer ``w(value, out)`` appends the encoding of ``value`` to ``out`` or raises
  :class:`Mismatch` naming the field path, never the value; records refuse unknown keys
  and take missing ones from the field default;
* the reader ``r(buf, pos) -> (value, pos)`` raises :class:`Corrupt`, ``IndexError``
  (truncated) or ``UnicodeDecodeError``; a declared array/map block count larger than
  the bytes left is refused at once (every item takes at least one byte, which the
  registry guarantees), so hostile lengths cost nothing;
* nothing of the schema reaches the source but through ``repr`` of plain strings and
  numbers or generated identifiers, so any name is safe.
"""

from __future__ import annotations

import re
import struct
import threading
from collections.abc import Callable
from typing import Any

from schemas.avro_binary import Corrupt, Mismatch, field_names, read_long, write_long

Write = Callable[[Any, bytearray], None]
Read = Callable[[bytes, int], tuple[Any, int]]
MISSING = object()
_RANGES = {"int": (-(2**31), 2**31), "long": (-(2**63), 2**63)}
_STRUCTS = {"float": struct.Struct("<f"), "double": struct.Struct("<d")}
_NAMED = ("record", "error", "enum", "fixed")
#: a string literal (left as it is: a schema's names reach the source only inside them)
#: or a generated name (functions and constants of a record, renamed to compare records)
_GENERATED = re.compile(r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|\b(?:[wr]_rec|c)\d+\b""")


class _Source:
    """Lines of generated code with their indentation, and fresh local names."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.consts: list[str] = []  # the namespace's names this source uses, in order
        self._n = 0

    def var(self, stem: str) -> str:
        self._n += 1
        return f"{stem}{self._n}"

    def add(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)


class Generator:
    """Generates writer and reader functions into one namespace shared by every schema
    compiled in the process: a named record met again with the same definition (the
    demand inside the event, the state and the feed record) reuses its functions, so
    each is generated and compiled once. Not thread-safe: :func:`generate` locks."""

    def __init__(self) -> None:
        self.env: dict[str, Any] = {
            "Corrupt": Corrupt,
            "Mismatch": Mismatch,
            "field_names": field_names,
            "read_long": read_long,
            "write_long": write_long,
            "MISSING": MISSING,
            "UnicodeEncodeError": UnicodeEncodeError,
        }
        self.functions: list[str] = []  # generated since the last compile
        self._records: dict[tuple[str, tuple[Any, ...]], tuple[str, str]] = {}  # code -> names
        self._named: dict[str, Any] = {}  # this schema's full name -> (node, ns)
        self._fns: dict[int, tuple[str, str]] = {}  # id(record node) -> (writer, reader)
        self._count = 0

    def begin(self) -> None:
        """Start a new schema: its own names (a name means what this schema defines)."""
        self._named, self._fns = {}, {}

    # -- names --------------------------------------------------------------------------

    def const(self, src: _Source, value: Any) -> str:
        """A name in the namespace bound to ``value`` (any object, never inlined), used
        by ``src``."""
        self._count += 1
        name = f"c{self._count}"
        self.env[name] = value
        src.consts.append(name)
        return name

    def _resolve(self, node: Any, ns: str | None) -> tuple[Any, str | None]:
        """(the node a reference stands for, its namespace); plain nodes as they are."""
        if isinstance(node, str):
            for name in (node, f"{ns}.{node}" if ns and "." not in node else None):
                if name and name in self._named:
                    found: tuple[Any, str | None] = self._named[name]
                    return found
            return node, ns
        if isinstance(node, dict) and isinstance(node["type"], (dict, list)):
            return self._resolve(node["type"], ns)
        if isinstance(node, dict) and node["type"] not in (*_NAMED, "array", "map"):
            return self._resolve(node["type"], ns)
        return node, ns

    def _define(self, node: dict[str, Any], ns: str | None) -> tuple[dict[str, Any], str | None]:
        ns = node.get("namespace", ns)
        name: str = node["name"]
        full = name if "." in name or not ns else f"{ns}.{name}"
        if full not in self._named:
            self._named[full] = (node, ns)
            if node["type"] in ("record", "error"):
                self._record(node, ns, full)
        stored: tuple[dict[str, Any], str | None] = self._named[full]
        return stored

    def _record(self, node: dict[str, Any], ns: str | None, full: str) -> None:
        self._count += 1
        names = (f"w_rec{self._count}", f"r_rec{self._count}")
        self._fns[id(node)] = names
        sources = [self._write_record(node, ns, full, names[0])]
        sources.append(self._read_record(node, ns, full, names[1]))
        text = "\n\n".join("\n".join(src.lines) for src in sources)
        consts = [c for src in sources for c in src.consts]
        # the same record seen again (same code, same constants): its functions reused
        marks = {names[0]: "W", names[1]: "R", **{c: f"C{i}" for i, c in enumerate(consts)}}
        canon = _GENERATED.sub(lambda m: marks.get(m[0], m[0]), text)
        key = (canon, tuple(_value_key(self.env[c]) for c in consts))
        known = self._records.setdefault(key, names)
        if known is names:
            self.functions.append(text)
            return
        for c in consts:
            del self.env[c]
        # a record of this one's definition may already call these names (recursion)
        self.functions.append(f"{names[0]} = {known[0]}\n{names[1]} = {known[1]}")
        self._fns[id(node)] = known

    # -- writers ------------------------------------------------------------------------

    def _write_record(self, node: dict[str, Any], ns: str | None, full: str, fn: str) -> _Source:
        src = _Source()
        names = self.const(src, frozenset(f["name"] for f in node["fields"]))
        src.add(0, f"def {fn}(v, out):")
        src.add(1, "if type(v) is not dict:")
        src.add(2, f"raise Mismatch({full!r} + ': expected a dict, got ' + type(v).__name__)")
        src.add(1, f"if not {names}.issuperset(v):")
        unknown = f"field_names(set(v) - {names})"
        src.add(2, f"raise Mismatch({full + ': unknown fields '!r} + {unknown})")
        for f in node["fields"]:
            path = f"{full}.{f['name']}"
            x = src.var("x")
            default = self.const(src, f.get("default", MISSING))
            src.add(1, f"{x} = v.get({f['name']!r}, {default})")
            if "default" not in f:
                src.add(1, f"if {x} is MISSING:")
                src.add(2, f"raise Mismatch({path + ': missing and without default'!r})")
            self.write(src, 1, f["type"], ns, x, path)
        return src

    def write(self, src: _Source, d: int, node: Any, ns: str | None, x: str, path: str) -> None:
        """Code at depth ``d`` appending the encoding of local ``x`` to ``out``."""
        node, ns = self._resolve(node, ns)
        if isinstance(node, list):
            return self._write_union(src, d, node, ns, x, path)
        if isinstance(node, str):
            return self._write_primitive(src, d, node, x, path)
        kind = node["type"]
        if kind in _NAMED:
            node, ns = self._define(node, ns)
        if kind in ("record", "error"):
            src.add(d, f"{self._fns[id(node)][0]}({x}, out)")
        elif kind == "enum":
            index = self.const(src, {s: i for i, s in enumerate(node["symbols"])})
            i = src.var("i")
            src.add(d, f"{i} = {index}.get({x}) if type({x}) is str else None")
            src.add(d, f"if {i} is None:")
            src.add(d + 1, f"raise Mismatch({path + ': not a symbol of the enum'!r})")
            src.add(d, f"write_long({i}, out)")
        elif kind == "fixed":
            size = int(node["size"])
            src.add(d, f"if type({x}) not in (bytes, bytearray) or len({x}) != {size}:")
            src.add(d + 1, f"raise Mismatch({path + f': expected {size} fixed bytes'!r})")
            src.add(d, f"out += {x}")
        else:
            self._write_container(src, d, node, ns, x, path)

    def _write_primitive(self, src: _Source, d: int, t: str, x: str, path: str) -> None:
        fail = f"raise Mismatch({path + ': expected ' + t + ', got '!r} + type({x}).__name__)"
        if t == "null":
            src.add(d, f"if {x} is not None:")
            src.add(d + 1, fail)
        elif t == "boolean":
            src.add(d, f"if {x} is True:")
            src.add(d + 1, "out.append(1)")
            src.add(d, f"elif {x} is False:")
            src.add(d + 1, "out.append(0)")
            src.add(d, "else:")
            src.add(d + 1, fail)
        elif t in _RANGES:
            lo, hi = _RANGES[t]
            src.add(d, f"if type({x}) is not int or not {lo} <= {x} < {hi}:")
            # only the failing branch tells "not an int" from "an int out of range"
            bits = {"int": 32, "long": 64}[t]
            wide = path + f": integer out of range for {t} ({bits} bits)"
            src.add(d + 1, f"if type({x}) is int:")
            src.add(d + 2, f"raise Mismatch({wide!r})")
            src.add(d + 1, fail)
            src.add(d, f"if -64 <= {x} < 64:")  # the zigzag fits one byte
            src.add(d + 1, f"out.append(({x} << 1) ^ ({x} >> 63))")
            src.add(d, "else:")
            src.add(d + 1, f"write_long({x}, out)")
        elif t in _STRUCTS:
            st = self.const(src, _STRUCTS[t])
            src.add(d, f"if type({x}) not in (int, float):")
            src.add(d + 1, fail)
            src.add(d, f"out += {st}.pack({x})")
        elif t in ("string", "bytes"):
            if t == "string":
                src.add(d, f"if type({x}) is not str:")
                src.add(d + 1, fail)
                src.add(d, "try:")
                src.add(d + 1, f"{x} = {x}.encode()")
                src.add(d, "except UnicodeEncodeError:")
                msg = path + ": string is not encodable as UTF-8"
                src.add(d + 1, f"raise Mismatch({msg!r}) from None")
            else:
                src.add(d, f"if type({x}) not in (bytes, bytearray):")
                src.add(d + 1, fail)
            n = src.var("n")
            src.add(d, f"{n} = len({x})")
            src.add(d, f"if {n} < 64:")
            src.add(d + 1, f"out.append({n} << 1)")
            src.add(d, "else:")
            src.add(d + 1, f"write_long({n}, out)")
            src.add(d, f"out += {x}")
        else:
            raise ValueError(f"unsupported Avro type {t!r} at {path}")

    def _write_union(
        self, src: _Source, d: int, branches: list[Any], ns: str | None, x: str, path: str
    ) -> None:
        if len(branches) == 2 and branches[0] == "null":  # the common ["null", T]
            src.add(d, f"if {x} is None:")
            src.add(d + 1, "out.append(0)")
            src.add(d, "else:")
            src.add(d + 1, "out.append(2)")
            self.write(src, d + 1, branches[1], ns, x, path)
            return
        # any other union: the first branch that takes the value, each tried apart
        tries = []
        for b in branches:
            fn = f"w_branch{self._count + 1}"
            self._count += 1
            branch = _Source()
            branch.add(0, f"def {fn}(v, out):")
            self.write(branch, 1, b, ns, "v", path)
            self.functions.append("\n".join(branch.lines))
            tries.append(fn)
        src.add(d, f"for k, fn in enumerate(({', '.join(tries)},)):")
        src.add(d + 1, "tmp = bytearray()")
        src.add(d + 1, "try:")
        src.add(d + 2, f"fn({x}, tmp)")
        src.add(d + 1, "except Mismatch:")
        src.add(d + 2, "continue")
        src.add(d + 1, "write_long(k, out)")
        src.add(d + 1, "out += tmp")
        src.add(d + 1, "break")
        src.add(d, "else:")
        src.add(d + 1, f"raise Mismatch({path + ': value fits no branch of the union'!r})")

    def _write_container(
        self, src: _Source, d: int, node: dict[str, Any], ns: str | None, x: str, path: str
    ) -> None:
        is_map = node["type"] == "map"
        test = f"type({x}) is not dict" if is_map else f"type({x}) not in (list, tuple)"
        src.add(d, f"if {test}:")
        what = f"{path}: expected a {node['type']}, got "
        src.add(d + 1, f"raise Mismatch({what!r} + type({x}).__name__)")
        src.add(d, f"if {x}:")
        src.add(d + 1, f"write_long(len({x}), out)")
        item = src.var("x")
        if is_map:
            key = src.var("k")
            src.add(d + 1, f"for {key}, {item} in {x}.items():")
            self._write_primitive(src, d + 2, "string", key, path + "{}")
            self.write(src, d + 2, node["values"], ns, item, path + "[]")
        else:
            src.add(d + 1, f"for {item} in {x}:")
            self.write(src, d + 2, node["items"], ns, item, path + "[]")
        src.add(d, "out.append(0)")

    # -- readers ------------------------------------------------------------------------

    def _read_record(self, node: dict[str, Any], ns: str | None, full: str, fn: str) -> _Source:
        src = _Source()
        src.add(0, f"def {fn}(buf, pos):")
        values = []
        for f in node["fields"]:
            y = src.var("y")
            self.read(src, 1, f["type"], ns, y, f"{full}.{f['name']}")
            values.append(f"{f['name']!r}: {y}")
        src.add(1, f"return {{{', '.join(values)}}}, pos")
        return src

    def read(self, src: _Source, d: int, node: Any, ns: str | None, y: str, path: str) -> None:
        """Code at depth ``d`` reading one value at ``pos`` of ``buf`` into local ``y``."""
        node, ns = self._resolve(node, ns)
        if isinstance(node, list):
            return self._read_union(src, d, node, ns, y, path)
        if isinstance(node, str):
            return self._read_primitive(src, d, node, y, path)
        kind = node["type"]
        if kind in _NAMED:
            node, ns = self._define(node, ns)
        if kind in ("record", "error"):
            src.add(d, f"{y}, pos = {self._fns[id(node)][1]}(buf, pos)")
        elif kind == "enum":
            symbols = self.const(src, tuple(node["symbols"]))
            self._read_varint(src, d, y)
            src.add(d, f"if not 0 <= {y} < {len(node['symbols'])}:")
            src.add(d + 1, f"raise Corrupt({path!r} + ': enum index ' + str({y}))")
            src.add(d, f"{y} = {symbols}[{y}]")
        elif kind == "fixed":
            size = int(node["size"])
            src.add(d, f"if pos + {size} > len(buf):")
            src.add(d + 1, f"raise IndexError({path + ': fixed longer than the message'!r})")
            src.add(d, f"{y} = bytes(buf[pos : pos + {size}])")
            src.add(d, f"pos += {size}")
        else:
            self._read_container(src, d, node, ns, y, path)

    def _read_varint(self, src: _Source, d: int, y: str) -> None:
        src.add(d, f"{y} = buf[pos]")
        src.add(d, f"if {y} < 0x80:")
        src.add(d + 1, f"{y} = ({y} >> 1) ^ -({y} & 1)")
        src.add(d + 1, "pos += 1")
        src.add(d, "else:")
        src.add(d + 1, f"{y}, pos = read_long(buf, pos)")

    def _read_primitive(self, src: _Source, d: int, t: str, y: str, path: str) -> None:
        if t == "null":
            src.add(d, f"{y} = None")
        elif t == "boolean":
            src.add(d, f"{y} = buf[pos]")
            src.add(d, f"if {y} > 1:")
            src.add(d + 1, f"raise Corrupt({path!r} + ': boolean byte ' + str({y}))")
            src.add(d, f"{y} = {y} == 1")
            src.add(d, "pos += 1")
        elif t in _RANGES:
            lo, hi = _RANGES[t]
            self._read_varint(src, d, y)
            src.add(d + 1, f"if not {lo} <= {y} < {hi}:")  # in the slow path only
            src.add(d + 2, f"raise Corrupt({path + ': ' + t + ' out of range'!r})")
        elif t in _STRUCTS:
            st = _STRUCTS[t]
            fmt = self.const(src, st)
            src.add(d, f"if pos + {st.size} > len(buf):")
            src.add(d + 1, f"raise IndexError({path + ': ' + t + ' longer than the message'!r})")
            src.add(d, f"{y} = {fmt}.unpack_from(buf, pos)[0]")
            src.add(d, f"pos += {st.size}")
        elif t in ("string", "bytes"):
            n, end = src.var("n"), src.var("e")
            src.add(d, f"{n} = buf[pos]")
            src.add(d, f"if {n} < 0x80 and not {n} & 1:")  # a length below 64: one even byte
            src.add(d + 1, f"{n} = {n} >> 1")
            src.add(d + 1, "pos += 1")
            src.add(d, "else:")
            src.add(d + 1, f"{n}, pos = read_long(buf, pos)")
            src.add(d, f"{end} = pos + {n}")
            src.add(d, f"if {n} < 0 or {end} > len(buf):")
            src.add(d + 1, f"raise IndexError({path + ': ' + t + ' longer than the message'!r})")
            value = "str(buf[pos:{e}], 'utf-8')" if t == "string" else "bytes(buf[pos:{e}])"
            src.add(d, f"{y} = " + value.format(e=end))
            src.add(d, f"pos = {end}")
        else:
            raise ValueError(f"unsupported Avro type {t!r} at {path}")

    def _read_union(
        self, src: _Source, d: int, branches: list[Any], ns: str | None, y: str, path: str
    ) -> None:
        k = src.var("b")
        if len(branches) == 2 and branches[0] == "null":
            src.add(d, f"{k} = buf[pos]")
            src.add(d, "pos += 1")
            src.add(d, f"if {k} == 0:")
            src.add(d + 1, f"{y} = None")
            src.add(d, f"elif {k} == 2:")
            self.read(src, d + 1, branches[1], ns, y, path)
            src.add(d, "else:")
            src.add(d + 1, f"raise Corrupt({path!r} + ': union index byte ' + str({k}))")
            return
        src.add(d, f"{k}, pos = read_long(buf, pos)")
        for i, b in enumerate(branches):
            src.add(d, f"{'if' if i == 0 else 'elif'} {k} == {i}:")
            self.read(src, d + 1, b, ns, y, path)
        src.add(d, "else:")
        src.add(d + 1, f"raise Corrupt({path!r} + ': union index ' + str({k}))")

    def _read_container(
        self, src: _Source, d: int, node: dict[str, Any], ns: str | None, y: str, path: str
    ) -> None:
        is_map = node["type"] == "map"
        count, item = src.var("count"), src.var("y")
        src.add(d, f"{y} = {{}}" if is_map else f"{y} = []")
        self._read_varint(src, d, count)
        src.add(d, f"while {count}:")
        src.add(d + 1, f"if {count} < 0:")  # a block with its byte size: skip the size
        src.add(d + 2, f"{count} = -{count}")
        src.add(d + 2, "_, pos = read_long(buf, pos)")
        src.add(d + 1, f"if {count} > len(buf) - pos:")  # each item takes ≥ 1 byte
        msg = f"{path}: declared more items than bytes left"
        src.add(d + 2, f"raise Corrupt({msg!r})")
        src.add(d + 1, f"for _ in range({count}):")
        if is_map:
            key = src.var("k")
            self._read_primitive(src, d + 2, "string", key, path + "{}")
            self.read(src, d + 2, node["values"], ns, item, path + "[]")
            src.add(d + 2, f"{y}[{key}] = {item}")
        else:
            self.read(src, d + 2, node["items"], ns, item, path + "[]")
            src.add(d + 2, f"{y}.append({item})")
        self._read_varint(src, d + 1, count)


def _value_key(value: Any) -> Any:
    """A key equal for equal constants (a frozenset's order is not its content)."""
    if isinstance(value, frozenset):
        return ("frozenset", tuple(sorted(value)))
    if isinstance(value, struct.Struct):
        return ("struct", value.format)
    return (type(value).__name__, repr(value))


_GENERATOR = Generator()
_LOCK = threading.Lock()


def generate(schema: Any, label: str) -> tuple[Write, Read, str]:
    """(writer, reader, the source generated for it) of a stand-alone schema; ``label``
    names the source in tracebacks. Records already generated for an earlier schema
    with the same definition are reused, not generated again. Each call adds its
    top-level functions to the process-wide namespace: meant for the schemas of a process,
    compiled once each (the registry, the splices and the feed tails cache theirs)."""
    with _LOCK:
        gen = _GENERATOR
        gen.begin()
        gen._count += 1
        top = gen._count
        top_w, top_r = _Source(), _Source()
        top_w.add(0, f"def write{top}(v, out):")
        gen.write(top_w, 1, schema, None, "v", label)
        top_r.add(0, f"def read{top}(buf, pos):")
        gen.read(top_r, 1, schema, None, "v", label)
        top_r.add(1, "return v, pos")
        source = "\n\n".join([*gen.functions, "\n".join(top_w.lines), "\n".join(top_r.lines)])
        gen.functions = []
        code = compile(source, f"<avro {label}>", "exec")
        exec(code, gen.env)  # generated from the schema's text only through repr
        return gen.env[f"write{top}"], gen.env[f"read{top}"], source
