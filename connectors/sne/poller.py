"""Change capture from the SNE (no push since 2017): ``hub sne-poll``.

One pass (:meth:`SnePoller.poll_once`):

1. for each commune of ``sne.poll_communes``, search the active demands wishing it, one
   search per yearly dépôt window from ``sne.poll_since``, a window the SNE refuses as too
   large (``TROPRESULT``) halved until it fits (:mod:`connectors.sne.poll_search`);
2. fetch each demand, compare its snapshot with the one last published (table
   ``sne_poll_seen``): unseen → ``CRE``; renewal date changed → ``REN``; other change →
   ``MOD`` with ``changedFields`` (dotted paths of the differing fields); unchanged →
   nothing;
3. also fetch the radiations since the watermark ``radiations`` (table
   ``sne_poll_watermarks``) and every demand published before and not yet as radiated or
   deleted (a radiation may be dated before the watermark): a demand carrying
   ``radiation`` → ``RAD``, once;
4. publish, then record (at least once: a crash in between republishes the same
   ``eventId``, derived from the snapshot digest, which consumers deduplicate), then move
   the watermark to today. Watermarks and snapshots survive restarts.

Each demand is handled on its own: what refuses one never stops the pass for the others.

* A demand published before that the SNE no longer knows (``getDemandeLogement`` answers
  ``NUMINCONNU``) was deleted there — ``SUP`` is the SNE's deletion (domain reference,
  "Lifecycle"): the poller publishes a ``SUP`` (the worker withdraws it from its
  recipients: ``RETRAIT`` ``demande_supprimee``), logs it once and reads it no more (a
  deleted demand found again by a search is published anew, as a ``CRE``). Unknown and
  never published: nothing to tell. Guard: more such demands in one pass than
  ``sne.poll_max_deletions`` is taken for a wrong ``sne.url`` (another SNE, an empty
  simulator), not for deletions: no ``SUP`` then, they are read again at the next pass.
* A demand the SNE refuses to give otherwise (another Fault, an answer the hub cannot
  read) or the hub cannot accept (e.g. a commune missing from the geography table) is
  logged by numéro with the reason and retried at the next pass, never recorded as seen.
* An unreachable SNE or Kafka fails the whole pass (retriable): nothing is lost, the next
  pass does it all again.

What a pass could not do although it went on (deletions held back by the guard, a single
dépôt day above the SNE's search limit) is listed in ``PollReport.incomplete``, logged at
``ERROR``, and makes the pass *incomplete*: its watermark still moves, but it does not
count as a success for the alert below, which fires if that lasts.

A pass that completes (watermark moved, nothing incomplete) feeds the
``PasserelleSnePollerBehind`` alert (poller ``demandes``):
``passerelle_sne_poller_last_success_timestamp_seconds`` = now, and, when the pass
published changes, ``passerelle_sne_poller_behind_seconds`` = now minus the newest
``occurredAt`` (the document's ``dateFichier``) among them (a ``SUP`` has no document:
not counted). A failed pass feeds neither: the time since the last success grows.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine, select

from connectors.ingress.publishing import PreparedEvent, prepare_event
from connectors.interfacenuu.mapping import parse_demande_xml
from connectors.shape import ConnectorStats, wait_or_stop
from connectors.sne.client import SneClient
from connectors.sne.errors import SneUnknownDemande
from connectors.sne.poll_search import active_demands
from connectors.sne.tables import poll_seen, poll_watermarks
from hub.core.backoff import Backoff
from hub.core.db import write_transaction
from hub.core.errors import ConfigError, HubError
from hub.core.settings import SneSettings
from monitoring import recorder

log = logging.getLogger(__name__)
_NS = uuid.uuid5(uuid.NAMESPACE_URL, "urn:passerelle:sne-poller")
#: poller label of the poller metrics (the demands poller; an events poller would be another)
POLLER = "demandes"
#: the ``source`` of the events the poller publishes
SOURCE = "sne-poller"
RAD, SUP = "RAD", "SUP"
#: publishes a pass's events (returns how many); a coroutine function is awaited on the
#: event loop serving :meth:`SnePoller.run`
Publish = Callable[[list[PreparedEvent]], int | Awaitable[int]]


@dataclass
class PollReport:
    """What one pass did: the events ``published`` (``SUP`` included), the demands found
    ``unchanged``, those ``refused`` (retried at the next pass), those ``deleted``
    (``SUP`` published), and one line per thing it could not do (module doc)."""

    published: list[dict[str, Any]] = field(default_factory=list)
    unchanged: int = 0
    refused: int = 0
    deleted: int = 0
    incomplete: list[str] = field(default_factory=list)


def changed_paths(old: Any, new: Any, path: str = "") -> Iterator[str]:
    """Dotted paths where ``old`` and ``new`` differ (lists compared whole)."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in dict.fromkeys([*old, *new]):
            yield from changed_paths(old.get(key), new.get(key), f"{path}.{key}" if path else key)
    elif old != new:
        yield path


async def _awaited(result: Awaitable[int]) -> int:
    return await result


def _digest(snapshot: Any) -> str:
    return hashlib.sha256(json.dumps(snapshot, sort_keys=True).encode()).hexdigest()


class SnePoller:
    """The SNE poller connector (``hub sne-poll``; :class:`connectors.shape.Connector`):
    :meth:`run` makes a pass (:meth:`poll_once`, in a worker thread: the SNE client is
    synchronous) every ``interval`` seconds until ``stop``. A pass failing for a
    retriable reason (the SNE or Kafka down) is tried again after a
    :class:`~hub.core.backoff.Backoff` delay (from ``min(interval, 30 s)``, doubling,
    capped at ``interval``); any other error ends :meth:`run` — never one demand's
    refusal (module doc). ``stats.counts``: ``published``, ``unchanged``, ``refused`` and
    ``deleted`` demands, ``incomplete`` passes. Metrics: the SNE client's connector calls
    (``sne_soap``) and the poller's success and lag gauges."""

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
        self.stats = ConnectorStats()
        self.backoff = Backoff(min(interval, 30.0), interval)
        self._loop: asyncio.AbstractEventLoop | None = None

    async def pass_once(self, today: date | None = None) -> PollReport:
        """One pass (:meth:`poll_once`) in a worker thread, publishing on this loop."""
        self._loop = asyncio.get_running_loop()
        try:
            return await asyncio.to_thread(self.poll_once, today)
        finally:
            self._loop = None

    async def run(self, stop: asyncio.Event) -> None:
        """Pass after pass until ``stop`` (see the class doc)."""
        while not stop.is_set():
            delay = self.interval
            try:
                report = await self.pass_once()
            except HubError as exc:
                if not exc.retriable:
                    raise
                delay = min(self.interval, self.backoff.delay(self.stats.failed(exc)))
                log.warning("SNE poller: pass failed (%s), again in %.0f s", exc.message, delay)
            else:
                self.stats.succeeded(
                    published=len(report.published),
                    unchanged=report.unchanged,
                    refused=report.refused,
                    deleted=report.deleted,
                    incomplete=1 if report.incomplete else 0,
                )
                if self.on_pass is not None:
                    self.on_pass(report)
            await wait_or_stop(stop, delay)

    def _publish(self, events: list[PreparedEvent]) -> int:
        result = self.publish(events)
        if not inspect.isawaitable(result):
            return result
        if self._loop is None:  # poll_once called outside run/pass_once
            return asyncio.run(_awaited(result))
        return asyncio.run_coroutine_threadsafe(_awaited(result), self._loop).result()

    def _seen(self, num: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(poll_seen).where(poll_seen.c.num_unique == num)).first()
        return dict(row._mapping) if row is not None else None

    def watermark(self, name: str) -> str | None:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(poll_watermarks.c.value).where(poll_watermarks.c.name == name)
            ).scalar()
        return str(value) if value is not None else None

    def _record(self, num: str, digest: str, event: dict[str, Any]) -> None:
        values = {
            "digest": digest,
            "event": {"operation": event["operation"], "demande": event["demande"]},
            "seen_at": datetime.now(UTC),
        }
        with write_transaction(self.engine) as conn:
            if conn.execute(
                select(poll_seen.c.num_unique).where(poll_seen.c.num_unique == num)
            ).first():
                conn.execute(
                    poll_seen.update().where(poll_seen.c.num_unique == num).values(**values)
                )
            else:
                conn.execute(poll_seen.insert().values(num_unique=num, **values))

    def _set_watermark(self, name: str, value: str) -> None:
        with write_transaction(self.engine) as conn:
            conn.execute(poll_watermarks.delete().where(poll_watermarks.c.name == name))
            conn.execute(
                poll_watermarks.insert().values(
                    name=name, value=value, updated_at=datetime.now(UTC)
                )
            )

    def _compare(self, num: str) -> tuple[dict[str, Any], str] | None:
        """The event to publish for ``num`` and its digest, None when nothing changed or
        nobody is to be told (radiated before the hub published it, or after it was
        deleted). Raises what the SNE client or the document's reading raises."""
        event = parse_demande_xml(self.client.get_demande(num), validate=False, source=SOURCE)
        radiated = bool((event["demande"]["demandeLogement"] or {}).get("radiation"))
        digest = digest_seed = _digest(event["demande"])
        seen = self._seen(num)
        if radiated:
            if seen is None or seen["event"]["operation"] in (RAD, SUP):
                return None
            event["operation"] = RAD
        elif seen is None or seen["event"]["operation"] == SUP:
            event["operation"] = "CRE"  # unseen, or deleted and found again: new to all
            if seen is not None:  # not the id of its first CRE, which consumers have seen
                digest_seed = f"{digest}|again"
        elif seen["digest"] == digest:
            return None
        else:
            paths = list(changed_paths(seen["event"]["demande"], event["demande"]))
            ren = "demandeLogement.renouvellement.dateRenouvellement"
            event["operation"] = "REN" if ren in paths else "MOD"
            event["changedFields"] = paths
        seed = f"{digest_seed}|{event['operation']}"
        event.update(numUnique=num, eventId=str(uuid.uuid5(_NS, seed)))
        return event, digest

    def poll_once(self, today: date | None = None) -> PollReport:
        """One pass (module doc); raises only what fails the whole pass."""
        today = today or date.today()
        report = PollReport()
        search = active_demands(
            self.client, self.cfg.poll_communes, date.fromisoformat(self.cfg.poll_since), today
        )
        active, report.incomplete = search.numbers, search.given_up
        since = date.fromisoformat(self.watermark("radiations") or self.cfg.poll_since)
        for num in self.client.radiations_since(since):
            active[num] = None
        # a demand radiated with an earlier date, or that stopped wishing our communes
        with self.engine.connect() as conn:
            for row in conn.execute(select(poll_seen.c.num_unique, poll_seen.c.event)):
                if row.event.get("operation") not in (RAD, SUP):
                    active.setdefault(row.num_unique, None)
        unknown: list[str] = []
        for num in active:
            self._one(num, report, unknown)
        self._deleted(unknown, report)
        self._set_watermark("radiations", today.isoformat())
        for line in report.incomplete:
            log.error("SNE poller: pass incomplete: %s", line)
        if not report.incomplete:
            dated = [e["occurredAt"] for e in report.published if e["operation"] != SUP]
            newest = max(dated, default=None)
            recorder.sne_poll_succeeded(POLLER, None if newest is None else newest / 1000.0)
        return report

    def _one(self, num: str, report: PollReport, unknown: list[str]) -> None:
        """Compare and publish one demand; its refusals stay its own (module doc). A
        demand published before and now unknown to the SNE goes to ``unknown``."""
        try:
            found = self._compare(num)
        except SneUnknownDemande:
            seen = self._seen(num)
            if seen is not None and seen["event"]["operation"] != SUP:
                unknown.append(num)
            else:  # never published (or already deleted): nobody to tell
                report.unchanged += 1
            return
        except HubError as exc:
            if exc.retriable or isinstance(exc, ConfigError):
                raise  # the SNE down, or no SNE: the whole pass, not this demand
            log.warning(
                "SNE poller: demand %s not read from the SNE (%s: %s); again at the next pass",
                num,
                exc.code,
                exc.message,
            )
            report.refused += 1
            return
        if found is None:
            report.unchanged += 1
            return
        event, digest = found
        prepared = self._prepared(num, event, report, "demand")
        if prepared is None:
            return
        self._publish([prepared])
        self._record(num, digest, event)
        report.published.append(event)

    @staticmethod
    def _prepared(num: str, event: dict[str, Any], report: PollReport,
                  what: str) -> PreparedEvent | None:  # fmt: skip
        """``event`` checked and encoded, or None (logged, counted ``refused``: retried at
        the next pass) when the hub refuses it."""
        try:
            return prepare_event(event)
        except HubError as exc:
            log.warning("SNE poller: %s %s refused by the hub (%s)", what, num, exc.code)
            report.refused += 1
            return None

    def _deleted(self, unknown: list[str], report: PollReport) -> None:
        """A ``SUP`` for each demand of ``unknown`` (published before, unknown to the SNE
        now), unless they are more than ``sne.poll_max_deletions`` (module doc)."""
        limit = self.cfg.poll_max_deletions
        if len(unknown) > limit:
            report.incomplete.append(
                f"{len(unknown)} demands published before are unknown to the SNE (NUMINCONNU), "
                f"more than sne.poll_max_deletions ({limit}): no SUP published, they are read "
                "again at the next pass. Is sne.url the right SNE? If it did delete them, "
                "raise HUB_SNE__POLL_MAX_DELETIONS"
            )
            return
        for num in unknown:
            seen = self._seen(num) or {}
            event: dict[str, Any] = {
                # one id per deletion of this snapshot: a republish after a crash dedups
                "eventId": str(uuid.uuid5(_NS, f"{seen.get('digest')}|{SUP}|{num}")),
                "numUnique": num,
                "operation": SUP,
                "occurredAt": int(datetime.now(UTC).timestamp() * 1000),
                "source": SOURCE,
            }
            prepared = self._prepared(num, event, report, "deletion of")
            if prepared is None:
                continue
            self._publish([prepared])
            # the snapshot of a deleted demand is kept no longer; the digest stays
            self._record(num, str(seen.get("digest") or ""), {**event, "demande": None})
            log.warning(
                "SNE poller: demand %s unknown to the SNE (NUMINCONNU): deleted there, SUP "
                "published",
                num,
            )
            report.published.append(event)
            report.deleted += 1
