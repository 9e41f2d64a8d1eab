"""The secure mode of ``hub stack``: ``up --secure``, and how status/down see it.

``hub stack up --secure`` starts :class:`hub.dev.stack.tls.TlsKafkaStack` on the configured
ports (``HUB_STACK__KAFKA_PORT`` ...): SASL_SSL + deny-by-default ACLs, certificates
generated on the spot, the hub's identity written to ``<home>/kafka/secure.env``
(:mod:`hub.dev.stack.secure_env`). Plain and secure brokers share the home's pid file and
ports, so one runs at a time; starting one while the other runs is refused (one line).
"""

from __future__ import annotations

from hub.core.errors import ConfigError
from hub.core.settings import HubSettings
from hub.dev.stack.kafka import KafkaStack
from hub.dev.stack.secure_env import resolve_identity, write_env
from hub.dev.stack.tls import TlsKafkaStack, runs_secure


def tls_stack(settings: HubSettings, password: str = "-", admin: str = "hub") -> TlsKafkaStack:
    """The secure broker of the configured home and ports (``password`` only matters to
    ``up``: status, down and wipe never write the broker's configuration)."""
    conf = settings.stack
    return TlsKafkaStack(settings.home, version=conf.kafka_version, port=conf.kafka_port,
                         controller_port=conf.controller_port, heap=conf.kafka_heap,
                         admin=admin, password=password)  # fmt: skip


def running_mode(stack: KafkaStack) -> str | None:
    """ "secure", "plain", or None when no broker of this home runs."""
    if stack._read_pid() is None:
        return None
    return "secure" if runs_secure(stack.config_file) else "plain"


def refuse_other_mode(stack: KafkaStack, wanted: str) -> None:
    """Raise :class:`ConfigError` when this home's broker runs in the other mode."""
    mode = running_mode(stack)
    if mode is not None and mode != wanted:
        raise ConfigError(
            f"the {mode} broker of this home runs on port {stack.port}: `hub stack down` first"
        )


def secure_up(settings: HubSettings, timeout: float) -> list[str]:
    """Start (or find) the secure broker and write secure.env; the lines to print."""
    probe = tls_stack(settings)
    refuse_other_mode(probe, "secure")
    formatted = (probe.data_dir / "meta.properties").is_file()
    identity = resolve_identity(settings, probe.env_file, formatted)
    stack = tls_stack(settings, identity.password, identity.username)
    bootstrap = stack.up(timeout=timeout)
    write_env(stack.env_file, bootstrap, identity, stack.ca_file)
    return [f"kafka: up at {bootstrap}, SASL_SSL (SCRAM-SHA-512 over TLS) + ACLs, deny by "
            f"default (pid {stack.status().pid}, logs {stack.logs_dir})",
            f"kafka: CA {stack.ca_file} (clients trust it); broker certificate for "
            f"{', '.join(stack.hosts)}",
            f"kafka: the hub's credentials are in {stack.env_file}: run `. {stack.env_file}` "
            "before other hub commands"]  # fmt: skip
