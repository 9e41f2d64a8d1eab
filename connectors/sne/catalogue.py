"""Refreshing the event-type catalogue from the SNE's services (``hub gp refresh-catalogue``).

:func:`fetch_sne_types` asks the configured SNE (or its simulator) for the national types
(``listerTypesEvenementsNationaux``) and the territorial types of each given territory
(``listerTypesEvenementsTerritoriaux``) through :class:`connectors.sne.client.SneClient`,
and reads each answer item into an :class:`~hub.domain.gp.catalogue.EventType`.

:func:`merged` makes the new version. The SNE owns what it sends; the hub keeps what the
SNE does not transmit:

* a type the SNE sends (same code and territory) takes the SNE's labels, flags, validity
  dates and fields; the current version's fields the SNE does not list are kept (the hub's
  own fields, e.g. ``CODECAL`` that the CAL rules need);
* the SNE sends no enumerations: a ``LST`` field keeps the current version's ``valeurs``
  (and ``visibleDemandeur``); a ``LST`` field with no known values is read as ``TXT``
  (a list that cannot be checked must not refuse every value);
* types the SNE does not send are kept (the seed's codes are the hub's own).

:func:`refresh_catalogue` saves the result as a new version in the
:class:`~hub.stores.gp.store.GPStore` unless it equals the version in force; events recorded
afterwards are validated against it (the store's catalogue is the latest version).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from pydantic import ValidationError

from connectors.sne.client import SneClient
from hub.core.errors import InputError
from hub.domain.gp.catalogue import Catalogue, EventType, FieldSpec
from hub.stores.gp.store import GPStore

_TYPES = {"TXT", "DAT", "INT", "BOO", "LST"}


def _bool(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "1")


def _date(value: Any) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise InputError(
            "SNE event type: a validity date is not an ISO date", code="bad_catalogue"
        ) from None


def _text(value: Any) -> str | None:
    return (str(value).strip() or None) if value is not None else None


def _field(item: dict[str, Any]) -> FieldSpec:
    ftype = (_text(item.get("typeCaracteristiqueSpecifique")) or "TXT").upper()
    return FieldSpec(
        code=_text(item.get("code")) or "",
        libelle=_text(item.get("libelle")) or "",
        type=ftype if ftype in _TYPES else "TXT",  # type: ignore[arg-type]
        obligatoire=_bool(item.get("obligatoire")),
        dateDebutValidite=_date(item.get("dateDebutValidite")),
        dateFinValidite=_date(item.get("dateFinValidite")),
    )


def event_type_of(item: dict[str, Any]) -> EventType:
    """One ``typeEvenement`` answer item as an :class:`EventType`; InputError if unusable."""
    code = _text(item.get("codeTypeEvenement")) or ""
    label = item.get("libelleTypeEvenement")
    libelle = _text(label.get("libelle")) if isinstance(label, dict) else _text(label)
    champs = item.get("listeCaracteristiquesSpecifiques") or []
    if isinstance(champs, dict):  # one wrapper element instead of a list
        champs = champs.get("caracteristiqueSpecifique") or []
    if isinstance(champs, dict):
        champs = [champs]
    try:
        return EventType(
            code=code,
            libelle=libelle or _text(item.get("texteDescriptifSNE")) or code,
            texteDescriptifSNE=_text(item.get("texteDescriptifSNE")) or "",
            texteDescriptifPGP=_text(item.get("texteDescriptifPGP")) or "",
            reglementaire=_bool(item.get("reglementaire")),
            aPublierSurPGP=_bool(item.get("aPublierSurPGP")),
            dateDebutValidite=_date(item.get("dateDebutValidite")),
            dateFinValidite=_date(item.get("dateFinValidite")),
            codeTerritoire=_text(item.get("codeTerritoire")),
            champs=tuple(_field(c) for c in champs),
        )
    except ValidationError as exc:  # a code outside [A-Z0-9_]{1,10} and the like
        raise InputError(
            f"SNE event type {code[:10]!r} unusable: {exc.errors()[0]['loc']}", code="bad_catalogue"
        ) from None


def fetch_sne_types(client: SneClient, territories: Iterable[str]) -> list[EventType]:
    """National types, then each territory's; transport errors are retried by the client."""
    items = list(client.event_types())
    for territory in territories:
        items += client.event_types(territory)
    if not items:
        raise InputError("the SNE listed no event type", code="bad_catalogue")
    return [event_type_of(i) for i in items]


def _merge_type(sne: EventType, current: EventType | None) -> EventType:
    old = {f.code: f for f in current.champs} if current is not None else {}
    champs = []
    for f in sne.champs:
        prev = old.pop(f.code, None)
        if prev is not None:
            f = f.model_copy(
                update={
                    "valeurs": f.valeurs or prev.valeurs,
                    "visibleDemandeur": prev.visibleDemandeur,
                }
            )
        if f.type == "LST" and not f.valeurs:
            f = f.model_copy(update={"type": "TXT"})
        champs.append(f)
    return sne.model_copy(update={"champs": (*champs, *old.values())})


def merged(current: Catalogue, types: list[EventType], version: str) -> Catalogue:
    """The new version: ``types`` merged over ``current`` (see the module doc)."""
    by_key = {(t.code, t.codeTerritoire): t for t in current.types}
    out = dict(by_key)
    for t in types:
        out[(t.code, t.codeTerritoire)] = _merge_type(t, by_key.get((t.code, t.codeTerritoire)))
    return Catalogue(version=version, types=tuple(out.values()))


def refresh_catalogue(
    client: SneClient,
    store: GPStore,
    territories: Iterable[str],
    *,
    version: str | None = None,
    source: str = "sne",
) -> tuple[Catalogue, bool]:
    """(catalogue in force, whether a new version was saved)."""
    current = store.catalogue()
    new = merged(
        current,
        fetch_sne_types(client, territories),
        version or datetime.now(UTC).strftime("sne-%Y%m%dT%H%M%S%f"),
    )
    if new.types == current.types:
        return current, False
    store.save_catalogue(new, source)
    return new, True
