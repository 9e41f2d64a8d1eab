"""A misbehaving actor on a private SASL/SCRAM + ACL broker (:class:`SecureKafkaStack`,
never the shared one), issue 19 point 9:

* its refused operations land in ``kafka-authorizer.log``, not in ``server.log``, and a
  client hammering the broker with refused requests is rate-limited there (log4j2
  BurstFilter: at most ``maxBurst`` + ``rate`` x seconds lines), so it can rotate neither
  the broker's log nor the audit trail away;
* provisioning its Kafka identity sets its client quotas (described back from the broker),
  removing it removes them;
* the secure broker's data is owner-only too.
"""

from __future__ import annotations

import asyncio
import shutil
import stat
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.client import AIOKafkaClient
from aiokafka.protocol.metadata import MetadataRequest

from hub.core import topics
from hub.core.kafka.acl import actor_password
from hub.core.kafka.admin import core_topics, ensure_topics, feed_spec
from hub.core.kafka.client import client_options
from hub.core.kafka.isolation import deprovision_actor, provision_actor
from hub.core.kafka.quotas import describe_user_quotas
from hub.core.settings import HubSettings, KafkaSecuritySettings, KafkaSettings
from hub.dev.stack.security import SecureKafkaStack
from reliability.cluster import REPO, free_port
from tests.support.kafka_access import as_client, read, refused

pytestmark = [pytest.mark.kafka, pytest.mark.faults]
ADMIN_PW, SECRET = uuid.uuid4().hex, uuid.uuid4().hex
#: the BurstFilter of hub/dev/stack/log4j2.yaml
RATE, MAX_BURST = 2, 200
HAMMER = 1000


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SecureKafkaStack,
                                                                       HubSettings]]:
    if shutil.which("java") is None:
        pytest.skip("no JDK for the private broker")
    home: Path = tmp_path_factory.mktemp("secure-denials")
    stack = SecureKafkaStack(home=home, port=free_port(), controller_port=free_port(),
                             heap="256m", password=ADMIN_PW)  # fmt: skip
    cached = REPO / ".hub" / "kafka" / stack.libs_dir.name
    if cached.is_dir():
        stack.root.mkdir(parents=True, exist_ok=True)
        stack.libs_dir.symlink_to(cached)
    stack.up(timeout=120)
    settings = HubSettings(
        home=home, kafka=KafkaSettings(bootstrap_servers=stack.bootstrap, sasl_username="hub",
                                       sasl_password=ADMIN_PW),  # type: ignore[arg-type]
        # the private broker's listener is SASL_PLAINTEXT (no TLS): allowed for it
        kafka_security=KafkaSecuritySettings(enabled=True, actor_secret=SECRET,  # type: ignore[arg-type]
                                             allow_sasl_plaintext=True,
                                             actor_consumer_byte_rate=1_000_000,
                                             actor_producer_byte_rate=10_000,
                                             actor_request_percentage=12.5))
    try:
        yield stack, settings
    finally:
        stack.down()


def _lines(path: Path, needle: str) -> list[str]:
    try:
        return [ln for ln in path.read_text(errors="replace").splitlines() if needle in ln]
    except FileNotFoundError:
        return []


async def _hammer(opts: dict[str, Any], topic: str, count: int) -> None:
    """``count`` metadata requests naming ``topic``, as fast as the broker answers: each
    is a DESCRIBE the authorizer refuses (and logs)."""
    client = AIOKafkaClient(**{k: v for k, v in opts.items() if k in (
        "bootstrap_servers", "security_protocol", "sasl_mechanism", "sasl_plain_username",
        "sasl_plain_password", "request_timeout_ms")})
    await client.bootstrap()
    try:
        node = client.get_random_node()
        for _ in range(count):
            await client.send(node, MetadataRequest([topic], False))
    finally:
        await client.close()


async def _quotas(settings: HubSettings, user: str) -> dict[str, float]:
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        return await describe_user_quotas(admin, user)
    finally:
        await admin.close()


def test_denials_go_to_their_own_rate_limited_log(
        secure: tuple[SecureKafkaStack, HubSettings]) -> None:
    stack, settings = secure
    actor = f"noisy-{uuid.uuid4().hex[:6]}"
    asyncio.run(ensure_topics(settings, [*core_topics(settings), feed_spec(actor)]))
    asyncio.run(provision_actor(settings, actor))
    opts = as_client(stack.bootstrap, actor, actor_password(SECRET, actor))
    authorizer = stack.logs_dir / "kafka-authorizer.log"
    server = stack.logs_dir / "server.log"
    denial = f"Principal = User:{actor} is Denied"
    started = time.monotonic()

    # a refused login (wrong password) first, while the filter's burst is full: log4j's
    # BurstFilter gives a spent token back only a burst interval later (max burst / rate:
    # 100 s), and the refused read below can spend the whole burst by itself (its client
    # retries; a run saw exactly 200 denial lines and no login line in 45 s of retries).
    # The broker logs asynchronously: poll, don't sleep.
    assert refused(read(as_client(stack.bootstrap, actor, "wrong"), topics.DEMANDES, None))
    deadline = time.monotonic() + 10
    while not _lines(authorizer, "Failed authentication") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _lines(authorizer, "Failed authentication")
    # one refused read of a hub topic: its denials are in the authorizer's log only
    assert refused(read(opts, topics.DEMANDES, None))
    deadline = time.monotonic() + 10
    while not _lines(authorizer, denial) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert any(topics.DEMANDES in ln for ln in _lines(authorizer, denial))

    # a loop of refused requests: the log keeps a bounded share, server.log none
    asyncio.run(_hammer(opts, topics.DEMANDES, HAMMER))
    time.sleep(1)
    elapsed = time.monotonic() - started
    logged = len(_lines(authorizer, denial))
    assert 0 < logged <= MAX_BURST + RATE * elapsed, (logged, elapsed)
    assert _lines(server, "Denied") == []
    assert _lines(server, "Failed authentication") == []


def test_actor_quotas_set_and_removed(secure: tuple[SecureKafkaStack, HubSettings]) -> None:
    _, settings = secure
    actor = f"quota-{uuid.uuid4().hex[:6]}"
    asyncio.run(provision_actor(settings, actor))
    assert asyncio.run(_quotas(settings, actor)) == {
        "consumer_byte_rate": 1_000_000.0, "producer_byte_rate": 10_000.0,
        "request_percentage": 12.5}
    asyncio.run(deprovision_actor(settings, actor))
    assert asyncio.run(_quotas(settings, actor)) == {}


def test_secure_broker_data_owner_only(secure: tuple[SecureKafkaStack, HubSettings]) -> None:
    stack, settings = secure
    asyncio.run(ensure_topics(settings, core_topics(settings)))
    entries = [stack.data_dir, *stack.data_dir.rglob("*"), *stack.logs_dir.rglob("*")]
    wide = {str(p): oct(stat.S_IMODE(p.stat().st_mode)) for p in entries
            if stat.S_IMODE(p.stat().st_mode) not in (0o600, 0o700)}  # fmt: skip
    assert wide == {}
    assert any(p.name.endswith(".log") for p in stack.data_dir.rglob("*"))
