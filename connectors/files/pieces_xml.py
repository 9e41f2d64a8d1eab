"""The document index of a feed record as XML, for the channels that carry InterfaceNuu.

InterfaceNuu 02.01 has no element for the documents (pièces justificatives), and the
InterfaceNuu document of a record must keep validating against its XSD on the receiver's
side. So the DIS files and the SOAP push carry the index *beside* that document, in the
hub's own namespace ``urn:passerelle:pieces:1``::

    <piecesJustificatives xmlns="urn:passerelle:pieces:1">
      <piece categorie="IDD" type="CID" dateDepot="2026-03-02"
             reference="https://ged.example/pieces/..."/>
    </piecesJustificatives>

* DIS file: inside ``<enregistrement>``, right after the ``interfaceNuu`` document;
* SOAP push: a header block of the SOAP Header, after ``<p:diffusion>``.

What is rendered is the record's ``demande.piecesJustificatives`` as it is — already cut
to the actor's profile by the dispatcher (:func:`hub.domain.profiles.cut_for_profile`): no
sensitive category below consultant_sensible, no ``reference`` attribute for
consultant_simple. A record without a snapshot, or a snapshot without an index, renders
nothing; an empty index renders an empty element.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import quoteattr

NS = "urn:passerelle:pieces:1"
_ATTRS = ("categorie", "type", "dateDepot", "reference")


def pieces_xml(record: dict[str, Any]) -> bytes:
    """The ``piecesJustificatives`` element of one (decoded) FeedRecord, or b""."""
    demande = record.get("demande")
    pieces = demande.get("piecesJustificatives") if isinstance(demande, dict) else None
    if pieces is None:
        return b""
    items = "".join(
        "<piece"
        + "".join(f" {k}={quoteattr(str(p[k]))}" for k in _ATTRS if p.get(k) is not None)
        + "/>"
        for p in pieces
    )
    return f'<piecesJustificatives xmlns="{NS}">{items}</piecesJustificatives>'.encode()
