"""Per-actor client quotas on Kafka: what one actor's clients may cost the broker.

Set on the actor's SCRAM user (quota entity ``user=<actor_id>``) when its Kafka identity
is provisioned (:mod:`hub.core.kafka.isolation`), removed with it. The broker throttles (delays
answers, never refuses) a user above its quota, summed over all its connections:

* ``consumer_byte_rate`` / ``producer_byte_rate``: bytes per second fetched / produced;
* ``request_percentage``: share of the broker's request handler and network threads'
  time, in percent of one thread (KIP-124).

Values come from settings ``kafka_security.actor_*`` (docs/kafka-security.md); 0 means
"no quota" for that key (any previous one is removed). aiokafka has no client for the
AlterClientQuotas / DescribeClientQuotas APIs (keys 49 and 48), so their version 1
(flexible) requests are declared here with aiokafka's protocol types, like
:mod:`hub.core.kafka.acl` does for SCRAM credentials.
"""

from __future__ import annotations

from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.types import (
    Boolean,
    CompactArray,
    CompactString,
    Float64,
    Int8,
    Int16,
    Int32,
    Schema,
    TaggedFields,
)

from hub.core.errors import TransientError
from hub.core.kafka.wire import check_errors, flexible_request
from hub.core.settings import KafkaSecuritySettings

USER = "user"
KEYS = ("producer_byte_rate", "consumer_byte_rate", "request_percentage")
MATCH_EXACT = 0


def actor_quotas(sec: KafkaSecuritySettings) -> dict[str, float]:
    """The quota of each key from the settings (0: no quota)."""
    return {"producer_byte_rate": float(sec.actor_producer_byte_rate),
            "consumer_byte_rate": float(sec.actor_consumer_byte_rate),
            "request_percentage": float(sec.actor_request_percentage)}  # fmt: skip


_STR = CompactString("utf-8")


#: AlterClientQuotas v1: (entries, validate_only)
AlterClientQuotasRequest = flexible_request(
    "AlterClientQuotasRequest", 49, 1,
    request=Schema(
        ("entries", CompactArray(
            ("entity", CompactArray(("entity_type", _STR), ("entity_name", _STR),
                                    ("tags", TaggedFields))),
            ("ops", CompactArray(("key", _STR), ("value", Float64), ("remove", Boolean),
                                 ("tags", TaggedFields))),
            ("tags", TaggedFields))),
        ("validate_only", Boolean),
        ("tags", TaggedFields),
    ),
    response=Schema(
        ("throttle_time_ms", Int32),
        ("entries", CompactArray(
            ("error_code", Int16), ("error_message", _STR),
            ("entity", CompactArray(("entity_type", _STR), ("entity_name", _STR),
                                    ("tags", TaggedFields))),
            ("tags", TaggedFields))),
        ("tags", TaggedFields),
    ),
)  # fmt: skip

#: DescribeClientQuotas v1: (components, strict)
DescribeClientQuotasRequest = flexible_request(
    "DescribeClientQuotasRequest", 48, 1,
    request=Schema(
        ("components", CompactArray(("entity_type", _STR), ("match_type", Int8),
                                    ("match", _STR), ("tags", TaggedFields))),
        ("strict", Boolean),
        ("tags", TaggedFields),
    ),
    response=Schema(
        ("throttle_time_ms", Int32), ("error_code", Int16), ("error_message", _STR),
        ("entries", CompactArray(
            ("entity", CompactArray(("entity_type", _STR), ("entity_name", _STR),
                                    ("tags", TaggedFields))),
            ("values", CompactArray(("key", _STR), ("value", Float64), ("tags", TaggedFields))),
            ("tags", TaggedFields))),
        ("tags", TaggedFields),
    ),
)  # fmt: skip


async def _alter(admin: AIOKafkaAdminClient, user: str, ops: list[Any]) -> None:
    req = AlterClientQuotasRequest([([(USER, user, {})], ops, {})], False)
    resp = await admin._send_to_controller(req)
    check_errors([(e[0], e[1]) for e in resp.entries], f"client quotas of {user!r}")


async def set_user_quotas(admin: AIOKafkaAdminClient, user: str,
                          quotas: dict[str, float]) -> None:  # fmt: skip
    """Set each quota of ``user`` (a value <= 0 removes that key's quota). Idempotent."""
    ops: list[Any] = [(key, max(value, 0.0), value <= 0, {}) for key, value in quotas.items()]
    await _alter(admin, user, ops)


async def remove_user_quotas(admin: AIOKafkaAdminClient, user: str) -> None:
    """Remove every quota key this module sets for ``user`` (nothing to remove is fine)."""
    await _alter(admin, user, [(key, 0.0, True, {}) for key in KEYS])


async def describe_user_quotas(admin: AIOKafkaAdminClient, user: str) -> dict[str, float]:
    """The quotas set on exactly ``user`` (empty when none)."""
    resp = await admin._send_request(
        DescribeClientQuotasRequest([(USER, MATCH_EXACT, user, {})], True)
    )
    if resp.error_code:
        raise TransientError(
            f"describing the client quotas of {user!r}: error "
            f"{resp.error_code} ({resp.error_message or 'no message'})"
        )
    return {value[0]: value[1] for entry in resp.entries or () for value in entry[1]}
