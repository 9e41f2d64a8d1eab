"""The simulator's ``getNumUnique`` attestation: a real (minimal) PDF, written by hand.

The SNE answers a registration (CRE/CRS) or a renewal (REN) with the attestation that CCH
R441-2-4 requires: applicant's name and address, the registering office, the numéro
unique, the date of the deposit (and of the last renewal), the wished communes, the
validity of the demand. :func:`attestation` gives ``(nomAttestation, PDF bytes)``.

Contract: the bytes are a valid PDF 1.4 (one A4 page, Helvetica in WinAnsiEncoding,
cross-reference table with exact offsets) that PDF parsers open and extract the text of;
characters outside Latin-1 are written ``?``. The name is ``attestation_<kind>_<numéro>.pdf``
(ASCII, no path). The real SNE's layout is not public: only the mentions are modelled.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

CIVILITES = {"1": "M.", "2": "Mme", "3": "Mlle"}
KINDS = {"CRE": "enregistrement", "CRS": "enregistrement", "REN": "renouvellement"}


def name_of(operation: str, num: str) -> str:
    """The ``nomAttestation`` of the attestation of ``operation`` on ``num``."""
    return f"attestation_{KINDS[operation]}_{num}.pdf"


def grouped(num: str) -> str:
    """``DDD MMYY SSSSSS GGGGG``: the numéro unique as displayed."""
    return f"{num[:3]} {num[3:7]} {num[7:13]} {num[13:]}" if len(num) == 18 else num


def _fr(iso: str | None) -> str:
    try:
        return date.fromisoformat(iso or "").strftime("%d/%m/%Y")
    except ValueError:
        return iso or ""


def lines_of(operation: str, num: str, dl: dict[str, Any]) -> list[str]:
    """The text lines of the attestation (the mentions of CCH R441-2-4)."""
    person = (dl.get("personnePhysique") or {}).get("demandeur") or {}
    assoc = dl.get("association") or {}
    who = " ".join(
        str(p)
        for p in (
            CIVILITES.get(str(person.get("civilite") or ""), ""),
            person.get("nom") or assoc.get("nom"),
            person.get("prenom"),
        )
        if p
    )
    addr = person.get("adressePostale") or {}
    street = " ".join(str(addr[k]) for k in ("numero", "voie") if addr.get(k))
    town = " ".join(str(addr[k]) for k in ("codePostal", "commune") if addr.get(k))
    communes = [
        str(loc.get("commune") or "")
        for loc in (dl.get("logementRecherche") or {}).get("listeLocalisationSouhaite") or []
    ]
    depot = dl.get("dateCreationDemande") or ""
    renewal = (dl.get("renouvellement") or {}).get("dateRenouvellement") or ""
    start = renewal if operation == "REN" and renewal else depot
    try:
        until = date.fromisoformat(start).replace(year=date.fromisoformat(start).year + 1)
        valid = until.strftime("%d/%m/%Y")
    except ValueError:
        valid = "12 mois"
    title = (
        "Attestation de renouvellement de demande de logement social"
        if operation == "REN"
        else "Attestation d'enregistrement de demande de logement social"
    )
    lines = [
        title,
        "",
        f"Numéro unique : {grouped(num)}",
        f"Demandeur : {who}",
        f"Adresse : {street} {town}".rstrip(),
        f"Guichet enregistreur : {dl.get('numGuichet') or ''}",
        f"Date de dépôt : {_fr(depot)}",
    ]
    if operation == "REN":
        lines.append(f"Date du dernier renouvellement : {_fr(renewal or None)}")
    lines += [
        f"Communes souhaitées : {', '.join(communes)}",
        f"Demande valable jusqu'au : {valid}, renouvelable",
        "",
        "Document produit par le simulateur SNE de Passerelle (essais).",
    ]
    return lines


def _pdf_text(text: str) -> bytes:
    raw = text.encode("latin-1", "replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def render_pdf(lines: list[str], title: str) -> bytes:
    """A one-page PDF 1.4 showing ``lines`` (see the module contract)."""
    content = [b"BT", b"/F1 16 Tf", b"56 780 Td", b"20 TL"]
    for i, line in enumerate(lines):
        if i == 1:
            content.append(b"/F1 11 Tf")
        content.append(b"(" + _pdf_text(line) + b") Tj T*")
    content.append(b"ET")
    stream = b"\n".join(content) + b"\n"
    stamp = datetime.now(UTC).strftime("D:%Y%m%d%H%M%SZ")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"endstream",
        b"<< /Title (" + _pdf_text(title) + b") /Producer (Passerelle SNE simulator) "
        b"/CreationDate (" + stamp.encode() + b") >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\n" % (
        len(objects) + 1,
        len(objects),
    )
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def attestation(operation: str, num: str, dl: dict[str, Any]) -> tuple[str, bytes] | None:
    """``(nomAttestation, PDF)`` for an accepted ``operation`` on ``num`` (None when the
    SNE issues no attestation for it: MOD, RAD)."""
    if operation not in KINDS:
        return None
    lines = lines_of(operation, num, dl)
    return name_of(operation, num), render_pdf(lines, lines[0])
