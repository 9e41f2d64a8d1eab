"""``hub stack up --secure`` through the real CLI: a SASL_SSL + ACL broker on free ports.

The CLI runs as a subprocess with its own ``HUB_HOME`` (a pytest tmp folder) and ports
(``HUB_STACK__KAFKA_PORT`` ...), never the shared 29092. The test then does what the docs
tell a person to do: source ``<home>/kafka/secure.env`` and use the hub, whose clients
must connect over SASL_SSL with the generated CA.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.core.private import home_mode
from hub.dev.stack.kafka import port_answers
from hub.dev.stack.secure_env import read_env
from reliability.cluster import REPO, free_port

pytestmark = pytest.mark.kafka

_HUB = [sys.executable, "-c", "from hub.cli import main; main()"]

#: run under ``. secure.env``: the hub's own clients create topics and round-trip a record
_ROUND_TRIP = """
import asyncio
from aiokafka import AIOKafkaConsumer
from hub.core.kafka.admin import core_topics, ensure_topics
from hub.core.kafka.client import client_options, new_producer
from hub.core.settings import get_settings

async def main():
    s = get_settings()
    assert client_options(s)["security_protocol"] == "SASL_SSL"
    await ensure_topics(s, core_topics(s))
    producer = new_producer(s)
    await producer.start()
    try:
        await producer.send_and_wait("hub.dlq", b"secure-hello")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer("hub.dlq", **client_options(s), group_id=None,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), 30)
    finally:
        await consumer.stop()
    print("ROUND-TRIP", record.value.decode())

asyncio.run(main())
"""


@pytest.fixture
def home(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(HUB_HOME=str(tmp_path), HUB_STACK__KAFKA_PORT=str(free_port()),
               HUB_STACK__CONTROLLER_PORT=str(free_port()), HUB_STACK__KAFKA_HEAP="512m")
    cached = REPO / ".hub" / "kafka" / "libs-4.1.1"
    if cached.is_dir():  # no Maven download: the shared stack's jars
        (tmp_path / "kafka").mkdir()
        (tmp_path / "kafka" / "libs-4.1.1").symlink_to(cached)
    try:
        yield tmp_path, env
    finally:
        subprocess.run([*_HUB, "stack", "down"], env=env, capture_output=True, check=False)


def _hub(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*_HUB, *args], env=env, capture_output=True, text=True,
                          timeout=240, cwd=REPO, check=False)  # fmt: skip


def test_stack_up_secure(home: tuple[Path, dict[str, str]]) -> None:
    root, env = home
    port = int(env["HUB_STACK__KAFKA_PORT"])
    up = _hub(env, "stack", "up", "--secure", "--timeout", "120")
    assert up.returncode == 0, up.stderr
    env_file = root / "kafka" / "secure.env"
    assert f"up at 127.0.0.1:{port}, SASL_SSL" in up.stdout
    assert str(env_file) in up.stdout

    # what was generated: the CA, the broker's certificate and key, the hub's identity
    tls = root / "kafka" / "tls"
    for name in ("ca.pem", "ca-key.pem", "broker.pem", "broker-key.pem"):
        assert (tls / name).is_file(), name
    for private in (tls / "ca-key.pem", tls / "broker-key.pem", env_file,
                    root / "kafka" / "server.properties"):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600, private
    values = read_env(env_file)
    assert values["HUB_KAFKA__BOOTSTRAP_SERVERS"] == f"127.0.0.1:{port}"
    assert values["HUB_KAFKA__SASL_USERNAME"] == "hub"
    assert len(values["HUB_KAFKA__SASL_PASSWORD"]) >= 24
    assert values["HUB_KAFKA_SECURITY__ENABLED"] == "true"
    assert values["HUB_KAFKA_SECURITY__SSL_CAFILE"] == str((tls / "ca.pem").resolve())
    assert values["HUB_KAFKA_SECURITY__ACTOR_SECRET"]
    assert values["HUB_KAFKA__SASL_PASSWORD"] not in up.stdout + up.stderr  # never printed

    # as the docs say: source the file, then the hub's clients speak SASL_SSL
    sourced = subprocess.run(
        ["bash", "-c", f'. "{env_file}" && exec "{sys.executable}" -c "$0"', _ROUND_TRIP],
        env=env, capture_output=True, text=True, timeout=120, cwd=REPO, check=False)
    assert "ROUND-TRIP secure-hello" in sourced.stdout, sourced.stderr[-2000:]
    # without the file's settings, a plain client of the hub gets nothing
    plain = subprocess.run([sys.executable, "-c", _ROUND_TRIP],
                           env={**env, "HUB_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{port}",
                                "HUB_KAFKA__REQUEST_TIMEOUT_MS": "5000"},
                           capture_output=True, text=True, timeout=120, cwd=REPO,
                           check=False)  # fmt: skip
    assert plain.returncode != 0 and "ROUND-TRIP" not in plain.stdout

    status = _hub(env, "stack", "status")
    assert status.returncode == 0
    assert "SASL_SSL + ACLs" in status.stdout and "data-secure" in status.stdout

    # the broker's data (topics written above) and logs are owner-only (issue 19 point 9)
    data = root / "kafka" / "data-secure"
    assert any(p.name.endswith(".log") and "hub.dlq-0" in str(p) for p in data.rglob("*"))
    assert stat.S_IMODE(root.stat().st_mode) == home_mode()  # 0700 (0711 as root)
    wide = {str(p): oct(stat.S_IMODE(p.stat().st_mode))
            for p in [data, *data.rglob("*"), *(root / "kafka" / "logs").rglob("*")]
            if stat.S_IMODE(p.stat().st_mode) not in (0o600, 0o700)}  # fmt: skip
    assert wide == {}

    again = _hub(env, "stack", "up", "--secure")  # idempotent: same broker, same identity
    assert again.returncode == 0, again.stderr
    assert read_env(env_file) == values
    plain_up = _hub(env, "stack", "up")  # the other mode is refused while this one runs
    assert plain_up.returncode == 1
    assert "secure broker of this home runs" in plain_up.stderr

    down = _hub(env, "stack", "down")
    assert down.returncode == 0 and "kafka: stopped" in down.stdout
    assert not port_answers(port)
    assert _hub(env, "stack", "status").returncode == 3
