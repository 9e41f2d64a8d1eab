"""Per-actor isolation over TLS: a private SASL_SSL + ACL broker with the stack's own CA.

One broker (:class:`hub.dev.stack.tls.TlsKafkaStack`, free ports) for the module. Actors are
registered through the real registry service and Kafka publisher (credentials + ACLs,
over SASL_SSL); a real ``hub worker`` authenticated as the hub over SASL_SSL dispatches a
demand that each actor then reads from its own feed (the control). The matrix tries, for
every ordered pair, to read the other's feed, join the other's group and write its feed,
plus the hub's topics: 0 successes. Then the transport itself: plain-text clients (with
or without SASL), TLS without SASL, and TLS clients that do not trust the CA (another CA,
the system's CAs, a name the certificate does not carry) are all refused.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import ssl
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from pydantic import SecretStr

from hub.cli.actor_kafka import actor_properties
from hub.core import topics
from hub.core.kafka.acl import actor_password
from hub.core.kafka.admin import TopicSpec, ensure_topics
from hub.core.kafka.client import client_options
from hub.core.kafka.tls import ssl_context
from hub.core.settings import (
    DatabaseSettings,
    HubSettings,
    KafkaSecuritySettings,
    KafkaSettings,
)
from hub.dev.stack.certs import new_ca
from hub.dev.stack.tls import TlsKafkaStack
from hub.domain.actors import Actor, ActorFilters
from reliability.cluster import REPO, free_port
from tests.support.kafka_access import (
    actor_matrix,
    as_client,
    dispatch_to_own_feeds,
    raw_api_versions,
    read,
    refused,
    write,
)
from tests.unit.test_publish_cli import _hub

pytestmark = [pytest.mark.kafka, pytest.mark.faults]
ACTORS = int(os.environ.get("HUB_ISOLATION_ACTORS", "4"))
ADMIN_PW, SECRET = uuid.uuid4().hex, uuid.uuid4().hex


@pytest.fixture(scope="module")
def tls_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubSettings]:
    if shutil.which("java") is None:
        pytest.skip("no JDK for the private broker")
    home: Path = tmp_path_factory.mktemp("tls-kafka")
    stack = TlsKafkaStack(home=home, port=free_port(), controller_port=free_port(),
                          password=ADMIN_PW, heap="512m")  # fmt: skip
    cached = REPO / ".hub" / "kafka" / stack.libs_dir.name
    if cached.is_dir():
        stack.root.mkdir(parents=True, exist_ok=True)
        stack.libs_dir.symlink_to(cached)
    stack.up(timeout=120)
    try:
        yield HubSettings(
            home=home,
            kafka=KafkaSettings(bootstrap_servers=stack.bootstrap, sasl_username="hub",
                                sasl_password=SecretStr(ADMIN_PW)),
            database=DatabaseSettings(url=SecretStr(f"sqlite:///{home / 'hub.db'}")),
            kafka_security=KafkaSecuritySettings(enabled=True, actor_secret=SecretStr(SECRET),
                                                 ssl_cafile=str(stack.ca_file)))  # fmt: skip
    finally:
        stack.down()


def _port(settings: HubSettings) -> int:
    return int(settings.kafka.bootstrap_servers.rpartition(":")[2])


def _ca_context(settings: HubSettings) -> ssl.SSLContext:
    context = ssl_context(settings)
    assert context is not None
    return context


def _from_properties(text: str) -> dict[str, Any]:
    """aiokafka options from the Java properties of ``hub actors kafka-config``."""
    props = dict(line.split("=", 1) for line in text.splitlines()
                 if line and not line.startswith("#"))  # fmt: skip
    jaas = dict(re.findall(r'(\w+)="([^"]*)"', props["sasl.jaas.config"]))
    assert props["security.protocol"] == "SASL_SSL" and props["ssl.truststore.type"] == "PEM"
    context = ssl.create_default_context(cafile=props["ssl.truststore.location"])
    return {"group": props["group.id"],
            "opts": as_client(props["bootstrap.servers"], jaas["username"], jaas["password"],
                              context)}  # fmt: skip


def test_hub_clients_use_sasl_ssl(tls_hub: HubSettings) -> None:
    opts = client_options(tls_hub)
    assert opts["security_protocol"] == "SASL_SSL"
    assert opts["ssl_context"].verify_mode == ssl.CERT_REQUIRED
    assert opts["ssl_context"].check_hostname


def test_tls_isolation_matrix_and_dispatch(tls_hub: HubSettings) -> None:
    from hub.core.db import make_engine, migrate
    from hub.domain.geo import get_geography
    from hub.stores.registry.publisher import KafkaActorPublisher
    from hub.stores.registry.service import ActorService
    from hub.stores.registry.store import ActorStore

    engine = make_engine(tls_hub.database_url)
    migrate(engine)
    service = ActorService(ActorStore(engine), get_geography(),
                           publisher=KafkaActorPublisher(tls_hub))  # fmt: skip
    ids = [f"tls-{i}-{uuid.uuid4().hex[:4]}" for i in range(ACTORS)]
    for aid in ids:  # over SASL_SSL: the publisher's admin and producer clients
        service.add_or_update(Actor(id=aid, name=aid, kind="bailleur",
                                    filters=ActorFilters(communes=["76540"])))  # fmt: skip
    ctx = _ca_context(tls_hub)
    bootstrap = tls_hub.kafka.bootstrap_servers
    creds = {a: as_client(bootstrap, a, actor_password(SECRET, a), ctx) for a in ids}

    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(HUB_HOME=str(tls_hub.home), HUB_KAFKA__BOOTSTRAP_SERVERS=bootstrap,
               HUB_KAFKA__SASL_USERNAME="hub", HUB_KAFKA__SASL_PASSWORD=ADMIN_PW,
               HUB_KAFKA_SECURITY__SSL_CAFILE=tls_hub.kafka_security.ssl_cafile,
               HUB_WORKER__APP_ID="tls-dispatch", HUB_DATABASE__URL=tls_hub.database_url)
    dispatch_to_own_feeds(env, tls_hub.home, tls_hub, ids, creds, timeout=120)
    # the broker has no other listener: the worker's dispatch went over SASL_SSL
    # what `hub actors kafka-config` hands to an actor works as such (docs/kafka-security.md)
    handed = _from_properties(actor_properties(tls_hub, ids[0]))
    assert asyncio.run(read(handed["opts"], topics.feed_topic(ids[0]), handed["group"])) == 1

    breaches, attempts = actor_matrix(ids, creds)
    assert attempts == ACTORS * (ACTORS - 1) * 3 + ACTORS * 7
    # the control of the write probe: the hub itself may write (it can succeed) to a topic
    # that exists (the broker creates none on a write: auto.create.topics.enable=false)
    asyncio.run(ensure_topics(tls_hub, [TopicSpec("tls-write-control", 1, {})]))
    assert not refused(write(as_client(bootstrap, "hub", ADMIN_PW, ctx), "tls-write-control"))
    assert breaches == []

    # unauthenticated (TLS, no SASL) and wrong password over TLS: no access at all
    own0 = topics.feed_topic(ids[0])
    assert refused(read(as_client(bootstrap, None, context=ctx), own0, None))
    assert refused(read(as_client(bootstrap, ids[0], "wrong", ctx), own0, None))


def test_plaintext_refused(tls_hub: HubSettings) -> None:
    port, bootstrap = _port(tls_hub), tls_hub.kafka.bootstrap_servers
    # the control: the same raw request over TLS trusting the CA gets a Kafka answer
    assert raw_api_versions(port, _ca_context(tls_hub)) == 7
    assert raw_api_versions(port, None) is None  # plain text: no Kafka answer at all
    feed = topics.DEMANDES
    assert refused(read(as_client(bootstrap), feed, None))
    assert refused(write(as_client(bootstrap), feed))
    # even the hub's own valid credentials are refused without TLS
    assert refused(read(as_client(bootstrap, "hub", ADMIN_PW), feed, None))
    assert refused(write(as_client(bootstrap, "hub", ADMIN_PW), feed))


def test_untrusted_ca_refused(tls_hub: HubSettings, tmp_path: Path) -> None:
    port, bootstrap = _port(tls_hub), tls_hub.kafka.bootstrap_servers
    other_ca, _ = new_ca("Not the hub's CA")
    other = tmp_path / "other-ca.pem"
    other.write_bytes(other_ca.public_bytes(serialization.Encoding.PEM))
    untrusting = {
        "another CA": ssl.create_default_context(cafile=str(other)),
        "the system's CAs": ssl.create_default_context(),
    }
    for name, ctx in untrusting.items():
        with pytest.raises(ssl.SSLCertVerificationError):
            raw_api_versions(port, ctx)
        # valid SCRAM credentials do not help a client that cannot verify the broker
        assert refused(read(as_client(bootstrap, "hub", ADMIN_PW, ctx), topics.DEMANDES,
                            None)), name  # fmt: skip
    # the right CA but a name the certificate does not carry: refused too
    with pytest.raises(ssl.SSLCertVerificationError):
        raw_api_versions(port, _ca_context(tls_hub), server_hostname="kafka.example.org")
    # the certificate's other name works (the control for the name check)
    assert raw_api_versions(port, _ca_context(tls_hub), server_hostname="localhost") == 7
    # and the hub's settings refuse a CA file that is not one (no silent plain fallback)
    broken = tls_hub.model_copy(update={"kafka_security": tls_hub.kafka_security.model_copy(
        update={"ssl_cafile": str(tmp_path / "missing.pem")})})
    from hub.core.errors import ConfigError

    with pytest.raises(ConfigError, match="SSL_CAFILE"):
        client_options(broken)


def test_refused_handshakes_say_so_in_one_line(tls_hub: HubSettings, tmp_path: Path) -> None:
    """Audit K F11: a wrong password, a CA that did not sign the broker's certificate, a
    client without TLS were all "Kafka not reachable ... start it with 'hub stack up'".
    Each is now one line saying what was refused and which settings to check, never the
    password; the hub's own settings still start (the control)."""
    from aiokafka import AIOKafkaConsumer

    from hub.core.kafka.client import start_client
    from hub.core.kafka.handshake import KafkaHandshakeError

    async def start(settings: HubSettings) -> None:
        consumer = AIOKafkaConsumer(**client_options(settings), request_timeout_ms=5000)
        await start_client(consumer, settings, timeout_s=30)
        await consumer.stop()

    def changed(**kafka_security: Any) -> HubSettings:
        sec = tls_hub.kafka_security.model_copy(update=kafka_security)
        return tls_hub.model_copy(update={"kafka_security": sec})

    asyncio.run(start(tls_hub))  # the control
    wrong = "Wrong-" + uuid.uuid4().hex
    bad_password = tls_hub.model_copy(update={"kafka": tls_hub.kafka.model_copy(
        update={"sasl_password": SecretStr(wrong)})})  # fmt: skip
    bootstrap = tls_hub.kafka.bootstrap_servers
    with pytest.raises(KafkaHandshakeError) as caught:
        asyncio.run(start(bad_password))
    assert caught.value.message == (
        f"Kafka at {bootstrap} refused the hub's SASL authentication as 'hub' "
        "(SCRAM-SHA-512 over TLS: wrong user or password): check HUB_KAFKA__SASL_USERNAME "
        "and HUB_KAFKA__SASL_PASSWORD")
    other_ca, _ = new_ca("Not the hub's CA")
    other = tmp_path / "other-ca.pem"
    other.write_bytes(other_ca.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(KafkaHandshakeError, match=r"the broker's TLS certificate is not "
                                                  r"trusted \(.*\): check HUB_KAFKA_SECURITY__"
                                                  r"SSL_CAFILE"):  # fmt: skip
        asyncio.run(start(changed(ssl_cafile=str(other))))

    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(HUB_HOME=str(tmp_path / "home"), HUB_KAFKA__BOOTSTRAP_SERVERS=bootstrap,
               HUB_KAFKA__SASL_USERNAME="hub", HUB_KAFKA__SASL_PASSWORD=wrong,
               HUB_KAFKA_SECURITY__SSL_CAFILE=tls_hub.kafka_security.ssl_cafile)
    res = subprocess.run([*_hub(), "feed", "rouen-habitat", "-e"], env=env,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert res.returncode == 1 and res.stderr.splitlines() == [
        f"Error: {caught.value.message}"], res.stderr
    assert wrong not in res.stdout + res.stderr
    # no TLS at all: refused before any connection (the records would be in clear)
    env.pop("HUB_KAFKA_SECURITY__SSL_CAFILE")
    res = subprocess.run([*_hub(), "feed", "rouen-habitat", "-e"], env=env,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert res.returncode == 1 and "SASL_PLAINTEXT" in res.stderr and wrong not in res.stderr
