"""Factories wiring the CLI commands to their services (minimal version; to be extended).

TODO(main CLI author): plug the Kafka publisher (``hub.kafka.publisher.KafkaActorPublisher``).
"""

from __future__ import annotations

from hub.db import make_engine, migrate
from hub.registry.service import ActorService
from hub.registry.store import ActorStore
from hub.settings import HubSettings


def build_actor_service(settings: HubSettings) -> ActorService:
    """The actor service on the configured database (migrated to the latest schema)."""
    from hub.geo import get_geography  # imported late: loading the geography costs time

    engine = make_engine(settings.database_url, echo=settings.database.echo)
    migrate(engine)
    return ActorService(ActorStore(engine), get_geography(), publisher=None)
