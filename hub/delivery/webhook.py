"""Webhook push: each actor's feed POSTed to its URL, HMAC-signed, retried with backoff.

Per round and per webhook actor, :meth:`WebhookDelivery.run_once` (1) copies new records
of ``hub.feed.<actor>`` into the outbox, (2) POSTs due records in feed order until one
fails. Body: the FeedRecord as JSON (already cut to the actor's profile). Headers:
``X-Passerelle-Signature: sha256=<hex HMAC-SHA256 of the body>``, ``X-Passerelle-Event-Id``
(dedup key), ``X-Passerelle-Offset``. The HMAC key of an actor is derived from the master
secret ``HUB_API__WEBHOOK_SECRET`` (``hub actors webhook-key ACTOR`` prints it): nothing
secret is stored. A 2xx answer is a delivery (audited, channel ``webhook``); anything else,
a timeout or a refused connection is retried after ``min(max, initial·2^attempts)`` seconds
scaled by a random jitter in [0.5, 1]: a receiver down for hours gets everything, in
order, once back. URLs must be HTTPS, except on the loopback (tests, local receivers).

Metrics: each POST is a connector call (``connector="webhook"``, operation ``post``;
outcome ``ok`` for 2xx, ``business_error`` for 4xx, ``transport_error`` for 5xx/other or a
refused connection, ``timeout``); each POST of a record already attempted counts one
retry of the actor; the actor's outbox depth (undelivered records) is set after every
:meth:`WebhookDelivery.send_due`, i.e. once per actor and delivery round.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx

from hub.actors import Actor
from hub.api.kafka import read_feed_page
from hub.audit.store import AuditStore
from hub.delivery.outbox import Outbox, Pending
from hub.errors import ConfigError, InputError, NotFoundError
from hub.settings import HubSettings
from monitoring import recorder

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def actor_key(master: str, actor_id: str) -> bytes:
    if not master:
        raise ConfigError("HUB_API__WEBHOOK_SECRET is empty: webhook delivery needs it")
    return hmac.new(master.encode(), f"webhook:{actor_id}".encode(), hashlib.sha256).digest()


def sign(key: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def backoff_s(attempts: int, initial: float, maximum: float) -> float:
    return float(min(maximum, initial * 2 ** min(attempts, 30)) * random.uniform(0.5, 1.0))


def webhook_url(actor: Actor) -> str:
    url = actor.delivery.options.get("url", "")
    parts = urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK):
        return url
    raise InputError(f"actor {actor.id}: webhook url must be https", code="bad_webhook_url")


class WebhookDelivery:
    def __init__(self, settings: HubSettings, outbox: Outbox, audit: AuditStore) -> None:
        self.settings = settings
        self.outbox = outbox
        self.audit = audit

    async def pump(self, actor: Actor) -> int:
        """Copy the actor's new feed records into the outbox; return how many."""
        copied = 0
        while True:
            start = self.outbox.next_offset(actor.id)
            try:
                records, _nxt, end = await read_feed_page(self.settings, actor.id, start, 500)
            except NotFoundError:
                return copied
            rows = [(r.pop("offset"), r["numUnique"],
                     json.dumps(r, ensure_ascii=False, sort_keys=True).encode())
                    for r in records]
            self.outbox.add(actor.id, rows)
            copied += len(rows)
            if not records or start + len(records) >= end:
                return copied

    async def send_due(self, actor: Actor, client: httpx.AsyncClient) -> int:
        """POST the actor's due records in order; stop at the first failure."""
        api = self.settings.api
        url = webhook_url(actor)
        key = actor_key(api.webhook_secret.get_secret_value(), actor.id)
        sent = 0
        while (head := self.outbox.head(actor.id)) is not None:
            if head.next_attempt_at > datetime.now(UTC):
                break
            if head.attempts:  # tried before (in this process or an earlier one)
                recorder.webhook_retry(actor.id)
            error = await self._post(client, url, key, head)
            if error is None:
                # audit first: if the database fails between the two writes the record
                # is POSTed again later (same event id) and audited again, never unaudited
                self.audit.record(actor.id, "webhook", [json.loads(head.body)])
                self.outbox.delivered(head.seq)
                sent += 1
                continue
            delay = backoff_s(head.attempts, api.webhook_backoff_initial_s,
                              api.webhook_backoff_max_s)
            self.outbox.failed(head.seq, datetime.now(UTC) + timedelta(seconds=delay), error)
            break
        recorder.outbox_depth(actor.id, self.outbox.undelivered(actor.id))
        return sent

    async def _post(self, client: httpx.AsyncClient, url: str, key: bytes,
                    p: Pending) -> str | None:
        event_id = json.loads(p.body).get("eventId", "")
        headers = {"content-type": "application/json",
                   "x-passerelle-signature": sign(key, p.body),
                   "x-passerelle-event-id": str(event_id),
                   "x-passerelle-offset": str(p.feed_offset)}
        with recorder.connector_call("webhook", "post") as call:
            try:
                r = await client.post(url, content=p.body, headers=headers,
                                      timeout=self.settings.api.webhook_timeout_s)
            except httpx.HTTPError as exc:  # refused, reset, timeout: transport, retried
                timeout = isinstance(exc, httpx.TimeoutException)
                call["outcome"] = "timeout" if timeout else "transport_error"
                return type(exc).__name__
            if not 200 <= r.status_code < 300:
                call["outcome"] = ("business_error" if 400 <= r.status_code < 500
                                   else "transport_error")
                return f"HTTP {r.status_code}"
        return None

    async def run_once(self, actors: list[Actor]) -> int:
        """One round over the webhook actors; return the records delivered."""
        sent = 0
        async with httpx.AsyncClient(follow_redirects=False) as client:
            for actor in actors:
                if actor.delivery.channel != "webhook":
                    continue
                await self.pump(actor)
                sent += await self.send_due(actor, client)
        return sent
