"""Change capture from the SNE (no push since 2017): ``hub sne-poll``.

One pass (:meth:`SnePoller.poll_once`):

1. for each commune of ``sne.poll_communes``, search the active demands wishing it, one
   search per yearly dépôt window from ``sne.poll_since`` (keeps each answer small);
2. fetch each demand, compare its snapshot with the one last published (table
   ``sne_poll_seen``): unseen → ``CRE``; renewal date changed → ``REN``; other change →
   ``MOD`` with ``changedFields`` (dotted paths of the differing fields); unchanged →
   nothing;
3. also fetch the radiations since the watermark ``radiations`` (table
   ``sne_poll_watermarks``) and every demand published before and not yet as radiated (a
   radiation may be dated before the watermark): a demand carrying ``radiation`` →
   ``RAD``, once;
4. publish, then record (at least once: a crash in between republishes the same
   ``eventId``, derived from the snapshot digest, which consumers deduplicate), then move
   the watermark to today. Watermarks and snapshots survive restarts.

A demand the hub cannot accept (e.g. a commune missing from the geography table) is
logged by numéro with the reason and retried at the next pass, never recorded as seen.

A pass that completes (watermark moved) feeds the ``PasserelleSnePollerBehind`` alert
(poller ``demandes``): ``passerelle_sne_poller_last_success_timestamp_seconds`` = now, and,
when the pass published changes, ``passerelle_sne_poller_behind_seconds`` = now minus the
newest ``occurredAt`` (the document's ``dateFichier``) among them. A failed pass feeds
neither: the time since the last success grows.
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
from connectors.sne.tables import poll_seen, poll_watermarks
from hub.core.backoff import Backoff
from hub.core.db import write_transaction
from hub.core.errors import HubError
from hub.core.settings import SneSettings
from monitoring import recorder

log = logging.getLogger(__name__)
_NS = uuid.uuid5(uuid.NAMESPACE_URL, "urn:passerelle:sne-poller")
#: poller label of the poller metrics (the demands poller; an events poller would be another)
POLLER = "demandes"
#: publishes a pass's events (returns how many); a coroutine function is awaited on the
#: event loop serving :meth:`SnePoller.run`
Publish = Callable[[list[PreparedEvent]], int | Awaitable[int]]


@dataclass
class PollReport:
    published: list[dict[str, Any]] = field(default_factory=list)
    unchanged: int = 0
    refused: int = 0


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
    capped at ``interval``); any other error ends :meth:`run`. ``stats.counts``:
    ``published``, ``unchanged`` and ``refused`` demands. Metrics: the SNE client's
    connector calls (``sne_soap``) and the poller's success and lag gauges."""

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

    def _windows(self, today: date) -> Iterator[tuple[str, str]]:
        start = date.fromisoformat(self.cfg.poll_since)
        for year in range(start.year, today.year + 1):
            lo = max(start, date(year, 1, 1))
            yield lo.isoformat(), min(today, date(year, 12, 31)).isoformat()

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
        """The event to publish for ``num`` and its digest, None when nothing changed."""
        event = parse_demande_xml(self.client.get_demande(num), validate=False, source="sne-poller")
        radiated = bool((event["demande"]["demandeLogement"] or {}).get("radiation"))
        digest = _digest(event["demande"])
        seen = self._seen(num)
        if radiated:
            if seen is not None and seen["event"]["operation"] == "RAD":
                return None
            event["operation"] = "RAD"
        elif seen is None:
            event["operation"] = "CRE"
        elif seen["digest"] == digest:
            return None
        else:
            paths = list(changed_paths(seen["event"]["demande"], event["demande"]))
            ren = "demandeLogement.renouvellement.dateRenouvellement"
            event["operation"] = "REN" if ren in paths else "MOD"
            event["changedFields"] = paths
        event.update(numUnique=num, eventId=str(uuid.uuid5(_NS, f"{digest}|{event['operation']}")))
        return event, digest

    def poll_once(self, today: date | None = None) -> PollReport:
        today = today or date.today()
        report = PollReport()
        active: dict[str, None] = {}
        for commune in self.cfg.poll_communes:
            for lo, hi in self._windows(today):
                for num in self.client.search(
                    etatDemande="A", dateDepotDebut=lo, dateDepotFin=hi, communeSouhaitee=commune
                ):
                    active[num] = None
        since = date.fromisoformat(self.watermark("radiations") or self.cfg.poll_since)
        for num in self.client.radiations_since(since):
            active[num] = None
        # a demand radiated with an earlier date, or that stopped wishing our communes
        with self.engine.connect() as conn:
            for row in conn.execute(select(poll_seen.c.num_unique, poll_seen.c.event)):
                if row.event.get("operation") != "RAD":
                    active.setdefault(row.num_unique, None)
        for num in active:
            found = self._compare(num)
            if found is None:
                report.unchanged += 1
                continue
            event, digest = found
            if event["operation"] == "RAD" and self._seen(num) is None:
                report.unchanged += 1  # radiated before the hub ever saw it: nobody to tell
                continue
            try:
                prepared = prepare_event(event)
            except HubError as exc:
                log.warning("SNE poller: demand %s refused by the hub (%s)", num, exc.code)
                report.refused += 1
                continue
            self._publish([prepared])
            self._record(num, digest, event)
            report.published.append(event)
        self._set_watermark("radiations", today.isoformat())
        newest = max((e["occurredAt"] for e in report.published), default=None)
        recorder.sne_poll_succeeded(POLLER, None if newest is None else newest / 1000.0)
        return report
