"""The one hardened XML parser of the project: every XML input goes through :func:`parse`.

Threats and answers:

* XXE (external entities, ``file:///etc/passwd``), external DTDs, billion laughs and
  quadratic blowup all need a DOCTYPE: a document containing one is refused *before*
  parsing (a bytes scan is enough because only ASCII-compatible encodings are accepted),
  and the parser is configured so that it could not resolve them anyway (no entity
  substitution, no DTD loading, no network). Any DTD seen after parsing is refused too.
* Size: more than ``max_bytes`` is refused before parsing; ``huge_tree`` stays off, so
  libxml2 keeps its own limits on text nodes and nesting.
* Depth: more than ``max_depth`` levels of elements is refused (deep trees make every
  recursive consumer of the tree a stack-overflow risk).

Errors are :class:`hub.core.errors.InputError` with code ``hostile_xml`` (refused on purpose)
or ``malformed_xml`` (not well-formed XML); messages never quote the document's text.
"""

from __future__ import annotations

import re

from lxml import etree

from hub.core.errors import InputError

DEFAULT_MAX_BYTES = 2_000_000
DEFAULT_MAX_DEPTH = 64
_FORBIDDEN = (b"<!DOCTYPE", b"<!ENTITY", b"<!ELEMENT", b"<!ATTLIST")


def _parser() -> etree.XMLParser:
    # A parser per call: lxml parsers keep state and are not safe to share across threads.
    return etree.XMLParser(
        resolve_entities=False,  # never substitute entities (XXE, billion laughs)
        load_dtd=False,  # never fetch an external DTD
        dtd_validation=False,
        no_network=True,  # never touch the network, whatever the document says
        huge_tree=False,  # keep libxml2's limits on depth and text size
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )


def parse(
    data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH
) -> etree._Element:
    """Root element of ``data`` parsed safely (see the module doc for what is refused)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InputError(
            f"XML input must be bytes, got {type(data).__name__}", code="malformed_xml"
        )
    data = bytes(data)
    if len(data) > max_bytes:
        raise InputError(
            f"XML document is {len(data)} bytes, above the {max_bytes} cap", code="hostile_xml"
        )
    if data.startswith((b"\xfe\xff", b"\xff\xfe", b"\x00", b"\x4c\x6f\xa7\x94")) or b"\x00" in data:
        # UTF-16/32 or EBCDIC would hide a DOCTYPE from the byte scan below
        raise InputError("XML must use an ASCII-compatible encoding (UTF-8)", code="hostile_xml")
    for token in _FORBIDDEN:
        if token in data:
            kind = token.decode()[2:]
            raise InputError(
                f"XML {kind} declarations are not accepted (DTD/entity attack guard)",
                code="hostile_xml",
            )
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        # libxml2 appends ", line L, column C" itself: keep the message, report the line once
        msg = re.sub(r", line \d+, column \d+$", "", str(exc.msg or exc).split("\n", 1)[0])
        code = "hostile_xml" if "depth" in msg.lower() or "huge" in msg.lower() else "malformed_xml"
        raise InputError(f"malformed XML at line {exc.lineno}: {msg}", code=code) from None
    except (ValueError, TypeError) as exc:
        raise InputError(f"malformed XML: {type(exc).__name__}", code="malformed_xml") from None
    if root is None:
        raise InputError("XML document has no root element", code="malformed_xml")
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise InputError("XML DOCTYPE declarations are not accepted", code="hostile_xml")
    # XPath in C: is there any element max_depth + 1 levels down? O(size), no recursion.
    if root.xpath("boolean(" + "/*" * (max_depth + 1) + ")"):
        raise InputError(f"XML nesting deeper than {max_depth} levels", code="hostile_xml")
    return root
