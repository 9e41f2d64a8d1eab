"""Provisioning an actor's Kafka identity when it is registered or removed.

Called by :class:`hub.stores.registry.publisher.KafkaActorPublisher` when
``HUB_KAFKA_SECURITY__ENABLED`` is on; connects with the hub's own (super user)
credentials from ``HUB_KAFKA__SASL_USERNAME`` / ``HUB_KAFKA__SASL_PASSWORD``.
Both operations are idempotent (safe to repeat after a failure).
"""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient

from hub.core.errors import ConfigError, HubError, TransientError
from hub.core.kafka import acl, quotas
from hub.core.kafka.client import client_options, start_client
from hub.core.settings import HubSettings


def _admin(settings: HubSettings) -> AIOKafkaAdminClient:
    if not settings.kafka.sasl_username:
        raise ConfigError("Kafka security is enabled but HUB_KAFKA__SASL_USERNAME is empty")
    return AIOKafkaAdminClient(**client_options(settings))


async def provision_actor(settings: HubSettings, actor_id: str) -> None:
    """SCRAM credentials (password from :func:`hub.core.kafka.acl.actor_password`), the
    READ-only ACLs and the client quotas (:mod:`hub.core.kafka.quotas`) of ``actor_id``."""
    sec = settings.kafka_security
    password = acl.actor_password(sec.actor_secret.get_secret_value(), actor_id)
    admin = _admin(settings)
    try:
        await start_client(admin, settings)
        await acl.set_scram(admin, actor_id, password, sec.scram_iterations)
        await acl.grant_actor(admin, actor_id)
        await quotas.set_user_quotas(admin, actor_id, quotas.actor_quotas(sec))
    except HubError:
        raise
    except Exception as exc:  # aiokafka's errors share no base class
        raise TransientError(f"Kafka credentials of {actor_id!r}: {type(exc).__name__}") from exc
    finally:
        await admin.close()


async def deprovision_actor(settings: HubSettings, actor_id: str) -> None:
    """Remove the actor's ACLs, quotas and credentials: it can no longer connect or read."""
    admin = _admin(settings)
    try:
        await start_client(admin, settings)
        await acl.revoke_actor(admin, actor_id)
        await quotas.remove_user_quotas(admin, actor_id)
        await acl.delete_scram(admin, actor_id)
    except HubError:
        raise
    except Exception as exc:
        raise TransientError(
            f"removing Kafka access of {actor_id!r}: {type(exc).__name__}"
        ) from exc
    finally:
        await admin.close()
