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


# -- masking of XSD error messages (personal data) ------------------------------------------

#: the mask put in place of a value quoted by libxml2
MASK = "'…'"
#: quoted tokens of libxml2 messages; a token starting with ``{`` is a qualified name
_QUOTED = re.compile(r"'([^']*)'")
_QUALIFIED = re.compile(r"\{[^{}'\s]+\}[A-Za-z_][\w.\-]*")
#: words of libxml2's XSD messages that are never data: facets and the InterfaceNuu
#: attributes libxml2 names (``The attribute 'code' is required but missing``)
XSD_KEPT_WORDS = frozenset(
    {
        "maxLength",
        "minLength",
        "length",
        "pattern",
        "minInclusive",
        "maxInclusive",
        "code",
        "propriete",
        "modifie",
        "versionInterface",
    }
)


#: the constraining facets whose ``value`` libxml2 quotes in its messages
_FACETS = (
    "pattern",
    "enumeration",
    "length",
    "minLength",
    "maxLength",
    "minInclusive",
    "maxInclusive",
    "minExclusive",
    "maxExclusive",
    "totalDigits",
    "fractionDigits",
)
_XS = "http://www.w3.org/2001/XMLSchema"


def xsd_names(xsd: etree._ElementTree) -> frozenset[str]:
    """What an XSD makes public, safe to show in an error (see :func:`mask_xsd_message`'s
    ``names``): the names it declares (elements, attributes, types), bare and
    ``tns:``-prefixed, and its facet values — patterns, enumerations, length and range
    bounds, ``fixed``/``default`` values — which tell a sender what is expected
    (``The value '…' is not accepted by the pattern '[a-zA-Z0-9]{3}'``)."""
    names = [str(n) for n in xsd.xpath("//@name")]
    facets = xsd.xpath(
        " | ".join(f"//xs:{f}/@value" for f in _FACETS) + " | //@fixed | //@default",
        namespaces={"xs": _XS},
    )
    return frozenset(names) | {f"tns:{n}" for n in names} | {str(v) for v in facets}


def xsd_error_node(root: etree._Element, path: str | None) -> etree._Element | None:
    """The element a libxml2 validation error points at (its ``path``), or None."""
    prefixes = {k: v for k, v in root.nsmap.items() if k}  # paths use the document's prefixes
    try:
        found = root.xpath(path, namespaces=prefixes) if path else []
    except etree.XPathError:
        return None
    node = found[0] if isinstance(found, list) and found else None
    return node if isinstance(node, etree._Element) else None


def mask_xsd_message(
    message: str,
    *,
    node: etree._Element | None = None,
    names: frozenset[str] = frozenset(),
    namespace: str = "",
) -> str:
    """An XSD validation message of libxml2 without the document's values (personal data),
    the one masking of the hub (InterfaceNuu files, SNE documents). In order:

    1. the values of ``node`` (the element at fault: its text and attributes, as written
       and whitespace-collapsed), quoted anywhere in the message, become ``'…'`` — even
       numbers and names;
    2. every other quoted token becomes ``'…'`` unless it is a number (facet bounds), a
       word of :data:`XSD_KEPT_WORDS`, one of ``names`` (:func:`xsd_names`: the XSD's
       declared names and facet values, public and never the sender's data) or a
       qualified name ``'{uri}name'``;
    3. ``{namespace}`` is removed from the qualified names left.
    """
    if node is not None:
        values = {node.text or "", *node.attrib.values()}
        values |= {" ".join(v.split()) for v in values}
        for v in sorted(values - {""}, key=len, reverse=True):
            message = message.replace(f"'{v}'", MASK)

    def one(m: re.Match[str]) -> str:
        token = m[1]
        if token == "…" or token.isdigit() or token in XSD_KEPT_WORDS or token in names:
            return m[0]
        return m[0] if _QUALIFIED.fullmatch(token) else MASK

    message = _QUOTED.sub(one, message)
    return message.replace(f"{{{namespace}}}", "") if namespace else message
