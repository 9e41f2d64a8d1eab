"""Refreshing the catalogue from the SNE's event-type service (InterfaceNuuGPTypeEvenement).

:func:`parse_sne_types` reads one document (through the project's hardened parser) into
:class:`~hub.domain.gp.catalogue.EventType` definitions; :func:`refreshed` merges them over a
catalogue as a new version: types the SNE sends replace the same (code, territory), the
others are kept. The SNE sends no labels for field types nor enumerations: a specific
field whose type code is unknown is read as ``TXT``.
"""

from __future__ import annotations

from datetime import date

from lxml import etree

from hub.core import xmlsafe
from hub.core.errors import InputError
from hub.domain.gp.catalogue import Catalogue, EventType, FieldSpec

_TYPES = {"TXT", "DAT", "INT", "BOO", "LST"}


def _text(el: etree._Element, tag: str) -> str | None:
    child = el.find(tag)
    if child is None or child.text is None:
        return None
    return child.text.strip() or None


def _bool(el: etree._Element, tag: str) -> bool:
    return (_text(el, tag) or "false").lower() in ("true", "1")


def _date(el: etree._Element, tag: str) -> date | None:
    value = _text(el, tag)
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        raise InputError(f"event type: {tag} is not an ISO date", code="bad_catalogue") from None


def parse_sne_types(document: bytes) -> list[EventType]:
    """Event types of one SNE document; :class:`InputError` if it is not one."""
    root = xmlsafe.parse(document)
    found: list[EventType] = []
    for el in root.iter("typeEvenement"):
        code = _text(el, "codeTypeEvenement")
        if code is None:
            raise InputError("event type without codeTypeEvenement", code="bad_catalogue")
        champs = []
        for c in el.iter("caracteristiqueSpecifique"):
            ftype = (_text(c, "typeCaracteristiqueSpecifique") or "TXT").upper()
            champs.append(FieldSpec(
                code=_text(c, "code") or "",
                libelle=_text(c, "libelle") or "",
                type=ftype if ftype in _TYPES else "TXT",  # type: ignore[arg-type]
                obligatoire=_bool(c, "obligatoire"),
                dateDebutValidite=_date(c, "dateDebutValidite"),
                dateFinValidite=_date(c, "dateFinValidite"),
            ))
        libelle_el = el.find("libelleTypeEvenement")
        libelle = _text(libelle_el, "libelle") if libelle_el is not None else None
        try:
            found.append(EventType(
                code=code,
                libelle=libelle or _text(el, "texteDescriptifSNE") or code,
                texteDescriptifSNE=_text(el, "texteDescriptifSNE") or "",
                texteDescriptifPGP=_text(el, "texteDescriptifPGP") or "",
                reglementaire=_bool(el, "reglementaire"),
                aPublierSurPGP=_bool(el, "aPublierSurPGP"),
                dateDebutValidite=_date(el, "dateDebutValidite"),
                dateFinValidite=_date(el, "dateFinValidite"),
                codeTerritoire=_text(el, "codeTerritoire"),
                champs=tuple(champs),
            ))
        except ValueError as exc:  # pydantic: bad code pattern and the like
            raise InputError(f"event type {code[:10]!r}: {exc.__class__.__name__}",
                             code="bad_catalogue") from None
    if not found:
        raise InputError("no typeEvenement in the document", code="bad_catalogue")
    return found


def refreshed(current: Catalogue, types: list[EventType], version: str) -> Catalogue:
    """A new catalogue version: ``types`` replace the same (code, territory) in ``current``."""
    replaced = {(t.code, t.codeTerritoire) for t in types}
    kept = [t for t in current.types if (t.code, t.codeTerritoire) not in replaced]
    return Catalogue(version=version, types=(*kept, *types))
