"""Gestion partagée events of a demand the worker does not know yet: parked, then released.

The dispatch processor reads ``hub.evenements`` with ``hub.demandes`` (one agent, both
topics co-partitioned), but nothing orders one topic against the other: a GP event may be
read before its demand's first event (both in a backlog after a restart, an event recorded
just after a creation, a connector publishing both at once). It used to reach nobody.

Per ``hub.evenements`` record (:meth:`Parking.on_record`, decoded and its key checked),
with the demand's state as the batch sees it (this batch, the unsettled ones, the store):

* **known and deleted** (the inactive state a ``SUP`` leaves): ``hub.dlq``, reason
  ``deleted_demande`` (its holders were withdrawn: nobody may receive it);
* **known** (live, or radiated: inactive): an ``EVENEMENT`` feed record to each recipient
  and the ``RAD`` an irrecevabilité leads to (:func:`dispatch.evenements.fan_out`);
* **unknown**: **parked** in the partition's state (:mod:`dispatch.parked`), unless the
  partition holds ``max_parked`` already (``hub.dlq``, ``parking_full``), the record is too
  large to park (``oversize``) or its numéro is one no demand can have (refused at once).

**Release.** When a demand's state is first stored (its first event decided,
:meth:`Parking.on_created`), its parked events are released in the same batch, in arrival
order, right after the demand's own records and before anything later of the demand:
delivered by the rule above to the new state's recipients; one that cannot be (too
large, deleted) goes to ``hub.dlq`` with its reason, never costing the demand's event.

**Expiry.** A ``DispatchTick`` (:meth:`Parking.on_tick`) sends each event parked more
than ``ttl_ms`` before the tick's ``now`` to ``hub.dlq`` with reason ``unknown_demande``
(at most ``expire_chunk`` per tick and partition): ``hub dlq replay`` puts it back on
``hub.evenements`` once the demand exists.

Parking and release are writes of the batch like its states: stored only once every output
of the batch is acknowledged, before its inputs are committed. A crash replays the inputs:
a record parked already (its offset listed) is not parked twice; a release decided again
sends the same records (same ``eventId``). The release's removals are stored after the
new state: a crash in between leaves parked events of a known demand, which their expiry
delivers again rather than dead-letters.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from dispatch.evenements import EVENEMENT, fan_out
from dispatch.known_letters import refusal_identity
from dispatch.letters import check_key, check_outputs, dead_letter, refusal
from dispatch.parked import (
    Parked,
    decode,
    demand_key,
    encode,
    event_key,
    expiry_key,
    expiry_keys,
    offsets,
    pack_offsets,
    parse_expiry,
)
from dispatch.ports import InputRecord
from dispatch.sending import Output
from hub.core import topics
from hub.core.errors import HubError, InputError
from hub.domain.refdata import check_num_unique
from hub.domain.state import DemandeState

if TYPE_CHECKING:
    from dispatch.batch import Batch

log = logging.getLogger(__name__)

#: outcomes counted in ``BatchStats.parked`` (metric passerelle_evenements_parking_total)
PARKED, DELIVERED, UNKNOWN, FULL, REFUSED = (
    "parked", "delivered", "unknown_demande", "parking_full", "refused")  # fmt: skip


def deleted(state: DemandeState) -> bool:
    """Whether ``state`` is what a deletion (``SUP``) left: inactive, last operation SUP.
    A radiated demand is inactive too, but its holders still hold it."""
    return not state.active and state.last_operation == "SUP"


class Parking:
    """The parking rules of one worker (module doc); its data is in the batches' store."""

    def __init__(self, max_parked: int = 10_000, ttl_ms: int = 7 * 86_400_000,
                 expire_chunk: int = 1000) -> None:  # fmt: skip
        self.max_parked = max_parked
        self.ttl_ms = ttl_ms
        self.expire_chunk = expire_chunk

    # -- hub.evenements ------------------------------------------------------------------
    def on_record(self, batch: Batch, rec: InputRecord) -> None:
        """Deliver, park or refuse (raise the refusal) one screened record."""
        assert rec.value is not None  # screened by the processor
        evenement = batch.proc.codec.decode_as(rec.value, "EvenementGP")
        num = evenement["numUnique"]
        check_key(rec.key, num)
        state = batch.state(num.encode(), rec.partition)
        if state is None:
            self._park(batch, rec, num)
        else:
            batch.outputs.extend(self._outputs(batch, evenement, state))

    def _outputs(self, batch: Batch, evenement: dict[str, Any],
                 state: DemandeState) -> list[Output]:  # fmt: skip
        """The event's outputs for a known demand (counted), or the refusal raised."""
        if deleted(state):
            raise InputError("gestion partagée event of a deleted demand (SUP): its holders "
                             "were withdrawn", code="deleted_demande")  # fmt: skip
        out = fan_out(evenement, state, batch.index, batch.proc.codec, batch.now_ms)
        check_outputs(out, batch.proc.max_output_bytes)
        stats = batch.stats
        for actor_id in state.recipients:
            stats.deliveries[EVENEMENT] = stats.deliveries.get(EVENEMENT, 0) + 1
            by = (actor_id, EVENEMENT)
            stats.by_actor[by] = stats.by_actor.get(by, 0) + 1
        return out

    def _park(self, batch: Batch, rec: InputRecord, num: str) -> None:
        assert rec.value is not None
        check_num_unique(num)  # else parked for nothing until it expires
        listed = offsets(batch.get(demand_key(num), rec.partition))
        if rec.offset in listed:
            return  # parked already: read again after a restart or a rebalance
        count = self._count(batch, rec.partition)
        if count >= self.max_parked:
            self._counted(batch, FULL)
            raise InputError(f"{count} gestion partagée events of unknown demands parked in "
                             f"partition {rec.partition} already (worker."
                             "parked_evenements_max): not parked", code="parking_full")  # fmt: skip
        parked = Parked(rec.offset, batch.now_ms, rec.value, rec.headers)
        blob = encode(parked)
        key = event_key(num, rec.offset)
        # a changelog record the producer would refuse at every try: refused instead
        check_outputs([("the parking of hub.evenements", key, blob)], batch.proc.max_output_bytes)
        batch.put_raw(key, rec.partition, blob)
        batch.put_raw(expiry_key(parked.at, num, rec.offset), rec.partition, b"")
        # last: an offset the list holds always has its record stored before it
        batch.put_raw(demand_key(num), rec.partition, pack_offsets([*listed, rec.offset]))
        batch.stats.parked_now[rec.partition] = count + 1
        self._counted(batch, PARKED)

    # -- the demand's first state ---------------------------------------------------------
    def on_created(self, batch: Batch, partition: int, state: DemandeState) -> None:
        """Release the parked events of a demand whose first state ``batch`` just decided
        (after its own records). Never raises for one event: its letter goes instead."""
        num = state.num_unique
        listed = offsets(batch.get(demand_key(num), partition))
        if not listed:
            return
        batch.put_raw(demand_key(num), partition, None)
        for offset in listed:
            key = event_key(num, offset)
            raw = batch.get(key, partition)
            try:
                parked = decode(b"" if raw is None else raw)
            except ValueError:  # cannot be (written before the list): kept for a look
                log.error("parked gestion partagée event unreadable (partition %d, offset "
                          "%d): left in the store", partition, offset)  # fmt: skip
                continue
            self._release(batch, partition, num, parked, state)
            batch.put_raw(key, partition, None)
            batch.put_raw(expiry_key(parked.at, num, offset), partition, None)
        self._recount(batch, partition)
        log.info("released %d parked gestion partagée event(s) of a demand first dispatched "
                 "in partition %d", len(listed), partition)  # fmt: skip

    def _release(self, batch: Batch, partition: int, num: str, parked: Parked,
                 state: DemandeState) -> None:  # fmt: skip
        try:
            evenement = batch.proc.codec.decode_as(parked.value, "EvenementGP")
            out = self._outputs(batch, evenement, state)
        except Exception as exc:
            if isinstance(exc, HubError) and exc.retriable:
                raise
            self._letter(batch, partition, num, parked, refusal(exc))
            self._counted(batch, REFUSED)
            return
        batch.outputs.extend(out)
        self._counted(batch, DELIVERED)

    # -- the clock ------------------------------------------------------------------------
    def on_tick(self, batch: Batch, partition: int, now_ms: int) -> None:
        """Dead-letter (``unknown_demande``) what ``partition`` parked more than ``ttl_ms``
        before ``now_ms``; count what stays parked."""
        for key in expiry_keys(batch, partition, limit=self.expire_chunk,
                               until=now_ms - self.ttl_ms):  # fmt: skip
            try:
                self._expire(batch, partition, key)
            except Exception as exc:  # a defect: the entry stays for the next tick
                if isinstance(exc, HubError) and exc.retriable:
                    raise
                log.exception("parked gestion partagée event not expired (partition %d)",
                              partition)  # fmt: skip
        self._recount(batch, partition)

    def _expire(self, batch: Batch, partition: int, key: bytes) -> None:
        at, offset, num = parse_expiry(key)
        raw = batch.get(event_key(num, offset), partition)
        if raw is None or decode(raw).at != at:
            batch.put_raw(key, partition, None)  # released, or parked again since: stale
            return
        parked = decode(raw)
        state = batch.state(num.encode(), partition)
        if state is None:
            self._letter(batch, partition, num, parked, InputError(
                f"no demand reached the worker within {self.ttl_ms // 1000} s of this "
                "gestion partagée event (worker.parked_evenement_ttl_s): replay it once the "
                "demand is dispatched", code="unknown_demande"))  # fmt: skip
            self._counted(batch, UNKNOWN)
        else:  # a crash left it after its demand's creation had delivered it
            self._release(batch, partition, num, parked, state)
        batch.put_raw(event_key(num, offset), partition, None)
        batch.put_raw(key, partition, None)
        rest = [o for o in offsets(batch.get(demand_key(num), partition)) if o != offset]
        batch.put_raw(demand_key(num), partition, pack_offsets(rest))

    # -- letters and counts ---------------------------------------------------------------
    def _letter(self, batch: Batch, partition: int, num: str, parked: Parked,
                exc: HubError) -> None:  # fmt: skip
        """The dead letter of a parked record, as the processor writes one of an input."""
        key = num.encode()
        identity = refusal_identity(topics.EVENEMENTS, partition, parked.offset, exc.code,
                                    key, parked.value)  # fmt: skip
        if identity not in batch.proc.known_letters:
            batch.outputs.append(dead_letter(
                batch.proc.codec, exc, topic=topics.EVENEMENTS, partition=partition,
                offset=parked.offset, key=key, value=parked.value, now_ms=batch.now_ms,
                headers=parked.headers))  # fmt: skip
            batch.letters.append(identity)
        stats = batch.stats
        stats.dead_letters += 1
        stats.dead_letter_reasons[exc.code] = stats.dead_letter_reasons.get(exc.code, 0) + 1

    def _count(self, batch: Batch, partition: int) -> int:
        """Events parked in ``partition`` (at most ``max_parked`` + 1 are counted), once per
        batch: the batch keeps the count up to date as it parks."""
        known = batch.stats.parked_now.get(partition)
        if known is None:
            known = self._recount(batch, partition)
        return known

    def _recount(self, batch: Batch, partition: int) -> int:
        n = len(expiry_keys(batch, partition, limit=self.max_parked + 1))
        batch.stats.parked_now[partition] = n
        return n

    @staticmethod
    def _counted(batch: Batch, outcome: str) -> None:
        batch.stats.parked[outcome] = batch.stats.parked.get(outcome, 0) + 1
