"""Audit K F11: a client whose SASL or TLS the broker refuses was told "Kafka not
reachable ... start it with 'hub stack up'". Against the test stack's plaintext
listener: SASL (allowed without TLS) is refused as an authentication, one line naming the
user and the settings to check, never the password (``hub feed``, which starts its client
through start_client, and ``hub audit record``, which starts its own); TLS is refused as
a handshake; a port where nothing listens is still "not reachable", with SASL or TLS set.
(The secure stack's wrong password and untrusted CA: tests/faults/test_kafka_tls.py.)"""

from __future__ import annotations

import asyncio
import socket
import subprocess
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from pydantic import SecretStr

from hub.core.errors import KafkaUnavailableError
from hub.core.kafka.client import client_options, start_client
from hub.core.kafka.handshake import KafkaHandshakeError
from hub.core.settings import HubSettings, KafkaSecuritySettings, KafkaSettings
from hub.dev.stack import certs
from tests.unit.test_publish_cli import _hub

pytestmark = pytest.mark.kafka
PASSWORD = "Secret-" + "9" * 16


def _closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def _settings(bootstrap: str, *, user: str = "hubuser", cafile: str = "") -> HubSettings:
    return HubSettings(kafka=KafkaSettings(bootstrap_servers=bootstrap, sasl_username=user,
                                           sasl_password=SecretStr(PASSWORD)),
                       kafka_security=KafkaSecuritySettings(ssl_cafile=cafile,
                                                            allow_sasl_plaintext=True))  # fmt: skip


async def _start(settings: HubSettings) -> None:
    consumer = AIOKafkaConsumer(**client_options(settings), request_timeout_ms=5000)
    await start_client(consumer, settings, timeout_s=20)
    await consumer.stop()


def test_sasl_and_tls_refused_by_a_plaintext_listener_say_so(
    kafka_bootstrap: str, hub_env: dict[str, str], tmp_path: Path
) -> None:
    ca = str(certs.ensure_certificates(tmp_path / "tls").ca_file)
    with pytest.raises(KafkaHandshakeError) as caught:
        asyncio.run(_start(_settings(kafka_bootstrap)))
    assert caught.value.message == (
        f"Kafka at {kafka_bootstrap} refused the hub's SASL authentication as 'hubuser' "
        "(SCRAM-SHA-512: this listener does not take SASL: a plaintext listener?): check "
        "HUB_KAFKA__SASL_USERNAME and HUB_KAFKA__SASL_PASSWORD")
    for user in ("hubuser", ""):  # SASL_SSL, SSL
        with pytest.raises(KafkaHandshakeError, match=r"TLS handshake: does this listener "
                                                      r"speak TLS\?"):  # fmt: skip
            asyncio.run(_start(_settings(kafka_bootstrap, user=user, cafile=ca)))
    # nothing listening: unreachable, as before, whatever the security settings
    for cafile in ("", ca):
        with pytest.raises(KafkaUnavailableError):
            asyncio.run(_start(_settings(_closed_port(), cafile=cafile)))

    # the command line: one line, the right one, no password
    env = {**hub_env, "HUB_KAFKA__SASL_USERNAME": "hubuser",
           "HUB_KAFKA__SASL_PASSWORD": PASSWORD,
           "HUB_KAFKA_SECURITY__ALLOW_SASL_PLAINTEXT": "true"}  # fmt: skip
    res = subprocess.run([*_hub(), "feed", "rouen-habitat", "-e"], env=env,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert res.returncode == 1, res.stderr
    assert res.stderr.splitlines() == [f"Error: {caught.value.message}"]
    assert PASSWORD not in res.stdout + res.stderr and "not reachable" not in res.stderr
    res = subprocess.run([*_hub(), "-v", "feed", "rouen-habitat", "-e"], env=env,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert PASSWORD not in res.stdout + res.stderr
    # a service starting its clients by itself (aiokafka's own error reaches the CLI)
    res = subprocess.run([*_hub(), "audit", "record"], env=env, capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert res.returncode == 1, res.stderr
    assert res.stderr.splitlines()[-1:] == [f"Error: {caught.value.message}"], res.stderr
    assert PASSWORD not in res.stdout + res.stderr
