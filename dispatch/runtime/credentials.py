"""The worker's broker credentials in faust's terms (``broker_credentials``)."""

from __future__ import annotations

import faust

from hub.core.kafka.tls import security_protocol, ssl_context
from hub.core.settings import HubSettings


def faust_credentials(settings: HubSettings) -> faust.SASLCredentials | faust.SSLCredentials | None:
    """faust's ``broker_credentials`` for the hub's own SASL/SCRAM user (None: PLAINTEXT),
    the same identity :func:`hub.core.kafka.client.client_options` gives the other clients,
    over TLS verifying ``kafka_security.ssl_cafile`` when set (``SASL_SSL``, or ``SSL``
    without a user); a user without TLS is refused as for the other clients
    (:func:`hub.core.kafka.tls.security_protocol`)."""
    k = settings.kafka
    security_protocol(settings)  # refuses SASL without TLS unless allowed (one line)
    context = ssl_context(settings)
    if not k.sasl_username:
        return None if context is None else faust.SSLCredentials(context)
    return faust.SASLCredentials(username=k.sasl_username,
                                 password=k.sasl_password.get_secret_value(),
                                 mechanism="SCRAM-SHA-512", ssl_context=context)  # fmt: skip
