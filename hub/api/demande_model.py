"""The body of ``POST /demandes/evenements``: pydantic models derived from the Avro schemas.

:func:`demande_event_model` builds, from ``DemandeEvent`` and the ``Demande`` snapshot it
carries (``schemas/avro``), one strict model per Avro record, so that the OpenAPI
document shows the real shape and the request is checked against it before anything else:

* a record is an object with exactly its fields (unknown keys refused, as the codec does);
  a field is required when the Avro field has no default (``eventId``, ``occurredAt`` and
  ``source`` excepted: the hub fills them; it sets ``source`` and ``profile`` whatever
  the body says: :mod:`hub.api.routes_demandes`);
* ``string`` is a :data:`~hub.api.text.Text` (``Code`` for coded values and ids), at
  most the SNE's ``maxLength`` where the field's doc names one (``t_numUnique`` 18,
  ``t_quartier`` 19 ...), else :data:`MAX_STRING`;
* ``int`` within the SNE's ``minInclusive``/``maxInclusive`` where named, else 32-bit;
  ``long`` 64-bit; ``boolean`` a JSON boolean (strict: no ``"1"`` for ``true``);
* an array has at most :data:`MAX_ITEMS` items, the wished communes
  (``listeLocalisationSouhaite``) at most ``max_wished_communes`` (settings).

What the schema cannot say (reference tables, known communes, the numéro's pattern) is
still checked by :func:`connectors.ingress.publishing.prepare_event`.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, create_model

from hub.api.models import MAX_ID
from hub.api.text import CODE_PATTERN, ID_PATTERN, TEXT_PATTERN

AVRO_DIR = Path(__file__).resolve().parents[2] / "schemas" / "avro"
#: longest string where the SNE names no length (names, free texts)
MAX_STRING = 1000
#: longest coded value where the SNE names no length (codes are a few characters)
MAX_CODE = 50
#: most items of an Avro array (an SNE list ``[1..unbounded]``) other than the communes
MAX_ITEMS = 100
WISHED_COMMUNES = "listeLocalisationSouhaite"
#: fields the hub fills when absent
_FILLED = frozenset({"eventId", "occurredAt", "source"})
_CODES = frozenset(
    {"eventId", "numUnique", "operation", "source", "commune", "numGuichet", "versionInterface"}
)
#: lengths of the fields whose doc names none: the client-chosen id (see
#: :mod:`hub.api.models`), the numéro unique, codes, dotted paths of ``changedFields``
_LENGTHS = {
    "eventId": MAX_ID,
    "numUnique": 18,
    "operation": 10,
    "source": 100,
    "versionInterface": 10,
    "changedFields": 200,
}
#: a modification may flag many fields (a full snapshot has about 350 values)
MAX_CHANGED_FIELDS = 500
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((AVRO_DIR / f"{name}.avsc").read_text("utf-8"))
    return data


def _facet(doc: str, name: str) -> int | None:
    found = re.search(rf"\b{name}=(-?\d+)", doc)
    return int(found.group(1)) if found else None


class _Builder:
    def __init__(self, max_wished_communes: int) -> None:
        self.max_wished_communes = max_wished_communes
        self.models: dict[str, type[BaseModel]] = {}

    def type_of(self, avro: Any, field: dict[str, Any], namespace: str) -> Any:
        if isinstance(avro, list):
            branches = [b for b in avro if b != "null"]
            inner = self.type_of(branches[0], field, namespace) if len(branches) == 1 else Any
            return inner | None if "null" in avro else inner
        if isinstance(avro, str):
            return self._named(avro, field, namespace)
        kind = avro["type"]
        if kind == "record":
            return self.record(avro, namespace)
        if kind == "array":
            limit = {
                WISHED_COMMUNES: self.max_wished_communes,
                "changedFields": MAX_CHANGED_FIELDS,
            }.get(field.get("name", ""), MAX_ITEMS)
            item = self.type_of(avro["items"], {"name": field.get("name", "")}, namespace)
            return Annotated[list[item], Field(max_length=limit)]  # type: ignore[valid-type]
        if kind == "map":
            value = self.type_of(avro["values"], {"name": ""}, namespace)
            return Annotated[dict[str, value], Field(max_length=MAX_ITEMS)]  # type: ignore[valid-type]
        return self._named(kind, field, namespace)

    def _named(self, name: str, field: dict[str, Any], namespace: str) -> Any:
        doc = str(field.get("doc", ""))
        if name == "string":
            fname = str(field.get("name", ""))
            pattern = CODE_PATTERN if field.get("xmlCode") or fname in _CODES else TEXT_PATTERN
            if fname == "eventId":
                pattern = ID_PATTERN
            length = (
                _facet(doc, "maxLength")
                or _LENGTHS.get(fname)
                or (MAX_CODE if field.get("xmlCode") else MAX_STRING)
            )
            return Annotated[str, StringConstraints(pattern=pattern, max_length=length)]
        if name in ("int", "long"):
            low, high = _INT32 if name == "int" else _INT64
            lo, hi = _facet(doc, "minInclusive"), _facet(doc, "maxInclusive")
            return Annotated[
                int, Field(ge=low if lo is None else lo, le=high if hi is None else hi)
            ]
        if name == "boolean":
            return bool
        if name == "null":
            return None
        full = name if "." in name else f"{namespace}.{name}"
        if full in self.models:
            return self.models[full]
        raise ValueError(f"Avro type {name} is not supported here")

    def record(self, avro: dict[str, Any], namespace: str) -> type[BaseModel]:
        namespace = avro.get("namespace", namespace)
        full = f"{namespace}.{avro['name']}"
        if full in self.models:
            return self.models[full]
        fields: dict[str, Any] = {}
        for f in avro["fields"]:
            annotation = self.type_of(f["type"], f, namespace)
            if "default" in f or f["name"] in _FILLED:
                default = f.get("default")
                if f["name"] in _FILLED:
                    annotation = annotation | None
                if isinstance(default, list | dict):
                    spec = Field(default_factory=type(default), description=f.get("doc"))
                else:
                    spec = Field(default=default, description=f.get("doc"))
                fields[f["name"]] = (annotation, spec)
            else:
                fields[f["name"]] = (annotation, Field(description=f.get("doc")))
        name = avro["name"] if avro["name"] != "DemandeEvent" else "DemandeEventIn"
        model = create_model(name, __base__=_Record, __doc__=avro.get("doc"), **fields)
        self.models[full] = model
        return model


@lru_cache(maxsize=8)
def demande_event_model(max_wished_communes: int) -> type[BaseModel]:
    """The strict ``DemandeEventIn`` model (see the module doc)."""
    builder = _Builder(max_wished_communes)
    builder.record(_load("fr.passerelle.sne.Demande"), "fr.passerelle.sne")
    return builder.record(_load("fr.passerelle.hub.DemandeEvent"), "fr.passerelle.hub")


def as_event(model: BaseModel) -> dict[str, Any]:
    """The event dict of a validated body item, as :func:`prepare_event` takes it: only
    the fields the client sent (Avro defaults fill the others)."""
    return model.model_dump(exclude_unset=True)
