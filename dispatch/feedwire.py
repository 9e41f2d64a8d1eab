"""The feeds' wire format, chosen once when the worker starts (``HUB_REGISTRY__*``).

``single_object`` (the default): feed records are Avro single-object encoded, as ever.
``confluent``: FeedRecord is registered at ``HUB_REGISTRY__URL`` first
(:func:`hub.core.schema_registry.register_feed_schema`: bounded retries with the house
back-off), then every feed record is written as ``00`` + schema id + Avro body
(:func:`dispatch.feedbytes.use_wire`). A registry that cannot be reached stops the start
with a retriable :class:`hub.core.schema_registry.RegistryUnavailable`: the worker never
falls back to the other format on its own, which would mix two framings unasked.
"""

from __future__ import annotations

import logging

from dispatch.feedbytes import use_wire
from hub.core.schema_registry import register_feed_schema
from hub.core.settings import HubSettings
from schemas.confluent import IDS

log = logging.getLogger(__name__)


def configure_feed_wire(settings: HubSettings) -> int | None:
    """Set this process's feed wire format from ``settings``; the schema id in use, or
    None for single-object encoding."""
    if settings.registry.wire_format != "confluent":
        use_wire(None)
        return None
    schema_id = register_feed_schema(settings)
    use_wire(IDS.to_confluent)
    log.info("feed records in the Confluent wire format, schema id %d", schema_id)
    return schema_id
