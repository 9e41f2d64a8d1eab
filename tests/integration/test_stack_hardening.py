"""The local stack's broker, as ``hub stack up`` starts it (:class:`KafkaStack`), on a
private home and free ports (never the shared 29092), issue 19 points 9 and 10:

* topics exist only as the hub declares them: writing to (or reading) an undeclared topic
  fails and creates nothing, while the hub's declared topics take writes;
* what the broker writes is owner-only: its home and data folders 0700, every file 0600,
  including data written before the rule (tightened at the next start).
"""

from __future__ import annotations

import asyncio
import shutil
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from hub.core import topics
from hub.core.kafka.admin import core_topics, ensure_topics
from hub.core.private import home_mode
from hub.core.settings import HubSettings, KafkaSettings
from hub.dev.stack.kafka import KafkaStack
from reliability.cluster import REPO, free_port

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaStack]:
    if shutil.which("java") is None:
        pytest.skip("no JDK for the private broker")
    home: Path = tmp_path_factory.mktemp("stack-hardening")
    home.chmod(0o755)  # as a person's folder would be: the stack makes it owner-only
    stack = KafkaStack(home=home, port=free_port(), controller_port=free_port(), heap="256m")
    cached = REPO / ".hub" / "kafka" / stack.libs_dir.name
    if cached.is_dir():  # no Maven download: the shared stack's jars
        stack.root.mkdir(parents=True, exist_ok=True)
        stack.libs_dir.symlink_to(cached)
    stack.up(timeout=120)
    try:
        yield stack
    finally:
        stack.down()


def _settings(stack: KafkaStack) -> HubSettings:
    return HubSettings(home=stack.root.parent, kafka=KafkaSettings(
        bootstrap_servers=stack.bootstrap, request_timeout_ms=5000))


async def _topic_names(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def _write(bootstrap: str, topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=4000)
    await producer.start()
    try:
        await asyncio.wait_for(producer.send_and_wait(topic, b"x", key=b"k"), 20)
    finally:
        await producer.stop()


async def _subscribe(bootstrap: str, topic: str) -> None:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                request_timeout_ms=4000)
    try:
        await consumer.start()
        await consumer.getmany(timeout_ms=1500)
    finally:
        await consumer.stop()


def test_no_topic_auto_creation(stack: KafkaStack) -> None:
    settings = _settings(stack)
    asyncio.run(ensure_topics(settings, core_topics(settings)))
    asyncio.run(_write(stack.bootstrap, topics.DEMANDES))  # control: declared topics work
    feed = topics.feed_topic(f"undeclared-{uuid.uuid4().hex[:6]}")
    with pytest.raises((KafkaError, TimeoutError)):
        asyncio.run(_write(stack.bootstrap, feed))
    with pytest.raises(KafkaError):
        asyncio.run(_subscribe(stack.bootstrap, feed))
    names = asyncio.run(_topic_names(stack.bootstrap))
    assert topics.DEMANDES in names
    assert feed not in names
    config = stack.config_file.read_text()
    assert "auto.create.topics.enable=false" in config


def _modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): stat.S_IMODE(p.lstat().st_mode)
            for p in [root, *root.rglob("*")] if not p.is_symlink()}


def test_broker_files_owner_only(stack: KafkaStack) -> None:
    settings = _settings(stack)
    asyncio.run(ensure_topics(settings, core_topics(settings)))
    asyncio.run(_write(stack.bootstrap, topics.DLQ))
    home, data = stack.root.parent, stack.data_dir
    assert stat.S_IMODE(home.stat().st_mode) == home_mode()  # 0700 (0711 as root)
    assert stat.S_IMODE(stack.root.stat().st_mode) == 0o700
    modes = {**_modes(data), **{f"logs/{k}": v for k, v in _modes(stack.logs_dir).items()}}
    segments = [name for name in modes if name.endswith(".log") and "hub.dlq-0" in name]
    assert segments, sorted(modes)  # the record written above is in there
    wide = {name: oct(mode) for name, mode in modes.items()
            if mode not in (0o600, 0o700)}  # fmt: skip
    assert wide == {}

    # data written by an older broker (umask 022) is tightened at the next start
    stack.down()
    loose = data / "hub.dlq-0"
    loose.chmod(0o755)
    for f in loose.iterdir():
        f.chmod(0o644)
    stack.up(timeout=120)
    assert stat.S_IMODE(loose.stat().st_mode) == 0o700
    assert {oct(stat.S_IMODE(f.stat().st_mode)) for f in loose.iterdir()} == {oct(0o600)}
