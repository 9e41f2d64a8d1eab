"""What the takeover tests share (a creation or change of another actor's demand through
the real API and worker; the API itself is conftest's ``api`` fixture): an actor
registered with a key, a feed's records of one demand as (kind, operation, reason)."""

from __future__ import annotations

import uuid
from typing import Any

from hub.core.db import make_engine
from hub.core.settings import HubSettings
from hub.domain.actors import Actor, ActorFilters
from hub.stores.access.keys import KeyStore


def register(actor_service: Any, settings: HubSettings, actor: Actor) -> dict[str, str]:
    """Register ``actor`` and give it a new API key: its request headers."""
    actor_service.add_or_update(actor)
    engine = make_engine(settings.database_url)
    try:
        return {"Authorization": f"Bearer {KeyStore(engine).create(actor.id).key}"}
    finally:
        engine.dispose()


def records_of(
    records: list[dict[str, Any]], num: str
) -> list[tuple[str, str | None, str | None]]:
    """``num``'s records of a feed, as (kind, operation, reason)."""
    return [(r["kind"], r["operation"], r["reason"]) for r in records if r["numUnique"] == num]


def two_landlords(prefix: str, holder_commune: str, sender_commune: str) -> tuple[Actor, Actor]:
    """A holder and a sender, landlords of one commune each, with ids new to the broker."""
    suffix = uuid.uuid4().hex[:8]
    return tuple(  # type: ignore[return-value]
        Actor(id=f"{prefix}-{role}-{suffix}", name=role, kind="bailleur",
              profile="consultant_demande", filters=ActorFilters(communes=[commune]))
        for role, commune in (("holder", holder_commune), ("sender", sender_commune))
    )  # fmt: skip
