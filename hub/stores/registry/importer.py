"""Read actors from a YAML file.

Format::

    actors:
      - id: rouen-habitat
        name: Rouen Habitat
        kind: bailleur
        profile: consultant_demande
        filters: {communes: ["76540"], epcis: [], departements: [], typologies: [],
                  premier_choix_seulement: false}
        delivery: {channel: kafka}

Every problem is an :class:`~hub.core.errors.InputError` whose one-line message names the file,
the actor (index and id when known) and the faulty field. The file is validated as a whole
before anything is returned, so a caller never imports half of a bad file. ``version`` and
``updated_at_ms`` belong to the registry and are refused here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hub.core.errors import InputError
from hub.domain.actors import Actor

_REGISTRY_FIELDS = ("version", "updated_at_ms")


def condense(exc: ValidationError) -> str:
    """A pydantic validation error on one line: ``field: message; field: message``."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in err["loc"]) or "actor"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def parse_actor(entry: Any, where: str) -> Actor:
    """Validate one YAML entry; ``where`` prefixes the error message."""
    if not isinstance(entry, dict):
        raise InputError(f"{where}: expected a mapping, got {type(entry).__name__}")
    label = f"{where} ({entry['id']!r})" if isinstance(entry.get("id"), str) else where
    reserved = [f for f in _REGISTRY_FIELDS if f in entry]
    if reserved:
        raise InputError(f"{label}: {', '.join(reserved)} is set by the registry, remove it")
    try:
        return Actor.model_validate(entry)
    except ValidationError as exc:
        raise InputError(f"{label}: {condense(exc)}") from None


def load_actors_yaml(path: str | Path) -> list[Actor]:
    """The actors of the file at ``path``, in file order; InputError on any problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"{path}: invalid YAML{at}: {problem}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("actors"), list):
        raise InputError(f"{path}: expected a mapping with an 'actors' list")
    actors: list[Actor] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(doc["actors"]):
        actor = parse_actor(entry, f"{path}: actor #{index + 1}")
        if actor.id in seen:
            raise InputError(
                f"{path}: actor #{index + 1} ({actor.id!r}): duplicate id "
                f"(already actor #{seen[actor.id] + 1})"
            )
        seen[actor.id] = index
        actors.append(actor)
    return actors
