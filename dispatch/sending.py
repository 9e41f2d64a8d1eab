"""Sending the dispatch outputs, and knowing they were acknowledged.

A :class:`Sender` has one method: ``await sender.send(topic, key, value)`` hands the
record to the producer (waiting only when the producer's buffer is full: backpressure)
and returns the **future of its acknowledgement**. :func:`send_all` sends a batch's
outputs in order and waits for every acknowledgement; a failed delivery raises
:class:`DeliveryError` (retriable), so the caller stores no state and commits no offset
for the batch: it is processed again (at-least-once, the same event ids).

The worker's sender, over the producer under the faust app, is
:class:`dispatch.runtime.sender.KafkaSender` (the faust adapter).

A record larger than the producer sends is refused by the producer itself, at ``send``,
for the whole batch: :func:`record_bytes` is its own measure, so that callers refuse the
*input* that would produce it before anything is sent (``dispatch.letters.check_outputs``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

from aiokafka.record.default_records import DefaultRecordBatchBuilder

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


def record_bytes(key: bytes | None, value: bytes) -> int:
    """The size the producer gives one output record (no headers) when it compares it with
    its ``max_request_size``: aiokafka's own estimate, the record and its batch framing."""
    return int(DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, []))


class DeliveryError(TransientError):
    """The broker did not acknowledge an output (after the producer's own retries)."""

    code = "delivery_failed"


async def enqueue(sender: Sender, outputs: Sequence[Output]) -> list[Awaitable[Any]]:
    """Hand ``outputs`` to the producer in order; their acknowledgement futures."""
    try:
        return [await sender.send(topic, key, value) for topic, key, value in outputs]
    except HubError:
        raise
    except Exception as exc:
        raise DeliveryError(f"output not sent: {type(exc).__name__}: {exc}") from exc


async def wait_acks(acks: Sequence[Awaitable[Any]]) -> None:
    """Return once every acknowledgement arrived; :class:`DeliveryError` when one failed
    (after waiting for all of them: none is left running)."""
    failed: BaseException | None = None
    for ack in acks:  # one by one: most are done by the time the first one is
        try:
            await ack
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failed = failed or exc
    if failed is not None:
        if isinstance(failed, HubError):
            raise failed
        raise DeliveryError(f"output not acknowledged: {type(failed).__name__}: {failed}")


async def send_all(sender: Sender, outputs: Sequence[Output]) -> None:
    """Send ``outputs`` in order; return once every one is acknowledged.

    Raises :class:`DeliveryError` when one was not (the others may have been: the caller
    must replay the whole batch)."""
    await wait_acks(await enqueue(sender, outputs))


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
