"""A SOAP receiver's answer read for the push loop: a Fault (SOAP 1.1 or 1.2) or not, and
whether the record it answers is closed or tried again.

:func:`read_fault` finds the Fault of an answer, whichever SOAP version the receiver
speaks (the hub sends SOAP 1.2; a receiver built for 1.1 answers a 1.1 Fault):

* SOAP 1.1: ``Envelope/Body/Fault`` of ``http://schemas.xmlsoap.org/soap/envelope/``
  with ``faultcode`` (a QName; ``Server.Busy`` style dotted refinements allowed),
  ``faultstring`` and an optional ``detail``;
* SOAP 1.2: ``Envelope/Body/Fault`` of ``http://www.w3.org/2003/05/soap-envelope`` with
  ``Code/Value`` (and ``Code/Subcode/Value``), ``Reason/Text`` and an optional ``Detail``.

Anything else (no XML, another root, an envelope without a Fault, a body cut short,
hostile XML) is no Fault: None. Every answer goes through the project's hardened parser.

:meth:`Fault.retried` is the one rule telling a refusal of *this record* (closed with its
reason, never tried again, so that it cannot stall the records after it) from a fault
that is not about the record (tried again with the channel's back-off, like a transport
error). Retried:

* a fault about the message as a whole — ``VersionMismatch``, ``MustUnderstand``,
  ``DataEncodingUnknown``: every record would get the same answer, closing them would
  drop the actor's whole feed; the actor waits for its configuration to be fixed;
* a ``Receiver`` (1.2) or ``Server`` (1.1) fault answered with HTTP 503 (Service
  Unavailable: "try again later");
* a fault naming the domain's "unavailable for now" code, ``sne_unavailable`` (what the
  hub's SOAP gateway answers when the SNE cannot be reached), as its subcode or as the
  ``code`` of its detail (``demandeLogementException/code``), whatever the HTTP status.

Every other Fault closes its record: ``Sender``/``Client`` faults, application-defined
codes, and ``Receiver``/``Server`` faults with any status but 503 (an application error
answered as 500 would come back on every try: retrying it would stall the actor forever).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hub.core import xmlsafe
from hub.core.errors import InputError

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
#: most bytes of a receiver's answer that are read as XML. The SOAP push reads at most
#: ``api.delivery_answer_max_bytes`` (256 kB; the setting is at most this) of an answer
#: (connectors/outbound/bounded_http.py), a larger one being a transport error: so every
#: answer it reads in full is parsed, and a larger ``content`` here never came from it
MAX_ANSWER = 1_000_000
#: fault classes about the message as a whole, never about one record: retried
ENVELOPE_FAULTS = frozenset({"VersionMismatch", "MustUnderstand", "DataEncodingUnknown"})
#: fault classes blaming the receiver's processing rather than the message
RECEIVER_FAULTS = frozenset({"Receiver", "Server"})
#: the HTTP status saying "unavailable for now, try again later"
UNAVAILABLE_STATUS = 503
#: the domain's codes for "unavailable for now" (connectors.sne.errors.SneUnavailable)
UNAVAILABLE_CODES = frozenset({"sne_unavailable"})


@dataclass(frozen=True, slots=True)
class Fault:
    """One SOAP Fault. ``code``: the most precise code as written (the 1.2 subcode when
    there is one, else the code; the 1.1 faultcode), shown in ``last_error``; ``kind``:
    the standard class it belongs to (``Sender``, ``Receiver``, ``Client``, ``Server``,
    ``VersionMismatch``...; empty for an application-defined code); ``detail_code``: the
    text of the detail's first ``code`` element (the SNE's ``demandeLogementException``)."""

    version: str
    code: str
    kind: str
    reason: str
    subcode: str = ""
    detail_code: str = ""

    def __str__(self) -> str:
        return f"SOAP Fault {self.code}: {self.reason}"

    def retried(self, status: int) -> bool:
        """True when the record must be tried again (module doc), False when the Fault
        refuses it (closed with its reason)."""
        if self.kind in ENVELOPE_FAULTS:
            return True
        if self.kind in RECEIVER_FAULTS and status == UNAVAILABLE_STATUS:
            return True
        return bool({_local(self.subcode), self.detail_code} & UNAVAILABLE_CODES)


def read_fault(content: bytes) -> Fault | None:
    """The SOAP Fault in ``content`` (SOAP 1.1 or 1.2), or None when it holds none."""
    if not content.strip() or len(content) > MAX_ANSWER:
        return None
    try:
        root = xmlsafe.parse(content)
    except InputError:
        return None
    for ns, read in ((SOAP12, _fault12), (SOAP11, _fault11)):
        fault = root.find(f"{{{ns}}}Body/{{{ns}}}Fault")
        if root.tag == f"{{{ns}}}Envelope" and fault is not None:
            return read(fault)
    return None


def _fault12(fault: Any) -> Fault:
    ns = f"{{{SOAP12}}}"
    value = fault.find(f"{ns}Code/{ns}Value")
    code = _text(value) or "env:Receiver"  # a Fault without a code: the receiver's failure
    sub = _text(fault.find(f"{ns}Code/{ns}Subcode/{ns}Value"))
    return Fault(
        version="1.2",
        code=(sub or code)[:60],
        kind=_kind(value, code, SOAP12),
        reason=_text(fault.find(f"{ns}Reason/{ns}Text"))[:200],
        subcode=sub[:60],
        detail_code=_detail_code(fault.find(f"{ns}Detail")),
    )


def _fault11(fault: Any) -> Fault:
    # its children are unqualified (SOAP 1.1 §4.4); some toolkits qualify them anyway
    def child(name: str) -> Any:
        found = fault.find(name)
        return found if found is not None else fault.find(f"{{{SOAP11}}}{name}")

    value = child("faultcode")
    code = _text(value) or "Server"
    return Fault(
        version="1.1",
        code=code[:60],
        kind=_kind(value, code, SOAP11).split(".")[0],  # Server.Busy is a Server fault
        reason=_text(child("faultstring"))[:200],
        detail_code=_detail_code(child("detail")),
    )


def _kind(element: Any, qname: str, envelope_ns: str) -> str:
    """The local name of ``qname`` when it names a code of the envelope's namespace (or
    has no resolvable prefix: a receiver's sloppiness, read kindly), else empty."""
    prefix, _, local = qname.rpartition(":")
    ns = None if element is None else element.nsmap.get(prefix or None)
    return local if ns in (None, envelope_ns) else ""


def _detail_code(detail: Any) -> str:
    if detail is None:
        return ""
    for el in detail.iter():
        if isinstance(el.tag, str) and el.tag.rpartition("}")[2] == "code":
            return _text(el)[:60]
    return ""


def _local(qname: str) -> str:
    return qname.rpartition(":")[2]


def _text(element: Any) -> str:
    """The element's text on one line (None: empty)."""
    return "" if element is None else " ".join((element.text or "").split())
