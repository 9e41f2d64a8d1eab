"""The characters XML 1.0 can carry, and where a value holds one it cannot.

XML 1.0's ``Char`` production (https://www.w3.org/TR/xml/#charsets)::

    Char ::= #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]

leaves out the C0 controls but tab, line feed and carriage return, the surrogates
(U+D800–U+DFFF) and the two noncharacters U+FFFE and U+FFFF. No escape helps: ``&#1;``
is not well-formed either, so a string holding one of them cannot travel in any XML
channel of the hub (SOAP push, DIS files). lxml refuses exactly these
(``tests/unit/test_xmlchars.py`` checks it over the whole code point range). JSON carries
them all (escaped), Kafka's Avro strings all but the surrogates.

Messages name a code point (``U+FFFE``) and a field path, never the text around it
(personal data).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

#: the complement of ``Char`` in a regular-expression class (Python ``re`` syntax)
NOT_CHAR = "\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff"
_NOT_CHAR = re.compile(f"[{NOT_CHAR}]")
#: types holding no string (skipped without further look)
_SCALARS = frozenset({type(None), bool, int, float, bytes})


def is_char(code_point: int) -> bool:
    """Whether XML 1.0's ``Char`` production holds ``code_point``."""
    return (
        code_point in (0x9, 0xA, 0xD)
        or 0x20 <= code_point <= 0xD7FF
        or 0xE000 <= code_point <= 0xFFFD
        or 0x10000 <= code_point <= 0x10FFFF
    )


def code_point(ch: str) -> str:
    """``U+0001``, ``U+FFFE``: how a message names a character."""
    return f"U+{ord(ch):04X}"


def first_not_char(text: str) -> str | None:
    """The first character of ``text`` XML 1.0 cannot carry, or None."""
    m = _NOT_CHAR.search(text)
    return None if m is None else m.group()


def find_not_char(value: Any, path: str = "") -> tuple[str, str] | None:
    """(dotted path, code point) of the first string inside ``value`` (nested dicts and
    lists, as JSON or Avro gives them) holding a character XML 1.0 cannot carry, or None.
    A list item's path is the list's (``a.b`` for ``a.b[3]``). Values only: the keys of
    the hub's records are their schema's field names."""
    if _clean_as_json(value):
        return None
    found: list[str] = []
    _strings(value, found)
    # one search over every string at once (a demand holds ~350 values): ~15 µs, the
    # path is looked for only when there is something to name
    if _NOT_CHAR.search("".join(found)) is None:
        return None
    return _locate(value, path)


#: what orjson writes for a character ``Char`` leaves out, in a JSON text: a C0 control
#: is escaped (``\u0001``, ``\b``, ``\f``; tab, line feed and carriage return too, as
#: ``\t``, ``\n``, ``\r``, which are not matched), U+FFFE and U+FFFF are written as
#: UTF-8 and a surrogate makes it raise. A match may be a false alarm (a literal
#: backslash before ``b`` in some text): the walk then decides.
_JSON_NOT_CHAR = re.compile(rb"\\u00[01][0-9a-fA-F]|\\[bf]|\xef\xbf[\xbe\xbf]")


def _clean_as_json(value: Any) -> bool:
    """True when ``value`` surely holds no string with a character ``Char`` leaves out:
    serialized by orjson, nothing in the text looks like one (a demand: 5–9 µs, where
    walking its ~350 values in Python costs 11–16 µs). False means "walk it": a
    possible one, or a value orjson does not serialize (bytes, an integer beyond 64 bits,
    a surrogate, a non-string key)."""
    try:
        text = orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        return False
    # bytes.find is memchr-fast where a regular expression walks every byte (~12 µs
    # for a demand's ~3 kB)
    if b"\\" not in text and b"\xef\xbf" not in text:
        return True
    return _JSON_NOT_CHAR.search(text) is None


def _strings(value: Any, out: list[str]) -> None:
    kind = type(value)  # exact types first: an ABC isinstance costs a µs per container
    if kind is dict:
        items: Any = value.values()
    elif kind is list:
        items = value
    elif isinstance(value, str):
        out.append(value)
        return
    elif isinstance(value, Mapping):
        items = value.values()
    elif isinstance(value, list | tuple):
        items = value
    else:
        return
    for x in items:
        kind = type(x)
        if kind is str:
            out.append(x)
        elif kind not in _SCALARS:  # a container (or a rare other type)
            _strings(x, out)


def _locate(value: Any, path: str) -> tuple[str, str] | None:
    if isinstance(value, str):
        bad = first_not_char(value)
        return None if bad is None else (path or "value", code_point(bad))
    if isinstance(value, Mapping):
        pairs = [(f"{path}.{k}" if path else str(k), v) for k, v in value.items()]
    elif isinstance(value, list | tuple):
        pairs = [(path, v) for v in value]
    else:
        return None
    for where, v in pairs:
        found = _locate(v, where)
        if found is not None:
            return found
    return None
