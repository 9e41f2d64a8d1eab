"""The push loop shared by the webhook and SOAP channels (issue 22 point 4).

A :class:`PushChannel` knows how to POST a run of an actor's outbox records to its
receiver (:meth:`PushChannel.post`); everything else is common:

* **per actor, in feed order**: :meth:`PushChannel.send_due` reads the actor's due records
  in batches of ``api.delivery_batch_rows`` (:meth:`Outbox.due`), hands each batch to
  ``post`` and settles what the receiver answered in **one database transaction per
  batch** (records closed, audit rows appended to the chain, the failed record's next
  attempt: :meth:`Outbox.settle`); a channel sending one record per request settles at
  least every :data:`SETTLE_EVERY_S` (a crash sends at most that second's records
  again). One batch of an actor is in flight at a time and the next one starts after
  the previous one settled, so records never overtake each other (per demand nor
  overall).
* **at least once**: a record is closed only after the receiver answered it (a 2xx), or
  when it is closed *undelivered* (:class:`Closed`): the receiver refused it (a SOAP
  Fault that is about the record: :mod:`connectors.outbound.soap_fault`; outcome
  ``refused``) or the channel cannot render it at all (outcome ``unsent``, reason
  ``unrenderable``). A record closed undelivered keeps its reason in ``last_error``, gets
  an audit row saying so (outcome and reason: docs/audit.md), counts one
  ``passerelle_records_closed_undelivered_total{channel,reason,actor}`` and one error
  line, and the next record goes: one such record never blocks its actor. A transport
  error stops the actor at that record, which is retried after a
  :class:`hub.core.backoff.Backoff` delay
  (``api.webhook_backoff_*``; per actor: the backoff is the record's
  ``next_attempt_at``). If the settling fails (a database outage), the outcome
  is kept in memory and settled first when the actor is served again, before anything
  is read or sent (a retry whose first try did commit is recognised and skipped): the
  records are not sent again. A crash meanwhile sends them again (same event ids),
  never loses nor half-audits them.
* **cut to the actor's profile now** (independent audit F1): the outbox holds each record
  as the dispatcher cut it, and a record may wait there long (a receiver down for hours)
  while the actor's profile is lowered. Before each :meth:`PushChannel.post`,
  :meth:`PushChannel.send_due` reads the actor's profile from the registry and cuts the
  records to it (:mod:`connectors.outbound.recut`; never wider than the record's own
  cut): what is posted, signed (the webhook's HMAC is over the bytes sent) and audited
  (the row's profile is the one applied) is that cut. An actor the registry holds
  removed is sent nothing.
* **removed actors**: :meth:`PushChannel.run_once` first closes the undelivered records of
  actors the registry no longer holds (:mod:`hub.stores.delivery.removed`, reason
  ``actor_removed``), as ``hub deliver``'s service does at its start and whenever an
  actor leaves the registry.
* **actors independent**: :meth:`PushChannel.run_once` serves its actors concurrently
  (at most ``api.delivery_concurrency`` requests in flight), and
  :class:`connectors.outbound.service.PushService` gives each actor its own task, so a slow or
  dead receiver costs only its own actor.

Metrics: the channel's connector calls (one per request), one webhook retry per request
whose first record was attempted before, the actor's outbox depth after every
``send_due`` (whether it sent anything or not: an actor waiting out its back-off is
checked again when the pump wakes it, at most :data:`~connectors.outbound.service.IDLE_S`
apart), the records delivered and those closed undelivered.

Logs (independent audit S, S-F6): a refused connection, a reset or a non-2xx answer is
one warning line naming the actor, the channel, the feed offset and the failure
(``hub deliver: actor X: webhook, feed offset 4: ConnectError; receiver failing ...``:
:meth:`PushChannel.receiver_failing`), once per actor and failure kind and again at most
every :data:`FAILURE_LOG_EVERY_S` while it lasts, not one per retry (a deadline missed
or a denied address stays one line per attempt); the first delivery after such
failures says so in one line.
"""

from __future__ import annotations

import asyncio
import logging
import ssl as ssl_module
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, NamedTuple

import httpx

from connectors.outbound import bounded_http
from connectors.outbound.guarded_net import guarded_transport
from connectors.outbound.recut import current_profile, cut_batch, record_body
from connectors.shape import audit_rows
from hub.core.addresses import Network
from hub.core.backoff import Backoff
from hub.core.errors import HubError, NotFoundError
from hub.core.kafka.feed_pages import read_feed_page
from hub.core.settings import HubSettings
from hub.domain.actors import Actor
from hub.stores.audit.store import REFUSED, UNSENT, AuditStore, closed_row
from hub.stores.delivery import removed
from hub.stores.delivery.outbox import Outbox, Pending
from monitoring import recorder

log = logging.getLogger(__name__)


#: a channel sending one record per request settles (closes and audits) what was answered
#: at least this often, so a crash meanwhile sends few records twice
SETTLE_EVERY_S = 1.0
#: a failure of an actor's receiver is logged once per kind, and again at most this often
FAILURE_LOG_EVERY_S = 300.0


@dataclass(slots=True)
class _Failing:
    """An actor's receiver failing: attempts failed since ``since`` (monotonic), and when
    each failure kind was last logged."""

    since: float
    attempts: int = 0
    logged: dict[str, float] = field(default_factory=dict)


class Closed(NamedTuple):
    """How a record was closed without being delivered: ``outcome`` :data:`REFUSED` (the
    receiver got it and refused it) or :data:`UNSENT` (nothing of it left the hub), and a
    ``reason`` code (a metric label and the audit row's reason: bounded, no data)."""

    outcome: str
    reason: str


#: a record the channel's format cannot hold (:class:`~hub.core.errors.UnrenderableError`)
NOT_RENDERABLE = Closed(UNSENT, "unrenderable")
#: a record the receiver refused with a SOAP Fault (connectors.outbound.soap_fault)
SOAP_FAULT = Closed(REFUSED, "soap_fault")


@dataclass(frozen=True, slots=True)
class Answer:
    """What a receiver made of a run of records. ``answered[i]`` is None when record ``i``
    was accepted, else the reason it was closed undelivered (kept in ``last_error``; its
    :class:`Closed` is ``closed[i]``). ``error`` is the transport error met by the record
    after them (it and the rest are retried later). With no error, a run shorter than the
    batch (at least one record) means the channel stopped early (:data:`SETTLE_EVERY_S`):
    the rest goes in the next batch."""

    answered: list[str | None]
    error: str | None = None
    #: index in ``answered`` -> how that record was closed undelivered
    closed: dict[int, Closed] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Outcome:
    """One batch's outcome, as :meth:`Outbox.settle` takes it, and the reasons of the
    records it closes undelivered (counted once it is written)."""

    answered: list[tuple[Pending, str | None]]
    failure: tuple[Pending, datetime, str] | None
    audit: list[dict[str, Any]]
    closed: list[tuple[int, Closed, str]]


def actor_client(
    ssl: ssl_module.SSLContext | None = None, deny: Iterable[Network] = ()
) -> httpx.AsyncClient:
    """The HTTP client of one actor: its own small pool (one batch of an actor is in flight
    at a time), so actors never queue behind each other in a shared pool (httpcore's pool
    costs grow with the requests it holds: 2.2 ms of CPU per request at 64 in flight
    against 0.85 ms alone). ``ssl``: one context shared by every actor's client. It
    connects only to addresses that are not link-local, unspecified nor in ``deny``
    (``api.push_deny_networks``), checked after resolving the host
    (:mod:`connectors.outbound.guarded_net`), and follows no redirect."""
    limits = httpx.Limits(max_connections=2, max_keepalive_connections=1)
    return httpx.AsyncClient(follow_redirects=False, transport=guarded_transport(ssl, limits, deny))


class PushChannel:
    """One push channel (``channel`` = the actors' ``delivery.channel`` and the audit
    channel). Subclasses implement :meth:`prepare` and :meth:`post`."""

    channel: ClassVar[str] = ""

    def __init__(self, settings: HubSettings, outbox: Outbox, audit: AuditStore) -> None:
        self.settings = settings
        self.outbox = outbox
        self.audit = audit
        #: bounds the requests in flight across actors (set by the caller serving them)
        self.slots: asyncio.Semaphore | None = None
        #: per actor whose last attempt failed, what was logged of it (module doc, Logs)
        self._failing: dict[str, _Failing] = {}
        #: per actor, when its oldest record is to be tried again (None: due, or nothing
        #: waits), as :meth:`send_due` last saw it
        self.retry_at: dict[str, datetime | None] = {}
        #: per actor, the outcome of a batch whose settling failed (see :meth:`send_due`)
        self._unsettled: dict[str, _Outcome] = {}

    def prepare(self, actor: Actor) -> Any:
        """The actor's checked delivery options, handed to :meth:`post` (raises
        :class:`~hub.core.errors.InputError` /
        :class:`~hub.core.errors.ConfigError` when unusable)."""
        raise NotImplementedError

    async def post(
        self, client: httpx.AsyncClient, actor: Actor, prepared: Any, batch: Sequence[Pending]
    ) -> Answer:
        """POST ``batch`` (the actor's next records, in feed order) and say which of them,
        from the first on, the receiver answered. Never raises for the receiver's sake:
        what it did wrong is the :attr:`Answer.error`."""
        raise NotImplementedError

    async def request(
        self, client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str]
    ) -> bounded_http.Reply:
        """POST through one of :attr:`slots`, bounded (:func:`bounded_http.post`): one
        deadline, ``api.webhook_timeout_s``, for connecting, sending and reading the whole
        answer (waiting for a slot is not part of it), and at most
        ``api.delivery_answer_max_bytes`` of the answer read; past either,
        :class:`bounded_http.AnswerNotRead`, an httpx transport error (retried). The
        webhook and SOAP channels call :func:`bounded_http.post` themselves (the webhook
        needs only the status)."""
        api = self.settings.api
        return await bounded_http.post(
            client,
            url,
            body,
            headers,
            deadline_s=api.webhook_timeout_s,
            max_bytes=api.delivery_answer_max_bytes,
            gate=self.slots,
        )

    async def pump(self, actor: Actor) -> int:
        """Copy the actor's new feed records into the outbox; return how many. (One
        short-lived consumer per page: ``hub deliver`` itself uses the shared
        :class:`connectors.outbound.pump.FeedPump`.)"""
        copied = 0
        while True:
            start = self.outbox.next_offset(actor.id)
            try:
                records, _nxt, end = await read_feed_page(self.settings, actor.id, start, 500)
            except NotFoundError:
                return copied
            rows = [(r.pop("offset"), r["numUnique"], record_body(r)) for r in records]
            self.outbox.add(actor.id, rows)
            copied += len(rows)
            if not records or start + len(records) >= end:
                return copied

    async def send_due(self, actor: Actor, client: httpx.AsyncClient) -> int:
        """Deliver the actor's due records batch after batch, in feed order, until none is
        due or one meets a transport error; return the records delivered (those closed
        undelivered, :attr:`Answer.closed`, not counted). Before each :meth:`post`, the
        actor's profile is read from the registry and the records are cut to it
        (:mod:`connectors.outbound.recut`): what is posted, signed and audited is that
        cut; an actor the registry holds removed is sent nothing."""
        prepared = self.prepare(actor)
        rows = self.settings.api.delivery_batch_rows
        sent, after, failed = 0, None, False
        held = self._unsettled.get(actor.id)
        if held is not None:  # answers whose settling failed: settled now, not sent again
            self._write(actor, held, again=True)  # raises while the database is down
            del self._unsettled[actor.id]
            sent += len(held.answered) - len(held.closed)
        batch: Sequence[Pending] = []  # as stored: cut when the dispatcher wrote them
        cut: list[Pending] = []  # the same, as sent: cut to ``profile``
        records: list[dict[str, Any]] = []  # the FeedRecord of each of ``cut``
        profile: str | None = None
        while not failed:
            if not batch:  # the rest of a batch stopped early goes first, not re-read
                batch, retry_at = self.outbox.due_or_wait(actor.id, rows, after)
                self.retry_at[actor.id] = retry_at
                if not batch:
                    break
                profile = None
            current = current_profile(self.outbox.engine, actor)  # read at each post
            if current is None:  # removed from the registry: its records are closed, not sent
                break
            if current != profile:
                (cut, records), profile = cut_batch(batch, current), current
            if cut[0].attempts:  # tried before (in this process or an earlier one)
                recorder.webhook_retry(actor.id)
            answer = await self.post(client, actor, prepared, cut)
            failed = self._settle(actor, cut, records, answer)
            if not failed and actor.id in self._failing:
                gone = self._failing.pop(actor.id)
                log.info(
                    "hub deliver: actor %s: %s receiver answers again, after %d failed "
                    "attempt(s) in %.0f s",
                    actor.id,
                    self.channel,
                    gone.attempts,
                    time.monotonic() - gone.since,
                )
            n = len(answer.answered)
            sent += n - len(answer.closed)  # a record closed undelivered was not delivered
            after = batch[n - 1].feed_offset if n else after
            batch, cut, records = batch[n:], cut[n:], records[n:]
        self.refresh_depth(actor.id)
        return sent

    def refresh_depth(self, actor_id: str) -> None:
        """Export the actor's outbox depth as the database holds it now (raises while the
        database is down: the gauge then keeps its last value)."""
        recorder.outbox_depth(actor_id, self.outbox.undelivered(actor_id))

    def forget(self, actor_id: str) -> None:
        """``actor_id`` is no longer served by this channel (removed from the registry or
        moved to another channel): what is kept and exported of it goes."""
        self.retry_at.pop(actor_id, None)
        self._failing.pop(actor_id, None)
        recorder.outbox_gone(actor_id, [self.channel])

    def receiver_failing(self, actor_id: str, where: str, error: str) -> None:
        """One warning line for a failed attempt (``where``: the line's opening, naming
        the actor, the channel and the feed offset), unless this kind of failure of this
        actor was logged less than :data:`FAILURE_LOG_EVERY_S` ago (module doc, Logs).
        For the failures :meth:`post` would not log otherwise (a refused connection, a
        reset, a non-2xx answer); those it logs at each attempt (a deadline missed, a
        denied address) stay so."""
        now = time.monotonic()
        failing = self._failing.setdefault(actor_id, _Failing(since=now))
        failing.attempts += 1
        kind = error[:200]
        last = failing.logged.get(kind)
        if last is not None and now - last < FAILURE_LOG_EVERY_S:
            return
        failing.logged = {k: v for k, v in failing.logged.items()
                          if now - v < FAILURE_LOG_EVERY_S}  # fmt: skip
        failing.logged[kind] = now
        log.warning(
            "%s: %s; receiver failing (%d failed attempt(s) in %.0f s), retried after the "
            "back-off; said again at most every %.0f s while it lasts",
            where,
            error,
            failing.attempts,
            now - failing.since,
            FAILURE_LOG_EVERY_S,
        )

    def _settle(
        self,
        actor: Actor,
        batch: Sequence[Pending],
        records: Sequence[dict[str, Any]],
        answer: Answer,
    ) -> bool:
        """Write the outcome of one batch (``records``: the FeedRecord each of ``batch``
        holds, as sent) in one transaction; True when one failed."""
        n = len(answer.answered)
        error = answer.error
        if error is None and n == 0:
            error = "no record answered"
        now = datetime.now(UTC)
        done = batch[:n]
        audit: list[dict[str, Any]] = []
        for i, record in enumerate(records[:n]):  # in feed order: the chain's order
            how = answer.closed.get(i)
            if how is None:
                audit += audit_rows(actor.id, self.channel, [record], now)
            else:
                audit.append(closed_row(actor.id, self.channel, record, now, *how))
        failure = None
        if error is not None:
            head = batch[n]
            api = self.settings.api
            delay = Backoff(api.webhook_backoff_initial_s, api.webhook_backoff_max_s).delay(
                head.attempts
            )
            failure = (head, now + timedelta(seconds=delay), error)
        closed = [(done[i].feed_offset, how, answer.answered[i] or "") for i, how in
                  sorted(answer.closed.items())]  # fmt: skip
        outcome = _Outcome(list(zip(done, answer.answered, strict=True)), failure, audit, closed)
        try:
            self._write(actor, outcome, again=False)
        except Exception:  # e.g. the database went down: kept, settled before anything else
            self._unsettled[actor.id] = outcome
            raise
        if failure is not None:
            self.retry_at[actor.id] = failure[1]
        return failure is not None

    def _write(self, actor: Actor, outcome: _Outcome, *, again: bool) -> None:
        """Settle ``outcome``; once written, count and log its records closed undelivered.
        A first try that raised counted nothing, even if it did commit (``again`` then
        writes nothing): they are counted here, once either way."""
        self.outbox.settle(outcome.answered, outcome.failure, outcome.audit, again=again)
        recorder.records_delivered(
            self.channel, actor.id, len(outcome.answered) - len(outcome.closed)
        )
        for offset, how, why in outcome.closed:  # one line each: an operator must hear of it
            recorder.records_closed(self.channel, how.reason, actor.id)
            log.error(
                "hub deliver: actor %s: feed offset %d closed %s: %s",
                actor.id,
                offset,
                how.outcome,
                why,
            )

    async def run_once(self, actors: list[Actor]) -> int:
        """One round over this channel's actors, served concurrently (after closing the
        records of removed actors: :func:`close_removed_actors`): copy each one's new
        feed records, then deliver its due records; return the records delivered. An
        actor whose options are unusable is logged and skipped; any other error is raised
        once every actor's round ended."""
        close_removed_actors(self.outbox)
        mine = [a for a in actors if a.delivery.channel == self.channel]
        self.slots = slots = asyncio.Semaphore(self.settings.api.delivery_concurrency)
        tls = httpx.create_ssl_context()

        async def one(actor: Actor) -> int:
            try:
                self.prepare(actor)
            except HubError as exc:
                if exc.retriable:
                    raise
                log.error("actor %s not served: %s", actor.id, exc.message)
                recorder.actor_not_served(actor.id, True)
                self.refresh_depth(actor.id)
                return 0
            recorder.outbox_taken_up(self.channel, actor.id)
            recorder.actor_not_served(actor.id, False)
            async with slots:
                await self.pump(actor)
            async with actor_client(tls, self.settings.api.push_deny_networks) as http:
                return await self.send_due(actor, http)

        results = await asyncio.gather(*(one(a) for a in mine), return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r
        return sum(r for r in results if isinstance(r, int))


def close_removed_actors(outbox: Outbox) -> int:
    """Close the undelivered records of the actors removed from the registry
    (:func:`hub.stores.delivery.removed.close_removed`: audited, reason
    ``actor_removed``), count them and log one line per actor; return how many."""
    closed = removed.close_removed(outbox.engine)
    for (actor_id, channel), n in sorted(closed.items()):
        recorder.records_closed(channel, removed.REASON, actor_id, n)
        log.warning(
            "hub deliver: actor %s is no longer in the registry: %d undelivered record(s) "
            "closed (%s)",
            actor_id,
            n,
            removed.REASON,
        )
    return sum(closed.values())
