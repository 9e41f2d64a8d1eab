"""Every private name of faust, mode, aiokafka (and asyncio) the product relies on.

One place to read before an upgrade: each entry says where the name is used, how (read,
called, overridden, replaced on a live instance) and why faust gave nothing public for
it (docs/faust.md: the evidence). ``tests/unit/test_faust_adapter.py`` resolves every
entry on the installed libraries, fails when one disappears, fails when a private name of
those libraries is used by the adapter without being listed here, and fails when the
installed versions differ from :data:`CHECKED_AGAINST` (then re-check this list and the
docs, and update the versions).

Every use is in ``dispatch/runtime/`` (the faust adapter), the state table's stores
(``tablestore.py``) and the worker's sender over the app's producer (``sender.py``) included.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: distribution -> version this list was checked against (importlib.metadata names)
CHECKED_AGAINST: dict[str, str] = {
    "faust-streaming": "0.15.3",
    "mode-streaming": "0.7.1",
    "aiokafka": "0.14.0",
}

#: how an entry is checked on the installed library:
#: ``attribute``: ``getattr(owner, name)`` exists (a method or a class attribute);
#: ``instance``: set on instances only: ``self.<name> =`` in the source of ``owner.<set_in>``;
#: ``value``: ``getattr(owner, name) == expected`` (a value the product copies)
Kind = Literal["attribute", "instance", "value"]


@dataclass(frozen=True, slots=True)
class PrivateName:
    #: ``module:Class`` (or ``module`` alone)
    owner: str
    name: str
    kind: Kind
    #: what the product does with it: read, call, override, replace, write
    use: str
    #: the repository files that use it (the name appears in each)
    where: tuple[str, ...]
    why: str
    #: kind ``instance``: the method whose source assigns it
    set_in: str = "__init__"
    #: kind ``value``: the value the product relies on
    expected: object = None

    @property
    def qualified(self) -> str:
        return f"{self.owner}.{self.name}"


_TRANSPORT = ("dispatch/runtime/transport.py",)
_RECOVER_WHY = (
    "KafkaSender.recover: after a batch the broker refused, aiokafka's idempotent producer "
    "keeps the partition's sequence number past it and every later batch of the partition "
    "is refused (OutOfOrderSequenceNumber) for good, with no public reset "
    "(aio-libs/aiokafka#1017): the producer id and sequences are cleared so that the sender "
    "asks the broker for a new id (tests/faults/test_feed_refusal.py)"
)
_FAUST_CONSUMER = "faust.transport.consumer:Consumer"
_FAUST_AIOKAFKA = "faust.transport.drivers.aiokafka"
_STALL_WHY = (
    "read for the one log line of a stalled input partition (BoundedConsumer.reading_state): "
    "how far the worker reads it and what holds it; faust and aiokafka expose no such view"
)

PRIVATE_NAMES: tuple[PrivateName, ...] = (
    # -- stop bounded by worker.shutdown_timeout_s -----------------------------------------
    PrivateName(
        _FAUST_CONSUMER,
        "_commit_offsets",
        "attribute",
        "override",
        _TRANSPORT,
        "faust flushes the producer (state changelog) before it commits; at stop that flush "
        "may give up and faust commits anyway. The override refuses to commit when the "
        "flush did not finish (tests/unit/test_bounded_stop.py, "
        "tests/faults/test_shutdown_broker_gone.py). No public hook runs between the flush "
        "and the commit.",
    ),
    PrivateName(
        _FAUST_CONSUMER,
        "_add_gap",
        "attribute",
        "override",
        _TRANSPORT,
        "faust records as absent from the log the offsets skipped by a jump of its read "
        "offset; a seek back puts its read offset behind records already handed out, so the "
        "'gap' holds offsets that exist and are acknowledged too, and its commit then "
        "advanced one offset per commit interval. The override ignores those gaps on input "
        "topics and records the holes the contiguity guard found "
        "(tests/unit/test_commit_progress.py). faust has no setting to turn gaps off.",
    ),
    PrivateName(
        _FAUST_CONSUMER,
        "_unacked_messages",
        "instance",
        "read",
        _TRANSPORT,
        "wait_empty at stop, bounded: faust's own loop swallows the cancellation of its "
        "one-second ack wait and goes round again, so a stop with a frozen broker never "
        "ended (tests/faults/test_shutdown_broker_gone.py, tests/unit/test_bounded_stop.py). "
        "The bounded wait reads what faust still waits for.",
    ),
    PrivateName(
        _FAUST_CONSUMER,
        "_clean_unacked_messages",
        "attribute",
        "call",
        _TRANSPORT,
        "same bounded wait_empty: drops the acknowledged messages, as faust's loop does",
    ),
    PrivateName(
        _FAUST_CONSUMER,
        "_waiting_for_ack",
        "instance",
        "write",
        _TRANSPORT,
        "same bounded wait_empty: the future faust's Message.ack() completes",
    ),
    # -- start and stop without fixed sleeps -----------------------------------------------
    PrivateName(
        "mode.worker:Worker",
        "_sentinel_task",
        "attribute",
        "override",
        ("dispatch/runtime/worker.py",),
        "mode runs it last before closing the event loop and it sleeps 1 s whatever is "
        "left: every worker stop paid it. The override waits as long at most, for the "
        "tasks left to end. mode has no setting for it.",
    ),
    PrivateName(
        "faust.tables.manager:TableManager",
        "_update_channels",
        "attribute",
        "call",
        ("dispatch/runtime/app.py",),
        "DeclaredTables.on_start does what faust's does (register the tables' changelog "
        "channels, start the recovery) without its first second of sleep, for tables an "
        "app declares once started; the conductor subscribes to nothing until then. The "
        "TableManager class is a faust setting; its start has no other entry point.",
    ),
    # -- input contiguity (dispatch/runtime/contiguity.py) ---------------------------------
    PrivateName(
        _FAUST_CONSUMER,
        "_read_offset",
        "instance",
        "read",
        _TRANSPORT,
        "after perform_seek, the offsets faust reset each input partition to: the "
        "contiguity guard starts there (records fetched before the seek were committed "
        "past: tests/faults/test_fault_runs_delivery.py, docs/reliability.md)",
    ),
    PrivateName(
        _FAUST_CONSUMER,
        "_acked",
        "instance",
        "write: absent offsets appended",
        _TRANSPORT,
        "BoundedConsumer.skip_absent: offsets of an input partition that hold no committed "
        "record (transaction markers, aborted records), found by a committed read, counted "
        "as acknowledged so that faust's commit passes them; a log ending on them was "
        "never committed to its end (tests/faults/test_transactional_upstream.py). faust's own "
        "gaps are merged only below an acknowledged offset, i.e. never at a log's end.",
    ),
    PrivateName(
        _FAUST_CONSUMER,
        "_acked_index",
        "instance",
        "write",
        _TRANSPORT,
        "the set faust keeps beside _acked (its ack() and commit keep both in step)",
    ),
    PrivateName(
        _FAUST_CONSUMER,
        "_gap",
        "instance",
        "read",
        _TRANSPORT,
        "BoundedConsumer.skip_absent leaves out the offsets of a hole the guard recorded: "
        "faust merges them into the acknowledged offsets at commit, and an offset listed "
        "twice stops the commit's run of consecutive offsets (a creeping commit, seen on "
        "the real broker with a transactional upstream producer)",
    ),
    # -- committed reads of the inputs ------------------------------------------------------
    PrivateName(
        "aiokafka.consumer.consumer:AIOKafkaConsumer",
        "_isolation_level",
        "instance",
        "write before start",
        _TRANSPORT,
        "faust builds the worker's client with read_committed only in exactly-once mode; "
        "records of an upstream producer's aborted transactions were dispatched "
        "(tests/faults/test_transactional_upstream.py). aiokafka builds its fetcher from it "
        "at start.",
    ),
    # -- diagnosis of a stalled input partition (read only): _STALL_READS below -------------
    PrivateName(
        "mode.utils.queues:FlowControlEvent",
        "clear",
        "attribute",
        "replace on the live instance (app.flow_control)",
        _TRANSPORT,
        "faust clears every stream queue when it resumes the flow; input records handed "
        "out and still queued are dropped unseen, and faust commits past them "
        "(tests/faults/test_shutdown_broker_gone.py). The replacement notes them, calls the "
        "original clear, and seeks back. faust offers no hook before that clear "
        "(tests/unit/test_bounded_stop.py::test_input_records_cleared_from_faust_queues_are_read_again).",
    ),
    PrivateName(
        "mode.utils.queues:FlowControlEvent",
        "_queues",
        "instance",
        "read",
        _TRANSPORT,
        "the queues the clear above empties: what they hold is what gets dropped",
    ),
    PrivateName(
        "asyncio.queues:Queue",
        "_queue",
        "instance",
        "read; remove items",
        _TRANSPORT,
        "the items of those queues (mode's FlowControlQueue is an asyncio.Queue, which has "
        "no way to look at or remove one item)",
        set_in="_init",
    ),
    # -- the input fetch's wait (worker.fetch_max_wait_ms) ---------------------------------
    PrivateName(
        f"{_FAUST_AIOKAFKA}:Consumer",
        "_new_consumer_thread",
        "attribute",
        "override",
        _TRANSPORT,
        "the one place the consumer thread is built: its stop is bounded "
        "(shutdown_timeout) and its client's fetch wait set (below)",
    ),
    PrivateName(
        f"{_FAUST_AIOKAFKA}:AIOKafkaConsumerThread",
        "_create_worker_consumer",
        "attribute",
        "replace on the live thread",
        _TRANSPORT,
        "faust 0.15 builds the aiokafka consumer with a fixed fetch_max_wait_ms=1500: the "
        "end of a burst waited ~0.7 s for a held fetch (docs/performance.md, "
        "tests/unit/test_producer_settings.py::test_the_input_fetch_wait_is_ours_not_fausts)",
    ),
    PrivateName(
        "aiokafka.consumer.consumer:AIOKafkaConsumer",
        "_fetch_max_wait_ms",
        "instance",
        "write before start",
        _TRANSPORT,
        "aiokafka builds its fetcher from it at start: set to worker.fetch_max_wait_ms",
    ),
    # -- the producer -----------------------------------------------------------------------
    PrivateName(
        f"{_FAUST_AIOKAFKA}:Producer",
        "_settings_extra",
        "attribute",
        "override",
        _TRANSPORT,
        "faust enables acks=all + idempotence only in exactly-once mode; the worker runs "
        "at-least-once and wants them too (tests/unit/test_producer_settings.py)",
    ),
    PrivateName(
        f"{_FAUST_AIOKAFKA}:Producer",
        "_ensure_producer",
        "attribute",
        "call",
        ("dispatch/runtime/sender.py", "dispatch/runtime/tablestore.py"),
        "the aiokafka producer under faust's: feed records and changelog records sent "
        "without faust's per-send coroutine, FutureMessage and sensor hooks (~8 % of a "
        "worker's profile, docs/performance.md)",
    ),
    PrivateName(
        "aiokafka.client:AIOKafkaClient",
        "_topics",
        "instance",
        "read",
        ("dispatch/runtime/sender.py",),
        "KafkaSender.warm: the topics the producer's metadata already follows, so one "
        "metadata request adds every feed topic (2,000 round trips otherwise at a backfill)",
    ),
    # -- a new producer id after a failed delivery (KafkaSender.recover, audit S, S-F2) -----
    PrivateName(
        "aiokafka.producer.producer:AIOKafkaProducer",
        "_txn_manager",
        "instance",
        "read",
        ("dispatch/runtime/sender.py",),
        _RECOVER_WHY,
    ),
    PrivateName(
        "aiokafka.producer.producer:AIOKafkaProducer",
        "_message_accumulator",
        "instance",
        "read",
        ("dispatch/runtime/sender.py",),
        "KafkaSender.recover: whether a batch numbered with the old producer id is still "
        "in flight or waiting for a retry (the id is replaced only once none is)",
    ),
    PrivateName(
        "aiokafka.producer.message_accumulator:MessageAccumulator",
        "_pending_batches",
        "instance",
        "read",
        ("dispatch/runtime/sender.py",),
        "KafkaSender.recover: the batches drained (numbered) and not settled yet",
    ),
    PrivateName(
        "aiokafka.producer.message_accumulator:MessageAccumulator",
        "_batches",
        "instance",
        "read",
        ("dispatch/runtime/sender.py",),
        "KafkaSender.recover: the batches waiting to be drained; one with a retry_count "
        "was numbered already",
    ),
    PrivateName(
        "aiokafka.producer.transaction_manager:TransactionManager",
        "_pid_and_epoch",
        "instance",
        "write",
        ("dispatch/runtime/sender.py",),
        _RECOVER_WHY,
    ),
    PrivateName(
        "aiokafka.producer.transaction_manager:TransactionManager",
        "_pid_waiter",
        "instance",
        "replace",
        ("dispatch/runtime/sender.py",),
        "KafkaSender.recover: set_pid_and_epoch completes this future; the first id's is "
        "done, so a new one is put in before the sender asks for a new id",
    ),
    PrivateName(
        "aiokafka.producer.transaction_manager:TransactionManager",
        "_sequence_numbers",
        "instance",
        "write",
        ("dispatch/runtime/sender.py",),
        _RECOVER_WHY,
    ),
    # -- the state table's stores -----------------------------------------------------------
    PrivateName(
        "faust.stores.rocksdb:Store",
        "_db_for_partition",
        "attribute",
        "call",
        ("dispatch/runtime/tablestore.py",),
        "a batch mixes partitions, and faust's stores pick the partition from the 'current "
        "event': writes name their partition, so the RocksDB store is addressed per "
        "partition (tests/unit/test_tablestore.py, tests/integration/test_tablestore_changelog.py)",
    ),
    PrivateName(
        "faust.stores.rocksdb:Store",
        "offset_key",
        "value",
        "copy of its value",
        ("dispatch/runtime/tablestore.py",),
        "faust's persisted-offset key inside each partition database: skipped when the "
        "dispatch scans a partition's keys",
        expected=b"__faust\0offset__",
    ),
)

#: (owner, name, the method that sets it) read by BoundedConsumer.reading_state only
_STALL_READS: tuple[tuple[str, str, str], ...] = (
    (_FAUST_CONSUMER, "_active_partitions", "_reset_state"),
    (_FAUST_CONSUMER, "_paused_partitions", "_reset_state"),
    (_FAUST_CONSUMER, "_buffered_partitions", "_reset_state"),
    (_FAUST_CONSUMER, "_committed_offset", "__init__"),
    ("faust.transport.consumer:ThreadDelegateConsumer", "_thread", "__init__"),
    ("faust.transport.drivers.aiokafka:AIOKafkaConsumerThread", "_consumer", "on_start"),
    ("aiokafka.consumer.consumer:AIOKafkaConsumer", "_subscription", "__init__"),
    ("aiokafka.consumer.consumer:AIOKafkaConsumer", "_fetcher", "start"),
    ("aiokafka.consumer.fetcher:Fetcher", "_records", "__init__"),
    ("aiokafka.consumer.subscription_state:TopicPartitionState", "_position", "__init__"),
    ("aiokafka.consumer.subscription_state:TopicPartitionState", "_paused", "__init__"),
    ("aiokafka.consumer.subscription_state:TopicPartitionState", "_reset_strategy", "__init__"),
)
PRIVATE_NAMES += tuple(
    PrivateName(owner, name, "instance", "read", _TRANSPORT, _STALL_WHY, set_in=set_in)
    for owner, name, set_in in _STALL_READS
)
