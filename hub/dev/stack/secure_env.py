"""``<home>/kafka/secure.env``: the hub's identity on the secure local broker.

``hub stack up --secure`` writes it (owner-only, 0600) for a person to ``source`` before
running any other ``hub`` command, so every client of the hub connects as the hub's super
user over TLS and registering an actor provisions its credentials and ACLs::

    export HUB_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:29092
    export HUB_KAFKA__SASL_USERNAME=hub
    export HUB_KAFKA__SASL_PASSWORD=...          # generated at the first secure start
    export HUB_KAFKA_SECURITY__ENABLED=true
    export HUB_KAFKA_SECURITY__ACTOR_SECRET=...  # generated: actors' passwords derive from it
    export HUB_KAFKA_SECURITY__SSL_CAFILE=<home>/kafka/tls/ca.pem

The admin password is written into the broker's storage when it is formatted, so the file
is the reference afterwards: it survives ``hub stack down --wipe`` (the next start formats
again with the same password) and a different ``HUB_KAFKA__SASL_PASSWORD`` is refused.
"""

from __future__ import annotations

import os
import secrets
import shlex
from dataclasses import dataclass
from pathlib import Path

from hub.core.errors import ConfigError
from hub.core.settings import HubSettings

_HEADER = ("# Written by `hub stack up --secure`: the hub's identity on the secure broker.\n"
           "# Use it with:  . {path}\n")  # fmt: skip


@dataclass(frozen=True)
class SecureIdentity:
    """What the hub needs to talk to, and administer, the secure broker."""

    username: str
    password: str
    actor_secret: str


def read_env(path: Path) -> dict[str, str]:
    """The ``export NAME=value`` lines of ``path`` (empty when the file does not exist)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    values: dict[str, str] = {}
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            name, _, value = words[1].partition("=")
            values[name] = value
    return values


def write_env(path: Path, bootstrap: str, identity: SecureIdentity, ca_file: Path) -> None:
    """Write the file owner-only (created 0600, replaced atomically)."""
    values = {
        "HUB_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "HUB_KAFKA__SASL_USERNAME": identity.username,
        "HUB_KAFKA__SASL_PASSWORD": identity.password,
        "HUB_KAFKA_SECURITY__ENABLED": "true",
        "HUB_KAFKA_SECURITY__ACTOR_SECRET": identity.actor_secret,
        "HUB_KAFKA_SECURITY__SSL_CAFILE": str(ca_file.resolve()),
    }
    body = _HEADER.format(path=shlex.quote(str(path))) + "".join(
        f"export {name}={shlex.quote(value)}\n" for name, value in values.items()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".env.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(body)
    tmp.replace(path)


def resolve_identity(settings: HubSettings, env_file: Path, formatted: bool) -> SecureIdentity:
    """The hub's identity: the env file's if any, else the settings', else generated.

    ``formatted``: the secure storage already holds an admin password. Raises
    :class:`ConfigError` when it cannot be known (storage formatted, file gone) or when the
    settings name another password than the one the storage was formatted with.
    """
    saved = read_env(env_file)
    k, sec = settings.kafka, settings.kafka_security
    asked = k.sasl_password.get_secret_value()
    password = saved.get("HUB_KAFKA__SASL_PASSWORD", "")
    if password and asked and asked != password:
        raise ConfigError(
            f"HUB_KAFKA__SASL_PASSWORD differs from the secure broker's admin "
            f"password in {env_file}: source that file or unset the variable"
        )
    if not password:
        if formatted and not asked:
            raise ConfigError(
                f"the secure broker's storage exists but {env_file} is gone: "
                "set HUB_KAFKA__SASL_PASSWORD or run `hub stack down --wipe`"
            )
        password = asked or secrets.token_urlsafe(24)
    username = saved.get("HUB_KAFKA__SASL_USERNAME") or k.sasl_username or "hub"
    actor_secret = (
        saved.get("HUB_KAFKA_SECURITY__ACTOR_SECRET")
        or sec.actor_secret.get_secret_value()
        or secrets.token_urlsafe(32)
    )
    return SecureIdentity(username, password, actor_secret)
