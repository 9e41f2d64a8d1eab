"""Per-actor isolation on a private SASL/SCRAM + ACL broker (deny by default).

Actors are registered through the real registry service and Kafka publisher, which create
their credentials and ACLs; a real ``hub worker``, authenticated as the hub, dispatches a
demand to every feed. The matrix then tries, for every ordered pair of actors, to
read the other's feed, join the other's consumer group and write to either feed, plus
writes and reads on the hub's own topics: every attempt must be refused, while reading
one's own feed in one's own group works (the control that keeps the test honest).
Unauthenticated and wrong-password connections are refused.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.core import topics
from hub.core.kafka.acl import actor_password
from hub.core.settings import HubSettings
from hub.dev.stack.security import SecureKafkaStack
from hub.domain.actors import Actor, ActorFilters
from reliability.cluster import REPO, free_port
from tests.support.kafka_access import (
    actor_matrix,
    as_client,
    dispatch_to_own_feeds,
    read,
    refused,
)

pytestmark = [pytest.mark.kafka, pytest.mark.faults]
ACTORS = int(os.environ.get("HUB_ISOLATION_ACTORS", "3"))
ADMIN_PW, SECRET = uuid.uuid4().hex, uuid.uuid4().hex


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubSettings]:
    if shutil.which("java") is None:
        pytest.skip("no JDK for the private broker")
    home: Path = tmp_path_factory.mktemp("secure-kafka")
    stack = SecureKafkaStack(home=home, port=free_port(), controller_port=free_port(),
                             password=ADMIN_PW)  # fmt: skip
    cached = REPO / ".hub" / "kafka" / stack.libs_dir.name
    if cached.is_dir():
        stack.root.mkdir(parents=True, exist_ok=True)
        stack.libs_dir.symlink_to(cached)
    stack.up(timeout=120)
    try:
        yield HubSettings(
            home=home, kafka={"bootstrap_servers": stack.bootstrap, "sasl_username": "hub",
                              "sasl_password": ADMIN_PW},
            database={"url": f"sqlite:///{home / 'hub.db'}"},
            # the private broker's listener is SASL_PLAINTEXT (no TLS): allowed for it
            kafka_security={"enabled": True, "actor_secret": SECRET,
                            "allow_sasl_plaintext": True})  # fmt: skip
    finally:
        stack.down()


def _as(settings: HubSettings, user: str | None, password: str = "") -> dict[str, Any]:
    return as_client(settings.kafka.bootstrap_servers, user, password)


def test_isolation_matrix(secure: HubSettings) -> None:
    from hub.core.db import make_engine, migrate
    from hub.domain.geo import get_geography
    from hub.stores.registry.publisher import KafkaActorPublisher
    from hub.stores.registry.service import ActorService
    from hub.stores.registry.store import ActorStore

    engine = make_engine(secure.database_url)
    migrate(engine)
    service = ActorService(ActorStore(engine), get_geography(),
                           publisher=KafkaActorPublisher(secure))  # fmt: skip
    ids = [f"iso-{i}-{uuid.uuid4().hex[:4]}" for i in range(ACTORS)]
    for aid in ids:
        service.add_or_update(Actor(id=aid, name=aid, kind="bailleur",
                                    filters=ActorFilters(communes=["76540"])))  # fmt: skip
    creds = {aid: _as(secure, aid, actor_password(SECRET, aid)) for aid in ids}
    # the hub's worker, authenticated as the hub, dispatches one demand to every feed
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(HUB_HOME=str(secure.home),
               HUB_KAFKA__BOOTSTRAP_SERVERS=secure.kafka.bootstrap_servers,
               HUB_KAFKA__SASL_USERNAME="hub", HUB_KAFKA__SASL_PASSWORD=ADMIN_PW,
               HUB_KAFKA_SECURITY__ALLOW_SASL_PLAINTEXT="true",
               HUB_WORKER__APP_ID="isolation-dispatch", HUB_DATABASE__URL=secure.database_url)
    dispatch_to_own_feeds(env, secure.home, secure, ids, creds, timeout=90)
    breaches, _ = actor_matrix(ids, creds)
    assert breaches == []

    # unauthenticated, wrong password, removed actor: no connection at all
    assert refused(read(_as(secure, None), topics.feed_topic(ids[0]), None))
    assert refused(read(_as(secure, ids[0], "wrong"), topics.feed_topic(ids[0]), None))
    service.remove(ids[-1])
    assert refused(read(creds[ids[-1]], topics.feed_topic(ids[-1]), None))
