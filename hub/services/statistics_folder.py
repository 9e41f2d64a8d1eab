"""Folding a batch of hub.demandes records into the statistics' facts (no Kafka here: the
connector that reads the topic is :mod:`hub.services.statistics_fold`).

Contracts of :meth:`Folder.fold`:

* Records are taken in the order given (a partition's order); each ends as exactly one
  outcome, counted: ``folded``; ``duplicate`` (already folded: same event id among the
  demand's recent ones, or a position at or before the one folded —
  :func:`hub.domain.statistics_facts.applies`); ``other_record`` (the hub's own controls and
  ticks, not demand events); or a refusal, by the reason the dispatch worker gives the same
  record (``tombstone``, ``missing_key``, ``oversize``, ``undecodable``, ``key_mismatch``,
  ``unknown_commune``…, ``demande_existante`` for a creation of a demand folded and not
  deleted — the worker skips it instead when it is the very snapshot it holds, either way
  the fact stays as it was; ``demande_attribuee`` and ``reactivation_hors_delai`` for a
  change of a demand folded radiated that may not come back,
  :func:`hub.domain.decisions.check_revival`; an unexpected failure on one record is
  ``internal_error``). A refused
  record is logged (reason, position; never its content) and skipped: it never stops the
  fold nor costs another record. It is not dead-lettered here: the worker reading the same
  topic dead-letters it, and a replay from hub.dlq comes back through hub.demandes, so the
  fold sees it then. A change the database refuses for its data (not an outage) is
  ``unstorable``; the rest of the batch is stored.
* The batch's changes are written in one transaction (:meth:`StatisticsStore.write`); a
  database outage is a :class:`~hub.core.errors.TransientError` and nothing is written.
* **Only over the marks it read**: the write is conditional on the stored marks of the
  batch's demands being those the batch was decided from; when another fold wrote one of
  them since (two folds overlapping on a partition: a rebalance, two groups on one
  database), nothing is written and the batch is decided again from the fresh marks,
  where what the other fold wrote is a ``duplicate``: a slower fold never writes an older
  fact over a newer one. After :data:`MAX_REFOLDS` such attempts, a
  :class:`~hub.core.errors.TransientError` (the connector backs off and reads again).
* Each fact carries its score per wished EPCI whose grid is in force on the event's date:
  :func:`hub.domain.cotation.score` with the declarations in force and the EPCI's quartile
  thresholds as the facts stand before the batch.
* Département gauges (``passerelle_statistics_stock_actif``) are set for every
  département the batch touched, and removed below 11 active demands.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.exc import DBAPIError, OperationalError

from dispatch.letters import check_key, screen
from hub.core.errors import HubError, InputError, InvalidNumUniqueError, TransientError
from hub.domain.cotation import Grilles, SeuilsQuartiles, faits, score, shipped_grids
from hub.domain.cotation.faits import parse_date
from hub.domain.decisions import (
    CREATIONS,
    EXISTING,
    as_received,
    check_revival,
    cycle_start,
    validate_event,
)
from hub.domain.geo import Geography, get_geography
from hub.domain.refdata import PENDING_NUM_UNIQUE
from hub.domain.renewal import renewal_tokens
from hub.domain.state import DemandeState
from hub.domain.statistics import SEUIL_SECRET
from hub.domain.statistics_facts import Mark, applies, event_date, fait_of
from hub.stores.cotation.store import DeclarationStore
from hub.stores.statistics.store import Change, Prior, StaleMarks, StatisticsStore
from monitoring.metrics import STATISTICS_RECORDS, STATISTICS_STOCK
from schemas import Codec, get_codec

log = logging.getLogger(__name__)

#: the records of hub.demandes that are not demand events, written by the hub itself
OTHER_RECORDS = frozenset({"DispatchControl", "DispatchTick", "DispatchResume", "DispatchPurge"})
#: larger records are refused, as the worker's default (worker.max_record_bytes)
MAX_RECORD_BYTES = 262_144
#: attempts at a batch whose demands another fold keeps writing (module doc)
MAX_REFOLDS = 5


@dataclass(frozen=True, slots=True)
class Record:
    """One record of hub.demandes as read."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def set_gauges(stock: dict[str, int]) -> None:
    """The département gauges for ``stock`` (absent below the secrecy threshold)."""
    for dep, n in stock.items():
        if n >= SEUIL_SECRET:
            STATISTICS_STOCK.labels(departement=dep).set(n)
        else:
            with contextlib.suppress(KeyError):
                STATISTICS_STOCK.remove(dep)


class Folder:
    """Folds batches of records into a :class:`StatisticsStore` (module doc)."""

    def __init__(
        self,
        store: StatisticsStore,
        declarations: DeclarationStore,
        *,
        geography: Geography | None = None,
        grids: Grilles | None = None,
        codec: Codec | None = None,
        max_record_bytes: int = MAX_RECORD_BYTES,
    ) -> None:
        self.store = store
        self.declarations = declarations
        self.geo = geography or get_geography()
        self.grids = grids or shipped_grids()
        self.codec = codec or get_codec()
        self.max_record_bytes = max_record_bytes

    def _decode(self, r: Record) -> tuple[str, dict[str, Any]]:
        screen(r.value, r.key, self.max_record_bytes)
        assert r.value is not None
        name, body = self.codec.decode(r.value)
        if name in OTHER_RECORDS:
            return name, body
        if name != "DemandeEvent":
            raise InputError(f"a {name} record in hub.demandes", code="unexpected_record")
        check_key(r.key, body["numUnique"])
        if body["numUnique"] == PENDING_NUM_UNIQUE:  # as the worker: never a demand's
            raise InvalidNumUniqueError("the stand-in numéro of a creation not numbered yet")
        validate_event(body)
        return name, body

    def _scores(
        self, event: dict[str, Any], epcis: Sequence[str], seuils: dict[str, SeuilsQuartiles | None]
    ) -> dict[str, int]:
        on, snapshot, out = event_date(event), event.get("demande") or {}, {}
        for epci in epcis:
            grid = self.grids.en_vigueur(epci, on)
            if grid is None:
                continue
            if epci not in seuils:
                seuils[epci] = self.store.seuils(epci)
            # the declarations of this demand's life known now (audit R, R-F5: without its
            # life, every declaration the API records was left out): the similar demands'
            # scores are compared with the applicant's own score of today
            declared = self.declarations.in_force(
                event["numUnique"], epci, faits.date_creation(snapshot)
            )
            out[epci] = score(snapshot, grid, declared, on, seuils[epci]).total
        return out

    def fold(self, records: Sequence[Record]) -> Counter[str]:
        """Fold ``records`` (module doc); the outcomes counted."""
        outcomes: Counter[str] = Counter()
        decoded: list[tuple[Record, dict[str, Any]]] = []
        for r in records:
            try:
                name, body = self._decode(r)
            except HubError as exc:
                if exc.retriable:
                    raise
                self._refused(outcomes, r, exc)
                continue
            except Exception as exc:  # a defect must not cost the records behind it
                self._refused(outcomes, r, HubError(type(exc).__name__, code="internal_error"))
                continue
            if name in OTHER_RECORDS:
                outcomes["other_record"] += 1
            else:
                decoded.append((r, body))
        for attempt in range(1, MAX_REFOLDS + 1):
            counted = outcomes.copy()  # an attempt given up counts nothing
            try:
                touched = self._fold_decoded(decoded, counted)
                break
            except StaleMarks as exc:  # another fold wrote them since read: decide again
                log.info(
                    "statistics fold: %d demand(s) written by another fold meanwhile; "
                    "batch folded again (%d/%d)",
                    len(exc.nums),
                    attempt,
                    MAX_REFOLDS,
                )
        else:
            raise TransientError("statistics fold: another fold keeps writing the batch's demands")
        set_gauges(self.store.stock_actif(touched))
        for outcome, n in counted.items():
            STATISTICS_RECORDS.labels(outcome=outcome).inc(n)
        return counted

    def _fold_decoded(
        self, decoded: list[tuple[Record, dict[str, Any]]], outcomes: Counter[str]
    ) -> set[str]:
        """Decide and write the decoded demand events from their stored marks, counting
        each; the départements touched. :class:`StaleMarks` when the marks read are not
        the stored ones any more at the write (nothing written)."""
        priors: dict[str, Prior] = self.store.priors(b["numUnique"] for _, b in decoded)
        marks: dict[str, Mark] = {n: p.mark for n, p in priors.items()}
        read = dict(marks)  # what the write is conditional on
        live = {n for n, p in priors.items() if p.live}
        # radiated demands: (motive, creation date, cycle start, cycle known), as folded
        # before this record
        radiated = {n: (p.motif_radiation, p.date_creation, p.debut_cycle,
                        p.renouvellement is not None)
                    for n, p in priors.items() if p.radiated}  # fmt: skip
        # the clock's renewal token of each demand folded (None: a row written before
        # migration 0016, its cycle unknown)
        tokens = {n: p.renouvellement for n, p in priors.items()}
        touched = {p.departement for p in priors.values() if p.departement}
        seuils: dict[str, SeuilsQuartiles | None] = {}
        changes: list[Change] = []
        for r, event in decoded:
            num = event["numUnique"]
            prior = marks.get(num)
            if not applies(prior, event["eventId"], r.partition, r.offset):
                outcomes["duplicate"] += 1
                continue
            if event["operation"] in CREATIONS and num in live:  # as the worker: a takeover
                self._refused(outcomes, r, InputError("creation of an existing demand",
                                                      code=EXISTING))  # fmt: skip
                continue
            if num in radiated:  # as the worker: what may bring a radiated demand back
                try:
                    self._check_revival(event, *radiated[num])
                except InputError as exc:
                    self._refused(outcomes, r, exc)
                    continue
            mark = (prior or Mark(-1, -1, ())).after(event["eventId"], r.partition, r.offset)
            try:
                fait, token, start = None, None, None
                if event["operation"] != "SUP":
                    fait = fait_of(event, self.geo)
                    fait = replace(fait, scores=self._scores(event, fait.epcis_souhaites, seuils))
                    was = (num in live, num not in radiated, tokens.get(num))
                    token, start = self._cycle(event, fait.active, *was)
            except HubError as exc:
                if exc.retriable:
                    raise
                self._refused(outcomes, r, exc)
                continue
            except Exception as exc:  # a defect: this record only
                self._refused(outcomes, r, HubError(type(exc).__name__, code="internal_error"))
                continue
            marks[num] = mark  # a SUP's too: its events published again stay duplicates
            if fait is None:
                live.discard(num)
            else:
                live.add(num)
            tokens[num] = token
            if fait is not None and not fait.active:
                radiated[num] = (fait.motif_radiation, fait.date_creation, start, True)
            else:
                radiated.pop(num, None)
            if fait is not None and fait.departement:
                touched.add(fait.departement)
            changes.append(Change(num, fait, mark, token, start))
            outcomes["folded"] += 1
        self._write(changes, outcomes, read)
        return touched

    @staticmethod
    def _cycle(
        event: dict[str, Any], active: bool, live: bool, was_active: bool, kept: str | None
    ) -> tuple[str, dt.date | None]:
        """The renewal cycle of the demand after ``event`` as the dispatch worker reckons
        it: the renewal token its clock keeps (:func:`hub.domain.renewal.renewal_tokens`,
        ``''`` for none) and the cycle's start (:func:`hub.domain.decisions.cycle_start`).
        The demand as folded before: ``live`` (a demand, not a deletion marker nor never
        folded), ``was_active``, the token ``kept`` (None: unknown, a row written before
        migration 0016 — taken as none)."""
        op = as_received(event)["operation"]
        before = None
        if live and op not in CREATIONS:
            before = DemandeState(event["numUnique"], 0, was_active, frozenset(), "", "MOD", 0,
                                  notices_sent=(kept,) if kept else ())  # fmt: skip
        state = DemandeState(event["numUnique"], 0, active, frozenset(), event["eventId"], op,
                             int(event["occurredAt"]), demande=event.get("demande"))  # fmt: skip
        state = replace(state, notices_sent=renewal_tokens(before, state))
        return (state.notices_sent[0] if state.notices_sent else ""), cycle_start(state)

    @staticmethod
    def _check_revival(
        event: dict[str, Any],
        motive: str | None,
        created: Any,
        start: dt.date | None = None,
        known: bool = False,
    ) -> None:
        """:func:`hub.domain.decisions.check_revival` for ``event`` on a demand folded
        radiated with ``motive``, whose cycle started on ``start`` (as the worker holds it:
        stored with the facts, migration 0016). When the cycle is not ``known`` (a row
        written before that migration), it is taken as before: the event's snapshot's
        renewal date, else its creation date, else the one folded (docs/statistics.md,
        "Refused records")."""
        if not known:
            inner = (event.get("demande") or {}).get("demandeLogement") or {}
            start = parse_date((inner.get("renouvellement") or {}).get("dateRenouvellement"))
            start = start or parse_date(inner.get("dateCreationDemande")) or created
        check_revival(as_received(event)["operation"], event["occurredAt"], motive, start)

    def _write(self, changes: list[Change], outcomes: Counter[str], read: dict[str, Mark]) -> None:
        """The batch in one transaction, over the marks ``read``; if the database refuses
        it for its data (not an outage: that one is retried whole), change by change, each
        refused one counted ``unstorable`` instead of ``folded`` — one bad record never
        blocks the topic. Raises :class:`StaleMarks` as :meth:`StatisticsStore.write`."""
        try:
            self.store.write(changes, read)
        except DBAPIError as exc:
            if isinstance(exc, OperationalError):
                raise
            expected = dict(read)  # each change over the one stored before it
            for change in changes:
                num = change.num_unique
                try:
                    self.store.write([change], {num: expected[num]} if num in expected else {})
                    expected[num] = change.mark
                except DBAPIError as one:
                    if isinstance(one, OperationalError):
                        raise
                    outcomes["folded"] -= 1
                    outcomes["unstorable"] += 1
                    log.warning(
                        "statistics fold: record %d:%d not stored (%s)",
                        change.mark.partition,
                        change.mark.offset,
                        type(one).__name__,
                    )

    @staticmethod
    def _refused(outcomes: Counter[str], r: Record, exc: HubError) -> None:
        outcomes[exc.code] += 1
        log.warning("statistics fold: record %d:%d refused (%s)", r.partition, r.offset, exc.code)
