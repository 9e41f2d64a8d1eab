"""Per-actor isolation on Kafka: SCRAM credentials and ACLs (issue 7).

What an actor may do, and nothing else (the authorizer denies by default):

* READ (and DESCRIBE) its own feed topic ``hub.feed.<actor_id>`` (a literal ACL);
* READ its consumer groups, whose ids must start with ``<actor_id>.`` (a prefixed ACL);
* no WRITE anywhere: the hub alone writes (its principal is a super user).

SCRAM-SHA-512 credentials are computed here (salted password, RFC 5802) and sent with the
AlterUserScramCredentials API, so the password never travels nor is stored; it is derived
from ``HUB_KAFKA_SECURITY__ACTOR_SECRET`` and the actor id (:func:`actor_password`), so the
hub can hand it to the actor again without keeping it. aiokafka has no client for this
API, so its request is declared below with aiokafka's own protocol types.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import CreateAclsRequest, DeleteAclsRequest
from aiokafka.protocol.types import (
    CompactArray,
    CompactBytes,
    CompactString,
    Int8,
    Int16,
    Int32,
    Schema,
    TaggedFields,
)

from hub.core import topics
from hub.core.errors import ConfigError
from hub.core.kafka.wire import check_errors, flexible_request

SCRAM_SHA_512 = 2  # ScramMechanism id in the Kafka protocol
# ACL enums of the Kafka protocol
TOPIC, GROUP = 2, 3
LITERAL, PREFIXED = 3, 4
ANY_OP, READ, DESCRIBE = 1, 3, 8
ALLOW = 3


def group_prefix(actor_id: str) -> str:
    """Consumer groups an actor may use start with this."""
    return f"{actor_id}."


def actor_password(secret: str, actor_id: str) -> str:
    """The actor's SCRAM password, derived (never stored) from the hub's secret."""
    if not secret:
        raise ConfigError("HUB_KAFKA_SECURITY__ACTOR_SECRET is empty: no actor credentials")
    return hmac.new(secret.encode(), f"kafka-scram:{actor_id}".encode(), "sha256").hexdigest()


def salted_password(password: str, salt: bytes, iterations: int) -> bytes:
    """SCRAM's SaltedPassword := Hi(password, salt, i) with HMAC-SHA-512 (RFC 5802)."""
    return hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)


AlterScramRequest = flexible_request(
    "AlterScramRequest", 51, 0,
    request=Schema(
        ("deletions", CompactArray(("name", CompactString("utf-8")), ("mechanism", Int8),
                                   ("tags", TaggedFields))),
        ("upsertions", CompactArray(("name", CompactString("utf-8")), ("mechanism", Int8),
                                    ("iterations", Int32), ("salt", CompactBytes),
                                    ("salted_password", CompactBytes), ("tags", TaggedFields))),
        ("tags", TaggedFields),
    ),
    response=Schema(
        ("throttle_time_ms", Int32),
        ("results", CompactArray(("user", CompactString("utf-8")), ("error_code", Int16),
                                 ("error_message", CompactString("utf-8")),
                                 ("tags", TaggedFields))),
        ("tags", TaggedFields),
    ),
)  # fmt: skip


async def set_scram(admin: AIOKafkaAdminClient, user: str, password: str,
                    iterations: int = 8192) -> None:  # fmt: skip
    salt = os.urandom(32)
    req = AlterScramRequest([], [(user, SCRAM_SHA_512, iterations, salt,
                                  salted_password(password, salt, iterations), {})])  # fmt: skip
    resp = await admin._send_to_controller(req)
    check_errors([(r[1], r[2]) for r in resp.results], f"SCRAM credentials of {user!r}")


async def delete_scram(admin: AIOKafkaAdminClient, user: str) -> None:
    resp = await admin._send_to_controller(AlterScramRequest([(user, SCRAM_SHA_512, {})], []))
    # 91 = RESOURCE_NOT_FOUND: nothing to delete is fine (idempotent)
    check_errors([(r[1], r[2]) for r in resp.results if r[1] != 91], f"deleting {user!r}")


def actor_acls(actor_id: str) -> list[tuple[int, str, int, int]]:
    """(resource type, name, pattern type, operation) granted to the actor."""
    feed = topics.feed_topic(actor_id)
    return [(TOPIC, feed, LITERAL, READ), (TOPIC, feed, LITERAL, DESCRIBE),
            (GROUP, group_prefix(actor_id), PREFIXED, READ)]  # fmt: skip


async def grant_actor(admin: AIOKafkaAdminClient, actor_id: str) -> None:
    """Create the actor's ACLs (creating an existing ACL is a no-op for Kafka)."""
    for rtype, name, pattern, op in actor_acls(actor_id):
        req = CreateAclsRequest(rtype, name, pattern, f"User:{actor_id}", "*", op, ALLOW)
        resp = await admin._send_request(req)
        check_errors([(r[0], r[1]) for r in resp.creation_responses], f"ACL for {actor_id!r}")


async def revoke_actor(admin: AIOKafkaAdminClient, actor_id: str) -> None:
    """Delete every ACL of the actor's principal."""
    req = DeleteAclsRequest(1, None, 1, f"User:{actor_id}", None, ANY_OP, 1)  # 1 = ANY
    resp = await admin._send_request(req)
    check_errors([(r[0], r[1]) for r in resp.filter_responses], f"ACL removal for {actor_id!r}")
