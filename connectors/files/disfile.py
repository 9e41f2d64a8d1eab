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

A record XML cannot hold (:func:`check_renderable`: a character XML 1.0 cannot carry, a
date outside years 0001–9999; only a record written to its feed before the hub refused
them at the door) is never dropped silently nor allowed to stop the file: its
``enregistrement`` carries no document and a ``nonRendu`` attribute saying why (a field
path and a code point, never the text), its other attributes with any such character
replaced by U+FFFD::

    <enregistrement offset="15" nature="DEMANDE" ... nonRendu="demande.demandeLogement.
        association.nom: character U+FFFE is not allowed (XML 1.0 cannot carry it)"/>
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import quoteattr

from connectors.files.pieces_xml import pieces_xml
from connectors.interfacenuu.mapping import render_demande_xml
from hub.core.errors import UnrenderableError
from hub.core.xmlchars import NOT_CHAR
from hub.domain.carriable import date_problem, text_problem

NS = "urn:passerelle:fichiers:1"
_DECL = b"<?xml version='1.0' encoding='UTF-8'?>"
#: the fields of a record written as attributes (DIS files, the SOAP push's header)
ATTRIBUTE_FIELDS = ("eventId", "kind", "numUnique", "operation", "profile", "reason")
_NOT_CHAR = re.compile(f"[{NOT_CHAR}]")


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def _attrs(pairs: Sequence[tuple[str, Any]]) -> bytes:
    return "".join(f" {k}={quoteattr(str(v))}" for k, v in pairs if v is not None).encode()


def check_renderable(rec: dict[str, Any]) -> None:
    """Raise :class:`UnrenderableError` naming what of feed record ``rec`` XML cannot
    hold: a character XML 1.0 cannot carry in a field written as an attribute or in the
    snapshot, or a ``dispatchedAt`` outside years 0001-9999 (the rules
    :mod:`hub.domain.carriable` applies at the door, for records already in a feed). What
    is never rendered as XML (``evenement``, ``changedFields``, ``cotations``,
    ``occurredAt``) is not looked at: a record the channel can send is sent."""
    problem = text_problem({k: rec.get(k) for k in ATTRIBUTE_FIELDS}) or date_problem(
        rec.get("dispatchedAt"), "dispatchedAt"
    )
    if problem is None and rec.get("demande") is not None:
        problem = text_problem(rec["demande"], "demande")
    if problem is not None:
        raise UnrenderableError(problem)


def record_document(rec: dict[str, Any]) -> bytes | None:
    """The InterfaceNuu document of one feed record, None when it carries no snapshot.
    Check the record with :func:`check_renderable` first: what lxml or a date conversion
    refuses all the same is an :class:`UnrenderableError` too."""
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
    try:
        doc = render_demande_xml(event)
    except (ValueError, OverflowError) as exc:  # content lxml or datetime refuses: this
        # record's problem, which must not stop the records behind it
        raise UnrenderableError(f"demande: not renderable as XML ({type(exc).__name__})") from exc
    return doc[len(_DECL) :].lstrip() if doc.startswith(_DECL) else doc.split(b"?>", 1)[-1]


def _record_attrs(offset: int, rec: dict[str, Any], not_rendered: str | None = None) -> bytes:
    """The attributes of one ``enregistrement``; ``not_rendered``: the reason the record
    has no document, its other values then made writable (U+FFFD for what XML 1.0 cannot
    carry, no ``diffuseLe`` outside the years XML dates hold)."""

    def value(v: Any) -> Any:
        return _NOT_CHAR.sub("\ufffd", v) if not_rendered and isinstance(v, str) else v

    dispatched = rec["dispatchedAt"]
    when = None if date_problem(dispatched, "dispatchedAt") else _iso(dispatched)
    return _attrs(
        [
            ("offset", offset),
            ("nature", value(rec["kind"])),
            ("eventId", value(rec["eventId"])),
            ("numUnique", value(rec["numUnique"])),
            ("operation", value(rec["operation"])),
            ("version", rec["demandeVersion"]),
            ("profil", value(rec["profile"])),
            ("motif", value(rec.get("reason"))),
            ("diffuseLe", when),
            ("nonRendu", not_rendered),
        ]
    )


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
        try:
            check_renderable(rec)
            doc = record_document(rec)
        except UnrenderableError as exc:
            parts.append(b"  <enregistrement" + _record_attrs(offset, rec, exc.message) + b"/>\n")
            continue
        attrs = _record_attrs(offset, rec)
        if doc is None:
            parts.append(b"  <enregistrement" + attrs + b"/>\n")
        else:
            parts.append(
                b"  <enregistrement" + attrs + b">" + doc + pieces_xml(rec) + b"</enregistrement>\n"
            )
    parts.append(b"</lotDiffusion>\n")
    return b"".join(parts)
