"""The ``demande`` element ⇄ snapshot dict, driven by ``fr.passerelle.sne.Demande.avsc``.

The generated Avro schema (``scripts/gen_sne_schemas.py``) is the single description of the
tree: field order is element order; ``xmlCode`` fields are ``<x code="..."/>``; ``xmlAttr``
fields are attributes; ``xmlItem`` arrays are wrappers around repeated items; other arrays
are elements repeated in place. Absent element → None; empty element → "" (string) or an
all-None record; empty wrapper → []. Booleans accept true/false/1/0 and render true/false.
Hub extension fields (``hubExtension: true``, e.g. the document index) have no element:
reading sets them to None and refuses an element of that name, rendering leaves them out.
An element whose simple content carries attributes (``anomalie/complement`` and its
``@nom``) is a record: ``xmlText`` field ``valeur`` for the text, ``xmlAttr`` fields for the
attributes; reading always yields that record, rendering also takes a bare string (items
written before the attributes were modelled: the value without attributes).

Coded elements: the value is the ``code`` attribute; an optional one without it is absent
(None), while a list item or a required coded element (``xmlRequired``) without it is
refused with a one-line error naming the element (it would otherwise vanish, or reach the
codec as an internal type error).

Change flags: ``changed`` collects the dotted path (from ``demande``, excluded; no list
index; wrapper and item both named) of every element carrying ``modifie="true"`` — the
business-namespace attribute, or an unqualified one (tolerated). Rendering flags every
element whose path is listed.
"""

from __future__ import annotations

import json
import re
from functools import cache, lru_cache
from typing import Any, NamedTuple

from lxml import etree

from hub.core.errors import InputError
from schemas.registry import AVRO_DIR

NS = "http://nuu.application.i2/"
MODIFIE = f"{{{NS}}}modifie"
NS_AVRO = "fr.passerelle.sne"
ROOT_RECORD = f"{NS_AVRO}.Demande"
_INT = re.compile(r"[+-]?[0-9]+")


class Field(NamedTuple):
    """One field of a snapshot record, as the XML mapping needs it."""

    name: str
    kind: str  # "string" | "int" | "boolean" | a record full name
    code: bool  # the value is the @code of an empty element
    attr: bool  # an attribute of the parent element
    array: bool
    item: str | None  # wrapper arrays: the repeated child's name
    ext: bool = False  # a hub extension: not part of InterfaceNuu, never read nor written
    text: bool = False  # the text content of a simple-content element with attributes
    required: bool = False  # [1..n] where it appears: a coded one must carry its code


@lru_cache(maxsize=1)
def snapshot_model() -> dict[str, tuple[Field, ...]]:
    """Record full name → fields, read once from the generated Avro schema."""
    records: dict[str, tuple[Field, ...]] = {}

    def kind_of(t: Any) -> str:
        if isinstance(t, list):  # ["string", record]: a bare string also reads as the record
            return kind_of(next(b for b in t if b != "string"))
        if isinstance(t, str):  # a primitive or an already defined record
            return t if t in ("string", "int", "boolean") or "." in t else f"{NS_AVRO}.{t}"
        full = f"{t.get('namespace', NS_AVRO)}.{t['name']}"
        records[full] = tuple(field_of(f) for f in t["fields"])
        return full

    def field_of(f: dict[str, Any]) -> Field:
        if f.get("hubExtension"):
            return Field(f["name"], "ext", False, False, False, None, True)
        t = f["type"][1] if isinstance(f["type"], list) else f["type"]
        array = isinstance(t, dict) and t["type"] == "array"
        kind = kind_of(t["items"] if array else t)
        code, attr = bool(f.get("xmlCode")), bool(f.get("xmlAttr"))
        return Field(
            f["name"],
            kind,
            code,
            attr,
            array,
            f.get("xmlItem"),
            False,
            bool(f.get("xmlText")),
            bool(f.get("xmlRequired")),
        )

    kind_of(json.loads((AVRO_DIR / f"{ROOT_RECORD}.avsc").read_text("utf-8")))
    return records


def fail(msg: str) -> InputError:
    """The error of every malformed InterfaceNuu input (names paths, never values)."""
    return InputError(msg, code="invalid_interfacenuu")


def q(name: str) -> str:
    """Qualified tag of a business element."""
    return f"{{{NS}}}{name}"


def _flagged(el: etree._Element) -> bool:
    return el.get(MODIFIE, el.get("modifie")) in ("true", "1")


_TAG_PREFIX = f"{{{NS}}}"


def _local(el: etree._Element, where: str) -> str:
    tag = el.tag
    if type(tag) is str and tag.startswith(_TAG_PREFIX):  # the usual case, without a QName
        return tag[len(_TAG_PREFIX) :]
    qn = etree.QName(el)
    if qn.namespace != NS:
        raise fail(f"unexpected element {qn.text} in {where or 'demande'}: namespace must be {NS}")
    return str(qn.localname)


def read_record(
    el: etree._Element, record: str, path: str, changed: dict[str, None]
) -> dict[str, Any]:
    """Snapshot dict of ``el`` (a ``record`` element at ``path``); flags go to ``changed``."""
    fields, by_name, simple = _layout(record)
    out: dict[str, Any] = {f.name: (el.get(f.name) if f.attr else None) for f in fields}
    if simple:  # simple content
        if len(el):
            raise fail(f"{path}: a simple-content element cannot have child elements")
        out.update({f.name: el.text or "" for f in fields if f.text})
        return out
    seen: set[str] = set()
    for child in el:
        name = _local(child, path)
        f = by_name.get(name)
        if f is None:
            raise fail(f"unexpected element {name} in {path or 'demande'}")
        cpath = f"{path}.{name}" if path else name
        if name in seen and not (f.array and f.item is None):
            raise fail(f"{cpath} appears twice")
        seen.add(name)
        if _flagged(child):
            changed[cpath] = None
        if f.item is not None:
            out[name] = [_read_item(it, f, cpath, changed) for it in child]
        elif f.array:
            out[name] = (out[name] or []) + [_read_value(child, f, cpath, changed)]
        else:
            out[name] = _read_value(child, f, cpath, changed)
    return out


@cache
def _layout(record: str) -> tuple[tuple[Field, ...], dict[str, Field], bool]:
    """(fields, the fields read from child elements by name, whether the record is a
    simple-content element) of ``record``, computed once per record."""
    fields = snapshot_model()[record]
    by_name = {f.name: f for f in fields if not (f.attr or f.ext or f.text)}
    return fields, by_name, len(by_name) < len(fields) and any(f.text for f in fields)


def _read_item(el: etree._Element, f: Field, wpath: str, changed: dict[str, None]) -> Any:
    if _local(el, wpath) != f.item:
        raise fail(f"unexpected element {etree.QName(el).localname} in {wpath}")
    path = f"{wpath}.{f.item}"
    if _flagged(el):
        changed[path] = None
    return _read_value(el, f, path, changed)


def _read_value(el: etree._Element, f: Field, path: str, changed: dict[str, None]) -> Any:
    if f.code:
        code = el.get("code")
        if code is None and (f.required or f.array or f.item is not None):
            raise fail(f"{path}: coded element without its code attribute")
        return code
    if f.kind.startswith(NS_AVRO):
        return read_record(el, f.kind, path, changed)
    if len(el):
        raise fail(f"{path}: a {f.kind} element cannot have child elements")
    text = el.text or ""
    if f.kind == "string":
        return text
    value = text.strip()
    if f.kind == "boolean":
        if value in ("true", "1", "false", "0"):
            return value in ("true", "1")
        raise fail(f"{path}: not an xs:boolean")
    if not _INT.fullmatch(value) or not -(2**31) <= int(value) < 2**31:
        raise fail(f"{path}: not an xs:int")
    return int(value)


def write_record(
    el: etree._Element, record: str, data: dict[str, Any], path: str, changed: frozenset[str]
) -> None:
    """Append to ``el`` the children (and attributes) of snapshot ``data``."""
    if isinstance(data, str):  # a simple-content record written as its bare value
        el.text = data
        return
    for f in snapshot_model()[record]:
        value = data.get(f.name)
        if value is None or f.ext:
            continue
        if f.attr:
            el.set(f.name, value)
            continue
        if f.text:
            el.text = value
            continue
        cpath = f"{path}.{f.name}" if path else f.name
        if f.item is not None:
            wrapper = _element(el, f.name, cpath, changed)
            ipath = f"{cpath}.{f.item}"
            for item in value:
                _write_value(_element(wrapper, f.item, ipath, changed), f, item, ipath, changed)
        else:
            for item in value if f.array else [value]:
                _write_value(_element(el, f.name, cpath, changed), f, item, cpath, changed)


def _element(parent: etree._Element, name: str, path: str, changed: frozenset[str]) -> Any:
    el = etree.SubElement(parent, q(name))
    if path in changed:
        el.set(MODIFIE, "true")
    return el


def _write_value(
    el: etree._Element, f: Field, value: Any, path: str, changed: frozenset[str]
) -> None:
    if f.code:
        el.set("code", value)
    elif f.kind.startswith(NS_AVRO):
        write_record(el, f.kind, value, path, changed)
    elif f.kind == "boolean":
        el.text = "true" if value else "false"
    else:
        el.text = str(value)
