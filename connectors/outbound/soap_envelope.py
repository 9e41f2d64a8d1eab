"""SOAP 1.2 push messages: the envelope of one feed record and the reading of the answer.

Mapping ``interfacenuu-dis`` (the only one so far, named by ``delivery.options.mapping``):

* the SOAP Header holds ``<p:diffusion>`` (namespace ``urn:passerelle:soap:1``) whose
  attributes identify the delivery: ``eventId`` (the receiver's dedup key), ``offset``,
  ``nature`` (DEMANDE, COPIE, RADIATION, RETRAIT, EVENEMENT), ``numUnique``,
  ``operation``, ``version``, ``profil`` and ``motif`` (for a RETRAIT);
* the SOAP Body is the InterfaceNuu document of the record (``typeFichier`` ``DIS``, or
  ``RAD`` for a radiation), the same rendering as the legacy DIS files
  (:func:`connectors.files.disfile.record_document`), already cut to the actor's profile;
  a record without a snapshot (RETRAIT, EVENEMENT) has a body holding only
  ``<p:notification/>`` with the same attributes: no personal data;
* the document index of the snapshot (already cut to the profile) is a second header
  block, ``piecesJustificatives`` of namespace ``urn:passerelle:pieces:1``
  (:mod:`connectors.files.pieces_xml`), absent when the record has no index.

:mod:`connectors.outbound.soap_fault` reads the receiver's answer (a SOAP 1.1 or 1.2 Fault
or not) and tells a refusal of the record from a fault to try again.
"""

from __future__ import annotations

import json
from typing import Any
from xml.sax.saxutils import quoteattr

from connectors.files.disfile import check_renderable, record_document
from connectors.files.pieces_xml import pieces_xml
from connectors.outbound.soap_fault import SOAP12 as SOAP12
from hub.core.errors import ConfigError
from hub.domain.actors import SOAP_MAPPINGS

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
    ]
    return "".join(f" {k}={quoteattr(str(v))}" for k, v in pairs if v is not None)


def envelope(body_json: bytes, offset: int, mapping: str = DEFAULT_MAPPING) -> bytes:
    """The SOAP 1.2 envelope of one outbox record (its FeedRecord as JSON);
    :class:`~hub.core.errors.UnrenderableError` when XML cannot hold the record
    (:func:`connectors.files.disfile.check_renderable`): nothing of it is sent."""
    check_mapping(mapping)
    record = json.loads(body_json)
    check_renderable(record)
    attrs = _attrs(record, offset)
    doc = record_document(record)
    body = doc if doc is not None else f'<p:notification xmlns:p="{NS}"{attrs}/>'.encode()
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
