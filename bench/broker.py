"""A private Kafka broker for one benchmark run, and the topic helpers the suite needs.

The shared development broker (127.0.0.1:29092) carries everybody's tests: a benchmark
there would measure their load and pollute their topics. Each run therefore starts its
own single-node broker (``hub.dev.stack.kafka.KafkaStack``) in a temporary home, on free
loopback ports, and wipes it at the end. The broker's jars are linked from an existing
home when one has them (the repository's ``.hub``), else fetched by Maven as usual.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from hub.core.kafka.admin import wait_ready
from hub.dev.stack.kafka import KafkaStack

#: homes whose ``kafka/libs-<version>`` may be reused (first found wins)
_JAR_HOMES = (Path(__file__).resolve().parent.parent / ".hub", Path.home() / ".hub")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _link_jars(stack: KafkaStack) -> None:
    if stack.has_jars:
        return
    for home in _JAR_HOMES:
        libs = home / "kafka" / stack.libs_dir.name
        if (libs / f"kafka_2.13-{stack.version}.jar").is_file():
            stack.root.mkdir(parents=True, exist_ok=True)
            os.symlink(libs, stack.libs_dir)
            return


@contextlib.contextmanager
def private_broker(home: Path, heap: str = "1g") -> Iterator[KafkaStack]:
    """Start a broker in ``home`` on free ports; stop it and delete its data on exit."""
    stack = KafkaStack(home=home, port=free_port(), controller_port=free_port(), heap=heap)
    _link_jars(stack)
    try:
        stack.up(timeout=90)
        yield stack
    finally:
        stack.wipe()


async def create_topics(bootstrap: str, specs: dict[str, int]) -> None:
    """Create topics (name -> partitions) in chunks; return once every partition takes
    writes (``hub.core.kafka.admin.wait_ready``: a worker writing to 2,000 feed topics whose
    partitions were still loading stalled for minutes, aio-libs/aiokafka#1018). An
    existing topic is an error here: benchmark topics are always fresh, so a clash means
    a bug in the harness."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=120_000)
    await admin.start()
    try:
        names = sorted(specs)
        for i in range(0, len(names), 200):
            chunk = names[i : i + 200]
            await admin.create_topics(
                [NewTopic(n, num_partitions=specs[n], replication_factor=1) for n in chunk]
            )
    finally:
        await admin.close()
    await wait_ready({"bootstrap_servers": bootstrap}, list(specs), timeout=300)
