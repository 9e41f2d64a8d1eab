"""Client of a Confluent-compatible schema registry, for the feeds' optional Confluent wire
format (``HUB_REGISTRY__*``, docs/consumers.md).

Any server speaking the Confluent Schema Registry REST API will do (the local stack runs
Apicurio Registry's, at ``<base>/apis/ccompat/v7``: ``hub stack up --with-registry``).
Two calls are used: ``POST /subjects/{subject}/versions`` (register, idempotent: the same
schema gets the same id back) and ``GET /schemas/ids/{id}`` (read a writer schema).

Subject: one for every feed, :data:`FEED_SUBJECT` = ``fr.passerelle.hub.FeedRecord``
(Confluent's ``RecordNameStrategy``): every actor's topic carries the same record type,
actors come and go while the worker runs, and the dispatch path makes no registry call.

Contracts:

* :meth:`RegistryClient.register` returns the id; a refusal (4xx: invalid or
  incompatible schema, unknown subject...) raises :class:`RegistryRefused` (not
  retriable), no answer, a timeout or a 5xx raises :class:`RegistryUnavailable`
  (retriable). Neither carries the schema text.
* :func:`register_feed_schema` registers the current FeedRecord (named types inlined, as
  :mod:`schemas.registry` expands it), retrying an unavailable registry with the house
  back-off (:mod:`hub.core.backoff`) until ``register_timeout_s``, then raises
  :class:`RegistryUnavailable` naming the URL and the last failure. Never falls back to
  single-object encoding. It teaches :data:`schemas.confluent.IDS` the id.
* :func:`install_resolver` lets the process's codec read Confluent-framed feed records
  whose id it does not know yet (older FeedRecord versions, another worker's
  registration): one ``GET`` per new id, blocking, bounded by ``request_timeout_s``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hub.core.backoff import Backoff
from hub.core.errors import ConfigError, TransientError
from hub.core.settings import HubSettings, get_settings
from schemas import get_codec
from schemas.confluent import IDS, schema_fingerprint
from schemas.registry import SchemaRegistry

if TYPE_CHECKING:  # imported where a client is made: every hub command installs the
    import httpx  # resolver (hub.cli.main), few ever call a registry

log = logging.getLogger(__name__)

FEED_SUBJECT = "fr.passerelle.hub.FeedRecord"
CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
#: first and largest wait between two registration tries
BACKOFF = Backoff(initial_s=0.5, max_s=5.0)


class RegistryUnavailable(TransientError):
    """The registry did not answer, or answered 5xx: try again later."""

    code = "registry_unavailable"


class RegistryRefused(ConfigError):
    """The registry refused the request (4xx): retrying the same request will not help."""

    code = "registry_refused"


class RegistryClient:
    """The two calls of the Confluent API the hub needs. ``url`` is the API's base."""

    def __init__(
        self, url: str, *, timeout_s: float = 5.0, transport: httpx.BaseTransport | None = None
    ) -> None:
        import httpx

        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url,
            timeout=timeout_s,
            transport=transport,
            headers={"Accept": CONTENT_TYPE},
        )

    def close(self) -> None:
        self._http.close()

    def register(self, subject: str, schema: dict[str, Any]) -> int:
        """The id of ``schema`` under ``subject`` (registered if new)."""
        body = {"schema": json.dumps(schema, separators=(",", ":"))}
        answer = self._call("POST", f"/subjects/{subject}/versions", body)
        return _schema_id(answer, self.url)

    def schema(self, schema_id: int) -> str | None:
        """The schema text registered under ``schema_id``, or None (404)."""
        answer = self._call("GET", f"/schemas/ids/{schema_id}", None, missing_ok=True)
        if answer is None:
            return None
        text = answer.get("schema") if isinstance(answer, dict) else None
        if not isinstance(text, str):
            raise RegistryRefused(f"schema registry {self.url}: id {schema_id} has no schema")
        return text

    def _call(self, method: str, path: str, body: Any, *, missing_ok: bool = False) -> Any | None:
        import httpx

        try:
            resp = self._http.request(
                method, path, json=body, headers={"Content-Type": CONTENT_TYPE}
            )
        except httpx.HTTPError as exc:  # refused, reset, timed out, bad URL...
            raise RegistryUnavailable(
                f"schema registry {self.url} unreachable: {type(exc).__name__}"
            ) from None
        if resp.status_code == 404 and missing_ok:
            return None
        if resp.status_code >= 500:
            raise RegistryUnavailable(f"schema registry {self.url}: HTTP {resp.status_code}")
        if resp.status_code >= 400:
            raise RegistryRefused(
                f"schema registry {self.url} refused {method} {path}: "
                f"HTTP {resp.status_code} {_reason(resp)}"
            )
        try:
            return resp.json()
        except ValueError:
            raise RegistryRefused(f"schema registry {self.url}: answer is not JSON") from None


def _reason(resp: httpx.Response) -> str:
    """The Confluent error body's code and message, cut short (never our schema)."""
    try:
        err = resp.json()
    except ValueError:
        return ""
    if not isinstance(err, dict):
        return ""
    return f"(error_code {err.get('error_code')}: {str(err.get('message', ''))[:200]})"


def _schema_id(answer: Any, url: str) -> int:
    sid = answer.get("id") if isinstance(answer, dict) else None
    if not isinstance(sid, int) or isinstance(sid, bool) or not 0 <= sid < 2**31:
        raise RegistryRefused(f"schema registry {url}: registration answered no valid id")
    return sid


def register_with_retries(
    client: RegistryClient,
    subject: str,
    schema: dict[str, Any],
    *,
    timeout_s: float,
    backoff: Backoff = BACKOFF,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """:meth:`RegistryClient.register`, retried while the registry is unavailable, for
    ``timeout_s`` at most (see the module's contract)."""
    deadline = clock() + timeout_s
    attempt = 0
    while True:
        try:
            return client.register(subject, schema)
        except RegistryUnavailable as exc:
            wait = backoff.delay(attempt)
            attempt += 1
            if clock() + wait > deadline:
                raise RegistryUnavailable(
                    f"{exc}; gave up registering {subject} after {attempt} tries in "
                    f"{timeout_s:g}s (HUB_REGISTRY__REGISTER_TIMEOUT_S)"
                ) from None
            log.warning("%s; retrying in %.1fs", exc, wait)
            sleep(wait)


def register_feed_schema(settings: HubSettings, registry: SchemaRegistry | None = None) -> int:
    """Register the current FeedRecord under :data:`FEED_SUBJECT` at ``HUB_REGISTRY__URL``,
    teach :data:`schemas.confluent.IDS` its id and install the resolver; the id."""
    conf = settings.registry
    if not conf.url.strip():
        raise ConfigError("HUB_REGISTRY__WIRE_FORMAT=confluent needs HUB_REGISTRY__URL")
    ws = (registry or get_codec().registry).current("FeedRecord")
    client = RegistryClient(conf.url, timeout_s=conf.request_timeout_s)
    try:
        schema_id = register_with_retries(
            client, FEED_SUBJECT, ws.schema, timeout_s=conf.register_timeout_s
        )
    finally:
        client.close()
    IDS.learn(schema_id, ws.fingerprint)
    install_resolver(settings, registry)
    log.info("FeedRecord %s registered as schema id %d at %s", ws.version, schema_id, conf.url)
    return schema_id


def resolver(client: RegistryClient, registry: SchemaRegistry) -> Callable[[int], bytes | None]:
    """id -> fingerprint of the hub's writer schema the registry holds under that id, or
    None (no such id, or a schema that is none of the hub's FeedRecord versions)."""

    def resolve(schema_id: int) -> bytes | None:
        text = client.schema(schema_id)
        if text is None:
            return None
        try:
            fp = schema_fingerprint(text)
        except Exception:  # not an Avro schema (JSON Schema, Protobuf...)
            return None
        return fp if registry.by_fingerprint(fp) is not None else None

    return resolve


def install_resolver(
    settings: HubSettings | None = None, registry: SchemaRegistry | None = None
) -> None:
    """Let :data:`schemas.confluent.IDS` ask ``HUB_REGISTRY__URL`` for ids it does not
    know. Without ``settings``, they are read when the first unknown id is met (so a
    command that never meets one never reads them)."""

    def lazy(schema_id: int) -> bytes | None:
        conf = (settings or get_settings()).registry
        if not conf.url.strip():
            return None
        client = RegistryClient(conf.url, timeout_s=conf.request_timeout_s)
        IDS.resolver = resolver(client, registry or get_codec().registry)
        return IDS.resolver(schema_id)

    IDS.resolver = lazy
