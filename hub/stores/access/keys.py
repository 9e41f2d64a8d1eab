"""API keys: created once, shown once, stored as scrypt hashes with a per-key salt.

A key reads ``hk_<key id>.<secret>``. The key id finds the row; the secret is checked
against ``scrypt(secret, salt)`` in constant time. Verified keys are cached in memory
(by a SHA-256 of the whole key) for :data:`CACHE_S` seconds, so scrypt's deliberate cost
is paid once a minute per client, not per request; a revocation takes effect within
that time. Every request names its actor through its key; an actor removed from the
registry can no longer authenticate, and its removal revokes its keys
(:meth:`hub.stores.registry.store.ActorStore.remove`): registering the id again does not
bring them back.

Timing: an unknown or revoked key id costs the same scrypt as a known one (a dummy salt
and hash), so the time of a refusal does not tell whether a key id exists.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, insert, select, update

from hub.core.db import write_transaction
from hub.core.errors import AuthenticationError, NotFoundError
from hub.domain.actors import Actor
from hub.stores.access.tables import api_keys
from hub.stores.registry.store import ActorStore

CACHE_S = 60.0
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


def _hash(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, **_SCRYPT)


#: what an unknown key id is verified against: no secret hashes to it (random per process)
_DUMMY_SALT = secrets.token_bytes(16)
_DUMMY_HASH = secrets.token_bytes(32)


@dataclass(frozen=True, slots=True)
class NewKey:
    key_id: str
    key: str  # shown once, never stored


class KeyStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.actors = ActorStore(engine)
        self._cache: dict[bytes, tuple[str, float]] = {}

    def create(self, actor_id: str) -> NewKey:
        """A new key for a registered actor (NotFoundError otherwise)."""
        self.actors.get(actor_id)
        key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        salt = secrets.token_bytes(16)
        with write_transaction(self.engine) as conn:
            conn.execute(
                insert(api_keys).values(
                    key_id=key_id,
                    actor_id=actor_id,
                    salt=salt,
                    hash=_hash(secret, salt),
                    created_at=datetime.now(UTC),
                )
            )
        return NewKey(key_id, f"hk_{key_id}.{secret}")

    def revoke(self, key_id: str) -> None:
        with write_transaction(self.engine) as conn:
            done = conn.execute(
                update(api_keys)
                .where(api_keys.c.key_id == key_id)
                .values(revoked_at=datetime.now(UTC))
            )
            if done.rowcount == 0:
                raise NotFoundError(f"no API key {key_id[:16]!r}")
        self._cache.clear()

    def authenticate(self, key: str) -> Actor:
        """The actor of ``key``; :class:`AuthenticationError` if it is not a valid key."""
        digest = hashlib.sha256(key.encode("utf-8", "replace")).digest()
        cached = self._cache.get(digest)
        now = time.monotonic()
        if cached is not None and cached[1] > now:
            actor_id = cached[0]
        else:
            actor_id = self._verify(key)
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (actor_id, now + CACHE_S)
        try:
            return self.actors.get(actor_id)
        except NotFoundError:
            # forgotten: if the id is registered again, the key is verified afresh (its
            # removal revoked it) instead of served from the cache
            self._cache.pop(digest, None)
            raise AuthenticationError("the actor of this API key is not registered") from None

    def _verify(self, key: str) -> str:
        bad = AuthenticationError("invalid API key")
        if not key.startswith("hk_") or "." not in key or len(key) > 200:
            raise bad
        key_id, _, secret = key[3:].partition(".")
        with self.engine.connect() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.key_id == key_id)).first()
        if row is None or row.revoked_at is not None:
            # the same scrypt as for a live key, so the refusal takes as long (module doc)
            hmac.compare_digest(_hash(secret, _DUMMY_SALT), _DUMMY_HASH)
            raise bad
        if not hmac.compare_digest(_hash(secret, row.salt), row.hash):
            raise bad
        return str(row.actor_id)
