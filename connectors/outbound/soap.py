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

* 2xx without a Fault: delivered (audited, channel ``soap``), unless its body is an HTML
  page (``<!DOCTYPE html``/``<html``: a proxy's or a portal's answer, not the ERP's),
  which is retried as a transport error;
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
  ``api.webhook_backoff_*``); the records after it wait (feed order).

**Bounds** (:mod:`connectors.outbound.bounded_http`, independent audit F points 2 and 5):
the Fault is read from the body, so the whole answer must be read, within one deadline,
``api.webhook_timeout_s``, from connecting to the last byte of the answer, and at most
``api.delivery_answer_max_bytes`` of it (a Fault is a few kB). An answer slower (headers
at once, then a byte now and then) or larger (a 500 with a 1.5 GB log) is not read
further: the connection is closed and it is a transport error, retried (outcome
``timeout`` or ``transport_error``), with one warning line (actor, feed offset, what
happened, "retried").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import httpx

from connectors.outbound import bounded_http
from connectors.outbound.guarded_net import AddressRefused
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

log = logging.getLogger(__name__)


class SoapDelivery(PushChannel):
    """The SOAP push channel (actors whose ``delivery.channel`` is ``soap``)."""

    channel = CHANNEL

    def prepare(self, actor: Actor) -> tuple[str, str, str]:
        """(url, mapping, SOAP action) of the actor."""
        mapping = check_mapping(actor.delivery.options.get("mapping", DEFAULT_MAPPING))
        url = webhook_url(actor, self.settings.api.push_deny_networks)
        return url, mapping, actor.delivery.options.get("soap_action", "")

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
            where = f"hub deliver: actor {actor.id}: SOAP, feed offset {p.feed_offset}"
            outcome = await self._post_soap(client, url, action, message, where, actor.id)
            if isinstance(outcome, str):  # transport error: retried later, order kept
                return Answer(answered, outcome, closed)
            if outcome is not None:
                closed[len(answered)] = SOAP_FAULT
            answered.append(None if outcome is None else str(outcome))
        return Answer(answered, closed=closed)

    async def _post_soap(
        self,
        client: httpx.AsyncClient,
        url: str,
        action: str,
        message: bytes,
        where: str,
        actor_id: str,
    ) -> Fault | str | None:
        """None: accepted; a Fault: it refuses the record; a string: the transport error
        (a Fault to try again included: :meth:`Fault.retried`). ``where``: the log
        lines' opening (actor, feed offset)."""
        ctype = "application/soap+xml; charset=utf-8"
        if action:
            ctype += f'; action="{action}"'
        api = self.settings.api
        with recorder.connector_call("soap_push", "post") as call:
            try:
                r = await bounded_http.post(
                    client,
                    url,
                    message,
                    {"content-type": ctype},
                    deadline_s=api.webhook_timeout_s,
                    max_bytes=api.delivery_answer_max_bytes,
                    gate=self.slots,  # waiting for a slot is not part of the deadline
                )
            except bounded_http.AnswerNotRead as exc:  # too slow, too large: retried
                timeout = isinstance(exc, bounded_http.DeadlineExceeded)
                call["outcome"] = "timeout" if timeout else "transport_error"
                log.warning("%s: %s; retried after the back-off", where, exc)
                return str(exc)
            except AddressRefused as exc:  # a denied address: nothing sent, retried
                call["outcome"] = "transport_error"
                log.warning("%s: %s; retried after the back-off", where, exc)
                return str(exc)
            except httpx.HTTPError as exc:
                timeout = isinstance(exc, httpx.TimeoutException)
                call["outcome"] = "timeout" if timeout else "transport_error"
                self.receiver_failing(actor_id, where, type(exc).__name__)
                return type(exc).__name__
            fault = read_fault(r.content)
            if fault is not None and fault.retried(r.status_code):
                call["outcome"] = "transport_error"
                error = f"{fault} (HTTP {r.status_code}, retried)"
                self.receiver_failing(actor_id, where, error)
                return error
            if fault is not None:
                call["outcome"] = "business_error"
                return fault
            if not 200 <= r.status_code < 300:
                call["outcome"] = "transport_error"
                self.receiver_failing(actor_id, where, f"HTTP {r.status_code}")
                return f"HTTP {r.status_code}"
            if _html_page(r):
                # a proxy's or a portal's page answered, not the ERP: counting it delivered
                # would lose the record without a trace (independent audit F)
                call["outcome"] = "transport_error"
                log.warning("%s: HTTP %d with an HTML page, not a SOAP answer (a proxy or "
                            "portal in the way?); retried after the back-off",
                            where, r.status_code)  # fmt: skip
                return f"HTTP {r.status_code} with an HTML page, not a SOAP answer"
        return None


def _html_page(r: bounded_http.Reply) -> bool:
    """Whether a 2xx answer is an HTML page, by its first bytes (``<!DOCTYPE html``,
    ``<html``): what a proxy, a captive portal or a web server's default page answers.
    Not by its content type: many ERP endpoints (PHP, ASP) label every answer
    ``text/html``, their SOAP envelopes and empty 200s included, and those are the ERP's
    acceptance (independent review I, F1). Any other 2xx without a Fault (an envelope, an
    empty 202, an ERP's plain "OK") is the ERP's acceptance."""
    head = r.content[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype html", b"<html"))
