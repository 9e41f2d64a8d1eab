"""Versioned reference table of the documents (pièces justificatives) of a demand.

A demand's snapshot carries its document index in the hub extension field
``piecesJustificatives`` (``fr.passerelle.hub.PieceJustificative``: category code, type
code, deposit date, ``reference`` locating the document itself). This table says which
categories exist, their types and — what the access profiles depend on — which are
*sensitive* (:mod:`hub.domain.profiles`):

* ``consultant_simple`` receives the list of non-sensitive documents (metadata, the
  ``reference`` removed), ``consultant_demande`` the non-sensitive documents themselves
  (``reference`` kept), ``consultant_sensible`` everything, sensitive categories included.

Sensitivity decisions (the SNE does not publish them; **[inferred]** from the CNIL/RGPD
reading of the data each category holds):

* ``MOTIF`` (justification of the motives) is **sensitive**: judgments (divorce, eviction:
  the ``compDateJugement`` motives), domestic-violence complaints, medical certificates
  for the health motive — offence and health data (RGPD art. 9 and 10) that only an
  actor instructing with the sensitive right may read.
* ``HAND`` (disability complement) is **sensitive**: health data (RGPD art. 9).
* ``INT`` (internal documents of the registering office: interview notes, social
  assessments) is **sensitive**: written for the office, they may hold social and health
  assessments of the household.
* Identity (applicant, co-holder), tax income, professional situation, monthly
  resources, current housing and dependants are **not sensitive**: every landlord
  instructing the demand needs them (eligibility ceilings, household size; CCH R441-3
  allows an attribution only on a missing identity document or tax notice), and they
  reach no one below ``consultant_demande`` except as metadata.

Unknown category codes (a code added by the SNE before this table knows it) are treated
as sensitive by the profile cut: protection fails closed.

Codes ``IDD``, ``LOGACT`` (categories) and ``CID``, ``JUSTL`` (types) are the ones seen in
the SNE; the others are the hub's own **[inferred]** codes. Like :mod:`hub.domain.refdata`, a
change is a new version of the table (a new key of :data:`VERSIONS`), never an edit in
place, and :data:`VERSION` moves to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hub.core.errors import InputError


@dataclass(frozen=True, slots=True)
class Categorie:
    """One document category: code, label, sensitivity and the document types it holds."""

    code: str
    libelle: str
    sensible: bool
    types: frozenset[str]


def _table(*cats: Categorie) -> dict[str, Categorie]:
    return {c.code: c for c in cats}


#: Every version of the table, by version label.
VERSIONS: dict[str, dict[str, Categorie]] = {
    "2026.11": _table(
        Categorie("IDD", "Identité du demandeur", False, frozenset({"CID", "PASS", "TSEJ"})),
        Categorie("RFI", "Revenu fiscal (avis d'imposition)", False, frozenset({"AVIS"})),
        Categorie("IDC", "Identité du cotitulaire", False, frozenset({"CID", "PASS", "TSEJ"})),
        Categorie("SPRO", "Situation professionnelle", False, frozenset({"CTRAV", "ATTFT"})),
        Categorie("RESS", "Ressources mensuelles", False, frozenset({"BSAL", "ATTCAF", "PENS"})),
        Categorie("LOGACT", "Logement actuel", False, frozenset({"JUSTL", "QUITL", "BAIL"})),
        Categorie("MOTIF", "Motifs de la demande", True, frozenset({"JUGT", "PLAINTE", "CERTM"})),
        Categorie("PACH", "Personnes à charge", False, frozenset({"LIVFAM", "ACTNAI"})),
        Categorie("HAND", "Complément handicap", True, frozenset({"CMI", "NOTMDPH"})),
        Categorie("INT", "Documents internes", True, frozenset({"NOTE", "EVALS"})),
    ),
}
#: The version in force.
VERSION = "2026.11"
#: A deposit date: xs:date lexical form, no offset.
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
#: A document reference: an absolute http(s) or urn URI of printable ASCII, at most 500.
_REFERENCE = re.compile(r"^(https?://|urn:)[\x21-\x7e]{1,490}$")


def categories(version: str = VERSION) -> dict[str, Categorie]:
    """The categories of one version of the table (KeyError for an unknown version)."""
    return VERSIONS[version]


def sensitive_categories(version: str = VERSION) -> frozenset[str]:
    """Codes of the categories only ``consultant_sensible`` may receive."""
    return frozenset(c.code for c in VERSIONS[version].values() if c.sensible)


def public_categories(version: str = VERSION) -> frozenset[str]:
    """Codes of the known non-sensitive categories (anything else is withheld)."""
    return frozenset(c.code for c in VERSIONS[version].values() if not c.sensible)


def check_piece(piece: dict[str, Any], version: str = VERSION) -> dict[str, Any]:
    """Return ``piece`` if its category and type codes belong to the table, its deposit
    date is an xs:date and its reference (if any) an absolute http(s)/urn URI of printable
    ASCII (so every channel can carry it, XML attributes included); else raise
    :class:`InputError` naming the codes (codes are not personal data), never the values."""
    cat = VERSIONS[version].get(str(piece.get("categorie")))
    if cat is None:
        raise InputError(
            f"unknown document category {str(piece.get('categorie'))[:10]!r} "
            f"(pieces table {version})",
            code="bad_categoriePiece",
        )
    if piece.get("type") not in cat.types:
        raise InputError(
            f"document type {str(piece.get('type'))[:10]!r} is not of category {cat.code} "
            f"(pieces table {version})",
            code="bad_typePiece",
        )
    if not _DATE.match(str(piece.get("dateDepot"))):
        raise InputError(
            f"document of category {cat.code}: dateDepot is not a date", code="bad_piece"
        )
    ref = piece.get("reference")
    if ref is not None and not _REFERENCE.match(str(ref)):
        raise InputError(
            f"document of category {cat.code}: reference is not an absolute "
            "http(s) or urn URI of printable ASCII (≤500)",
            code="bad_piece",
        )
    return piece
