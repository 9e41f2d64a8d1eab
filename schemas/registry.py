"""The hub's Avro schemas, current and historical, indexed by fingerprint.

Sources: every ``schemas/avro/*.avsc`` (the current version of each named schema; files may
reference named types of other files by full name) and ``schemas/avro/history/<Name>.v<N>.avsc``
(older writer versions still readable). Each schema is expanded to a stand-alone form (every
named type defined at its first use, as the Avro spec requires), fingerprinted with
CRC-64-AVRO over its Parsing Canonical Form, and parsed once by fastavro.

Evolution rule (backward compatibility): a new current version must be able to read every
version listed here. In practice: add fields only with a default, never remove a field that
has no default in the reader, never change a field's type except by Avro promotion
(int→long, string↔bytes...), never rename a record without an alias. Before changing a
schema, copy the old stand-alone form (see :meth:`SchemaRegistry.standalone`) to
``history/<Name>.v<N>.avsc`` so that messages already in the topics keep decoding. A history
file may also reference current named types by full name; they resolve against the current
definitions, so archive a referenced type too when it changes incompatibly.

Decoding safety: fastavro reads arrays and maps item by item without preallocating, so a
hostile declared length is harmless as long as every item takes at least one byte (the loop
then hits the end of the payload after at most ``len(payload)`` steps). The registry refuses,
at load time, any schema whose array items or map values could be encoded in zero bytes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from fastavro import parse_schema
from fastavro.schema import fingerprint, to_parsing_canonical_form

from hub.core.errors import ConfigError, InputError
from schemas.compiled import Read, compile_schema

AVRO_DIR = Path(__file__).resolve().parent / "avro"
#: sha256 of a schema's Parsing Canonical Form -> its CRC-64-AVRO fingerprint (hex), for
#: the schemas of the directory: fastavro computes the fingerprint in pure Python, ~3 ms a
#: schema, 0.09 s of CPU for every process that decodes (the suite starts hundreds). A
#: canonical form absent from the table is fingerprinted as before; the table is written by
#: :func:`write_fingerprints` and checked complete and true by tests/unit/test_codec.py.
FINGERPRINTS = "fingerprints.json"
PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
NAMED = frozenset({"record", "enum", "fixed", "error"})
_HISTORY = re.compile(r"^(\w+)\.v(\d+)\.avsc$")


@dataclass(frozen=True, eq=False)
class WriterSchema:
    """One version of one named schema."""

    name: str  #: short name, e.g. "DemandeEvent"
    fullname: str  #: e.g. "fr.passerelle.hub.DemandeEvent"
    version: str  #: "current" or "v<N>"
    fingerprint: bytes  #: 8 bytes, CRC-64-AVRO of the canonical form, little-endian
    schema: dict[str, Any]  #: stand-alone JSON form (logical types kept)
    parsed: Any  #: fastavro-parsed copy without logical types: timestamps stay plain ints
    plain: dict[str, Any]  #: the stand-alone form without logical types

    # compiled at first use: a process reads and writes a few of the schemas, and an
    # older version is read through fastavro (see :class:`schemas.codec.Codec`)
    @cached_property
    def _compiled(self) -> tuple[Callable[[Any], bytes], Read]:
        return compile_schema(self.plain)

    @property
    def write(self) -> Callable[[Any], bytes]:
        """The body writer (see :mod:`schemas.compiled`)."""
        return self._compiled[0]

    @property
    def read(self) -> Read:
        """The body reader: (buf, pos) -> (record, end)."""
        return self._compiled[1]


def _fullname(name: str, namespace: str | None) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


def _collect(node: Any, ns: str | None, out: dict[str, dict[str, Any]]) -> None:
    """Record every named type defined anywhere in ``node`` under its full name."""
    if isinstance(node, list):
        for branch in node:
            _collect(branch, ns, out)
    elif isinstance(node, dict):
        if node.get("type") in NAMED:
            ns = node.get("namespace", ns)
            out.setdefault(_fullname(node["name"], ns), {**node, "namespace": ns})
        for f in node.get("fields", ()):
            _collect(f["type"], ns, out)
        for key in ("items", "values"):
            _collect(node.get(key), ns, out)
        if isinstance(node.get("type"), (dict, list)):
            _collect(node["type"], ns, out)


def _expand(node: Any, ns: str | None, defs: dict[str, dict[str, Any]], done: set[str]) -> Any:
    """Stand-alone copy of ``node``: a named type is spelled out at its first use only."""
    if isinstance(node, list):
        return [_expand(b, ns, defs, done) for b in node]
    if isinstance(node, str):
        if node in PRIMITIVES:
            return node
        full = _fullname(node, ns)
        if full in done:
            return full
        if full not in defs:
            raise ConfigError(f"Avro schema references unknown type {full}")
        node = defs[full]
    if not isinstance(node, dict):
        raise ConfigError(f"invalid Avro schema node {node!r}")
    out = dict(node)
    if node.get("type") in NAMED:
        ns = node.get("namespace", ns)
        full = _fullname(node["name"], ns)
        if full in done:  # defined twice (e.g. inline in two files): keep the first one
            return full
        done.add(full)
        out["namespace"] = ns
    if "fields" in node:
        out["fields"] = [{**f, "type": _expand(f["type"], ns, defs, done)} for f in node["fields"]]
    for key in ("items", "values"):
        if key in node:
            out[key] = _expand(node[key], ns, defs, done)
    if isinstance(node.get("type"), (dict, list)):
        out["type"] = _expand(node["type"], ns, defs, done)
    return out


def strip_logical(node: Any) -> Any:
    """Copy without ``logicalType``: same bytes on the wire, plain ints and strings in Python."""
    if isinstance(node, list):
        return [strip_logical(n) for n in node]
    if isinstance(node, dict):
        return {k: strip_logical(v) for k, v in node.items() if k != "logicalType"}
    return node


def _check_items(root: dict[str, Any]) -> None:
    """Refuse arrays whose items may take 0 bytes (see the module doc: decoding safety)."""
    sizes: dict[str, int] = {}

    def size(node: Any, ns: str | None) -> int:  # fewest bytes a value of ``node`` takes
        if isinstance(node, list):
            for branch in node:
                size(branch, ns)
            return 1  # the branch index
        if isinstance(node, str):
            if node in PRIMITIVES:
                return {"null": 0, "float": 4, "double": 8}.get(node, 1)
            return sizes.get(_fullname(node, ns), 1)
        t = node["type"]
        if isinstance(t, (dict, list)):
            return size(t, ns)
        if t in NAMED:
            ns = node.get("namespace", ns)
            full = _fullname(node["name"], ns)
            sizes[full] = int(node["size"]) if t == "fixed" else 1 if t == "enum" else 0
            if "fields" in node:
                sizes[full] = sum(size(f["type"], ns) for f in node["fields"])
            return sizes[full]
        if t == "array" and size(node["items"], ns) == 0:
            raise ConfigError(f"{root.get('name')}: array items may encode in 0 bytes")
        if t == "map":
            size(node["values"], ns)  # a map entry has its key: at least one byte anyway
        return 1 if t in ("array", "map") else size(t, ns)

    size(root, None)


class SchemaRegistry:
    """Every schema of ``directory`` (default ``schemas/avro``), parsed once."""

    def __init__(self, directory: Path = AVRO_DIR) -> None:
        raw = [json.loads(p.read_text("utf-8")) for p in sorted(directory.glob("*.avsc"))]
        table = directory / FINGERPRINTS
        self._known: dict[str, str] = json.loads(table.read_text()) if table.exists() else {}
        #: sha256 of each canonical form built here -> its fingerprint (write_fingerprints)
        self.computed: dict[str, str] = {}
        self._defs: dict[str, dict[str, Any]] = {}
        for schema in raw:
            _collect(schema, None, self._defs)
        self._current: dict[str, WriterSchema] = {}
        self._by_fp: dict[bytes, WriterSchema] = {}
        for schema in raw:
            ws = self._build(schema, self._defs, "current")
            if ws.name in self._current:
                raise ConfigError(f"two schemas share the short name {ws.name}")
            self._current[ws.name] = ws
        for path in sorted((directory / "history").glob("*.avsc")):
            m = _HISTORY.match(path.name)
            schema = json.loads(path.read_text("utf-8"))
            own: dict[str, dict[str, Any]] = {}
            _collect(schema, None, own)
            ws = self._build(schema, {**self._defs, **own}, f"v{m[2]}" if m else "?")
            if not m or m[1] != ws.name:
                raise ConfigError(f"{path.name}: expected history/{ws.name}.v<N>.avsc")

    def _build(self, schema: dict[str, Any], defs: dict[str, Any], version: str) -> WriterSchema:
        standalone = _expand(schema, None, defs, set())
        canonical = to_parsing_canonical_form(standalone)
        key = hashlib.sha256(canonical.encode()).hexdigest()
        hexfp = self._known.get(key) or fingerprint(canonical, "CRC-64-AVRO")
        self.computed[key] = hexfp
        fp = bytes.fromhex(hexfp)
        _check_items(standalone)
        fullname = _fullname(standalone["name"], standalone.get("namespace"))
        plain = strip_logical(standalone)
        ws = WriterSchema(
            fullname.rsplit(".", 1)[-1],
            fullname,
            version,
            fp,
            standalone,
            parse_schema(plain),
            plain,
        )
        other = self._by_fp.setdefault(fp, ws)
        if other.fullname != ws.fullname:
            raise ConfigError(f"fingerprint clash between {other.fullname} and {ws.fullname}")
        return ws

    def current(self, name: str) -> WriterSchema:
        """The current version of the schema with this short name (InputError if unknown)."""
        try:
            return self._current[name]
        except KeyError:
            raise InputError(f"unknown schema name {name!r}", code="unknown_schema") from None

    def by_fingerprint(self, fp: bytes) -> WriterSchema | None:
        """The writer schema with this 8-byte fingerprint, current or historical."""
        return self._by_fp.get(fp)

    def version(self, name: str, version: str) -> WriterSchema:
        """One version ("current" or "v<N>") of the schema ``name`` (InputError if unknown)."""
        for ws in self._by_fp.values():
            if ws.name == name and ws.version == version:
                return ws
        raise InputError(f"no version {version!r} of schema {name!r}", code="unknown_schema")

    def names(self) -> list[str]:
        """Short names of the current schemas, sorted."""
        return sorted(self._current)

    def standalone(self, name: str) -> dict[str, Any]:
        """Stand-alone JSON of the current version (what a history file should contain)."""
        return self.current(name).schema


def write_fingerprints(directory: Path = AVRO_DIR) -> Path:
    """Write the fingerprint table of ``directory``'s schemas (:data:`FINGERPRINTS`),
    every one computed by fastavro (none taken from an existing table)."""
    table = directory / FINGERPRINTS
    if table.exists():
        table.unlink()
    registry = SchemaRegistry(directory)
    table.write_text(json.dumps(dict(sorted(registry.computed.items())), indent=1) + "\n")
    return table
