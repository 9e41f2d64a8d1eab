"""Sending the dispatch outputs, and knowing they were acknowledged.

A :class:`Sender` has one method: ``await sender.send(topic, key, value)`` hands the
record to the producer (waiting only when the producer's buffer is full: backpressure)
and returns the **future of its acknowledgement**. :func:`send_all` sends a batch's
outputs in order and waits for every acknowledgement; a failed delivery raises
:class:`DeliveryError` (retriable), so the caller stores no state and commits no offset
for the batch: it is processed again (at-least-once, the same event ids).

The worker's sender, over the producer under the faust app, is
:class:`dispatch.runtime.sender.KafkaSender` (the faust adapter). A sender that must be
set right after a failed delivery before it can deliver again (an idempotent producer:
:class:`Recovering`) is, by :func:`resend_until_acknowledged`, before each resend.

After a failure, :func:`to_send_again` picks what to send again: on each topic, the
outputs from its first unacknowledged one on (what came before on that topic is written,
in order); the outputs acknowledged on other topics are not sent again.

A record larger than the producer sends is refused by the producer itself, at ``send``,
for the whole batch: :func:`record_bytes` is its own measure, so that callers refuse the
*input* that would produce it before anything is sent (``dispatch.letters.check_outputs``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence, Set
from typing import Any, Protocol, TypeVar, runtime_checkable

from aiokafka.record.default_records import DefaultRecordBatchBuilder

from hub.core import topics as hub_topics
from hub.core.backoff import Backoff
from hub.core.errors import HubError, TransientError

log = logging.getLogger(__name__)
T = TypeVar("T")

#: one output record: (topic, key, value)
Output = tuple[str, bytes | None, bytes]


class Sender(Protocol):
    async def send(self, topic: str, key: bytes | None, value: bytes) -> Awaitable[Any]:
        """Enqueue one record; return the future of its acknowledgement."""
        ...


@runtime_checkable
class Recovering(Protocol):
    async def recover(self) -> None:
        """A delivery failed: return once the sender can deliver again (nothing sent
        before this call is still in flight), without dropping what was handed to it."""
        ...


async def recover(sender: Sender) -> None:
    """:meth:`Recovering.recover` when ``sender`` has one (a plain sender needs none)."""
    if isinstance(sender, Recovering):
        await sender.recover()


def record_bytes(key: bytes | None, value: bytes) -> int:
    """The size the producer gives one output record (no headers) when it compares it with
    its ``max_request_size``: aiokafka's own estimate, the record and its batch framing."""
    return int(DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, []))


class DeliveryError(TransientError):
    """The broker did not acknowledge an output (after the producer's own retries).

    ``failed``: the positions, among the outputs waited for, of those not acknowledged;
    None when not known (the producer refused a record at hand-over: every output of the
    attempt counts as failed)."""

    code = "delivery_failed"

    def __init__(self, message: str, *, failed: Sequence[int] | None = None) -> None:
        super().__init__(message)
        self.failed: tuple[int, ...] | None = None if failed is None else tuple(failed)


def where(topic: str) -> str:
    """``topic`` as an operator looks for it: a feed also names its actor."""
    if topic.startswith(hub_topics.FEED_PREFIX):
        return f"{topic} (actor {topic.removeprefix(hub_topics.FEED_PREFIX)})"
    return topic


def to_send_again(
    outputs: Sequence[Output], failed: Sequence[int] | None, topics: Set[str] = frozenset()
) -> list[Output]:
    """The outputs of ``outputs`` (in their order) to send again once ``failed`` (their
    positions) were not acknowledged: on each topic, every output from its first failed
    one on; and every output to ``topics``. All of them when ``failed`` is None.

    Why a topic's outputs after its first failed one, acknowledged or not: sent again after
    it, they keep the batch's order on that topic (each feed has one partition), so its
    last record of a demand is the demand's newest version. The outputs before it on that
    topic were acknowledged, hence written, in order: not sent again, nor the outputs of a
    topic with no failure (an actor's feed does not pay for another's). ``topics``: the
    topics an earlier batch was sent again to after these outputs were handed over, on
    which these must follow it again."""
    if failed is None:
        return list(outputs)
    first: dict[str, int] = {}
    for i in sorted(failed):
        first.setdefault(outputs[i][0], i)
    return [out for i, out in enumerate(outputs)
            if out[0] in topics or i >= first.get(out[0], len(outputs))]  # fmt: skip


async def enqueue(sender: Sender, outputs: Sequence[Output]) -> list[Awaitable[Any]]:
    """Hand ``outputs`` to the producer in order; their acknowledgement futures."""
    try:
        return [await sender.send(topic, key, value) for topic, key, value in outputs]
    except HubError:
        raise
    except Exception as exc:
        raise DeliveryError(f"output not sent: {type(exc).__name__}: {exc}") from exc


async def wait_acks(
    acks: Sequence[Awaitable[Any]], outputs: Sequence[Output] | None = None
) -> None:
    """Return once every acknowledgement arrived; :class:`DeliveryError` when one failed
    (after waiting for all of them: none is left running), with the positions of the
    failed ones. ``outputs`` (``acks[i]`` is ``outputs[i]``'s): the message names the
    topics (and actors) that did not acknowledge, the first one's error with them."""
    first: BaseException | None = None
    failed: list[int] = []
    for i, ack in enumerate(acks):  # one by one: most are done by the time the first one is
        try:
            await ack
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            first = first or exc
            failed.append(i)
    if first is None:
        return
    if isinstance(first, HubError):
        raise first
    error = f"{type(first).__name__}: {first}"
    if outputs is None:
        raise DeliveryError(f"output not acknowledged: {error}", failed=failed)
    refusing = list(dict.fromkeys(outputs[i][0] for i in failed))
    named = ", ".join(where(t) for t in refusing[:3])
    if len(refusing) > 3:
        named += f" and {len(refusing) - 3} more topics"
    raise DeliveryError(
        f"{len(failed)} of {len(acks)} outputs not acknowledged by {named}; the first: {error}",
        failed=failed,
    )


async def send_all(sender: Sender, outputs: Sequence[Output]) -> None:
    """Send ``outputs`` in order; return once every one is acknowledged.

    Raises :class:`DeliveryError` when one was not (the others may have been:
    :func:`to_send_again` says what to send again)."""
    await wait_acks(await enqueue(sender, outputs), outputs)


async def resend_until_acknowledged(
    sender: Sender,
    outputs: Sequence[Output],
    *,
    failed_before: bool,
    first_delay_s: float = 0.5,
    max_delay_s: float = 30.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Send ``outputs`` again, in order, until every one is acknowledged: after a failed
    attempt, only :func:`to_send_again` of it, backing off. Returns once done; raises
    only what is not a retriable :class:`HubError`.

    Before an attempt that follows a failed delivery (``failed_before``: the one that
    brought the caller here), the sender is recovered (:func:`recover`): an idempotent
    producer left as it was would refuse every later record of the failed partition
    (:class:`dispatch.runtime.sender.KafkaSender`)."""
    delays = Backoff(first_delay_s, max_delay_s, jitter=(1.0, 1.0)).delays()
    pending = list(outputs)
    while True:
        if failed_before:
            await recover(sender)
        try:
            await send_all(sender, pending)
            return
        except HubError as exc:
            if not exc.retriable:
                raise
            failed = exc.failed if isinstance(exc, DeliveryError) else None
            pending = to_send_again(pending, failed)
            failed_before = True
            delay = next(delays)
            log.warning("batch not acknowledged (%s): %d outputs again in %.1f s",
                        exc.message, len(pending), delay)  # fmt: skip
            await sleep(delay)


async def until_acknowledged(
    attempt: Callable[[], Awaitable[T]],
    *,
    first_delay_s: float = 0.5,
    max_delay_s: float = 30.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """``await attempt()`` again (backing off) while it raises a retriable
    :class:`HubError` (a broker outage: :class:`DeliveryError`); other errors propagate.

    Safe for ``Processor.process``: a failed batch stored no state, so running it again
    sends the same records with the same event ids."""
    delays = Backoff(first_delay_s, max_delay_s, jitter=(1.0, 1.0)).delays()
    while True:
        try:
            return await attempt()
        except HubError as exc:
            if not exc.retriable:
                raise
            delay = next(delays)
            log.warning("batch not acknowledged (%s): again in %.1f s", exc.message, delay)
            await sleep(delay)
