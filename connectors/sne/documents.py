"""Business documents of the SNE services (InterfaceNuu XML): validation, reading, building.

* :func:`load` parses through the hardened parser (:func:`hub.core.xmlsafe.parse`)
  and checks the document against its XSD; problems raise :class:`hub.core.errors.InputError` whose
  ``code`` is an SNE-style anomaly code (``XML``, ``XSD``, ``VERSION``) and whose message
  names the line and the rule broken, never the personal values (libxml2 quotes are masked).
* :func:`to_dict` / :func:`element` convert the small documents (event, event type, search)
  to plain dicts and back; repeated items of the ``LIST_ITEMS`` wrappers become lists;
  ``@code``-only elements read as their code.
* :func:`anomalies` reads ``listeAnomalie(s)/anomalie`` anywhere in a document.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from lxml import etree

from connectors.interfacenuu.snapshot import NS
from hub.core import xmlsafe
from hub.core.errors import InputError
from schemas.registry import AVRO_DIR

XSD_DIR = AVRO_DIR.parent / "xsd"
XSDS = {
    "demande": "InterfaceNuu_v0201.xsd",
    "evenement": "InterfaceNuuGPEvenement_v0200.xsd",
    "typeEvenement": "InterfaceNuuGPTypeEvenement_v0200.xsd",
    "recherche": "InterfaceNuuRecherche_v0200.xsd",
}
VERSIONS = ("02.00", "02.01")
LIST_ITEMS = {
    "listeEvenements": "evenement",
    "listeCaracteristiquesSpecifiques": "caracteristiqueSpecifique",
    "listeTypesEvenements": "typeEvenement",
    "listeDemandes": "numUnique",
    "listeAnomalies": "anomalie",
    "listeAnomalie": "anomalie",
    "piecesJustificatives": "codeCategorie",
}
PARIS = ZoneInfo("Europe/Paris")


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One ``anomalie`` of a business answer (a business refusal, not an error)."""

    code: str
    message: str


def q(name: str) -> str:
    return f"{{{NS}}}{name}"


@cache
def schema(kind: str) -> etree.XMLSchema:
    """The compiled XSD of a document kind (trusted file shipped with the package)."""
    return etree.XMLSchema(etree.parse(str(XSD_DIR / XSDS[kind])))


@cache
def schema_names(kind: str) -> frozenset[str]:
    """The names the ``kind`` XSD declares: safe to show in its errors."""
    return xmlsafe.xsd_names(etree.parse(str(XSD_DIR / XSDS[kind])))


def load(data: bytes, kind: str, *, validate: bool = True) -> etree._Element:
    """Root of the ``kind`` document ``data``, parsed safely and (by default) XSD-checked."""
    try:
        root = xmlsafe.parse(data)
    except InputError as exc:
        code = "HOSTILE" if exc.code == "hostile_xml" else "XML"
        raise InputError(exc.message, code=code) from None
    if root.tag != q("interfaceNuu"):
        raise InputError(f"root element must be {{{NS}}}interfaceNuu", code="XSD")
    if root.get("versionInterface") not in VERSIONS:
        raise InputError(f"versionInterface must be one of {', '.join(VERSIONS)}", code="VERSION")
    if validate:
        xsd = schema(kind)
        if not xsd.validate(root):
            err = xsd.error_log.last_error
            msg = xmlsafe.mask_xsd_message(
                err.message,
                node=xmlsafe.xsd_error_node(root, err.path),
                names=schema_names(kind),
                namespace=NS,
            )
            raise InputError(f"{XSDS[kind]} line {err.line}: {msg}", code="XSD")
    return root


def to_dict(el: etree._Element) -> Any:
    """Plain value of ``el``: text for leaves, ``@code`` for coded elements, dicts, lists."""
    name = etree.QName(el).localname
    item = LIST_ITEMS.get(name)
    if item is not None:
        return [to_dict(c) for c in el if etree.QName(c).localname == item]
    if len(el) == 0:
        if el.get("code") is not None and name != "anomalie":
            return el.get("code")
        return (el.text or "").strip()
    out: dict[str, Any] = {f"@{k}": v for k, v in el.attrib.items() if k == "code"}
    for child in el:
        out[etree.QName(child).localname] = to_dict(child)
    return out


def element(name: str, value: Any, parent: etree._Element | None = None) -> etree._Element:
    """Element ``name`` holding ``value`` (inverse of :func:`to_dict`); None values skipped.

    Dict order is element order: callers write keys in the XSD's sequence order."""
    el = etree.Element(q(name)) if parent is None else etree.SubElement(parent, q(name))
    item = LIST_ITEMS.get(name)
    if item is not None:
        for v in value:
            element(item, v, el)
    elif isinstance(value, dict):
        for k, v in value.items():
            if k.startswith("@"):
                el.set(k[1:], str(v))
            elif v is not None:
                element(k, v, el)
    elif isinstance(value, bool):
        el.text = "true" if value else "false"
    else:
        el.text = str(value)
    return el


def document(typ: str, guichet: str | None, body: dict[str, Any], version: str = "02.00") -> bytes:
    """A complete ``interfaceNuu`` document: ``entete`` then ``body``'s elements in order."""
    root = etree.Element(q("interfaceNuu"), nsmap={None: NS})
    root.set("versionInterface", version)
    entete: dict[str, Any] = {"typeFichier": typ, "dateFichier": now_iso()}
    if guichet is not None:
        entete["codeGuichet"] = guichet
    element("entete", entete, root)
    for k, v in body.items():
        if v is not None:
            element(k, v, root)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def anomalies(root: etree._Element) -> list[Anomaly]:
    """Every ``anomalie`` of the document, in order."""
    out = []
    for el in root.iter(q("anomalie")):
        out.append(Anomaly(el.get("code") or "", (el.findtext(q("message")) or "").strip()))
    return out


def anomaly_items(found: list[Anomaly]) -> list[dict[str, Any]]:
    """``anomalie`` values for :func:`element` / :func:`document`."""
    return [{"@code": a.code[:10], "message": a.message[:512]} for a in found]


def now_iso() -> str:
    return datetime.now(PARIS).isoformat(timespec="seconds")
