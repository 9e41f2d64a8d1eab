"""SOAP push: each SOAP actor's feed POSTed to its ERP endpoint as SOAP 1.2 messages.

The same loop as the webhook (:mod:`connectors.outbound.push`: outbox, batches of records per
database transaction, actors served concurrently, one task each under ``hub deliver``):
feed records are copied into the database outbox, then sent strictly in feed order per
actor, one envelope per request; nothing is lost across restarts.
Actor options (``delivery.options``): ``url`` (HTTPS, or HTTP on the loopback),
``soap_action`` (sent as the ``action`` parameter of the ``application/soap+xml`` content
type; optional), ``mapping`` (default ``interfacenuu-dis``, see
:mod:`connectors.outbound.soap_envelope`).

Outcomes of one POST:

* 2xx without a Fault: delivered (audited, channel ``soap``);
* a SOAP Fault, SOAP 1.1 or 1.2, whatever the HTTP status
  (:mod:`connectors.outbound.soap_fault` reads it and decides):

  - one that refuses *this record* (``Sender``/``Client``, an application's own code,
    ``Receiver``/``Server`` with any status but 503): the ERP's business answer. The row
    is closed with ``last_error`` = ``SOAP Fault <code>: <reason>``, never retried, and
    the next record goes at once: one refused record never stalls the actor. The record
    did reach the ERP, so it has an audit row, outcome ``refused``, reason
    ``soap_fault``; it counts one ``passerelle_records_closed_undelivered_total``
    (reason ``soap_fault``) and one error line is logged;
  - one that says "try again later" (``Receiver``/``Server`` with HTTP 503, the domain's
    ``sne_unavailable``) or is about the message rather than the record
    (``VersionMismatch``, ``MustUnderstand``, ``DataEncodingUnknown``): a transport error
    (below), ``last_error`` = ``SOAP Fault <code>: <reason> (HTTP <status>, retried)``;
* no POST at all for a record XML cannot hold (a character XML 1.0 cannot carry, e.g.
  U+FFFE or U+0001 in a text, in a record written to the feed before the hub refused
  them at the door: :func:`connectors.files.disfile.check_renderable`): the row is
  closed with ``last_error`` = ``not sent: <field path>: character U+FFFE ...``, one
  error line is logged, and the next record goes. Nothing reached the ERP: its audit
  row says outcome ``unsent``, reason ``unrenderable`` (and it counts one
  ``passerelle_records_closed_undelivered_total``). Replacing the character instead
  would change an applicant's data in the one channel where it travels as a legal
  document (the webhook and the Kafka feed carry it intact), so the record is closed
  with its reason, never silently;
* anything else (refused connection, timeout, a 5xx or other status without a Fault, a
  body that is no SOAP envelope, e.g. a proxy's HTML page or a truncated answer): a
  transport error, retried after the webhook's backoff (exponential, jitter, capped;
  ``api.webhook_backoff_*``), always with the ``api.webhook_timeout_s`` timeout; the
  records after it wait (feed order).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import httpx

from connectors.outbound.push import (
    NOT_RENDERABLE,
    SETTLE_EVERY_S,
    SOAP_FAULT,
    Answer,
    Closed,
    PushChannel,
)
from connectors.outbound.soap_envelope import DEFAULT_MAPPING, check_mapping, envelope
from connectors.outbound.soap_fault import Fault, read_fault
from connectors.outbound.webhook import webhook_url
from hub.core.errors import UnrenderableError
from hub.domain.actors import Actor
from hub.stores.delivery.outbox import Pending
from monitoring import recorder

CHANNEL = "soap"


class SoapDelivery(PushChannel):
    """The SOAP push channel (actors whose ``delivery.channel`` is ``soap``)."""

    channel = CHANNEL

    def prepare(self, actor: Actor) -> tuple[str, str, str]:
        """(url, mapping, SOAP action) of the actor."""
        mapping = check_mapping(actor.delivery.options.get("mapping", DEFAULT_MAPPING))
        return webhook_url(actor), mapping, actor.delivery.options.get("soap_action", "")

    async def post(
        self,
        client: httpx.AsyncClient,
        actor: Actor,
        prepared: tuple[str, str, str],
        batch: Sequence[Pending],
    ) -> Answer:
        """One envelope per record, in order; a Fault refusing a record closes it (audited
        ``refused``, never retried), a record XML cannot hold is closed unsent with its
        reason, a transport error (or a Fault to try again) stops the run."""
        url, mapping, action = prepared
        answered: list[str | None] = []
        closed: dict[int, Closed] = {}
        start = time.monotonic()
        for p in batch:
            if answered and time.monotonic() - start > SETTLE_EVERY_S:
                break  # settle these first; the rest goes in the next batch
            try:
                message = envelope(p.body, p.feed_offset, mapping)
            except UnrenderableError as exc:  # this record's problem, not the actor's
                closed[len(answered)] = NOT_RENDERABLE
                answered.append(f"not sent: {exc.message}")
                continue
            outcome = await self._post_soap(client, url, action, message)
            if isinstance(outcome, str):  # transport error: retried later, order kept
                return Answer(answered, outcome, closed)
            if outcome is not None:
                closed[len(answered)] = SOAP_FAULT
            answered.append(None if outcome is None else str(outcome))
        return Answer(answered, closed=closed)

    async def _post_soap(
        self, client: httpx.AsyncClient, url: str, action: str, message: bytes
    ) -> Fault | str | None:
        """None: accepted; a Fault: it refuses the record; a string: the transport error
        (a Fault to try again included: :meth:`Fault.retried`)."""
        ctype = "application/soap+xml; charset=utf-8"
        if action:
            ctype += f'; action="{action}"'
        with recorder.connector_call("soap_push", "post") as call:
            try:
                r = await self.request(client, url, message, {"content-type": ctype})
            except httpx.HTTPError as exc:
                timeout = isinstance(exc, httpx.TimeoutException)
                call["outcome"] = "timeout" if timeout else "transport_error"
                return type(exc).__name__
            fault = read_fault(r.content)
            if fault is not None and fault.retried(r.status_code):
                call["outcome"] = "transport_error"
                return f"{fault} (HTTP {r.status_code}, retried)"
            if fault is not None:
                call["outcome"] = "business_error"
                return fault
            if not 200 <= r.status_code < 300:
                call["outcome"] = "transport_error"
                return f"HTTP {r.status_code}"
        return None
