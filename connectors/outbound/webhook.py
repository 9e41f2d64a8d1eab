"""Webhook push: each actor's feed POSTed to its URL, HMAC-signed, retried with backoff.

The loop (outbox, batches, order, settling, concurrency) is :mod:`connectors.outbound.push`;
this module is the webhook's request. Body: the FeedRecord as JSON (already cut to the
actor's profile). Headers: ``X-Passerelle-Event-Id``, ``X-Passerelle-Offset``,
``X-Passerelle-Timestamp`` (the request's Unix time in seconds, decimal) and two
signatures, HMAC-SHA256 keyed by the actor's key, each ``sha256=<hex>``:

* ``X-Passerelle-Signature`` (:func:`sign`): of the body alone, as before the timestamp
  was added (receivers written for it keep working; it proves the body's origin, not its
  freshness nor its headers);
* ``X-Passerelle-Signature-V2`` (:func:`sign_v2`, independent audit K F8): of
  ``<timestamp> LF <event id> LF <offset> LF <body>``, the three header values exactly as
  sent (the event id empty for a batch, which has none), LF one line feed byte: no
  header value holds one (:func:`header_value`), so the split is unambiguous. A receiver
  refusing a timestamp outside its tolerance window (docs/api.md: 5 minutes) refuses a
  replay of a captured request, and the id and offset it dedups by are signed. Each
  attempt, retries included, is signed at its own time.

The HMAC key of an actor is derived from the master secret ``HUB_API__WEBHOOK_SECRET``
(``hub actors webhook-key ACTOR`` prints it): nothing secret is stored. A 2xx answer is
a delivery (audited, channel ``webhook``); anything else, a timeout or a refused
connection is retried after ``min(max, initial·2^attempts)`` seconds scaled by a random
jitter in [0.5, 1] (:class:`hub.core.backoff.Backoff`): a receiver down for hours gets
everything, in order, once back. URLs must be absolute HTTPS URLs with a host, plain
HTTP only on the loopback (tests, local receivers): :mod:`hub.core.urls`, checked at
registration and again here (an actor whose URL is unusable is logged in one line and
not served; the others go on).

**Batches** (option ``batch: true``): the receiver declares it takes a JSON array of
records per request. Each element is the FeedRecord with its feed ``offset`` added (the
shape of ``GET /feed``'s records), the array in feed order; at most
``api.webhook_batch_max_records`` records and ``api.webhook_batch_max_bytes`` bytes per
request (a single larger record goes alone). Both signatures are over the whole body
(V2: with an empty event id); ``X-Passerelle-Offset`` is the first record's offset and
``X-Passerelle-Count`` the number of records (not signed: the array holds them). A 2xx
delivers every record of the request, anything else none.

**Bounds** (:mod:`connectors.outbound.bounded_http`, independent audit F points 2 and 5):
each request has one deadline, ``api.webhook_timeout_s``, from connecting to the status of
the answer (past it: a ``timeout``, retried); the status is the whole answer, so its body
is read only to keep the connection for the next request, at most
``api.delivery_answer_max_bytes`` of it within the same deadline: a body larger, slower
or broken off is dropped with the connection, one warning line is logged, and the status
decides (a 2xx is a delivery). Each deadline missed is one warning line too (actor, feed
offset, what happened, "retried"). A refused connection, a reset or a non-2xx answer is
one line per actor and kind of failure, again at most every 5 min while it lasts
(:meth:`~connectors.outbound.push.PushChannel.receiver_failing`), not one per retry.

Metrics: each request is a connector call (``connector="webhook"``, operation ``post``;
outcome ``ok`` for 2xx, ``business_error`` for 4xx, ``transport_error`` for 5xx/other or a
refused connection, ``timeout`` for the deadline).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import quote

import httpx

from connectors.outbound import bounded_http
from connectors.outbound.guarded_net import AddressRefused
from connectors.outbound.push import SETTLE_EVERY_S, Answer, PushChannel
from hub.core.addresses import Network
from hub.core.errors import ConfigError, InputError
from hub.core.urls import LOOPBACK, push_url_problem
from hub.domain.actors import Actor
from hub.stores.delivery.outbox import Pending
from monitoring import recorder

__all__ = [
    "LOOPBACK",
    "WebhookDelivery",
    "actor_key",
    "batch_body",
    "header_value",
    "sign",
    "sign_v2",
    "webhook_url",
]

log = logging.getLogger(__name__)


def actor_key(master: str, actor_id: str) -> bytes:
    if not master:
        raise ConfigError("HUB_API__WEBHOOK_SECRET is empty: webhook delivery needs it")
    return hmac.new(master.encode(), f"webhook:{actor_id}".encode(), hashlib.sha256).digest()


def header_value(text: str) -> str:
    """``text`` as an HTTP header value: unchanged when printable ASCII without space
    (every event id the hub lets in since it checks them,
    :func:`hub.domain.carriable.check_event_id`, ``%`` included), else each character
    outside that range as the percent-encoding of its UTF-8 bytes (an id written to a feed
    before that check must not stall the actor: httpx refuses a non-ASCII header)."""
    return "".join(c if 0x21 <= ord(c) <= 0x7E else quote(c, safe="") for c in text)


def sign(key: bytes, body: bytes) -> str:
    """``X-Passerelle-Signature``: ``sha256=`` and the hex HMAC-SHA256 of ``body``."""
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def sign_v2(key: bytes, timestamp: str, event_id: str, offset: str, body: bytes) -> str:
    """``X-Passerelle-Signature-V2``: ``sha256=`` and the hex HMAC-SHA256 of
    ``timestamp LF event_id LF offset LF body``, the first three being the values of the
    headers ``X-Passerelle-Timestamp``, ``X-Passerelle-Event-Id`` (empty when not sent)
    and ``X-Passerelle-Offset`` as sent (ASCII, no LF: :func:`header_value`)."""
    signed = f"{timestamp}\n{event_id}\n{offset}\n".encode("ascii") + body
    return "sha256=" + hmac.new(key, signed, hashlib.sha256).hexdigest()


def webhook_url(actor: Actor, deny: Iterable[Network] = ()) -> str:
    """The actor's push URL (webhook and SOAP), or :class:`InputError` (never retriable:
    ``hub deliver`` logs "actor X not served: ..." and goes on) when it is unusable
    (``deny``: ``api.push_deny_networks``, :func:`hub.core.urls.push_url_problem`)."""
    url = actor.delivery.options.get("url", "")
    problem = push_url_problem(url, deny)
    if problem is not None:
        raise InputError(f"delivery.options.url {problem}", code="bad_webhook_url")
    return url


def batch_body(records: Sequence[Pending]) -> bytes:
    """The JSON array of ``records`` (each body with its ``offset`` added), in order."""
    parts = []
    for p in records:
        body = p.body.strip()
        if not body.startswith(b"{") or not body.endswith(b"}"):
            raise InputError("outbox body is not a JSON object", code="bad_outbox_body")
        inner = body[1:-1].strip()
        parts.append(b'{"offset":%d%s%s}' % (p.feed_offset, b"," if inner else b"", inner))
    return b"[" + b",".join(parts) + b"]"


@dataclass(frozen=True, slots=True)
class _Target:
    actor_id: str
    url: str
    key: bytes
    batch: bool


class WebhookDelivery(PushChannel):
    """The webhook channel (actors whose ``delivery.channel`` is ``webhook``)."""

    channel = "webhook"

    def prepare(self, actor: Actor) -> _Target:
        master = self.settings.api.webhook_secret.get_secret_value()
        url = webhook_url(actor, self.settings.api.push_deny_networks)
        return _Target(actor.id, url, actor_key(master, actor.id), actor.delivery.flag("batch"))

    async def post(
        self, client: httpx.AsyncClient, actor: Actor, prepared: _Target, batch: Sequence[Pending]
    ) -> Answer:
        if prepared.batch:
            return await self._post_batches(client, prepared, batch)
        answered: list[str | None] = []
        start = time.monotonic()
        for p in batch:
            if answered and time.monotonic() - start > SETTLE_EVERY_S:
                break  # settle these first; the rest goes in the next batch
            event_id = json.loads(p.body).get("eventId", "")
            error = await self._post(
                client,
                prepared,
                p.body,
                {
                    "x-passerelle-event-id": header_value(str(event_id)),
                    "x-passerelle-offset": str(p.feed_offset),
                },
            )
            if error is not None:
                return Answer(answered, error)
            answered.append(None)
        return Answer(answered)

    async def _post_batches(
        self, client: httpx.AsyncClient, target: _Target, batch: Sequence[Pending]
    ) -> Answer:
        api = self.settings.api
        answered: list[str | None] = []
        i = 0
        while i < len(batch):
            j, size = i, 2
            while (
                j < len(batch)
                and j - i < api.webhook_batch_max_records
                and (j == i or size + len(batch[j].body) + 20 <= api.webhook_batch_max_bytes)
            ):
                size += len(batch[j].body) + 20
                j += 1
            chunk = batch[i:j]
            error = await self._post(
                client,
                target,
                batch_body(chunk),
                {
                    "x-passerelle-offset": str(chunk[0].feed_offset),
                    "x-passerelle-count": str(len(chunk)),
                },
            )
            if error is not None:
                return Answer(answered, error)
            answered += [None] * len(chunk)
            i = j
        return Answer(answered)

    async def _post(
        self, client: httpx.AsyncClient, target: _Target, body: bytes, extra: dict[str, str]
    ) -> str | None:
        offset = extra["x-passerelle-offset"]  # the first record's, for a batch
        timestamp = str(int(time.time()))  # this attempt's: a retry is signed anew
        event_id = extra.get("x-passerelle-event-id", "")
        headers = {
            "content-type": "application/json",
            "x-passerelle-signature": sign(target.key, body),
            "x-passerelle-timestamp": timestamp,
            "x-passerelle-signature-v2": sign_v2(target.key, timestamp, event_id, offset, body),
            **extra,
        }
        api = self.settings.api
        where = f"hub deliver: actor {target.actor_id}: webhook, feed offset {offset}"
        with recorder.connector_call("webhook", "post") as call:
            try:
                r = await bounded_http.post(
                    client,
                    target.url,
                    body,
                    headers,
                    deadline_s=api.webhook_timeout_s,
                    max_bytes=api.delivery_answer_max_bytes,
                    need_body=False,  # the status is the answer
                    gate=self.slots,  # waiting for a slot is not part of the deadline
                )
            except bounded_http.DeadlineExceeded as exc:  # before the status: retried
                call["outcome"] = "timeout"
                log.warning("%s: %s; retried after the back-off", where, exc)
                return str(exc)
            except AddressRefused as exc:  # a denied address: nothing sent, retried
                call["outcome"] = "transport_error"
                log.warning("%s: %s; retried after the back-off", where, exc)
                return str(exc)
            except httpx.HTTPError as exc:  # refused, reset: transport, retried
                timeout = isinstance(exc, httpx.TimeoutException)
                call["outcome"] = "timeout" if timeout else "transport_error"
                self.receiver_failing(target.actor_id, where, type(exc).__name__)
                return type(exc).__name__
            if r.cut is not None:
                log.warning(
                    "%s: HTTP %d answered, its body %s: connection closed, the status decides",
                    where,
                    r.status_code,
                    r.cut,
                )
            if not 200 <= r.status_code < 300:
                call["outcome"] = (
                    "business_error" if 400 <= r.status_code < 500 else "transport_error"
                )
                if r.cut is None:  # else said above, for this attempt
                    self.receiver_failing(target.actor_id, where, f"HTTP {r.status_code}")
                return f"HTTP {r.status_code}"
        return None
