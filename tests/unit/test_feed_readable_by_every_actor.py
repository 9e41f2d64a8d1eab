"""The premise of the audit's ``kafka`` rows on every feed (docs/audit.md, "What a
``kafka`` row means"; independent audit H, F-2): registering an actor on a secured broker
gives it READ on its feed whatever its delivery channel, so its feed is a channel to it and
``hub audit record`` records it for webhook, SOAP and file actors too. If registration ever
stops provisioning those actors, this fails: revisit docs/audit.md and the recorder."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from pydantic import SecretStr

from hub.core.settings import HubSettings
from hub.domain.actors import Actor, ActorFilters, Channel, Delivery
from hub.stores.registry import publisher


class FakeProducer:
    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send_and_wait(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def send(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def flush(self) -> None:
        return None

    async def partitions_for(self, topic: str) -> set[int]:
        return {0}


@pytest.mark.parametrize("channel", ["kafka", "webhook", "soap", "file"])
def test_every_channel_gets_read_access_to_its_feed(
        channel: str, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from hub.core.kafka import isolation

    provisioned: list[str] = []

    async def provision(settings: HubSettings, actor_id: str) -> None:
        provisioned.append(actor_id)

    async def no_topics(*args: Any, **kwargs: Any) -> None:
        return None

    monkeypatch.setattr(isolation, "provision_actor", provision)
    monkeypatch.setattr(publisher, "ensure_topics", no_topics)
    monkeypatch.setattr(publisher, "new_producer", lambda settings: FakeProducer())
    base = HubSettings()
    secured = base.model_copy(update={"kafka_security": base.kafka_security.model_copy(
        update={"enabled": True, "actor_secret": SecretStr("s" * 32)})})  # fmt: skip
    options = {"url": "https://erp.example/hook"} if channel in ("webhook", "soap") else {}
    delivery = Delivery(channel=cast(Channel, channel), options=options)
    actor = Actor(id=f"a-{channel}", name="A", kind="bailleur",
                  filters=ActorFilters(communes=["76540"]), delivery=delivery)  # fmt: skip
    asyncio.run(publisher.KafkaActorPublisher(secured).publish_async(actor, deleted=False))
    assert provisioned == [actor.id]
