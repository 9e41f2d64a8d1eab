"""What the SOAP gateway owes Kafka: the records of what the SNE accepted, published in
store order per demand, at least once (the design of the gestion partagée store's
``gp_unpublished``, :mod:`hub.stores.gp.publication`, for the gateway's own records).

Contracts:

* :meth:`OwedRecords.publish` stores the records (:class:`OwedStore`: durable before it
  returns) then flushes their demands. It raises only when they could not be stored
  (:class:`~hub.core.errors.TransientError`: the database is down); once stored, nothing
  is raised: what is not acknowledged stays owed.
* :meth:`OwedRecords.flush` publishes, for the demands ``nums``, every record owed, in
  store order, each after the previous one's acknowledgement, so that a demand's later
  record never overtakes an earlier one owed: a new record of a demand that owes one
  waits behind it. Each acknowledged record is deleted (recorded even when a later send
  failed; a crash in between publishes it again: at least once, consumers deduplicate by
  ``eventId``). A failure that may pass (Kafka down, a timeout) ends the flush: the
  record stays owed, its failure counted. A record Kafka *refuses* (:func:`refusal`: too
  large, corrupt) is set aside, logged at ERROR and shown by ``hub status``; the
  demand's later records go on (publishing it again would fail the same way, and holding
  them behind it would block the demand for good).
* :meth:`OwedRecords.republish` publishes what is owed, demand by demand (the one owing
  longest first) until nothing is owed or a send fails, then sets the gauge
  ``passerelle_sne_gateway_unpublished_records``; it never raises.
  :meth:`OwedRecords.run` lists the refused records as owed again (a restart is when an
  operator has fixed the cause: the topic's size limit...), then republishes now and every
  ``interval_s`` until cancelled.
* One flush at a time per demand in a process (:class:`DemandLocks`); two gateways on
  one database may both send a record: at least once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence

from aiokafka.errors import (
    CorruptRecordException,
    InvalidMessageError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)

from connectors.sne.gateway.owed_store import OwedStore, Record
from hub.core.errors import HubError
from hub.stores.gp.publication import DemandLocks, Publisher
from monitoring import recorder

log = logging.getLogger(__name__)
#: Kafka's refusals of one record for what it is: sent again, it fails the same way
REFUSALS = (MessageSizeTooLargeError, RecordTooLargeError, RecordListTooLargeError,
            CorruptRecordException, InvalidMessageError)  # fmt: skip
#: most demands per round, and rounds per pass (a pass ends and sets the gauge even if
#: records keep coming)
DEMANDS, MAX_ROUNDS = 100, 100


def refusal(exc: BaseException) -> str | None:
    """Why Kafka refused this very record for good (the error's name or code), or None
    when the failure may pass. A non-retriable :class:`HubError` is a refusal; the hub's
    :class:`~hub.core.kafka.publisher.KafkaPublisher` raises ``TransientError`` for every
    Kafka failure, from inside the handler of Kafka's error: that error is its context.
    Other non-retriable Kafka errors (authorization, a producer closed, a metadata
    timeout) are not about the record: it waits, in order, for the cause to be fixed."""
    if isinstance(exc, HubError) and not exc.retriable:
        return exc.code
    for cause in (exc, exc.__cause__, exc.__context__):
        if isinstance(cause, REFUSALS):
            return type(cause).__name__
    return None


class OwedRecords:
    def __init__(self, store: OwedStore, publisher: Publisher) -> None:
        self.store = store
        self.publisher = publisher
        self.locks = DemandLocks()

    async def publish(self, records: Sequence[Record]) -> bool:
        """Store ``records`` then publish what their demands owe (module doc); whether
        everything they owe was acknowledged."""
        if not records:
            return True
        await asyncio.to_thread(self.store.add, records)
        try:
            _sent, done = await self.flush({r.num_unique for r in records})
        except HubError as exc:  # the database failed after storing: kept, sent later
            log.warning("SOAP gateway: owed records kept, not flushed (%s)", exc.message)
            return False
        return done

    async def flush(self, nums: Iterable[str]) -> tuple[int, bool]:
        """Publish what ``nums`` owe (module doc); (how many Kafka acknowledged, False when
        a send failed: the rest is still owed)."""
        wanted = sorted(set(nums))
        async with self.locks.hold(wanted):
            owed = await asyncio.to_thread(self.store.owed, wanted)
            acknowledged: list[int] = []
            try:
                for row in owed:
                    r = row.record
                    try:
                        await self.publisher.publish(r.topic, r.key, r.value)
                    except Exception as exc:  # Kafka client errors have no common base
                        reason = refusal(exc)
                        error = reason or getattr(exc, "message", None) or type(exc).__name__
                        await asyncio.to_thread(self.store.failed, row.seq, str(error),
                                                refused=reason is not None)  # fmt: skip
                        if reason is None:
                            log.warning("SOAP gateway: %s record %s of %s owed to Kafka (%s): "
                                        "published later", r.topic, r.event_id, r.num_unique,
                                        error)  # fmt: skip
                            return len(acknowledged), False
                        log.error("SOAP gateway: Kafka refused the %s record %s of %s (%s): "
                                  "set aside (hub status), tried again at the gateway's next "
                                  "start", r.topic, r.event_id, r.num_unique, reason)  # fmt: skip
                        continue
                    acknowledged.append(row.seq)
            finally:
                if acknowledged:  # what Kafka took is recorded even if a later send failed
                    await asyncio.to_thread(self.store.acknowledge, acknowledged)
        return len(acknowledged), True

    async def republish(self) -> int:
        """One pass (module doc); how many records Kafka acknowledged."""
        sent, held = 0, False
        try:
            for _ in range(MAX_ROUNDS):
                nums = await asyncio.to_thread(self.store.demands, DEMANDS)
                for num in nums:
                    n, done = await self.flush([num])
                    sent += n
                    if not done:  # Kafka is likely down: the pass ends, one wait only
                        held = True
                        break
                if held or not nums:
                    break
        except HubError as exc:  # the database is down
            log.warning("SOAP gateway: owed records not read (%s)", exc.message)
        except Exception:  # a bug must not stop the republisher for good: logged, tried again
            log.exception("SOAP gateway: republishing failed")
        if held:
            log.warning("SOAP gateway: %d owed record(s) published, the rest waits", sent)
        elif sent:
            log.info("SOAP gateway: %d owed record(s) published", sent)
        try:
            owed, _oldest, refused = await asyncio.to_thread(self.store.summary)
            recorder.sne_gateway_unpublished(owed, refused)
        except HubError:
            pass  # the database is down: the gauge keeps its last value
        return sent

    async def run(self, interval_s: float) -> None:
        """Refused records owed again, then :meth:`republish` now and every
        ``interval_s`` seconds, until cancelled (module doc)."""
        try:
            released = await asyncio.to_thread(self.store.release_refused)
            if released:
                log.warning("SOAP gateway: %d record(s) Kafka refused are tried again", released)
        except HubError as exc:
            log.warning("SOAP gateway: refused records not released (%s)", exc.message)
        while True:
            await self.republish()
            await asyncio.sleep(interval_s)
