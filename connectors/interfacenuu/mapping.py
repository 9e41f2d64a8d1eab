"""InterfaceNuu demand document ⇄ DemandeEvent dict.

The ``demande`` subtree maps to the snapshot as :mod:`connectors.interfacenuu.snapshot`
describes (driven by the generated Avro schema); this module handles the envelope.

Decisions:

* ``eventId`` = uuid5 of the SHA-256 of the document bytes: re-reading the same file after a
  crash yields the same id, so the hub and the actors deduplicate the redelivery; a
  byte-identical document carries the same ``dateFichier``, so it *is* the same event.
  (A re-rendered document has other bytes, hence another id.)
* ``changedFields``: dotted element paths below ``demande`` of the elements flagged
  ``modifie="true"``, no list index, wrapper and item both named, e.g.
  ``demandeLogement.logementRecherche.listeLocalisationSouhaite.localisationSouhaite``;
  unique, in document order; a list item is named with its 0-based index
  (``…listeLocalisationSouhaite.localisationSouhaite[1]``, and the paths below it too), so
  a flag on one item comes back on that item only (:mod:`connectors.interfacenuu.snapshot`).
* ``occurredAt`` = ``entete/dateFichier`` in epoch ms (the model's precision: the Avro
  ``timestamp-millis``); a value without offset is French legal time (Europe/Paris), as
  the SNE writes it; digits below the millisecond are dropped (the instant is floored to
  its millisecond: docs/limits.md). Rendering writes it with its offset.
* Dates: the values of the elements the XSD types ``xs:date``/``xs:dateTime`` are
  whitespace-collapsed first (:func:`collapse_dates`), before the XSD check: XSD 1.0 gives
  those types ``whiteSpace=collapse``, which libxml2 does not apply to them, and the
  snapshot then holds the date itself, as every date reader of the hub expects.
* Reactivation: the domain's "empty motive = reactivation". A ``RAD`` document whose
  ``radiation/motifRadiation`` has no code (``<motifRadiation/>``, read as "") radiates
  nothing: its event is a ``MOD`` (a radiated demand modified is active again:
  docs/lifecycle.md), the snapshot keeping the SNE's radiation block as it is.
* ``numUnique`` may be missing only for CRE/CRS (the SNE numbers new demands): the event
  then carries "".
"""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from lxml import etree

from connectors.interfacenuu.snapshot import (
    NS,
    ROOT_RECORD,
    collapsed,
    fail,
    q,
    read_record,
    write_record,
)
from hub.core import xmlsafe
from schemas.registry import AVRO_DIR

VERSIONS = ("02.00", "02.01")
OPERATIONS = ("CRE", "CRS", "MOD", "REN", "RAD", "SUP")
NEW_DEMAND_OPERATIONS = ("CRE", "CRS")  # the SNE has not numbered the demand yet
SOURCE = "interfacenuu-xml"
PARIS = ZoneInfo("Europe/Paris")
XSD_PATH = AVRO_DIR.parent / "xsd" / "InterfaceNuu_v0201.xsd"
_EVENT_NS = uuid.uuid5(uuid.NAMESPACE_URL, "urn:passerelle:interfacenuu:document")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_XS = "{http://www.w3.org/2001/XMLSchema}"
_DATE_TYPES = frozenset({"xs:date", "xs:dateTime"})
#: the operation a RAD document with an empty radiation motive stands for (module doc)
REACTIVATION = "MOD"
_END_OF_DAY = re.compile(r"T24:00:00(?:\.0+)?(?=$|[+-])")  # xs:dateTime allows 24:00:00


@lru_cache(maxsize=1)
def _xsd() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD_PATH)))


@lru_cache(maxsize=1)
def _schema_names() -> frozenset[str]:
    """Names declared by the XSD (elements, attributes, types): safe to show in errors."""
    return xmlsafe.xsd_names(etree.parse(str(XSD_PATH)))


@lru_cache(maxsize=1)
def _date_tags() -> tuple[str, ...]:
    """Qualified tags of the elements the XSD types ``xs:date`` or ``xs:dateTime`` (through
    its restrictions and simple-content extensions). An element name is a date wherever it
    appears (checked: a name typed both ways would need its parent to tell)."""
    xsd = etree.parse(str(XSD_PATH)).getroot()
    base: dict[str, str] = {}
    for t in xsd.iter(f"{_XS}simpleType", f"{_XS}complexType"):
        derived = t.find(f"{_XS}restriction")
        if derived is None:
            derived = t.find(f"{_XS}simpleContent/{_XS}extension")
        if t.get("name") and derived is not None and derived.get("base"):
            base[f"tns:{t.get('name')}"] = str(derived.get("base"))

    def is_date(name: str | None) -> bool:
        seen: set[str] = set()
        while name in base and name not in seen:
            seen.add(name)
            name = base[name]
        return name in _DATE_TYPES

    dates: set[str] = set()
    others: set[str] = set()
    for el in xsd.iter(f"{_XS}element"):
        if el.get("name"):
            (dates if is_date(el.get("type")) else others).add(str(el.get("name")))
    if dates & others or not dates:
        raise RuntimeError(f"{XSD_PATH}: date elements not told by name: {dates & others}")
    return tuple(q(name) for name in sorted(dates))


def collapse_dates(root: etree._Element) -> None:
    """Apply ``whiteSpace=collapse`` to the value of every ``xs:date``/``xs:dateTime``
    element of ``root`` in place (module doc); other values are left as they are."""
    for el in root.iter(*_date_tags()):
        text = el.text
        if text and len(el) == 0:
            value = collapsed(text)
            if value != text:
                el.text = value


def _validate(root: etree._Element) -> None:
    """XSD validation. The one-line error gives the line, the dotted path of the element at
    fault (``interfaceNuu.demande.…``, local names) and libxml2's reason without namespace
    and with the document's values masked (element names and facets stay)."""
    schema = _xsd()
    if not schema.validate(root):
        err = schema.error_log.last_error
        node = xmlsafe.xsd_error_node(root, err.path)
        msg = xmlsafe.mask_xsd_message(err.message, node=node, names=_schema_names(), namespace=NS)
        at = ""
        if node is not None:
            chain = [*reversed(list(node.iterancestors())), node]
            at = ", element " + ".".join(str(etree.QName(n).localname) for n in chain)
        raise fail(f"not a valid InterfaceNuu 02.01 document (line {err.line}{at}): {msg}")


def _occurred_at(text: str) -> int:
    """Epoch ms of an xs:dateTime (years 0001–9999; ``24:00:00`` is the next midnight)."""
    value, later = text.strip().replace("Z", "+00:00"), timedelta(0)
    if m := _END_OF_DAY.search(value):
        value, later = f"{value[: m.start()]}T00:00:00{value[m.end() :]}", timedelta(days=1)
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise fail("entete/dateFichier: not an xs:dateTime of years 0001-9999") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=PARIS)
    return (when + later - _EPOCH) // _MS  # exact, floored to the millisecond


def parse_demande_xml(
    data: bytes,
    *,
    validate: bool = True,
    source: str = SOURCE,
    max_bytes: int = xmlsafe.DEFAULT_MAX_BYTES,
) -> dict[str, Any]:
    """DemandeEvent dict of an InterfaceNuu demand document (see the module doc).

    ``validate`` checks the document against ``schemas/xsd/InterfaceNuu_v0201.xsd`` first
    (02.00 documents too: 02.01 only added optional elements). Every problem raises
    :class:`hub.core.errors.InputError` naming the element path, never its content; a document
    above ``max_bytes`` is refused before parsing (``files.max_file_bytes`` for files).
    """
    root = xmlsafe.parse(data, max_bytes=max_bytes)
    if root.tag != q("interfaceNuu"):
        raise fail(f"root element must be {{{NS}}}interfaceNuu, got {root.tag}")
    version = root.get("versionInterface")
    if version not in VERSIONS:
        raise fail(f"versionInterface {version!r} unsupported (expected one of {VERSIONS})")
    collapse_dates(root)
    if validate:
        _validate(root)
    operation = (root.findtext(f"{q('entete')}/{q('typeFichier')}") or "").strip()
    if operation not in OPERATIONS:
        raise fail(f"entete/typeFichier {operation!r} is not a demand operation {OPERATIONS}")
    date = root.findtext(f"{q('entete')}/{q('dateFichier')}")
    demande_el = root.find(q("demande"))
    if date is None or demande_el is None:
        raise fail("entete/dateFichier and demande are required")
    changed: dict[str, None] = {}
    demande = read_record(demande_el, ROOT_RECORD, "", changed)
    logement = demande.get("demandeLogement") or {}
    if operation == "RAD" and (logement.get("radiation") or {}).get("motifRadiation") == "":
        operation = REACTIVATION  # empty motive = reactivation (module doc)
    num = (logement.get("numUnique") or "").strip()
    if not num and operation not in NEW_DEMAND_OPERATIONS:
        raise fail(f"demandeLogement/numUnique is required for operation {operation}")
    digest = hashlib.sha256(bytes(data)).hexdigest()
    return {
        "eventId": str(uuid.uuid5(_EVENT_NS, digest)),
        "numUnique": num,
        "operation": operation,
        "occurredAt": _occurred_at(date),
        "source": source,
        "changedFields": list(changed),
        "versionInterface": version,
        "demande": demande,
        "profile": None,  # a whole document; the entrance of an actor's cut copy sets it
    }


def render_demande_xml(event: dict[str, Any]) -> bytes:
    """InterfaceNuu document of a DemandeEvent dict: the inverse of :func:`parse_demande_xml`.

    A missing snapshot (SUP) renders as a ``demandeLogement`` holding only the numéro unique.
    """
    root = etree.Element(q("interfaceNuu"), nsmap={None: NS, "n": NS})
    root.set("versionInterface", event.get("versionInterface") or VERSIONS[-1])
    entete = etree.SubElement(root, q("entete"))
    etree.SubElement(entete, q("typeFichier")).text = event["operation"]
    when = datetime.fromtimestamp(event["occurredAt"] / 1000, PARIS)
    etree.SubElement(entete, q("dateFichier")).text = when.isoformat(timespec="milliseconds")
    demande = event.get("demande") or {"demandeLogement": {}}
    dl = demande.get("demandeLogement")
    if event.get("numUnique") and dl is not None and not dl.get("numUnique"):
        demande = {**demande, "demandeLogement": {**dl, "numUnique": event["numUnique"]}}
    changed = frozenset(event.get("changedFields") or ())
    write_record(etree.SubElement(root, q("demande")), ROOT_RECORD, demande, "", changed)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
