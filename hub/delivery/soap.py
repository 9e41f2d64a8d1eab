"""SOAP push: each SOAP actor's feed POSTed to its ERP endpoint as SOAP 1.2 messages.

The same outbox machinery as the webhook (:mod:`hub.delivery.outbox`, the ``pump`` of
:class:`~hub.delivery.webhook.WebhookDelivery`): feed records are copied into the
database outbox, then sent strictly in feed order per actor; nothing is lost across
restarts. Actor options (``delivery.options``): ``url`` (HTTPS, or HTTP on the loopback),
``soap_action`` (sent as the ``action`` parameter of the ``application/soap+xml`` content
type; optional), ``mapping`` (default ``interfacenuu-dis``, see
:mod:`hub.delivery.soap_envelope`).

Outcomes of one POST:

* 2xx without a Fault: delivered (audited, channel ``soap``);
* a SOAP Fault (whatever the HTTP status, SOAP 1.2 uses 4xx/5xx): the ERP's business
  answer. It is recorded on the outbox row (``last_error`` = ``SOAP Fault <code>:
  <reason>``), the row is closed and the next record goes: never retried. The record did
  reach the ERP, so it is audited too;
* anything else (refused connection, timeout, a 5xx or other status without a Fault):
  a transport error, retried after the webhook's backoff (exponential, jitter, capped;
  ``api.webhook_backoff_*``), always with the ``api.webhook_timeout_s`` timeout.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import update

from hub.actors import Actor
from hub.db import write_transaction
from hub.delivery.soap_envelope import DEFAULT_MAPPING, Fault, check_mapping, envelope, read_answer
from hub.delivery.tables import webhook_outbox
from hub.delivery.webhook import WebhookDelivery, backoff_s, webhook_url
from monitoring import recorder

CHANNEL = "soap"


class SoapDelivery(WebhookDelivery):
    """Rounds of SOAP pushes over the actors whose channel is ``soap``."""

    def _answered_with_fault(self, seq: int, fault: Fault) -> None:
        with write_transaction(self.outbox.engine) as conn:
            conn.execute(update(webhook_outbox).where(webhook_outbox.c.seq == seq).values(
                delivered_at=datetime.now(UTC), attempts=webhook_outbox.c.attempts + 1,
                last_error=str(fault)[:500]))

    async def send_due(self, actor: Actor, client: httpx.AsyncClient) -> int:
        """POST the actor's due records in order; stop at the first transport error.
        Returns the records the ERP received (accepted or answered with a Fault)."""
        api = self.settings.api
        url = webhook_url(actor)
        mapping = check_mapping(actor.delivery.options.get("mapping", DEFAULT_MAPPING))
        action = actor.delivery.options.get("soap_action", "")
        sent = 0
        while (head := self.outbox.head(actor.id)) is not None:
            if head.next_attempt_at > datetime.now(UTC):
                break
            if head.attempts:
                recorder.webhook_retry(actor.id)
            message = envelope(head.body, head.feed_offset, mapping)
            outcome = await self._post_soap(client, url, action, message)
            if isinstance(outcome, str):  # transport error: retried later, order kept
                delay = backoff_s(head.attempts, api.webhook_backoff_initial_s,
                                  api.webhook_backoff_max_s)
                self.outbox.failed(head.seq, datetime.now(UTC) + timedelta(seconds=delay),
                                   outcome)
                break
            # audit first (as webhook.py): a database outage between the two writes sends
            # the record again later (same event id), never leaves a delivery unaudited
            self.audit.record(actor.id, CHANNEL, [json.loads(head.body)])
            if outcome is None:
                self.outbox.delivered(head.seq)
            else:
                self._answered_with_fault(head.seq, outcome)
            sent += 1
        recorder.outbox_depth(actor.id, self.outbox.undelivered(actor.id))
        return sent

    async def _post_soap(self, client: httpx.AsyncClient, url: str, action: str,
                         message: bytes) -> Fault | str | None:
        """None: accepted; a Fault: business answer; a string: the transport error."""
        ctype = "application/soap+xml; charset=utf-8"
        if action:
            ctype += f'; action="{action}"'
        with recorder.connector_call("soap_push", "post") as call:
            try:
                r = await client.post(url, content=message, headers={"content-type": ctype},
                                      timeout=self.settings.api.webhook_timeout_s)
            except httpx.HTTPError as exc:
                timeout = isinstance(exc, httpx.TimeoutException)
                call["outcome"] = "timeout" if timeout else "transport_error"
                return type(exc).__name__
            fault = read_answer(r.content)
            if fault is not None:
                call["outcome"] = "business_error"
                return fault
            if not 200 <= r.status_code < 300:
                call["outcome"] = "transport_error"
                return f"HTTP {r.status_code}"
        return None

    async def run_once(self, actors: list[Actor]) -> int:
        """One round over the SOAP actors; return the records the ERPs received."""
        sent = 0
        async with httpx.AsyncClient(follow_redirects=False) as client:
            for actor in actors:
                if actor.delivery.channel != CHANNEL:
                    continue
                await self.pump(actor)
                sent += await self.send_due(actor, client)
        return sent
