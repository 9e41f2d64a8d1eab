"""A broker that answers but refuses the hub's handshake, told apart from no broker at all
(independent audit K F11).

aiokafka reports every failed bootstrap as ``KafkaConnectionError("Unable to bootstrap
...")``, its cause only in a log line: a refused SASL authentication (a wrong password, a
mechanism the listener does not enable, SASL against a plaintext listener) or a failed TLS
handshake (a CA that does not sign the broker's certificate, TLS against a plaintext
listener) read "Kafka not reachable ... start it with 'hub stack up'", sending the
operator the wrong way. When the hub's settings use SASL or TLS and a client could not
bootstrap, :func:`diagnose` opens one connection to the first bootstrap address with the
same options and, when the broker answered but refused the handshake, returns a
:class:`KafkaHandshakeError`: one line saying so, naming the settings to check, never the
password (nor the broker's own message, which may quote what it was sent).
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from aiokafka.conn import create_conn
from aiokafka.errors import (
    AuthenticationFailedError,
    AuthenticationMethodNotSupported,
    IllegalSaslStateError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)

from hub.core.errors import ConfigError
from hub.core.settings import HubSettings

#: the SASL outcomes that are a refusal, and what each means for the operator
_SASL_REFUSALS: dict[type[BaseException], str] = {
    IllegalSaslStateError: "this listener does not take SASL: a plaintext listener?",
    UnsupportedSaslMechanismError: "this listener does not enable SCRAM-SHA-512",
    AuthenticationMethodNotSupported: "this listener does not enable SCRAM-SHA-512",
    SaslAuthenticationFailed: "wrong user or password",
    AuthenticationFailedError: "wrong user or password",
}
_CREDENTIALS = "check HUB_KAFKA__SASL_USERNAME and HUB_KAFKA__SASL_PASSWORD"
_CAFILE = "HUB_KAFKA_SECURITY__SSL_CAFILE"


class KafkaHandshakeError(ConfigError):
    """The broker answered and refused the hub's SASL authentication or TLS handshake:
    settings to fix, not an outage (not retriable)."""

    code = "kafka_handshake"


async def diagnose(
    settings: HubSettings, options: dict[str, Any], timeout_s: float = 10.0
) -> KafkaHandshakeError | None:
    """Why a client with ``options`` (:func:`hub.core.kafka.client.client_options`) could
    not bootstrap, when its broker answered and refused the handshake; None when the
    settings use neither SASL nor TLS, or when the broker did not answer (or accepted)."""
    protocol = options.get("security_protocol", "PLAINTEXT")
    if protocol == "PLAINTEXT":
        return None
    servers = settings.kafka.bootstrap_servers
    host, _, port = servers.split(",")[0].strip().rpartition(":")
    if not port.isdigit():
        return None
    try:
        async with asyncio.timeout(timeout_s):
            conn = await create_conn(
                host.strip("[]"),
                int(port),
                security_protocol=protocol,
                ssl_context=options.get("ssl_context"),
                sasl_mechanism=options.get("sasl_mechanism") or "PLAIN",
                sasl_plain_username=options.get("sasl_plain_username"),
                sasl_plain_password=options.get("sasl_plain_password"),
                request_timeout_ms=int(timeout_s * 1000),
            )
    except tuple(_SASL_REFUSALS) as exc:
        why = _SASL_REFUSALS[next(t for t in _SASL_REFUSALS if isinstance(exc, t))]
        user = settings.kafka.sasl_username
        over = " over TLS" if protocol == "SASL_SSL" else ""
        return KafkaHandshakeError(
            f"Kafka at {servers} refused the hub's SASL authentication as {user!r} "
            f"(SCRAM-SHA-512{over}: {why}): {_CREDENTIALS}"
        )
    except ssl.SSLCertVerificationError as exc:
        return KafkaHandshakeError(
            f"Kafka at {servers}: the broker's TLS certificate is not trusted "
            f"({exc.verify_message}): check {_CAFILE} (the CA that signed it) and the "
            "host name in HUB_KAFKA__BOOTSTRAP_SERVERS"
        )
    except ssl.SSLError as exc:
        return KafkaHandshakeError(
            f"Kafka at {servers}: the TLS handshake failed ({exc.reason or type(exc).__name__}): "
            f"does this listener speak TLS? ({_CAFILE} is set: the hub uses TLS)"
        )
    except ConnectionResetError:  # connected, then cut at the first bytes
        if protocol not in ("SSL", "SASL_SSL"):
            return None
        return KafkaHandshakeError(
            f"Kafka at {servers} closed the connection at the TLS handshake: does this "
            f"listener speak TLS? ({_CAFILE} is set: the hub uses TLS)"
        )
    except Exception:  # no answer, or something else: the broker is said unreachable
        return None
    conn.close()
    return None
