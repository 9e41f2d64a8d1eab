"""SOAP 1.2 envelopes with MTOM/XOP: what the simulator and the gateway read and write.

A request is ``application/soap+xml`` (business XML inline as base64) or
``multipart/related; type="application/xop+xml"`` (the envelope in the root part, each
business document an attachment referenced by ``xop:Include href="cid:..."``). Both give
the same :class:`Request`. Envelopes go through the hardened parser with a cap of
:data:`MAX_ENVELOPE` bytes; the whole body is capped by the server (:data:`MAX_BODY`).
Every refusal is a :class:`SoapFault`: ``Sender`` for the caller's mistakes (HTTP 400),
``Receiver`` for ours or the SNE's unavailability.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from lxml import etree

from connectors.sne.operations import CONTENT_TYPES, SERVICES, WS_NS
from hub.core import xmlsafe
from hub.core.errors import InputError

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
XOP = "http://www.w3.org/2004/08/xop/include"
MAX_BODY = 8_000_000
MAX_ENVELOPE = 4_000_000


class SoapFault(Exception):
    """A SOAP 1.2 Fault to answer, carrying ``demandeLogementException(code, message)``."""

    def __init__(self, code: str, message: str, *, sender: bool = True, status: int = 0) -> None:
        super().__init__(message)
        self.code, self.message, self.sender = code, message, sender
        self.status = status or (400 if sender else 500)


@dataclass
class Request:
    service: str
    operation: str
    params: dict[str, Any]  # b64 parts as bytes, others as str
    mtom: bool
    attachments: dict[str, bytes] = field(default_factory=dict)
    #: the SOAP Header element (WS-Security), None when the envelope has none
    header: Any = None
    #: the HTTP request's headers, lower-case names (set by the server)
    http_headers: dict[str, str] = field(default_factory=dict)


def _multipart(body: bytes, content_type: str) -> tuple[bytes, dict[str, bytes]]:
    from requests_toolbelt.multipart.decoder import MultipartDecoder  # zeep's dependency

    try:
        decoder = MultipartDecoder(body, content_type)
    except Exception as exc:  # the decoder raises several unrelated types on bad framing
        raise SoapFault("MIME", f"malformed multipart/related body: {type(exc).__name__}") from None
    if not decoder.parts:
        raise SoapFault("MIME", "multipart/related body without parts")
    attachments: dict[str, bytes] = {}
    for part in decoder.parts[1:]:
        cid = part.headers.get(b"Content-ID", b"").decode("ascii", "replace").strip().strip("<>")
        attachments[cid] = part.content
    return decoder.parts[0].content, attachments


def parse_request(service: str, body: bytes, content_type: str) -> Request:
    """The operation and parameters of a SOAP request to ``service``."""
    mtom = content_type.lower().startswith("multipart/related")
    envelope, attachments = _multipart(body, content_type) if mtom else (body, {})
    try:
        root = xmlsafe.parse(envelope, max_bytes=MAX_ENVELOPE)
    except InputError as exc:
        raise SoapFault("HOSTILE" if exc.code == "hostile_xml" else "XML", exc.message) from None
    if root.tag == f"{{{SOAP11}}}Envelope":
        raise SoapFault("VERSION", "SOAP 1.1 envelope: these services speak SOAP 1.2")
    if root.tag != f"{{{SOAP12}}}Envelope":
        raise SoapFault("ENVELOPE", "root element is not a SOAP 1.2 Envelope")
    body_el = root.find(f"{{{SOAP12}}}Body")
    if body_el is None or len(body_el) != 1:
        raise SoapFault("ENVELOPE", "the SOAP Body must hold exactly one operation element")
    op_el = body_el[0]
    qn = etree.QName(op_el)
    ops = SERVICES[service][1]
    if qn.namespace != WS_NS or qn.localname not in ops:
        raise SoapFault("OPERATION", f"unknown operation {qn.localname} for {service}")
    request_parts = dict(ops[qn.localname][0])
    params: dict[str, Any] = {}
    for child in op_el:
        name = etree.QName(child).localname
        kind = request_parts.get(name)
        if kind is None:
            raise SoapFault("PARAMETRE", f"{qn.localname}: unexpected element {name}")
        params[name] = (
            _b64_value(child, name, attachments) if kind == "b64" else (child.text or "").strip()
        )
    missing = [n for n, k in request_parts.items() if n not in params and not k.endswith("?")]
    if missing:
        raise SoapFault("PARAMETRE", f"{qn.localname}: missing {', '.join(missing)}")
    return Request(
        service, qn.localname, params, mtom, attachments, header=root.find(f"{{{SOAP12}}}Header")
    )


def attachment_of(href: str, attachments: dict[str, bytes]) -> bytes | None:
    """The part an ``xop:Include`` ``href`` names, None if there is none. XOP refers to
    parts by ``cid:`` URL (RFC 2392): the Content-ID without its angle brackets,
    %-encoded — ``cid:foo4%25foo1@bar.net`` names ``<foo4%foo1@bar.net>``, and .NET WCF
    writes ``cid:http%3A%2F%2Ftempuri.org%2F1%2F...`` for ``<http://tempuri.org/1/...>``.
    The href is decoded first; as written is tried second, for senders that put a
    Content-ID holding ``%`` in the href unencoded (and, as before, a bare Content-ID)."""
    written = href[4:] if href[:4].lower() == "cid:" else href  # the scheme is caseless
    for cid in dict.fromkeys((unquote(written), written)):
        if cid in attachments:
            return attachments[cid]
    return None


def _b64_value(el: etree._Element, name: str, attachments: dict[str, bytes]) -> bytes:
    include = el.find(f"{{{XOP}}}Include")
    if include is not None:
        part = attachment_of(include.get("href") or "", attachments)
        if part is None:
            raise SoapFault("MIME", f"{name}: xop:Include refers to a missing attachment")
        return part
    try:
        return base64.b64decode("".join((el.text or "").split()), validate=True)
    except (binascii.Error, ValueError):
        raise SoapFault("BASE64", f"{name}: not valid base64") from None


def _envelope(content: etree._Element) -> etree._Element:
    env = etree.Element(f"{{{SOAP12}}}Envelope", nsmap={"soap": SOAP12})
    etree.SubElement(env, f"{{{SOAP12}}}Body").append(content)
    return env


def render_response(
    service: str, operation: str, values: dict[str, Any], *, mtom: bool
) -> tuple[bytes, str]:
    """(body, content type) of ``<operation>Response``; b64 parts as attachments if ``mtom``
    (typed by :data:`~connectors.sne.operations.CONTENT_TYPES`: the attestation is a PDF)."""
    resp = etree.Element(f"{{{WS_NS}}}{operation}Response", nsmap={"ns2": WS_NS})
    attachments: list[tuple[str, bytes]] = []
    types: dict[str, str] = {}
    for name, kind in SERVICES[service][1][operation][1]:
        value = values.get(name)
        if value is None:
            continue
        el = etree.SubElement(resp, name)
        if not kind.startswith("b64"):
            el.text = str(value)
        elif mtom:
            cid = f"{uuid.uuid4().hex}@passerelle"
            etree.SubElement(el, f"{{{XOP}}}Include", nsmap={"xop": XOP}).set("href", f"cid:{cid}")
            attachments.append((cid, value))
            types[cid] = CONTENT_TYPES.get(name, "application/octet-stream")
        else:
            el.text = base64.b64encode(value).decode("ascii")
    xml = etree.tostring(_envelope(resp), xml_declaration=True, encoding="UTF-8")
    if not mtom:
        return xml, "application/soap+xml; charset=utf-8"
    return mtom_package(xml, attachments, action="", content_types=types)


def mtom_package(
    envelope: bytes,
    attachments: list[tuple[str, bytes]],
    *,
    action: str,
    content_types: dict[str, str] | None = None,
) -> tuple[bytes, str]:
    """A multipart/related XOP package: the envelope root part, then the attachments, each
    typed ``content_types[cid]`` (default application/octet-stream)."""
    boundary = f"uuid:{uuid.uuid4()}"
    start = "<root.message@passerelle>"
    info = f'application/soap+xml; action="{action}"' if action else "application/soap+xml"
    chunks = [
        f"--{boundary}\r\nContent-Type: application/xop+xml; charset=UTF-8; "
        f'type="{info.replace(chr(34), chr(92) + chr(34))}"\r\n'
        f"Content-Transfer-Encoding: binary\r\nContent-ID: {start}\r\n\r\n".encode(),
        envelope,
    ]
    for cid, data in attachments:
        chunks += [
            f"\r\n--{boundary}\r\n"
            f"Content-Type: {(content_types or {}).get(cid, 'application/octet-stream')}\r\n"
            f"Content-Transfer-Encoding: binary\r\nContent-ID: <{cid}>\r\n\r\n".encode(),
            data,
        ]
    chunks.append(f"\r\n--{boundary}--\r\n".encode())
    content_type = (
        f'multipart/related; type="application/xop+xml"; boundary="{boundary}"; '
        f'start="{start}"; start-info="application/soap+xml"'
    )
    return b"".join(chunks), content_type


def render_fault(fault: SoapFault) -> bytes:
    """A SOAP 1.2 Fault envelope carrying ``demandeLogementException``."""
    f = etree.Element(f"{{{SOAP12}}}Fault")
    code = etree.SubElement(etree.SubElement(f, f"{{{SOAP12}}}Code"), f"{{{SOAP12}}}Value")
    code.text = "soap:Sender" if fault.sender else "soap:Receiver"
    reason = etree.SubElement(etree.SubElement(f, f"{{{SOAP12}}}Reason"), f"{{{SOAP12}}}Text")
    reason.set("{http://www.w3.org/XML/1998/namespace}lang", "fr")
    reason.text = fault.message
    exc = etree.SubElement(
        etree.SubElement(f, f"{{{SOAP12}}}Detail"),
        f"{{{WS_NS}}}demandeLogementException",
        nsmap={"ns2": WS_NS},
    )
    etree.SubElement(exc, "code").text = fault.code
    etree.SubElement(exc, "message").text = fault.message
    return bytes(etree.tostring(_envelope(f), xml_declaration=True, encoding="UTF-8"))
