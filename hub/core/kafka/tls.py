"""The TLS context of the hub's Kafka clients (``HUB_KAFKA_SECURITY__SSL_CAFILE``).

One place builds it for aiokafka (:func:`hub.core.kafka.client.client_options`) and faust
(:func:`dispatch.runtime.credentials.faust_credentials`), so every client of the hub verifies the
broker the same way: its certificate must chain to the configured CA **only** (the
system's CAs are not trusted for Kafka) and name the host it was reached at (127.0.0.1,
localhost). No client certificate: clients authenticate with SASL/SCRAM inside TLS.
"""

from __future__ import annotations

import ssl

from hub.core.errors import ConfigError
from hub.core.settings import HubSettings


def ssl_context(settings: HubSettings) -> ssl.SSLContext | None:
    """The verifying client context, or None when TLS is not configured.

    Raises :class:`ConfigError` (one line, naming the setting) when the CA file is missing
    or is not a PEM certificate: a misconfigured client must not start, let alone fall
    back to plain text.
    """
    cafile = settings.kafka_security.ssl_cafile
    if not cafile:
        return None
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"HUB_KAFKA_SECURITY__SSL_CAFILE={cafile}: cannot load a CA "
                          f"certificate ({type(exc).__name__})") from exc  # fmt: skip
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context  # check_hostname and CERT_REQUIRED: the defaults, kept


def security_protocol(settings: HubSettings) -> str:
    """Kafka's security.protocol for the hub's settings (SASL user and/or TLS).

    A SASL user without TLS (``SASL_PLAINTEXT``: SCRAM keeps the password off the wire,
    but every record, personal data, crosses it in clear, and nothing proves the broker is
    the broker) raises :class:`ConfigError` in one line, unless
    ``kafka_security.allow_sasl_plaintext`` says the network is trusted (independent audit
    K F11): every client of the hub gets its options here, so none starts so."""
    sec = settings.kafka_security
    tls = bool(sec.ssl_cafile)
    if settings.kafka.sasl_username:
        if not tls and not sec.allow_sasl_plaintext:
            raise ConfigError(PLAINTEXT_SASL)
        return "SASL_SSL" if tls else "SASL_PLAINTEXT"
    return "SSL" if tls else "PLAINTEXT"


#: the refusal of a SASL user without TLS
PLAINTEXT_SASL = (
    "HUB_KAFKA__SASL_USERNAME is set but HUB_KAFKA_SECURITY__SSL_CAFILE is empty: SASL "
    "without TLS (SASL_PLAINTEXT) would carry the records, personal data, in clear; set the "
    "broker's CA file (TLS), or HUB_KAFKA_SECURITY__ALLOW_SASL_PLAINTEXT=true on a network "
    "you trust"
)
