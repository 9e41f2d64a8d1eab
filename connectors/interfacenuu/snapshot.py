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

Coded elements: the value is the ``code`` attribute. The outline makes ``@code`` optional
everywhere (``t_codeElement``, ``t_commune``), so an element without it is legal: such an
element reads as the empty code "" (the domain's "empty motive = reactivation" is
``<motifRadiation/>``: ``code=""`` breaks the attribute's pattern), an absent element as
None. Rendering writes "" as the element without ``code`` (never ``code=""``, which the
XSD refuses), so both read back as they were; whether an empty code
is acceptable is the reference tables' business (hub.domain.decisions), not the reader's.

Date values: ``xs:date`` and ``xs:dateTime`` have ``whiteSpace=collapse`` (XSD 1.0), so
``<dateNaissance> 2011-01-01 </dateNaissance>`` is valid and its value is ``2011-01-01``:
:func:`connectors.interfacenuu.mapping.collapse_dates` rewrites such values collapsed before
the XSD check (libxml2 does not collapse them), and the snapshot holds the collapsed value,
which every date reader takes.

Change flags: ``changed`` collects the dotted path (from ``demande``, excluded; wrapper
and item both named) of every element carrying ``modifie`` true (``true`` or ``1``, with
the whitespace ``xs:boolean`` collapses) — the business-namespace attribute, or an
unqualified one (tolerated). An item of a list (a wrapper's item, or an element repeated
in place) is named with its 0-based index, ``…listeLocalisationSouhaite.
localisationSouhaite[1]``, and so are the paths below it (``…cotitulaire[0].
listeRessourceRecue.detailRessource[1]``). Rendering flags every element whose path is
listed; a listed path without index on a list item (an event from another source, or one
read before indices were written) flags every item of that list.
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


#: XML whitespace (what ``whiteSpace=collapse`` removes), not Python's wider ``str.split()``
_XML_SPACE = re.compile(r"[ \t\r\n]+")
_TRUE = frozenset({"true", "1"})


def collapsed(text: str) -> str:
    """``text`` with ``whiteSpace=collapse`` applied (XSD 1.0 Part 2, 4.3.6)."""
    return _XML_SPACE.sub(" ", text).strip(" ")


def _flagged(el: etree._Element) -> bool:
    flag = el.get(MODIFIE, el.get("modifie"))
    return flag is not None and (flag in _TRUE or collapsed(flag) in _TRUE)


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
        if f.array and f.item is None:  # repeated in place: each occurrence is an item
            items = out[name] or []
            cpath = f"{cpath}[{len(items)}]"
            if _flagged(child):
                changed[cpath] = None
            out[name] = [*items, _read_value(child, f, cpath, changed)]
            continue
        if _flagged(child):
            changed[cpath] = None
        if f.item is not None:
            out[name] = [_read_item(it, f, cpath, i, changed) for i, it in enumerate(child)]
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


def _read_item(
    el: etree._Element, f: Field, wpath: str, index: int, changed: dict[str, None]
) -> Any:
    if _local(el, wpath) != f.item:
        raise fail(f"unexpected element {etree.QName(el).localname} in {wpath}")
    path = f"{wpath}.{f.item}[{index}]"
    if _flagged(el):
        changed[path] = None
    return _read_value(el, f, path, changed)


def _read_value(el: etree._Element, f: Field, path: str, changed: dict[str, None]) -> Any:
    if f.code:
        code = el.get("code")
        return "" if code is None else code  # legal: @code is optional (module doc)
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
    el: etree._Element,
    record: str,
    data: dict[str, Any],
    path: str,
    changed: frozenset[str],
    plain: str | None = None,
) -> None:
    """Append to ``el`` the children (and attributes) of snapshot ``data``; ``path`` is
    the element's path with list indices, ``plain`` the same without them (the default:
    ``path``), so that a listed path of either form flags the element (module doc)."""
    if isinstance(data, str):  # a simple-content record written as its bare value
        el.text = data
        return
    plain = path if plain is None else plain
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
        cplain = f"{plain}.{f.name}" if plain else f.name
        if f.item is not None:
            wrapper = _element(el, f.name, cpath, cplain, changed)
            cpath, cplain = f"{cpath}.{f.item}", f"{cplain}.{f.item}"
            for i, item in enumerate(value):
                ipath = f"{cpath}[{i}]"
                child = _element(wrapper, f.item, ipath, cplain, changed)
                _write_value(child, f, item, ipath, cplain, changed)
        elif f.array:
            for i, item in enumerate(value):
                ipath = f"{cpath}[{i}]"
                child = _element(el, f.name, ipath, cplain, changed)
                _write_value(child, f, item, ipath, cplain, changed)
        else:
            child = _element(el, f.name, cpath, cplain, changed)
            _write_value(child, f, value, cpath, cplain, changed)


def _element(
    parent: etree._Element, name: str, path: str, plain: str, changed: frozenset[str]
) -> Any:
    el = etree.SubElement(parent, q(name))
    if changed and (path in changed or plain in changed):
        el.set(MODIFIE, "true")
    return el


def _write_value(
    el: etree._Element, f: Field, value: Any, path: str, plain: str, changed: frozenset[str]
) -> None:
    if f.code:
        if value:  # the empty code is the element without its (optional) attribute
            el.set("code", value)
    elif f.kind.startswith(NS_AVRO):
        write_record(el, f.kind, value, path, changed, plain)
    elif f.kind == "boolean":
        el.text = "true" if value else "false"
    else:
        el.text = str(value)
