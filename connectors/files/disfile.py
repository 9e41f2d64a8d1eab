"""DIS batch files: the feed records of one offset range as one XML document.

Layout (namespace ``urn:passerelle:fichiers:1``)::

    <lotDiffusion acteur="..." partition="0" premierOffset="12" dernierOffset="14" nombre="3">
      <enregistrement offset="12" nature="DEMANDE" eventId="..." numUnique="..."
                      operation="MOD" version="3" profil="consultant_simple" diffuseLe="...">
        <interfaceNuu xmlns="http://nuu.application.i2/" versionInterface="02.01">
          <entete><typeFichier>DIS</typeFichier><dateFichier>...</dateFichier></entete>
          <demande>...</demande>       (already cut to the actor's profile by the dispatcher)
        </interfaceNuu>
      </enregistrement>
      <enregistrement offset="13" nature="RETRAIT" motif="hors_territoire" .../>
    </lotDiffusion>

Choices: a record carrying a snapshot (``DEMANDE``, ``COPIE``) is an InterfaceNuu document
of ``typeFichier`` ``DIS``; a ``RADIATION`` with a snapshot one of ``typeFichier`` ``RAD``
(its ``radiation`` element says date and motive). A record without a snapshot (a
``RETRAIT``, or a radiation told to a former recipient) carries no personal data, hence
no document: its attributes say which demand and why. The original operation of the
event stays in the ``operation`` attribute and ``modifie="true"`` flags mark its changed
fields. The bytes depend only on the records, so rewriting a range gives the same file.
The document index (pièces justificatives, already cut to the profile) follows the
``interfaceNuu`` document inside ``enregistrement`` as a ``piecesJustificatives`` element
of namespace ``urn:passerelle:pieces:1`` (:mod:`connectors.files.pieces_xml`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import quoteattr

from connectors.files.pieces_xml import pieces_xml
from connectors.interfacenuu.mapping import render_demande_xml

NS = "urn:passerelle:fichiers:1"
_DECL = b"<?xml version='1.0' encoding='UTF-8'?>"


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def _attrs(pairs: Sequence[tuple[str, Any]]) -> bytes:
    return "".join(f" {k}={quoteattr(str(v))}" for k, v in pairs if v is not None).encode()


def record_document(rec: dict[str, Any]) -> bytes | None:
    """The InterfaceNuu document of one feed record, None when it carries no snapshot."""
    if rec.get("demande") is None:
        return None
    type_fichier = "RAD" if rec["kind"] == "RADIATION" else "DIS"
    event = {
        "operation": type_fichier,
        "occurredAt": rec["dispatchedAt"],
        "numUnique": rec["numUnique"],
        "changedFields": rec.get("changedFields") or [],
        "demande": rec["demande"],
    }
    doc = render_demande_xml(event)
    return doc[len(_DECL) :].lstrip() if doc.startswith(_DECL) else doc.split(b"?>", 1)[-1]


def render_batch(
    actor_id: str, partition: int, records: Sequence[tuple[int, dict[str, Any]]]
) -> bytes:
    """The DIS file of ``records`` ((offset, decoded FeedRecord) pairs, in offset order)."""
    if not records:
        raise ValueError("a DIS file holds at least one record")
    head = _attrs(
        [
            ("acteur", actor_id),
            ("partition", partition),
            ("premierOffset", records[0][0]),
            ("dernierOffset", records[-1][0]),
            ("nombre", len(records)),
        ]
    )
    parts = [
        b'<?xml version="1.0" encoding="UTF-8"?>\n',
        b'<lotDiffusion xmlns="' + NS.encode() + b'"' + head + b">\n",
    ]
    for offset, rec in records:
        attrs = _attrs(
            [
                ("offset", offset),
                ("nature", rec["kind"]),
                ("eventId", rec["eventId"]),
                ("numUnique", rec["numUnique"]),
                ("operation", rec["operation"]),
                ("version", rec["demandeVersion"]),
                ("profil", rec["profile"]),
                ("motif", rec.get("reason")),
                ("diffuseLe", _iso(rec["dispatchedAt"])),
            ]
        )
        doc = record_document(rec)
        if doc is None:
            parts.append(b"  <enregistrement" + attrs + b"/>\n")
        else:
            parts.append(
                b"  <enregistrement" + attrs + b">" + doc + pieces_xml(rec) + b"</enregistrement>\n"
            )
    parts.append(b"</lotDiffusion>\n")
    return b"".join(parts)
