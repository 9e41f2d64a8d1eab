"""``hub deliver`` running: one task per push actor, a shared feed pump (issue 22 point 4).

:class:`PushService` re-reads the registry every ``interval`` seconds and keeps exactly one
asyncio task per actor whose delivery channel it serves (webhook, soap), plus one
:class:`~connectors.outbound.pump.FeedPump` task copying every such actor's feed into the outbox.

Contracts:

* **independent actors**: each actor's task delivers its due records
  (:meth:`~connectors.outbound.push.PushChannel.send_due`: batches in feed order, one database
  transaction per batch) and then sleeps until the pump wakes it with new records, or
  until its oldest record's next attempt after a failure (the backoff is per actor, on
  that record), or at most :data:`IDLE_S` (``interval`` without a pump). A receiver that
  answers slowly or not at all holds only its own task and one of the
  ``api.delivery_concurrency`` request slots; the other actors go on at their pace.
* **order and at-least-once**: those of :mod:`connectors.outbound.push` (one batch in flight
  per actor; records closed only after their answer). An actor removed or moved to
  another channel is stopped between two batches or mid-request; what it had in flight
  is sent again later, never lost.
* **profile changes**: the actor a task serves is refreshed at each registry read, but
  what it sends is cut to the profile the registry holds when each request run starts
  (read by :meth:`~connectors.outbound.push.PushChannel.send_due`, not taken from this
  service's last read): a profile lowered while records wait applies to them at once.
* **outages**: a database or broker outage, or an unexpected error, in an actor's task
  is logged (a warning line holding ``retrying in``) and that task retries after a
  growing delay (1, 2, 4... × ``interval``,
  at most 30 s); the pump and the registry refresh likewise. Nothing stops the service
  but :meth:`PushService.run`'s ``stop`` event (or cancellation).
* **removed actors**: at its start and whenever an actor left the registry, the service
  closes the undelivered records of the actors removed from it
  (:func:`~connectors.outbound.push.close_removed_actors`: reason ``actor_removed``,
  audited, counted); a failure (database outage) is logged and tried again at the next
  registry read.
* an actor whose options are unusable (no absolute HTTPS URL with a host, no webhook
  secret, an unknown SOAP mapping: an older registry may hold one, the registry refuses
  them today) is logged in one line, ``actor X not served: <reason>`` (again only when
  the reason changes), and re-checked every 30 s (and whenever the pump copies records
  for it) without sending anything; the others are served as usual.
* **metrics** (independent audit S, S-F4/S-F5): each actor taken up exports
  ``passerelle_actor_not_served{actor}`` (1 while not served, else 0) and
  ``passerelle_records_delivered_total{channel,actor}`` from 0; its
  ``passerelle_outbox_depth`` is refreshed at each check, a not-served actor's included,
  and removed with the others when the actor leaves the push channels. Each registry
  read sets ``passerelle_delivery_last_round_timestamp_seconds{channel="push"}`` (the
  process's start until the first).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import httpx

from connectors.outbound.pump import FeedPump
from connectors.outbound.push import PushChannel, actor_client, close_removed_actors
from connectors.shape import ConnectorStats
from hub.core.backoff import Backoff
from hub.core.errors import ConfigError, HubError
from hub.core.settings import HubSettings
from hub.domain.actors import Actor
from monitoring import recorder

log = logging.getLogger(__name__)
#: longest pause of a task after repeated failures, and the re-check of a misconfigured actor
MAX_PAUSE_S = 30.0
#: longest sleep of an idle actor's task when the feed pump wakes it on new records (a
#: safety net: an idle actor costs no database query in between)
IDLE_S = 30.0


class PushService:
    """The push connector (``hub deliver``; :class:`connectors.shape.Connector`, settings
    section ``api``: ``api.webhook_*``, ``api.delivery_*``): see the module doc.
    ``list_actors`` reads the registry (settable after construction); ``pump`` None: the
    outbox is fed by someone else (tests). ``stats.counts``: ``delivered`` records; a
    pass is a registry refresh, a failure an outage met by the refresh, the pump or an
    actor's task. Metrics: one connector call per request (``webhook`` or ``soap_push``,
    operation ``post``), the outbox depths, the webhook retries."""

    name = "push"
    section = "api"

    def __init__(
        self,
        settings: HubSettings,
        channels: Sequence[PushChannel],
        pump: FeedPump | None,
        *,
        interval: float = 1.0,
        list_actors: Callable[[], list[Actor]] | None = None,
    ) -> None:
        self.settings = settings
        self.list_actors = list_actors
        self.stats = ConnectorStats()
        self.channels = {c.channel: c for c in channels}
        self.pump = pump
        self.interval = interval
        #: pauses after outages (registry, database, feeds): ``interval`` doubled, capped
        self.backoff = Backoff(interval, MAX_PAUSE_S)
        self.actors: dict[str, Actor] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.wake: dict[str, asyncio.Event] = {}
        self._stopping: set[asyncio.Task[None]] = set()
        #: records delivered per actor since the start (answered by the receiver)
        self.delivered: dict[str, int] = {}
        #: per actor not served, the reason last logged (logged again only when it changes)
        self.not_served: dict[str, str] = {}
        #: the registry's actor ids when the records of removed actors were last closed
        #: (None: not yet): closed again when one of them leaves
        self._swept: set[str] | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set (or the task is cancelled)."""
        list_actors = self.list_actors
        if list_actors is None:
            raise ConfigError("PushService.run: no list_actors to read the registry with")
        slots = asyncio.Semaphore(self.settings.api.delivery_concurrency)
        for channel in self.channels.values():
            channel.slots = slots
        tls = httpx.create_ssl_context()
        pump = asyncio.create_task(self._pump_loop(stop)) if self.pump is not None else None
        failures = 0
        recorder.delivery_round("push", recorder.process_start_time())
        try:
            while not stop.is_set():
                try:
                    actors = list_actors()
                    recorder.delivery_round("push")
                    self._reconcile(actors, tls)
                    failures, pause = 0, self.interval
                    self.stats.succeeded()
                except Exception as exc:  # registry outage: keep serving the known actors
                    failures += 1
                    pause = self._failed(exc, failures, "registry not read")
                else:
                    self._close_removed({a.id for a in actors})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), pause)
        finally:
            await self._cancel(list(self.tasks))
            await asyncio.gather(*self._stopping, return_exceptions=True)
            if pump is not None:
                pump.cancel()
                await asyncio.gather(pump, return_exceptions=True)
            if self.pump is not None:
                await self.pump.stop()

    def _reconcile(self, actors: list[Actor], tls: ssl.SSLContext) -> None:
        mine = {a.id: a for a in actors if a.delivery.channel in self.channels}
        gone = [a for a in self.tasks if a not in mine]
        for actor_id in gone:
            task = self.tasks.pop(actor_id)
            task.cancel()
            self._stopping.add(task)  # referenced until it ended
            task.add_done_callback(self._stopping.discard)
            was = self.actors.pop(actor_id, None)
            self.wake.pop(actor_id, None)
            self.not_served.pop(actor_id, None)
            if was is not None:  # its gauges go (a cancelled task sets none after this)
                self.channels[was.delivery.channel].forget(actor_id)
        for actor_id, actor in mine.items():
            before = self.actors.get(actor_id)
            if actor_id in self.tasks and before != actor:
                self.wake[actor_id].set()  # changed (e.g. its URL): served again at once
            if before is None or before.delivery.channel != actor.delivery.channel:
                if before is not None:  # moved from webhook to soap or back
                    self.channels[before.delivery.channel].forget(actor_id)
                recorder.outbox_taken_up(actor.delivery.channel, actor_id)
            self.actors[actor_id] = actor  # the task reads its actor before every run
            if actor_id not in self.tasks or self.tasks[actor_id].done():  # new, or died
                self.wake[actor_id] = asyncio.Event()
                self.tasks[actor_id] = asyncio.create_task(
                    self._serve(actor_id, tls), name=f"deliver-{actor_id}"
                )

    def _close_removed(self, registered: set[str]) -> None:
        """Close the records of removed actors (module doc) unless no actor left the
        registry since the last time."""
        if not self.channels or (self._swept is not None and self._swept <= registered):
            return
        outbox = next(iter(self.channels.values())).outbox  # the channels share it
        try:
            close_removed_actors(outbox)
        except Exception as exc:  # database outage: tried again at the next registry read
            self._failed(exc, 1, "records of removed actors not closed")
            return
        self._swept = registered

    async def _cancel(self, actor_ids: list[str]) -> None:
        tasks = [self.tasks.pop(a) for a in actor_ids if a in self.tasks]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _serve(self, actor_id: str, tls: ssl.SSLContext) -> None:
        async with actor_client(tls, self.settings.api.push_deny_networks) as http:
            await self._serve_with(actor_id, http)

    async def _serve_with(self, actor_id: str, http: httpx.AsyncClient) -> None:
        wake = self.wake[actor_id]
        failures = 0
        while actor_id in self.actors:
            actor = self.actors[actor_id]
            channel = self.channels[actor.delivery.channel]
            wake.clear()  # before reading the outbox: a copy meanwhile wakes us again
            pause = self.interval
            try:
                sent = await channel.send_due(actor, http)
                self.delivered[actor_id] = self.delivered.get(actor_id, 0) + sent
                self.stats.add(delivered=sent)
                self.not_served.pop(actor_id, None)
                recorder.actor_not_served(actor_id, False)
                failures = 0
                pause = self._idle_pause(channel.retry_at.get(actor_id))
            except HubError as exc:
                if exc.retriable:
                    failures += 1
                    self.stats.failed(exc)
                    pause = self.backoff.delay(failures)
                    log.warning(
                        "hub deliver: actor %s: %s, retrying in %.1f s",
                        actor_id,
                        exc.message,
                        pause,
                    )
                else:
                    pause = MAX_PAUSE_S
                    recorder.actor_not_served(actor_id, True)
                    if self.not_served.get(actor_id) != exc.message:
                        self.not_served[actor_id] = exc.message
                        log.error("hub deliver: actor %s not served: %s", actor_id, exc.message)
                    # what waits for it, though nothing is sent (the pump still copies
                    # its feed and wakes it): a database outage is said by the next round
                    with contextlib.suppress(Exception):
                        channel.refresh_depth(actor_id)
            except Exception as exc:  # database outage or a bug: this actor only, retried
                failures += 1
                self.stats.failed(exc)
                pause = self.backoff.delay(failures)
                log.warning(
                    "hub deliver: actor %s: %s (outage?), retrying in %.1f s",
                    actor_id,
                    type(exc).__name__,
                    pause,
                    exc_info=not _is_outage(exc),
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), pause)

    def _idle_pause(self, retry_at: datetime | None) -> float:
        """How long an actor's task may sleep unless woken: until its oldest record's
        next attempt; with no record waiting, :data:`IDLE_S` when the pump wakes it on
        new records, else ``interval`` (the outbox is fed by someone else)."""
        if retry_at is not None:
            return max(0.0, min((retry_at - datetime.now(UTC)).total_seconds(), IDLE_S))
        return IDLE_S if self.pump is not None else self.interval

    def _failed(self, exc: Exception, failures: int, what: str) -> float:
        """Count a failed round of one of the service's loops and log it (with the
        traceback unless it is a known outage); return the back-off pause before the next."""
        self.stats.failed(exc)
        pause = self.backoff.delay(failures)
        log.warning(
            "hub deliver: %s (%s), retrying in %.1f s",
            what,
            type(exc).__name__,
            pause,
            exc_info=not _is_outage(exc),
        )
        return pause

    async def _pump_loop(self, stop: asyncio.Event) -> None:
        assert self.pump is not None
        failures = 0
        while not stop.is_set():
            try:
                await self.pump.follow(self.actors)
                copied = await self.pump.poll(timeout_ms=int(min(self.interval, 1.0) * 1000))
                failures = 0
            except Exception as exc:
                failures += 1
                await asyncio.sleep(self._failed(exc, failures, "feeds not copied"))
                continue
            if not self.pump.following:
                await asyncio.sleep(self.interval)
            for actor_id in copied:
                event = self.wake.get(actor_id)
                if event is not None:
                    event.set()


def _is_outage(exc: BaseException) -> bool:
    from sqlalchemy.exc import InterfaceError, OperationalError

    return isinstance(exc, OperationalError | InterfaceError) or (
        isinstance(exc, HubError) and exc.retriable
    )
