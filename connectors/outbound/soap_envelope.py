"""SOAP 1.2 push messages: the envelope of one feed record and the reading of the answer.

Mapping ``interfacenuu-dis`` (the only one so far, named by ``delivery.options.mapping``):

* the SOAP Header holds ``<p:diffusion>`` (namespace ``urn:passerelle:soap:1``) whose
  attributes identify the delivery: ``eventId`` (the receiver's dedup key), ``offset``,
  ``nature`` (DEMANDE, COPIE, RADIATION, RETRAIT, EVENEMENT), ``numUnique``,
  ``operation``, ``version``, ``profil`` and ``motif`` (for a RETRAIT);
* the SOAP Body is the InterfaceNuu document of the record (``typeFichier`` ``DIS``, or
  ``RAD`` for a radiation), the same rendering as the legacy DIS files
  (:func:`connectors.files.disfile.record_document`), already cut to the actor's profile;
  a record without a snapshot has a body holding ``<p:notification/>`` with the same
  attributes (a RETRAIT: no personal data), or, for an EVENEMENT, ``<p:evenement>``
  (:func:`evenement_xml`: the gestion partagée event as the Kafka feed carries it, its
  type, date, author, comment and characteristics; independent audit F4: a bare
  notification told a SOAP ERP nothing of a CAL decision or a visit);
* the header's ``occurredAt`` attribute (ISO 8601, UTC, milliseconds) is the record's
  ``occurredAt``: for an AVIS, the due time of the notice (docs/lifecycle.md), which the
  DIS document's ``dateFichier`` (dispatch time) is not;
* the document index of the snapshot (already cut to the profile) is a second header
  block, ``piecesJustificatives`` of namespace ``urn:passerelle:pieces:1``
  (:mod:`connectors.files.pieces_xml`), absent when the record has no index.

:mod:`connectors.outbound.soap_fault` reads the receiver's answer (a SOAP 1.1 or 1.2 Fault
or not) and tells a refusal of the record from a fault to try again.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from connectors.files.disfile import check_renderable, record_document
from connectors.files.pieces_xml import pieces_xml
from connectors.outbound.soap_fault import SOAP12 as SOAP12
from hub.core.errors import ConfigError, UnrenderableError
from hub.domain.actors import SOAP_MAPPINGS
from hub.domain.carriable import date_problem, text_problem

NS = "urn:passerelle:soap:1"
MAPPINGS = SOAP_MAPPINGS
DEFAULT_MAPPING = MAPPINGS[0]


def check_mapping(name: str) -> str:
    if name not in MAPPINGS:
        raise ConfigError(f"unknown SOAP mapping {name[:40]!r} (known: {', '.join(MAPPINGS)})")
    return name


def _attrs(record: dict[str, Any], offset: int) -> str:
    pairs = [
        ("eventId", record["eventId"]),
        ("offset", offset),
        ("nature", record["kind"]),
        ("numUnique", record["numUnique"]),
        ("operation", record["operation"]),
        ("version", record["demandeVersion"]),
        ("profil", record["profile"]),
        ("motif", record.get("reason")),
        ("occurredAt", _iso(record.get("occurredAt"))),
    ]
    return "".join(f" {k}={quoteattr(str(v))}" for k, v in pairs if v is not None)


def _iso(ms: Any) -> str | None:
    if not isinstance(ms, int):
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


#: the EvenementGP fields written as attributes of ``<p:evenement>`` (schema names)
EVENEMENT_ATTRIBUTES = ("codeTypeEvenement", "idEvenement", "operation", "dateSurvenance",
                        "auteur", "reglementaire", "aPublierSurPGP", "catalogueVersion",
                        "source")  # fmt: skip


def evenement_xml(ev: dict[str, Any]) -> bytes:
    """``<p:evenement>`` of a FeedRecord's ``evenement``: the fields of
    :data:`EVENEMENT_ATTRIBUTES` as attributes (booleans ``true``/``false``),
    ``occurredAt`` in ISO 8601, then ``<p:commentaire>`` and one ``<p:caracteristique
    code="...">value</p:caracteristique>`` per characteristic, in code order."""
    pairs = [(k, ev.get(k)) for k in EVENEMENT_ATTRIBUTES]
    pairs.append(("occurredAt", _iso(ev.get("occurredAt"))))
    attrs = "".join(
        f" {k}={quoteattr(str(v).lower() if isinstance(v, bool) else str(v))}"
        for k, v in pairs if v is not None
    )  # fmt: skip
    parts = [f'<p:evenement xmlns:p="{NS}"{attrs}>']
    if ev.get("commentaire") is not None:
        parts.append(f"<p:commentaire>{_text(ev['commentaire'])}</p:commentaire>")
    for code, value in sorted((ev.get("caracteristiques") or {}).items()):
        parts.append(f"<p:caracteristique code={quoteattr(code)}>{_text(value)}"
                     "</p:caracteristique>")  # fmt: skip
    parts.append("</p:evenement>")
    return "".join(parts).encode()


def _text(value: str) -> str:
    # a CR as a character reference: XML parsers turn a literal one into LF
    return escape(value, {"\r": "&#13;"})


def _evenement_problem(record: dict[str, Any]) -> str | None:
    ev = record.get("evenement")
    if ev is None:
        return None
    return text_problem(ev, "evenement") or date_problem(ev.get("occurredAt"), "occurredAt")


def envelope(body_json: bytes, offset: int, mapping: str = DEFAULT_MAPPING) -> bytes:
    """The SOAP 1.2 envelope of one outbox record (its FeedRecord as JSON);
    :class:`~hub.core.errors.UnrenderableError` when XML cannot hold the record
    (:func:`connectors.files.disfile.check_renderable`): nothing of it is sent."""
    check_mapping(mapping)
    record = json.loads(body_json)
    check_renderable(record)
    problem = _evenement_problem(record) or date_problem(record.get("occurredAt"), "occurredAt")
    if problem is not None:
        raise UnrenderableError(problem)
    attrs = _attrs(record, offset)
    doc = record_document(record)
    if doc is not None:
        body = doc
    elif record.get("evenement") is not None:
        body = evenement_xml(record["evenement"])
    else:
        body = f'<p:notification xmlns:p="{NS}"{attrs}/>'.encode()
    return b"".join(
        [
            b'<?xml version="1.0" encoding="UTF-8"?>\n',
            f'<env:Envelope xmlns:env="{SOAP12}"><env:Header>'
            f'<p:diffusion xmlns:p="{NS}"{attrs}/>'.encode(),
            pieces_xml(record),
            b"</env:Header><env:Body>",
            body,
            b"</env:Body></env:Envelope>",
        ]
    )
