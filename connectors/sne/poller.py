"""Change capture from the SNE (no push since 2017): ``hub sne-poll``.

One pass (:meth:`SnePoller.poll_once`):

1. for each commune of ``sne.poll_communes``, search the active demands wishing it, one
   search per yearly dépôt window from ``sne.poll_since``, a window the SNE refuses as too
   large (``TROPRESULT``) halved until it fits, a commune whose search the SNE refuses
   otherwise given up for the pass (:mod:`connectors.sne.poll_search`);
2. list the radiations since the watermark ``radiations``;
3. read each demand — found by the searches, radiated, published before and not yet as
   radiated or deleted (a radiation may be dated before the watermark), and, last, those
   an earlier pass left *unread* — and compare it with the snapshot last published
   (:mod:`connectors.sne.poll_compare`: ``CRE``, ``MOD``, ``REN``, ``RAD``, or nothing);
4. publish, then record (at least once: a crash in between republishes the same
   ``eventId``, which consumers deduplicate), then move the watermark to today — unless
   the radiations could not be listed. Watermarks, snapshots and unread demands survive
   restarts (:mod:`connectors.sne.poll_memory`).

Each demand is handled on its own: what goes wrong with one never stops the pass for the
others, and a demand not read is never lost: it is left *unread* — remembered, read again
at every later pass, last, until it is read and handled.

* Published before and unknown to the SNE now (``NUMINCONNU``): deleted there, a ``SUP``
  is published once, under a guard (:mod:`connectors.sne.poll_deletions`).
* The SNE not answering for it (its read times out or its connection fails, after the
  client's ``sne.retries``: at most ``1 + sne.retries`` attempts per pass): logged by
  numéro, left unread, the pass incomplete (:mod:`connectors.sne.poll_reads`).
* Refused otherwise by the SNE (another Fault, an answer the hub cannot read, the document
  of another demand) or by the hub (e.g. a commune missing from the geography table):
  logged by numéro with the reason, counted ``refused``, left unread; not incomplete (the
  refusal is an answer).

What fails the whole pass (retriable: tried again after the back-off, nothing moved):
the SNE unreachable for a search or the radiation listing; reads failing on transport
``SNE_DOWN_AFTER`` times in a row (:mod:`connectors.sne.poll_reads`: demands already
unread not counted); the SNE answering no search and not the radiation listing either
(:class:`~connectors.sne.poll_calls.SneUnusable`); Kafka down. No SNE configured, or
``sne.poll_since`` not a date (at construction): :class:`ConfigError`. No answer of the
SNE, however bad, raises anything else (:func:`~connectors.sne.poll_calls.guarded`).

What a pass could not do although it went on (a commune's search refused, a dépôt day
above the SNE's search limit, the radiations not listed, deletions held back, demands the
SNE did not answer for) is listed in ``PollReport.incomplete`` and logged at ``ERROR``:
the pass is *incomplete*, is no success for the alert below, and :meth:`SnePoller.run`
makes the next pass after the back-off rather than the interval.

A pass that completes feeds the ``PasserelleSnePollerBehind`` alert (poller
``demandes``): ``passerelle_sne_poller_last_success_timestamp_seconds`` = now (from the
start of :meth:`SnePoller.run` until then: the process's start, so a poller that never
succeeds shows it too), and, when
the pass published changes, ``passerelle_sne_poller_behind_seconds`` = now minus the
newest ``occurredAt`` (the document's ``dateFichier``) among them (a ``SUP`` has no
document: not counted). Every pass that ends sets
``passerelle_sne_poller_unread_demands``; each thing left for a later pass counts once in
``passerelle_sne_poller_skipped_total{what}``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Engine

from connectors.ingress.publishing import PreparedEvent
from connectors.interfacenuu.mapping import parse_demande_xml
from connectors.shape import ConnectorStats, wait_or_stop
from connectors.sne.client import SneClient
from connectors.sne.errors import SneProtocolError, SneUnknownDemande
from connectors.sne.poll_calls import SneUnusable, guarded
from connectors.sne.poll_compare import compare
from connectors.sne.poll_deletions import SOURCE, SUP, held_back, prepared, sup_event
from connectors.sne.poll_memory import PollMemory, Unread
from connectors.sne.poll_reads import Unanswered
from connectors.sne.poll_search import active_demands, one_line
from hub.core.backoff import Backoff
from hub.core.errors import ConfigError, HubError, InputError
from hub.core.settings import SneSettings
from hub.domain.refdata import check_num_unique
from monitoring import recorder

log = logging.getLogger(__name__)
#: poller label of the poller metrics (the demands poller; an events poller would be another)
POLLER = "demandes"
#: publishes a pass's events (returns how many); a coroutine function is awaited on the
#: event loop serving :meth:`SnePoller.run`
Publish = Callable[[list[PreparedEvent]], int | Awaitable[int]]


@dataclass
class PollReport:
    """What one pass did: the events ``published`` (``SUP`` included), the demands found
    ``unchanged``, those ``refused`` (left unread), those ``deleted`` (``SUP``
    published), the numéros the SNE did not answer for (``unanswered``: left unread), and
    one line per thing it could not do (module doc)."""

    published: list[dict[str, Any]] = field(default_factory=list)
    unchanged: int = 0
    refused: int = 0
    deleted: int = 0
    unanswered: list[str] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)


async def _awaited(result: Awaitable[int]) -> int:
    return await result


def _well_formed(nums: Iterable[str], what: str) -> Iterator[str]:
    """``nums`` an SNE listed, those that are no numéro unique left out (logged): the hub
    refuses them anyway, and its tables hold 18 characters."""
    for num in nums:
        try:
            yield check_num_unique(num)
        except InputError:
            log.warning("SNE poller: %s listed a malformed numéro unique %r: skipped",
                        what, one_line(num, 40))  # fmt: skip


class SnePoller:
    """The SNE poller connector (``hub sne-poll``; :class:`connectors.shape.Connector`):
    :meth:`run` makes a pass (:meth:`poll_once`, in a worker thread: the SNE client is
    synchronous) every ``interval`` seconds until ``stop``. A pass failing for a
    retriable reason (module doc) is tried again after a
    :class:`~hub.core.backoff.Backoff` delay (from ``min(interval, 30 s)``, doubling,
    capped at ``interval``), and so is an incomplete pass; only a :class:`ConfigError`
    ends :meth:`run`. ``stats.counts``: ``published``, ``unchanged``, ``refused``,
    ``deleted`` and ``unanswered`` demands, ``incomplete`` passes. Metrics: the SNE
    client's connector calls (``sne_soap``) and the poller's (module doc).
    :class:`ConfigError` at construction when ``sne.poll_since`` is not a date."""

    name = "sne_poller"
    section = "sne"

    def __init__(
        self,
        cfg: SneSettings,
        client: SneClient,
        engine: Engine,
        publish: Publish,
        *,
        interval: float = 300.0,
        on_pass: Callable[[PollReport], None] | None = None,
    ) -> None:
        self.cfg, self.client, self.engine, self.publish = cfg, client, engine, publish
        self.interval, self.on_pass = interval, on_pass
        try:
            self.since = date.fromisoformat(cfg.poll_since)
        except ValueError:
            raise ConfigError(
                f"sne.poll_since must be a date, YYYY-MM-DD: {one_line(cfg.poll_since, 40)!r}"
            ) from None
        self.memory = PollMemory(engine)
        self.stats = ConnectorStats()
        self.backoff = Backoff(min(interval, 30.0), interval)
        self._incomplete_in_a_row = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    async def pass_once(self, today: date | None = None) -> PollReport:
        """One pass (:meth:`poll_once`) in a worker thread, publishing on this loop."""
        self._loop = asyncio.get_running_loop()
        try:
            return await asyncio.to_thread(self.poll_once, today)
        finally:
            self._loop = None

    async def run(self, stop: asyncio.Event) -> None:
        """Pass after pass until ``stop`` (see the class doc). The last-success gauge
        holds the process's start until a first pass succeeds (module doc)."""
        started = recorder.process_start_time()
        recorder.sne_poller_started(POLLER, started if started is not None else time.time())
        while not stop.is_set():
            try:
                report = await self.pass_once()
            except HubError as exc:
                if not exc.retriable:
                    raise
                delay = min(self.interval, self.backoff.delay(self.stats.failed(exc)))
                log.warning("SNE poller: pass failed (%s), again in %.0f s", exc.message, delay)
            else:
                delay = self._passed(report)
            await wait_or_stop(stop, delay)

    def _passed(self, report: PollReport) -> float:
        """Count a pass that got to its end; the delay before the next one."""
        self.stats.succeeded(
            published=len(report.published),
            unchanged=report.unchanged,
            refused=report.refused,
            deleted=report.deleted,
            unanswered=len(report.unanswered),
            incomplete=1 if report.incomplete else 0,
        )
        if self.on_pass is not None:
            self.on_pass(report)
        if not report.incomplete:
            self._incomplete_in_a_row = 0
            return self.interval
        # what it could not do may be over soon (a timeout, a refusal lifted): not a full
        # interval, but not a tight loop on what lasts either
        delay = min(self.interval, self.backoff.delay(self._incomplete_in_a_row))
        self._incomplete_in_a_row += 1
        log.warning("SNE poller: pass incomplete, again in %.0f s", delay)
        return delay

    def _publish(self, events: list[PreparedEvent]) -> int:
        result = self.publish(events)
        if not inspect.isawaitable(result):
            return result
        if self._loop is None:  # poll_once called outside run/pass_once
            return asyncio.run(_awaited(result))
        return asyncio.run_coroutine_threadsafe(_awaited(result), self._loop).result()

    def watermark(self, name: str) -> str | None:
        return self.memory.watermark(name)

    def poll_once(self, today: date | None = None) -> PollReport:
        """One pass (module doc); raises only what fails the whole pass."""
        today = today or date.today()
        report = PollReport()
        search = active_demands(self.client, self.cfg.poll_communes, self.since, today)
        report.incomplete = search.given_up
        if search.refused:
            recorder.sne_poll_skipped(POLLER, "search_refused", search.refused)
        active = dict.fromkeys(_well_formed(search.numbers, "a search"))
        since = date.fromisoformat(self.memory.watermark("radiations") or self.cfg.poll_since)
        listed = self._radiations(since, active, report)
        if not listed and search.refused and not search.answered:
            raise SneUnusable(f"the SNE refused every search and the radiation listing: "
                              f"{'; '.join(report.incomplete)}")  # fmt: skip
        active.update(dict.fromkeys(n for n in self.memory.published() if n not in active))
        unread = self.memory.unread()
        reads = Unanswered(self.memory, today, POLLER)
        unknown: list[str] = []
        for num in [n for n in active if n not in unread] + list(unread):  # unread last
            self._one(num, unread.get(num), today, report, unknown, reads)
        reads.answered()  # the pass ended: the last failures were those demands'
        report.unanswered = reads.nums
        self._deleted(unknown, report)
        if listed:
            self.memory.set_watermark("radiations", today.isoformat())
        line = reads.line()
        if line is not None:
            report.incomplete.append(line)
        for line in report.incomplete:
            log.error("SNE poller: pass incomplete: %s", line)
        recorder.sne_poll_unread(POLLER, self.memory.count_unread())
        if not report.incomplete:
            dated = [e["occurredAt"] for e in report.published if e["operation"] != SUP]
            newest = max(dated, default=None)
            recorder.sne_poll_succeeded(POLLER, None if newest is None else newest / 1000.0)
        return report

    def _radiations(self, since: date, active: dict[str, None], report: PollReport) -> bool:
        """Add the demands radiated since ``since`` to ``active``; False (the pass
        incomplete) when the SNE refuses the listing or answers what the hub cannot read."""
        try:
            nums = guarded("getDemandesRadieesDepuisLe",
                           lambda: self.client.radiations_since(since))  # fmt: skip
        except HubError as exc:
            if exc.retriable or isinstance(exc, ConfigError):
                raise  # the SNE down, or no SNE: the whole pass
            recorder.sne_poll_skipped(POLLER, "radiations_refused")
            report.incomplete.append(
                f"radiations since {since} not listed ({exc.code}: {one_line(exc.message)}): "
                f"the radiation watermark stays at {since}; the demands published before "
                "are still read, their radiations captured"
            )
            return False
        active.update(dict.fromkeys(_well_formed(nums, "the radiation listing")))
        return True

    def _read(self, num: str) -> dict[str, Any]:
        """``num`` as the SNE answers it, an event; raises only :class:`HubError`."""

        def read() -> dict[str, Any]:
            return parse_demande_xml(self.client.get_demande(num), validate=False, source=SOURCE)

        event = guarded("getDemandeLogement", read)
        named = str(event.get("numUnique") or "")
        if named and named != num:  # trusting it would publish one demand as another
            raise SneProtocolError(f"SNE getDemandeLogement: asked {num}, answered {named[:40]}")
        return event

    def _one(self, num: str, before: Unread | None, today: date, report: PollReport,
             unknown: list[str], reads: Unanswered) -> None:  # fmt: skip
        """Read, compare and publish one demand (``before``: left unread by an earlier
        pass); what goes wrong stays its own (module doc). A demand published before and
        now unknown to the SNE goes to ``unknown``."""
        try:
            event = self._read(num)
        except SneUnknownDemande:
            reads.answered()  # the SNE answered: it is up
            seen = self.memory.seen(num)
            if seen is not None and seen["event"]["operation"] != SUP:
                unknown.append(num)  # handled (or held back) with the deletions
            else:  # never published (or already deleted): nobody to tell
                report.unchanged += 1
            self._settle(num, before)
            return
        except HubError as exc:
            if isinstance(exc, ConfigError):
                raise  # no SNE: the whole pass
            if exc.retriable:
                reads.failed(num, before, exc)  # raises when it blames the SNE
                return
            reads.answered()
            log.warning("SNE poller: demand %s not read from the SNE (%s: %s); again at the "
                        "next pass", num, exc.code, one_line(exc.message))  # fmt: skip
            self._refused(num, before, exc.code, today, report)
            return
        reads.answered()
        found = compare(event, num, self.memory.seen(num))
        if found is None:
            report.unchanged += 1
            self._settle(num, before)
            return
        event, digest = found
        ready = prepared(num, event, "demand")
        if ready is None:
            self._refused(num, before, "hub_refused", today, report)
            return
        self._publish([ready])
        self.memory.record(num, digest, event)
        self._settle(num, before)
        report.published.append(event)

    def _settle(self, num: str, before: Unread | None) -> None:
        if before is not None:  # only then: no write per demand and pass
            self.memory.settle(num)

    def _refused(self, num: str, before: Unread | None, reason: str, today: date,
                 report: PollReport) -> None:  # fmt: skip
        report.refused += 1
        recorder.sne_poll_skipped(POLLER, "demand_refused")
        self.memory.leave_unread(num, before, reason, today)

    def _deleted(self, unknown: list[str], report: PollReport) -> None:
        """A ``SUP`` for each demand of ``unknown`` (published before, unknown to the SNE
        now), unless the guard holds them back (:mod:`connectors.sne.poll_deletions`)."""
        line = held_back(len(unknown), self.cfg.poll_max_deletions)
        if line is not None:
            report.incomplete.append(line)
            return
        for num in unknown:
            seen = self.memory.seen(num) or {}
            event = sup_event(num, seen.get("digest"))
            ready = prepared(num, event, "deletion of")
            if ready is None:
                report.refused += 1
                continue
            self._publish([ready])
            # the snapshot of a deleted demand is kept no longer; the digest stays
            self.memory.record(num, str(seen.get("digest") or ""), {**event, "demande": None})
            log.warning("SNE poller: demand %s unknown to the SNE (NUMINCONNU): deleted there, "
                        "SUP published", num)  # fmt: skip
            report.published.append(event)
            report.deleted += 1
