"""Factories wiring the CLI commands to their services."""

from __future__ import annotations

from hub.core.db import make_engine, migrate
from hub.core.settings import HubSettings
from hub.stores.registry.service import ActorService
from hub.stores.registry.store import ActorStore


def build_actor_service(settings: HubSettings, *, publish: bool = True) -> ActorService:
    """The actor service on the configured database (migrated to the latest schema),
    publishing every change to Kafka (``hub.actors`` + a control record per partition
    of ``hub.demandes``) unless ``publish`` is False, refusing push URLs whose host is in
    ``api.push_deny_networks``."""
    from hub.domain.geo import get_geography  # imported late: loading the geography costs time
    from hub.stores.registry.publisher import KafkaActorPublisher

    settings.private_dir(settings.home)
    engine = make_engine(settings.database_url, echo=settings.database.echo)
    migrate(engine)
    publisher = KafkaActorPublisher(settings) if publish else None
    return ActorService(ActorStore(engine), get_geography(), publisher=publisher,
                        deny_networks=settings.api.push_deny_networks)  # fmt: skip
