"""Validating a gestion partagée event against its type in the catalogue.

:func:`validate_gp_event` returns the ``EvenementGP`` record (as a dict ready for the
codec and the store) or raises :class:`InvalidGPEvent` naming the problem: unknown or
out-of-validity type, a type of another territory, a missing mandatory field, an unknown
field, a value of the wrong type. ``dateSurvenance`` and every ``DAT`` value lie within
the hub's dates (:mod:`hub.domain.days`), else :class:`~hub.core.errors.InputError`
``bad_date``. Messages name codes, never values (they may be personal).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import date

from hub.core.errors import InputError
from hub.domain.days import check_day
from hub.domain.gp.catalogue import Catalogue, EventType, FieldSpec
from hub.domain.refdata import check_num_unique

MAX_TEXT = 500


class InvalidGPEvent(InputError):
    """A gestion partagée event that does not fit its type."""

    code = "invalid_gp_event"


@dataclass(frozen=True, slots=True)
class GPInput:
    """What an author sends; the hub adds the rest."""

    num_unique: str
    code: str
    date_survenance: date
    caracteristiques: dict[str, str]
    commentaire: str | None = None
    event_id: str | None = None


def territory_of(num_unique: str) -> str:
    """The 3-char territory code that starts a numéro unique (opaque otherwise)."""
    return num_unique[:3]


def find_type(catalogue: Catalogue, code: str, territory: str, day: date) -> EventType:
    """The definition of ``code`` applicable on ``day`` in ``territory`` (a territorial
    definition wins over the national one)."""
    defs = catalogue.get(code)
    if not defs:
        raise InvalidGPEvent(
            f"unknown event type {code[:10]!r} (catalogue {catalogue.version})",
            code="unknown_event_type",
        )
    local = [t for t in defs if t.codeTerritoire == territory]
    national = [t for t in defs if t.codeTerritoire is None]
    if not local and not national:
        raise InvalidGPEvent(
            f"event type {code} is not defined for territory {territory}",
            code="event_type_territory",
        )
    valid = [t for t in local + national if t.valid_on(day)]
    if not valid:
        raise InvalidGPEvent(
            f"event type {code} is not valid on {day.isoformat()}", code="event_type_expired"
        )
    return valid[0]


def _check_value(spec: FieldSpec, value: str) -> None:
    ok = True
    if spec.type == "TXT":
        ok = 0 < len(value) <= MAX_TEXT
    elif spec.type == "DAT":
        try:
            day = date.fromisoformat(value)
        except ValueError:
            ok = False
        else:
            check_day(day, f"field {spec.code}")
    elif spec.type == "INT":
        ok = value.lstrip("-").isdigit() and len(value) <= 12
    elif spec.type == "BOO":
        ok = value in ("true", "false")
    elif spec.type == "LST":
        ok = value in spec.valeurs
    if not ok:
        expected = f"one of {', '.join(spec.valeurs)}" if spec.type == "LST" else spec.type
        raise InvalidGPEvent(f"field {spec.code}: expected {expected}", code="invalid_field")


def validate_gp_event(
    catalogue: Catalogue, data: GPInput, *, auteur: str, source: str = "api"
) -> dict[str, object]:
    """The ``EvenementGP`` record of ``data`` (see module doc)."""
    num = check_num_unique(data.num_unique)
    check_day(data.date_survenance, "dateSurvenance")
    etype = find_type(catalogue, data.code, territory_of(num), data.date_survenance)
    values = dict(data.caracteristiques)
    for key in values:
        if etype.field(key) is None:
            raise InvalidGPEvent(
                f"event type {etype.code} has no field {key[:10]!r}", code="unknown_field"
            )
    for spec in etype.champs:
        value = values.get(spec.code)
        if not spec.valid_on(data.date_survenance):
            if value is not None:
                raise InvalidGPEvent(
                    f"field {spec.code} is not valid on that date", code="unknown_field"
                )
            continue
        if value is None or value == "":
            if spec.obligatoire:
                raise InvalidGPEvent(
                    f"event type {etype.code}: mandatory field {spec.code} missing",
                    code="missing_field",
                )
            values.pop(spec.code, None)
            continue
        _check_value(spec, value)
    if data.commentaire is not None and len(data.commentaire) > MAX_TEXT:
        raise InvalidGPEvent(f"commentaire longer than {MAX_TEXT}", code="invalid_field")
    return {
        "eventId": data.event_id or str(uuid.uuid4()),
        "numUnique": num,
        "operation": "AJO",
        "idEvenement": None,
        "codeTypeEvenement": etype.code,
        "catalogueVersion": catalogue.version,
        "dateSurvenance": data.date_survenance.isoformat(),
        "auteur": auteur,
        "commentaire": data.commentaire,
        "reglementaire": etype.reglementaire,
        "aPublierSurPGP": etype.aPublierSurPGP,
        "caracteristiques": values,
        "occurredAt": int(time.time() * 1000),
        "source": source,
    }
