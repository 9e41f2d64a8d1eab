"""The one hardened XML parser of the project: every XML input goes through :func:`parse`.

Threats and answers:

* XXE (external entities, ``file:///etc/passwd``), external DTDs, billion laughs and
  quadratic blowup all need a DOCTYPE, which XML allows only in the prolog (before the
  root element: ``prolog ::= XMLDecl? Misc* (doctypedecl Misc*)?``). The prolog is read
  *before parsing*, in the document's own encoding, past the XML declaration, comments and
  processing instructions: a DOCTYPE there is refused and libxml2 never reads its DTD (it
  would read an external parameter entity's file, even with entities off). Markup-like
  text elsewhere — ``<!ENTITY`` inside a CDATA section, a comment or a text value — is
  text, never looked at. The parser is configured so that it could not resolve entities
  anyway (no entity substitution, no DTD loading, no network), and any DTD the parsed
  tree reports (``docinfo``) is refused too.
* Encodings (XML 1.0 §4.3.3 and Appendix F): UTF-8 and UTF-16, which every XML processor
  must read — UTF-16 with its byte order mark, or without one when the declaration names
  ``UTF-16LE``/``UTF-16BE`` —, and the encodings that write ASCII as ASCII (ISO-8859-1,
  windows-1252, ISO-8859-15…) when the XML declaration names them. UTF-32/UCS-4, EBCDIC,
  an encoding whose ASCII is not ASCII (UTF-7) or unknown, and a declaration the bytes
  contradict are refused as ``unsupported_encoding``: not an attack, a format the hub does
  not read (the SNE's InterfaceNuu documents are UTF-8).
* Size: more than ``max_bytes`` is refused before parsing; ``huge_tree`` stays off, so
  libxml2 keeps its own limits on text nodes and nesting.
* Depth: more than ``max_depth`` levels of elements is refused (deep trees make every
  recursive consumer of the tree a stack-overflow risk).

Errors are :class:`hub.core.errors.InputError` with code ``hostile_xml`` (refused on purpose),
``unsupported_encoding`` or ``malformed_xml`` (not well-formed XML); messages never quote
the document's text.
"""

from __future__ import annotations

import codecs
import re

from lxml import etree

from hub.core.errors import InputError

DEFAULT_MAX_BYTES = 2_000_000
DEFAULT_MAX_DEPTH = 64
#: what may stand before the root element besides a DOCTYPE: white space, comments,
#: processing instructions (the XML declaration is one to this reader)
_PROLOG_ITEM = re.compile(r"[ \t\r\n]+|<!--.*?-->|<\?.*?\?>", re.S)
#: the encoding declaration, read in the family's ASCII (``EncName`` of XML 1.0)
_ENCODING_DECL = re.compile(
    rb"^<\?xml[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*(?:\"[^\"]*\"|'[^']*')"
    rb"[ \t\r\n]+encoding[ \t\r\n]*=[ \t\r\n]*"
    rb"(?:\"([A-Za-z][A-Za-z0-9._-]*)\"|'([A-Za-z][A-Za-z0-9._-]*)')"
)
#: the printable ASCII characters and the XML white space: an accepted 8-bit encoding
#: writes each as its ASCII byte
_ASCII = bytes(range(0x20, 0x7F)) + b"\t\n\r"
_UNSUPPORTED = "unsupported_encoding"


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
    if _has_doctype(_decoded(data)):
        raise InputError(
            "XML DOCTYPE declarations are not accepted (DTD/entity attack guard)",
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


def _declared(head: bytes) -> str | None:
    """The encoding an XML declaration names (``head``: its bytes in ASCII), or None."""
    m = _ENCODING_DECL.match(head)
    return None if m is None else (m[1] or m[2]).decode("ascii")


def _decoded(data: bytes) -> str:
    """``data`` as text, in the encoding XML 1.0 Appendix F finds (byte order mark, first
    bytes, declaration): what libxml2 will read. :class:`InputError`
    ``unsupported_encoding`` for an encoding the hub does not read (module doc)."""
    if data.startswith(
        (b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00", b"\x00\x00\x00<", b"<\x00\x00\x00")
    ):
        raise InputError("XML in UTF-32/UCS-4 is not read; send UTF-8", code=_UNSUPPORTED)
    if data.startswith(b"\x4c\x6f\xa7\x94"):
        raise InputError("XML in EBCDIC is not read; send UTF-8", code=_UNSUPPORTED)
    if data.startswith((b"\xfe\xff", b"\xff\xfe")):
        return data.decode("utf-16", errors="replace")  # the mark says the byte order
    for prefix, codec, name in (
        (b"<\x00?\x00", "utf-16-le", "UTF-16LE"),
        (b"\x00<\x00?", "utf-16-be", "UTF-16BE"),
    ):
        if data.startswith(prefix):
            # UTF-16 without a byte order mark: the declaration must say so (Appendix F)
            head = data[:400].decode(codec, errors="replace").encode("ascii", errors="replace")
            named = re.sub(r"[-_]", "", (_declared(head) or "").lower())
            if named not in ("utf16", name.replace("-", "").lower()):
                raise InputError(
                    f"XML in 16-bit units without a byte order mark must declare "
                    f'encoding="{name}" (or start with the mark); send UTF-8',
                    code=_UNSUPPORTED,
                )
            return data.decode(codec, errors="replace")
    if b"\x00" in data[:4]:
        raise InputError(
            "XML in an unknown 16/32-bit encoding is not read; send UTF-8", code=_UNSUPPORTED
        )
    declared = _declared(data[3:400] if data.startswith(b"\xef\xbb\xbf") else data[:400])
    if declared is None or data.startswith(b"\xef\xbb\xbf"):
        return data.decode("utf-8", errors="replace")
    try:
        info = codecs.lookup(declared)
        ascii_as_ascii = _ASCII.decode(info.name, errors="replace") == _ASCII.decode("ascii")
    except (LookupError, ValueError):
        ascii_as_ascii = False
    if not ascii_as_ascii and declared.lower().replace("_", "-").startswith(("utf-16", "utf-32")):
        raise InputError(
            f"XML declares encoding {declared!r} but is not written in it (UTF-16 starts "
            "with a byte order mark, or declares UTF-16LE/UTF-16BE)",
            code=_UNSUPPORTED,
        )
    if not ascii_as_ascii:
        raise InputError(
            f"XML declared in encoding {declared!r} is not read (the hub reads UTF-8, "
            "UTF-16 and encodings writing ASCII as ASCII, e.g. ISO-8859-1); send UTF-8",
            code=_UNSUPPORTED,
        )
    return data.decode(info.name, errors="replace")


def _has_doctype(text: str) -> bool:
    """Whether the prolog of ``text`` (before the root element) holds a DOCTYPE: read past
    white space, comments and processing instructions only, never into the content."""
    pos = 1 if text.startswith("\ufeff") else 0
    while (m := _PROLOG_ITEM.match(text, pos)) is not None:
        pos = m.end()
    return text.startswith("<!DOCTYPE", pos)


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
