"""The local stack against the real thing: a Kafka JVM and a PostgreSQL server.

Each test provisions its own servers in a pytest tmp home, on free ports
away from the shared dev stack (29092/29093, 25432), and stops them at the end.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from hub.dev.stack.kafka import KafkaStack, port_answers
from hub.dev.stack.postgres import PostgresStack
from reliability.cluster import free_port

# free ports, not fixed ones: a fixed port in the ephemeral range can be taken by another
# process's listener at that moment (a private broker, a test server) and fail the start
KAFKA_PORT, CONTROLLER_PORT, PG_PORT = free_port(), free_port(), free_port()


@pytest.fixture
def kafka(tmp_path: Path) -> Iterator[KafkaStack]:
    stack = KafkaStack(tmp_path, port=KAFKA_PORT, controller_port=CONTROLLER_PORT, heap="512m")
    try:
        yield stack
    finally:
        stack.down()


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[PostgresStack]:
    stack = PostgresStack(tmp_path, port=PG_PORT)
    try:
        yield stack
    finally:
        stack.wipe()  # as root the cluster may live in /tmp/passerelle-pg-<port>: clean it


async def _round_trip(bootstrap: str, topic: str) -> tuple[bytes | None, bytes | None]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"bonjour", key=b"k1")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id="test-stack",
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=30)
    finally:
        await consumer.stop()
    return record.key, record.value


@pytest.mark.kafka
def test_kafka_stack_lifecycle(kafka: KafkaStack) -> None:
    assert not kafka.status().running
    bootstrap = kafka.up(timeout=120)
    assert bootstrap == f"127.0.0.1:{KAFKA_PORT}"

    status = kafka.status()
    assert status.running and status.pid is not None
    assert status.data_dir == kafka.data_dir and (status.data_dir / "meta.properties").is_file()
    # written just after the broker answers: give the log a moment on a loaded machine
    deadline = time.monotonic() + 20
    while "Kafka Server started" not in status.log_file.read_text():
        assert time.monotonic() < deadline, "no 'Kafka Server started' in the broker log"
        time.sleep(0.2)

    assert asyncio.run(_round_trip(bootstrap, "stack-test")) == (b"k1", b"bonjour")

    # a second up() finds the same broker: same pid, nothing restarted
    assert kafka.up(timeout=5) == bootstrap
    assert kafka.status().pid == status.pid

    assert kafka.down() is True
    after = kafka.status()
    assert not after.running and after.pid is None
    assert not port_answers(KAFKA_PORT)
    assert kafka.down() is False  # idempotent


@pytest.mark.postgres
def test_postgres_stack_select_one(postgres: PostgresStack) -> None:
    url = postgres.up()
    assert url == f"postgresql+psycopg://hub:hub@127.0.0.1:{PG_PORT}/hub"
    assert postgres.up() == url  # idempotent
    first = postgres.status()
    assert first.running and first.pid is not None

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
            assert conn.execute(sa.text("SELECT current_user")).scalar_one() == "hub"
    finally:
        engine.dispose()  # close pooled sessions, or the fast shutdown has to kill them

    assert postgres.down() is True
    assert not postgres.status().running
    assert postgres.down() is False


def test_ctrl_c_during_stack_up_stops_the_broker_it_was_starting(tmp_path: Path) -> None:
    """SIGINT while ``hub stack up`` waits for the broker: the JVM it spawned is stopped
    (it used to finish its start-up behind the user's back), exit 130, said on stderr."""
    import contextlib
    import os
    import signal
    import subprocess
    import sys

    from hub.dev.stack.detached import pid_alive

    repo = Path(__file__).resolve().parent.parent.parent
    cached = repo / ".hub" / "kafka" / "libs-4.1.1"
    if cached.is_dir():  # no Maven download: the shared stack's jars
        (tmp_path / "kafka").mkdir()
        (tmp_path / "kafka" / "libs-4.1.1").symlink_to(cached)
    port, controller = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(HUB_HOME=str(tmp_path), HUB_STACK__KAFKA_PORT=str(port),
               HUB_STACK__CONTROLLER_PORT=str(controller), HUB_STACK__KAFKA_HEAP="512m")
    stack = KafkaStack(tmp_path, port=port, controller_port=controller, heap="512m")
    proc = subprocess.Popen([sys.executable, "-c", "from hub.cli import main; main()",
                             "stack", "up", "--timeout", "120"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # a test run in the background (the CI lanes) inherits SIGINT
                            # ignored, and Python then never raises KeyboardInterrupt
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 60
        while stack.status().pid is None:  # the JVM was spawned: up() now waits for it
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        pid = stack.status().pid
        assert pid is not None
        # held before it can bind its port (a fast start answered before the SIGINT landed,
        # and `up` had returned): the command is surely still waiting when Ctrl-C comes
        os.kill(pid, signal.SIGSTOP)
        try:
            proc.send_signal(signal.SIGINT)
            time.sleep(0.5)
        finally:
            with contextlib.suppress(ProcessLookupError):  # SIGKILLed already: fine
                os.kill(pid, signal.SIGCONT)  # so that it can obey the stop it is sent
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, (out, err)
        assert "interrupted" in err and "kafka: stopped" in err, err
        assert not stack.status().running
        assert not pid_alive(pid)  # the JVM itself is gone (or a zombie), not only its pid file
    finally:
        proc.kill()
        stack.down()
