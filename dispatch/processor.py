"""The dispatch processor: one batch of hub.demandes records in, feed records out.

Contract, per batch:
1. every record is decoded and decided in input order (per-demand order is input order);
2. every feed record and dead letter is sent, and **all sends are acknowledged**;
3. only then is the new state of each demand stored.
So a crash at any point replays inputs whose state was not stored; those replays produce
the same records with the same event ids (at-least-once, duplicates dedupable), and
inputs whose state was stored are recognised (event id / offset) and skipped.
Bad input goes to hub.dlq with its reason, a valid event whose feed record the producer
could not send (above ``max_output_bytes``) included: refused before any of its records
or its state joins the batch. ``max_consecutive_dead_letters`` in a row stop the
processor (:class:`TooManyDeadLetters`) instead of dead-lettering everything; a refusal by
a domain rule (``dispatch.letters.DOMAIN_REFUSALS``) is no step towards it.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterable, Sequence, Set
from typing import Any

from dispatch import chains, deadlines, redispatch, territory
from dispatch.batch import Batch, memo_entries
from dispatch.batchstats import BatchStats as BatchStats
from dispatch.batchstats import Submitted as Submitted
from dispatch.changes import Change, change_of
from dispatch.deadlines import Deadlines
from dispatch.emit import feed_outputs
from dispatch.known_letters import KnownLetters, refusal_identity
from dispatch.letters import (
    DOMAIN_REFUSALS,
    check_key,
    check_outputs,
    dead_letter,
    refusal,
    replay_info,
    screen,
)
from dispatch.parking import Parking
from dispatch.ports import InputRecord as InputRecord
from dispatch.ports import StateStore as StateStore
from dispatch.ports import partition_of
from dispatch.purge import purge_key, purgeable
from dispatch.sending import (
    DeliveryError,
    Output,
    Sender,
    enqueue,
    recover,
    resend_until_acknowledged,
    send_all,
    to_send_again,
    wait_acks,
)
from dispatch.snapshotbytes import snapshot_bytes
from hub.core import topics
from hub.core.errors import DecodeError, HubError, InputError
from hub.domain.authorship import REFUSED_WRITE, refused_write_event_id, refused_writer
from hub.domain.decisions import RETRAIT, Decision, Delivery, as_received, decide
from hub.domain.matching import TerritoryIndex
from hub.domain.profiles import written_changes
from hub.domain.state import DemandeState
from schemas import Codec

log = logging.getLogger(__name__)


class TooManyDeadLetters(HubError):
    code = "too_many_dead_letters"


#: the largest chunk a DispatchResume may fix (dispatch/redispatch.py)
MAX_CHUNK = 100_000


class Processor:
    def __init__(
        self,
        index: TerritoryIndex,
        codec: Codec,
        store: StateStore,
        sender: Sender,
        *,
        max_consecutive_dead_letters: int = 1000,
        max_record_bytes: int = 262_144,
        max_output_bytes: int = 1_000_000,
        redispatch_chunk: int = 125,
        clock: Callable[[], float] = time.time,
        deadlines: Deadlines | None = None,
        due_chunk: int = 5000,
        parking: Parking | None = None,
    ) -> None:
        self.index = index
        self.codec = codec
        self.store = store
        self.sender = sender
        self.max_consecutive_dead_letters = max_consecutive_dead_letters
        self.max_record_bytes = max_record_bytes
        #: the producer's max_request_size (WorkerSettings.PRODUCER_MAX_REQUEST_BYTES)
        self.max_output_bytes = max_output_bytes
        self.redispatch_chunk = redispatch_chunk
        self._partition_keys: dict[int, bytes] = {}
        self._clock = clock
        #: the demand's clock: thresholds and due entries (dispatch.deadlines)
        self.deadlines = deadlines if deadlines is not None else Deadlines()
        self.due_chunk = due_chunk
        #: hub.evenements records: delivered, or parked until their demand is (dispatch.parking)
        self.parking = parking if parking is not None else Parking()
        self._snapshots = snapshot_bytes(codec)
        self._consecutive_dead = 0
        #: letters known on hub.dlq (dispatch.known_letters): read at start, and this
        #: process's once acknowledged; a refusal among them is counted, not written again
        #: (a restart after TooManyDeadLetters, a batch decided again after a rebalance)
        self.known_letters = KnownLetters()
        #: submitted batches not yet settled, oldest first
        self._unsettled: list[Submitted] = []
        #: partitions whose territorial index is known complete (dispatch.redispatch)
        self._indexed: set[int] = set()
        #: partitions whose marker names another geography, said once (_indexed_partition)
        self._geo_warned: set[int] = set()

    async def process(self, records: Sequence[InputRecord]) -> BatchStats:
        """One batch, unpipelined: :meth:`submit`, wait for every acknowledgement (raise
        :class:`~dispatch.sending.DeliveryError` and store nothing when one failed), then
        store the states."""
        sub = await self.submit(records)
        try:
            await wait_acks(sub.acks, sub.outputs)
        except BaseException as exc:
            self._unsettled.remove(sub)
            if isinstance(exc, DeliveryError):  # so that the caller's retry can succeed
                await recover(self.sender)
            raise
        await self._store(sub)
        return sub.stats

    async def submit(self, records: Sequence[InputRecord]) -> Submitted:
        """Decode and decide ``records`` in order and hand every output to the producer;
        return without waiting for acknowledgements. The batch stays *unsettled* (its
        states are seen by later batches, not stored) until :meth:`settle`.

        Consecutive actor changes of a partition are applied together (one pass), before
        the partition's next demand record: per-partition order is kept."""
        batch = Batch(self, BatchStats(), [], {}, int(self._clock() * 1000))
        controls: dict[int, list[Change]] = {}
        for rec in records:
            operation = "UNDECODABLE"
            try:
                screen(rec.value, rec.key, self.max_record_bytes)
                assert rec.value is not None  # screened
                if rec.topic == topics.EVENEMENTS:  # gestion partagée (dispatch.parking)
                    operation = "EVENEMENT"
                    self.parking.on_record(batch, rec)
                    self._consecutive_dead = 0
                    continue
                name, body, snapshot = self._snapshots.event_span(rec.value)
                operation = "CONTROL" if name == "DispatchControl" else name
                if name == "DispatchControl":
                    controls.setdefault(rec.partition, []).append(change_of(body))
                    self._consecutive_dead = 0
                    continue
                if rec.partition in controls:  # the changes before it come first
                    self._apply_controls(batch, rec.partition, controls.pop(rec.partition))
                if name == "DemandeEvent":
                    operation = str(body.get("operation"))
                    check_key(rec.key, body["numUnique"])
                    decided = self._on_event(batch, rec, body, snapshot)
                    batch.stats.events += 1
                    if decided:
                        batch.stats.decided.append((rec.timestamp_ms, int(body["occurredAt"])))
                elif name == "DispatchResume":  # the rest of a re-dispatch (redispatch.py)
                    operation = "CONTROL"
                    self._spend(
                        batch,
                        redispatch.resume(
                            batch,
                            rec.partition,
                            body["moves"],
                            body["afterKey"],
                            self._chunk_of(body),
                            chains.link_of(body),
                            max(1, min(self.redispatch_chunk, MAX_CHUNK)),
                        ),
                    )
                elif name == "DispatchTick":  # the demand's clock (dispatch/deadlines.py)
                    operation = "TICK"
                    batch.stats.clock_reads += deadlines.on_tick(
                        batch, self.deadlines, rec.partition, body["now"], self.due_chunk
                    )
                    self.parking.on_tick(batch, rec.partition, body["now"])  # expired ones
                elif name == "DispatchPurge":  # hub purge (dispatch/purge.py): no output
                    key = purge_key(body)
                    check_key(rec.key, key.decode())
                    prior = batch.state(key, rec.partition)
                    if purgeable(prior, body["radiatedBefore"]):
                        batch.write(key, rec.partition, None, prior)
                else:
                    raise DecodeError(
                        f"a {name} record does not belong on {rec.topic}", code="wrong_schema"
                    )
                self._consecutive_dead = 0
            except Exception as exc:
                if isinstance(exc, HubError) and exc.retriable:
                    raise
                await self._refuse(batch, rec, refusal(exc))
            finally:
                counted = (rec.topic, operation)
                batch.stats.inputs[counted] = batch.stats.inputs.get(counted, 0) + 1
                if rec.headers and replay_info(rec.headers) is not None:
                    batch.stats.replays[rec.topic] = batch.stats.replays.get(rec.topic, 0) + 1
        for partition in sorted(controls):
            self._apply_controls(batch, partition, controls[partition])
        sub = Submitted(batch.stats, batch.outputs, await enqueue(self.sender, batch.outputs),
                        batch.overlay, batch.bases, batch.raw, batch.pre,
                        batch.entry_memo, batch.letters)  # fmt: skip
        self._unsettled.append(sub)
        return sub

    async def _refuse(self, batch: Batch, rec: InputRecord, exc: HubError) -> None:
        identity = refusal_identity(rec.topic, rec.partition, rec.offset, exc.code, rec.key,
                                    rec.value)  # fmt: skip
        if identity not in self.known_letters:
            batch.outputs.append(self._dead_letter(rec, exc, batch.now_ms))
            batch.letters.append(identity)
        stats = batch.stats
        stats.dead_letters += 1
        stats.dead_letter_reasons[exc.code] = stats.dead_letter_reasons.get(exc.code, 0) + 1
        if exc.code in DOMAIN_REFUSALS:  # the worker is sound: no step towards the stop
            return
        self._consecutive_dead += 1
        if self._consecutive_dead >= self.max_consecutive_dead_letters:
            await send_all(self.sender, batch.outputs)
            raise TooManyDeadLetters(
                f"{self._consecutive_dead} consecutive dead letters, the last "
                f"{rec.topic}/{rec.partition}@{rec.offset} ({exc.code}): stopping; "
                "restarted, a worker reads them again and stops here again (their letters "
                "are not written twice) until a fixed version accepts them or "
                "HUB_WORKER__MAX_CONSECUTIVE_DEAD_LETTERS lets them through"
            ) from exc

    async def settle(self, sub: Submitted, *, after: Set[str] = frozenset()) -> frozenset[str]:
        """Wait for ``sub``'s acknowledgements, then store its states. Batches are settled
        in submit order. What was not acknowledged is sent again until it is (backing
        off, the sender recovered first: :func:`~dispatch.sending.resend_until_acknowledged`;
        the same event ids: consumers drop the duplicates): on each topic, the outputs
        from its first unacknowledged one on, in order, and every output to a topic of
        ``after`` (an earlier batch was sent again there after this one was handed over:
        this one must follow it again). Outputs acknowledged on other topics are not sent
        again (:func:`~dispatch.sending.to_send_again`). Returns the topics ``sub`` was
        sent again to (empty: none), the next batch's ``after``."""
        failed: Sequence[int] | None = ()
        try:
            await wait_acks(sub.acks, sub.outputs)
        except DeliveryError as exc:
            failed = exc.failed
            # the operator's line (PasserelleAgentStalled's runbook): the message names
            # the topics, and the actors of the feeds, that did not acknowledge
            log.warning("batch not acknowledged (%s): sending what was not again",
                        exc.message)  # fmt: skip
        again = to_send_again(sub.outputs, failed, after)
        if again:
            await resend_until_acknowledged(self.sender, again, failed_before=failed != ())
        await self._store(sub)
        return frozenset(topic for topic, _, _ in again)

    async def _store(self, sub: Submitted) -> None:
        """Each state after its index entries (a stored state always has its entries:
        a replay that skips it finds them), then the other writes (the filters applied
        by an actor change after the states it changed). Called once ``sub`` is
        acknowledged: its dead letters are durable on hub.dlq from then on."""
        self.known_letters.add_all(sub.letters)
        try:
            for key, partition, raw in sub.pre:
                self.store.put(key, partition, raw)
            for key, (partition, state) in sub.overlay.items():
                territorial = memo_entries(sub.entry_memo, key, state, self.index)
                after = territorial | self.deadlines.entries(state, self.index.geography)
                for k, v in territory.diff(sub.bases.get(key, {}), after):
                    self.store.put(k, partition, v)
                value = None if state is None else self._snapshots.encode_state(state)
                self.store.put(key, partition, value)
            for key, partition, raw in sub.raw:
                self.store.put(key, partition, raw)
            await self.store.flush()
        finally:  # a failed store: what was not stored is decided again on replay
            self._unsettled.remove(sub)

    # -- state ---------------------------------------------------------------------------
    def _state(self, key: bytes, overlay: dict[bytes, tuple[int, DemandeState | None]],
               partition: int) -> DemandeState | None:  # fmt: skip
        if key in overlay:
            return overlay[key][1]
        for sub in reversed(self._unsettled):  # sent, not yet acknowledged: newest first
            if key in sub.overlay:
                return sub.overlay[key][1]
        raw = self.store.get(key, partition)
        return None if raw is None else self._snapshots.decode_state(raw)

    def forget_partitions(self, partitions: Iterable[int]) -> None:
        """``partitions`` were revoked from this worker: whether they are indexed is read
        again from the store when they come back (another worker, of another geography,
        may have passed them meanwhile: review Q, F4)."""
        for partition in partitions:
            self._indexed.discard(partition)
            self._geo_warned.discard(partition)

    def _indexed_partition(self, partition: int) -> bool:
        """Whether ``partition``'s stored states all have their index entries, computed
        with this worker's geography (:func:`dispatch.territory.indexed`). A partition
        indexed with another geography is said once: its demands are matched with the
        former one until its next actor change."""
        if partition in self._indexed:
            return True
        value = self.store.get(territory.marker(partition), partition)
        if territory.indexed(value, self.index.geography):
            self._indexed.add(partition)
        elif value is not None and partition not in self._geo_warned:
            self._geo_warned.add(partition)
            log.warning(
                "partition %d was dispatched with another geography (%s); this worker's "
                "is %s: its stored demands keep their former recipients until the next "
                "actor change, which re-applies the territories (one pass over the "
                "partition's demands). Run 'hub actors publish' to do it now "
                "(docs/operations.md, 'A new geography')",
                partition,
                value.decode(errors="replace"),
                territory.geography_id(self.index.geography).decode(),
            )
        return partition in self._indexed

    # -- demand events ---------------------------------------------------------------
    def _on_event(self, batch: Batch, rec: InputRecord, event: dict[str, Any],
                  snapshot: bytes | None) -> bool:  # fmt: skip
        """Decide one demand event; False when it was skipped (already stored)."""
        event = as_received(event)  # a RAD with an empty motive is a reactivation
        key = event["numUnique"].encode()
        prior = batch.state(key, rec.partition)
        try:
            decision = decide(
                event,
                prior,
                self.index,
                partition=rec.partition,
                offset=rec.offset,
                demande_bytes=snapshot,
            )
        except InputError as exc:  # refused: the letter is the caller's (_refuse)
            self._tell_refused_writer(batch, event, prior, exc.code)
            raise
        if decision.skipped:
            batch.stats.skipped += 1
            return False
        state = decision.state
        assert state is not None  # decide always answers a state (a SUP: its marker)
        if not decision.delete:  # what the clock keeps (a deletion marker keeps nothing)
            state, disagrees = self.deadlines.carry(
                prior, state, event["occurredAt"], self.index.geography
            )
            decision.state = state
            batch.stats.delai_disagreements += disagrees
        # a SUP's withdrawals are built from its marker: no snapshot, the last version; a
        # write from a cut copy did not change what its profile does not see
        changed = written_changes(list(event.get("changedFields") or []), event.get("profile"))
        self._emit(batch, decision, state, event["eventId"], event["operation"],
                   event["occurredAt"], changed, refuse_oversize=True)  # fmt: skip
        batch.write(key, rec.partition, state, prior)
        if prior is None:  # its first state: the GP events parked for it, right after it
            self.parking.on_created(batch, rec.partition, state)
        return True

    def _tell_refused_writer(self, batch: Batch, event: dict[str, Any],
                             prior: DemandeState | None, code: str) -> None:  # fmt: skip
        """Add the ``RETRAIT`` (``ecriture_refusee``) owed to the registered actor whose
        write ``event`` was refused (``code``) on a demand it does not hold, if any
        (:func:`hub.domain.authorship.refused_writer`): no personal data, ``prior``'s
        version, an event id derived from the refused one; ``prior`` is not changed and
        nothing goes to its holders."""
        actor = refused_writer(event, prior, code, self.index)
        if actor is None:
            return
        assert prior is not None  # an existing demand
        told = Decision(state=prior, deliveries=[Delivery(actor, RETRAIT, REFUSED_WRITE)])
        self._emit(batch, told, prior, refused_write_event_id(event["eventId"], actor),
                   event["operation"], event["occurredAt"], [])  # fmt: skip

    # -- actor changes (dispatch.redispatch) -----------------------------------------
    def _apply_controls(self, batch: Batch, partition: int, changes: list[Change]) -> None:
        size = max(1, min(self.redispatch_chunk, MAX_CHUNK))
        self._spend(batch, redispatch.apply(batch, partition, changes, size))
        self._indexed.add(partition)  # complete once this batch is stored (or replayed)

    def _chunk_of(self, resume: dict[str, Any]) -> int:
        """The chunk a ``DispatchResume`` fixed (0, from an older writer: the setting's),
        bounded: a forged record must not make one batch scan a whole partition."""
        size = int(resume.get("chunk") or 0) or self.redispatch_chunk
        return max(1, min(size, MAX_CHUNK))

    @staticmethod
    def _spend(batch: Batch, done: redispatch.Pass) -> None:
        batch.stats.redispatch_reads += done.read

    def partition_key(self, partition: int) -> bytes:
        """A key the default partitioner puts on ``partition`` (for DispatchResume)."""
        key = self._partition_keys.get(partition)
        if key is None:
            n = self.store.partitions
            key = next(
                k
                for i in itertools.count()
                if partition_of(k := b"resume-%d-%d" % (partition, i), n) == partition
            )
            self._partition_keys[partition] = key
        return key

    # -- output ------------------------------------------------------------------------
    def _emit(self, batch: Batch, decision: Decision, state: DemandeState, event_id: str,
              operation: str, occurred_at: int, changed: list[str], *,
              refuse_oversize: bool = False) -> None:  # fmt: skip
        """Add the decision's feed records (:func:`dispatch.emit.feed_outputs`) to the
        batch, counted. With ``refuse_oversize`` (a demand event's own
        records), the ``oversize`` InputError of ``dispatch.letters.check_outputs`` when one
        is larger than the producer sends; nothing is added to the batch then."""
        out = feed_outputs(self.codec, self._snapshots, self.index, decision, state,
                           event_id=event_id, operation=operation, occurred_at=occurred_at,
                           changed=changed, now_ms=batch.now_ms)  # fmt: skip
        stats = batch.stats
        if refuse_oversize:
            # a record the producer would refuse at send (for the whole batch, at every
            # restart) refuses this input instead: nothing of it is in the batch yet.
            # Not for a re-dispatch or a notice: their control concerns many demands
            check_outputs(out, self.max_output_bytes)
        batch.outputs.extend(out)
        for d in decision.deliveries:
            stats.deliveries[d.kind] = stats.deliveries.get(d.kind, 0) + 1
            stats.by_actor[(d.actor_id, d.kind)] = stats.by_actor.get((d.actor_id, d.kind), 0) + 1

    def _dead_letter(self, rec: InputRecord, exc: HubError, now_ms: int) -> Output:
        return dead_letter(self.codec, exc, topic=rec.topic, partition=rec.partition,
                           offset=rec.offset, key=rec.key, value=rec.value, now_ms=now_ms,
                           headers=rec.headers)  # fmt: skip
