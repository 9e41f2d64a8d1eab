"""The hub's one producer for request-driven publishing (the REST API, the SOAP gateway):
started lazily (or by :meth:`KafkaPublisher.start`), idempotent (acks=all), every wait
bounded by ``timeout_s`` (default ``api.publish_timeout_s``); broker failures become
:class:`~hub.core.errors.TransientError` (HTTP 503 / SOAP retry), never a hung request.

A producer that a failure may have left unusable is replaced: after a non-retriable
:class:`~aiokafka.errors.KafkaError` (a record the broker refused, such as
``MessageSizeTooLargeError``; ``OutOfOrderSequenceNumber``; an authorization refusal...)
it is stopped and dropped, and the next :meth:`KafkaPublisher.publish` starts a fresh one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from hub.core.errors import TransientError
from hub.core.kafka.admin import core_topics, ensure_topics
from hub.core.kafka.client import new_producer
from hub.core.kafka.metadata import track_every_topic
from hub.core.settings import HubSettings

log = logging.getLogger(__name__)


class KafkaPublisher:
    """``hub.stores.gp.service.Publisher`` over one shared producer (acks=all, idempotent)."""

    def __init__(self, settings: HubSettings, *, timeout_s: float | None = None) -> None:
        self.settings = settings
        self.timeout_s = settings.api.publish_timeout_s if timeout_s is None else timeout_s
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Create the hub's topics and start the producer now rather than at the first
        :meth:`publish` (a served app's startup); :class:`TransientError` when Kafka is
        unavailable."""
        await self._started()

    async def _started(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                # Create the hub's topics first: producing to a missing topic would let the
                # broker auto-create it with one partition, and hub.demandes must have the
                # configured partition count (the unit of worker scale-out).
                try:
                    await asyncio.wait_for(
                        ensure_topics(self.settings, core_topics(self.settings)),
                        self.timeout_s,
                    )
                except TimeoutError:
                    raise TransientError("Kafka unavailable: TimeoutError") from None
                producer = new_producer(self.settings)
                try:
                    await asyncio.wait_for(producer.start(), self.timeout_s)
                    await asyncio.wait_for(track_every_topic(producer), self.timeout_s)
                except (KafkaError, OSError, TimeoutError) as exc:
                    await producer.stop()
                    raise TransientError(f"Kafka unavailable: {type(exc).__name__}") from None
                self._producer = producer
            return self._producer

    async def publish(self, topic: str, key: bytes, value: bytes) -> None:
        """Produce one record and wait for the broker's acknowledgement (module doc)."""
        producer = await self._started()

        async def sent() -> None:
            fut = await producer.send(topic, value, key=key)
            await fut

        try:  # the send itself may wait (metadata, a full buffer): bounded too
            await asyncio.wait_for(sent(), self.timeout_s)
        except KafkaError as exc:
            if not exc.retriable:
                # aiokafka's idempotent producer numbers each partition's batches and does
                # not take a number back when the broker refuses a batch: every later batch
                # to that partition is then out of sequence (OutOfOrderSequenceNumber),
                # forever. A new producer gets a new producer id and starts at 0.
                await self._discard(producer, exc)
            raise TransientError(f"publish to {topic} failed: {type(exc).__name__}") from None
        except TimeoutError:
            # not discarded: the record may still be written (a slow or hung broker leaves
            # the producer's sequence whole) and the same producer carries on afterwards
            raise TransientError(f"publish to {topic} failed: TimeoutError") from None

    async def _discard(self, producer: AIOKafkaProducer, cause: KafkaError) -> None:
        """Stop and forget ``producer`` unless another failure already replaced it."""
        async with self._lock:
            replaced = self._producer is not producer
            if not replaced:
                self._producer = None
        if replaced:
            return
        log.warning("Kafka producer replaced after %s", type(cause).__name__)
        # other sends still queued on it fail now: their callers answer 503 (the records
        # they owe stay unacknowledged: see hub.stores.gp.publication)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(producer.stop(), self.timeout_s)

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
