"""The worker's faust transport: a consumer and a producer with our guarantees.

* :class:`IdempotentProducer`: acks=all + idempotence in at-least-once mode too; flush and
  stop bounded at worker stop.
* :class:`BoundedConsumer`: each input partition's records handed out in offset order
  without a hole (``dispatch.runtime.contiguity``: why), read again when faust drops them from its
  stream queues, and a stop that waits for the inputs in flight within a limit.

:func:`install` builds the app's two transports (consumer and producer side) with a
:class:`RuntimeConfig` and hands them to faust through its public ``App.transport`` and
``App.producer_transport`` setters: faust's transport registry is left alone, and the
settings reach the consumer and the producer through their transport, not the App.
The private names of faust, mode and aiokafka used here are listed, with why, in
``dispatch.runtime.private_names`` (checked by tests/unit/test_faust_adapter.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import Any, cast

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

from dispatch.runtime.contiguity import Contiguity, Verdict, lowest_offsets
from dispatch.shutdown import bounded
from hub.core.kafka.metadata import track_every_topic
from monitoring import recorder

log = logging.getLogger(__name__)

#: most absent offsets :meth:`BoundedConsumer.skip_absent` adds at once (faust keeps
#: acknowledged offsets one by one; a longer run is passed in steps, one per probe)
MAX_ABSENT_STEP = 100_000


@dataclass(frozen=True, slots=True)
class RuntimeConfig:
    """What the consumer and the producer need of the settings (``create_app`` builds it)."""

    #: worker.shutdown_timeout_s: each bounded step of a stopping worker
    shutdown_timeout_s: float
    #: worker.fetch_max_wait_ms: the input fetch's wait (faust's fixed 1500 replaced)
    fetch_max_wait_ms: int
    #: the agents' input topics, whose records the consumer hands out without a hole
    input_topics: frozenset[str]


def _config(transport: Any) -> RuntimeConfig:
    """The config of the :class:`Transport` faust built a consumer or producer from."""
    return cast(Transport, transport).config


class IdempotentProducer(faust_aiokafka.Producer):
    """faust enables acks=all + idempotence only in exactly-once mode; we want them in
    at-least-once mode too (no loss, no duplicates or reordering from producer retries).
    A stopping worker's flush and stop are bounded (``worker.shutdown_timeout_s``)."""

    def _settings_extra(self) -> dict[str, Any]:
        return {"acks": "all", "enable_idempotence": True}

    async def on_start(self) -> None:
        await super().on_start()
        # feed topics appear while the worker runs: hub.core.kafka.metadata (why)
        await track_every_topic(self._ensure_producer())

    async def flush(self) -> None:
        if not self.app.should_stop:
            await super().flush()
        else:
            await self.flush_within(_config(self.transport).shutdown_timeout_s)

    async def flush_within(self, timeout: float) -> bool:
        """Flush for at most ``timeout`` s; True if everything buffered was acknowledged."""
        return await bounded("producer flush", super().flush(), timeout)

    async def on_stop(self) -> None:
        await bounded("producer stop", super().on_stop(),
                      _config(self.transport).shutdown_timeout_s)  # fmt: skip


class BoundedConsumer(faust_aiokafka.Consumer):
    """At app stop, faust waits for every started input to be acknowledged (our pipeline
    acknowledges a batch's inputs once the broker acknowledged its outputs): bounded here
    by ``worker.shutdown_timeout_s``. A rebalance still waits without limit: the batch in
    flight must settle before its partitions move (its states belong to them)."""

    def _new_consumer_thread(self) -> Any:
        # the client thread's own stop (commit, leave group) waits for the broker too:
        # mode's default limit is 60 s, plus the client's request timeout
        # private_names: Consumer._new_consumer_thread, ConsumerThread._create_worker_consumer,
        # AIOKafkaConsumer._fetch_max_wait_ms
        config = _config(self.transport)
        thread = super()._new_consumer_thread()
        thread.shutdown_timeout = config.shutdown_timeout_s
        create = thread._create_worker_consumer
        wait_ms = config.fetch_max_wait_ms

        def create_worker_consumer(*args: Any, **kwargs: Any) -> Any:
            # faust 0.15 passes a fixed fetch_max_wait_ms=1500 (worker.fetch_max_wait_ms:
            # why not); aiokafka builds its fetcher from this attribute at start
            consumer = create(*args, **kwargs)
            consumer._fetch_max_wait_ms = wait_ms
            # faust reads committed only in exactly-once mode; an upstream producer's
            # aborted (or still open) transactions must never be dispatched
            # (tests/faults/test_transactional_upstream.py;
            # private_names: AIOKafkaConsumer._isolation_level)
            consumer._isolation_level = "read_committed"
            return consumer

        thread._create_worker_consumer = create_worker_consumer  # type: ignore[method-assign]
        return thread

    # -- input contiguity (dispatch.runtime.contiguity: why) ------------------------------------
    def __post_init__(self) -> None:
        super().__post_init__()
        self._config = _config(self.transport)
        self._contiguity = Contiguity()
        #: the input record faust is delivering (its drain hands out one at a time)
        self._delivering: Any = None
        #: that record when a queue clear happened during its delivery (see getmany)
        self._stray: Any = None
        #: work run beside the fetch loop (seeks back, reports): kept until done
        self._side_tasks: set[asyncio.Future[None]] = set()
        #: per input partition, where the offsets reported removed end (note_removed)
        self._removed_to: dict[Any, int] = {}

    async def on_start(self) -> None:
        self._watch_queue_clears()
        await super().on_start()

    def _watch_queue_clears(self) -> None:
        """Before faust clears its stream queues (flow resumed), note the input records
        handed out and still queued: they are dropped there, so read them again.

        private_names: FlowControlEvent.clear (replaced on the live instance),
        FlowControlEvent._queues, asyncio.Queue._queue."""
        flow = self.app.flow_control
        clear = flow.clear

        def clear_and_read_again() -> None:
            # a record being delivered lands in a queue after the clear, ahead of the
            # records read again: counted as dropped too, and taken out (getmany)
            queued = [i for q in self._queues() for i in list(q._queue)]
            if self._delivering is not None:
                queued.append(self._delivering)
                self._stray = self._delivering
            dropped = lowest_offsets(queued, self._inputs())
            clear()
            for tp, offset in dropped.items():
                self._read_again(tp, offset)

        flow.clear = clear_and_read_again  # type: ignore[method-assign]

    def _queues(self) -> list[Any]:
        return list(self.app.flow_control._queues)  # mode: the queues its clear() empties

    def _unqueue(self, message: Any) -> None:
        for q in self._queues():
            for item in [i for i in q._queue if getattr(i, "message", i) is message]:
                q._queue.remove(item)

    def _read_again(self, tp: Any, offset: int) -> None:
        log.info("input %s: records from %d handed out, then cleared from faust's stream "
                 "queues: seeking back", tp, offset)  # fmt: skip
        recorder.input_rewind(tp.topic)
        # records already fetched past it are a hole now: the guard rewinds on them too
        self._contiguity.reset(tp, offset)
        self._background(self._seek_back(tp, offset))

    async def _seek_back(self, tp: Any, offset: int) -> None:
        try:
            await self.seek_wait({tp: offset})
        except Exception as exc:  # revoked or stopping meanwhile: reassignment starts over
            log.info("input %s: seek back to %d not done (%r)", tp, offset, exc)

    def _inputs(self) -> frozenset[str]:
        return self._config.input_topics

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[Any, Any]]:
        """faust's records, each input partition's in offset order without a hole."""
        inputs, guard = self._inputs(), self._contiguity
        rewound: set[Any] = set()
        async for tp, message in super().getmany(timeout):
            if tp.topic not in inputs:
                yield tp, message
                continue
            if tp in rewound:  # fetched with the record that made us seek back: stale
                continue
            expected = guard.expected(tp)
            verdict = guard.check(tp, message.offset)
            if verdict is Verdict.ADMIT_PAST_HOLE:
                assert expected is not None  # a hole always follows an expected offset
                # the absent offsets count as consumed (faust's own gap, see _add_gap)
                await super()._add_gap(tp, expected, message.offset - 1)
                self._background(self._report_removed(tp, expected, message.offset))
                verdict = Verdict.ADMIT
            if verdict is Verdict.ADMIT:
                self._delivering = message
                try:
                    yield tp, message  # faust delivers it to the stream queues meanwhile
                finally:
                    self._delivering = None
                if self._stray is not None:  # queues cleared during its delivery (see hook)
                    self._unqueue(self._stray)
                    self._stray = None
            elif verdict is Verdict.REWIND:
                rewound.add(tp)
                recorder.input_rewind(tp.topic)
                back = guard.expected(tp)
                assert back is not None  # a rewind always has an expected offset
                # in the client's thread; sets faust's read offset too (not self.seek:
                # that would reset the guard's memory of this rewind)
                await self.seek_wait({tp: back})

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` beside the fetch loop (a reference kept until it ends)."""
        task = asyncio.ensure_future(work)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    async def _report_removed(self, tp: Any, start: int, end: int) -> None:
        """Which of the absent offsets ``start`` .. ``end - 1`` were removed from the log
        (below its first offset now: retention.ms, DeleteRecords) rather than markers or
        compacted records (:meth:`note_removed`). Why apart: the guard sees the same hole
        either way."""
        try:
            first = (await self.earliest_offsets(tp))[tp]
        except Exception as exc:  # the broker busy or gone: the warning line stands
            log.info("input %s: log start not read (%s)", tp, type(exc).__name__)
            return
        self.note_removed(tp, start, min(first, end))

    def note_removed(self, tp: Any, start: int, log_start: int) -> None:
        """Offsets ``start`` .. ``log_start - 1`` of input partition ``tp`` left the log
        before the worker read them: records lost to the hub, said once, as an error, and
        counted. Found by the guard (a hole) or by the sensor's probe (a committed offset
        below the log's first one); each offset is reported once whoever finds it."""
        start = max(start, self._removed_to.get(tp, start))
        if log_start <= start:
            return
        self._removed_to[tp] = log_start
        removed = log_start - start
        recorder.input_removed(tp.topic, removed)
        log.error(
            "input %s: offsets %d..%d were removed from the log before the worker read "
            "them (retention.ms or DeleteRecords): %d record(s) lost to the hub; the "
            "SNE still holds those demands (docs/operations.md)",
            tp, start, log_start - 1, removed,
        )  # fmt: skip

    async def _add_gap(self, tp: Any, offset_from: int, offset_to: int) -> None:
        """faust's gap (offsets it takes as absent from the log), refused on input topics:
        there faust infers it from a jump of its read offset, which a seek back makes
        behind records already handed out, so the "gap" holds offsets that exist and are
        acknowledged too; its commit then advanced one offset per commit interval
        (dispatch.runtime.contiguity: why). The input holes that are real are recorded
        by :meth:`getmany` from the guard. (private_names: Consumer._add_gap)"""
        if tp.topic in self._inputs():
            return
        await super()._add_gap(tp, offset_from, offset_to)

    def skip_absent(self, tp: Any, start: int, end: int, *, committed: int | None) -> int:
        """Count offsets ``start`` .. ``end - 1`` of input partition ``tp`` as consumed:
        the caller found that they hold no record a committed read returns (transaction
        markers, aborted or compacted records: ``monitoring.offsets``), a fact of the log
        that does not change. Done only while faust's committed offset is still the
        ``committed`` the caller saw (``start`` itself, or None with ``start`` the log's
        first offset: nothing committed yet); the caller then commits them. Returns how
        many offsets were added.

        Why: the contiguity guard finds a hole only when a record follows it, so a
        partition whose log ends on a commit marker (a transactional upstream producer)
        or an aborted transaction was never committed to its end: lag 1 or more for ever,
        and ``/health`` stalled. (private_names: Consumer._committed_offset, _acked,
        _acked_index, _gap)"""
        if tp.topic not in self._inputs() or start >= end:
            return 0
        if self._committed_offset.get(tp) != committed:
            return 0  # moved meanwhile: the next probe starts from there
        end = min(end, start + MAX_ABSENT_STEP)
        # not those acknowledged, nor those of a hole the guard recorded (faust merges its
        # gaps into the acknowledged offsets at commit: an offset listed twice stops its
        # run of consecutive offsets there, the commit then creeps)
        index, acked, gap = self._acked_index[tp], self._acked[tp], self._gap[tp]
        added = [o for o in range(start, end) if o not in index and not gap.overlaps(o)]
        if self._contiguity.expected(tp) == start:  # nothing handed out past them
            self._contiguity.reset(tp, end)
        if not added:
            return 0
        index.update(added)
        acked.extend(added)
        acked.sort()
        log.info(
            "input %s: offsets %d..%d hold no committed record (transaction "
            "markers, aborted or compacted records): committed past",
            tp,
            start,
            end - 1,
        )
        return len(added)

    async def perform_seek(self) -> None:
        """faust's seek of every partition to its committed offset, and, for an input
        partition with none (or 0), a seek to the log's first offset.

        Why: faust drops the records it fetched while a partition was paused (recovery)
        or the generation changed, counting on this seek to read them again. The client
        seeks only to a committed offset above 0 and leaves any other partition where it
        stands: past the dropped records. Seen on a group whose first worker was killed
        before its first commit on two partitions: the worker that took them over after
        the rebalance read nothing of them and waited at their end forever (and a record
        published later would have been committed past them: lost)."""
        await super().perform_seek()
        # private_names: Consumer._read_offset
        # perform_seek leaves faust's read offsets at the committed offsets (None: none)
        inputs = self._inputs()
        expected: dict[Any, int | None] = {
            tp: off for tp, off in self._read_offset.items() if tp.topic in inputs
        }
        fresh = [tp for tp in self.assignment() if tp.topic in inputs and not expected.get(tp)]
        if fresh:
            for tp, offset in (await self.earliest_offsets(*fresh)).items():
                await super().seek(tp, offset)  # faust's read offset and the client's position
                expected[tp] = offset
        for tp, at in expected.items():
            self._contiguity.reset(tp, at)

    async def seek(self, partition: Any, offset: int) -> None:
        await super().seek(partition, offset)
        if partition.topic in self._inputs():
            self._contiguity.reset(partition, offset)

    async def on_partitions_assigned(self, assigned: set[Any], generation_id: int = 0) -> None:
        # (a revoked partition is forgotten when it is assigned again: faust revokes all
        # before it assigns)
        for tp in assigned:  # the client starts at the committed offset: admit the first
            self._contiguity.forget(tp)
        await super().on_partitions_assigned(assigned, generation_id)

    async def _commit_offsets(self, offsets: Any, start_new_transaction: bool = True) -> bool:
        """faust flushes the producer (the table's changelog) before it commits; at stop
        that flush is bounded and may give up, and faust would commit anyway: inputs
        committed whose states never reached the changelog (seen: 2 per partition after a
        frozen-broker stop, the commit request being sent before the freeze ended). Not
        flushed: not committed. (private_names: Consumer._commit_offsets)"""
        if self.app.should_stop:
            producer = cast(IdempotentProducer, self.app.producer)  # our Transport's
            if not await producer.flush_within(self._config.shutdown_timeout_s):
                log.error(
                    "stopping: offsets not committed, the producer's buffer (state "
                    "changelog) was not flushed; inputs dispatched again at restart"
                )
                return False
        return bool(await super()._commit_offsets(offsets, start_new_transaction))

    def reading_state(self, tp: Any) -> str:
        """One line on how far this worker reads input partition ``tp``, for the log line
        of a stalled partition: faust's committed and read offsets, whether faust counts it
        active or paused, the contiguity guard's expectation, and the client's position,
        pause and buffered records. Best effort (read across threads, never raises).

        private_names: Consumer._committed_offset, _read_offset, _active_partitions,
        _paused_partitions, _buffered_partitions, AIOKafkaConsumerThread._consumer,
        AIOKafkaConsumer._subscription, _fetcher, Fetcher._records, TopicPartitionState._position,
        _paused, _reset_strategy."""
        parts: list[str] = []
        try:
            active = self._active_partitions
            parts += [
                f"committed={self._committed_offset.get(tp)}",
                f"read={self._read_offset.get(tp)}",
                f"active={active is None or tp in active}",
                f"paused={tp in self._paused_partitions}",
                f"buffered={tp in self._buffered_partitions}",
                f"expected={self._contiguity.expected(tp)}",
                f"rewound={self._contiguity._rewound.get(tp)}",
                f"background_tasks={len(self._side_tasks)}",
                f"flow_active={self.flow_active}",
            ]
            client = getattr(self._thread, "_consumer", None)
            if client is not None:
                assignment = client._subscription.subscription
                state = assignment.assignment.state_value(tp) if assignment else None
                if state is None:
                    parts.append("client: not assigned")
                else:
                    parts += [f"client position={state._position}",
                              f"client paused={state._paused}",
                              f"reset={state._reset_strategy}"]  # fmt: skip
                records = client._fetcher._records.get(tp)
                parts.append(f"fetched={'yes' if records else 'no'}")
        except Exception as exc:  # a diagnosis must not break the sensor
            parts.append(f"({type(exc).__name__}: {exc})")
        return " ".join(parts)

    async def on_task_error(self, exc: BaseException) -> None:
        """An agent raised (a broker outage past every retry, a defect, too many dead
        letters in a row): one clear line. faust commits here; not us: the agents'
        ``CrashingSupervisor`` stops the worker (non-zero exit), which commits on its way
        out only what was acknowledged, and the next worker reads the rest again."""
        log.critical("an agent failed, stopping the worker (%s: %s); its uncommitted "
                     "inputs are dispatched again by the next worker",
                     type(exc).__name__, exc)  # fmt: skip

    async def wait_empty(self) -> None:
        """faust's wait for every input handed out to be acknowledged, then a commit of
        the acknowledged ones; at stop each part is bounded by ``worker.shutdown_timeout_s``.

        Not ``bounded(super().wait_empty())``: faust's loop swallows the cancellation of
        its one-second ack wait and goes round again, so a stop with the broker frozen and
        nothing new to commit waited without limit (seen in
        tests/faults/test_shutdown_broker_gone.py)."""
        if not self.app.should_stop:
            await super().wait_empty()
            return
        timeout = self._config.shutdown_timeout_s
        if not await self._acked_within(timeout):
            log.error("stopping: inputs in flight not acknowledged within %g s; given up "
                      "(they are dispatched again at restart)", timeout)  # fmt: skip
        await bounded("commit of the acknowledged inputs", self.commit_and_end_transactions(),
                      timeout)  # fmt: skip

    async def _acked_within(self, timeout: float) -> bool:
        """True once every input handed out is acknowledged; False after ``timeout`` s.

        private_names: Consumer._clean_unacked_messages, _unacked_messages,
        _waiting_for_ack (faust's own wait_empty, bounded)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self._clean_unacked_messages()
            if not self._unacked_messages:
                return True
            left = deadline - loop.time()
            if left <= 0:
                return False
            # faust's ack() completes this future (no cancellation involved: asyncio.wait)
            waiter = self._waiting_for_ack = loop.create_future()
            try:
                await asyncio.wait({waiter}, timeout=min(1.0, left))
            finally:
                self._waiting_for_ack = None


class Transport(faust_aiokafka.Transport):
    """faust's aiokafka transport with our consumer and producer, and their config."""

    Consumer = BoundedConsumer
    Producer = IdempotentProducer

    def __init__(self, url: Any, app: faust.App, config: RuntimeConfig) -> None:
        super().__init__(url, app)
        self.config = config


def install(app: faust.App, config: RuntimeConfig) -> None:
    """Give ``app`` our transports (call before anything touches ``app.transport``: faust
    builds its own lazily, from the broker URL's scheme, at first use)."""
    app.transport = Transport(app.conf.broker_consumer, app, config)
    app.producer_transport = Transport(app.conf.broker_producer, app, config)
