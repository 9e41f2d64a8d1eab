"""Feed pages read through consumers kept open: what a long-lived process (the REST API,
the SOAP gateway) reads actors' feeds with, request after request.

Why: :func:`hub.core.kafka.feed_pages.read_feed_page` opens a consumer per page. Every
authorization check of the API folds the caller's feed first (:mod:`hub.stores.access`),
so every request paid a client start (bootstrap and a metadata request over **every**
topic of the cluster: ~2,000 feeds nationally), a second such metadata request to see
whether the feed exists, two offset requests and a stop: ~160 ms of waiting on an idle
broker with 1,700 topics, most of it for nothing new. Here a feed found once is known
(the hub never deletes a feed), and a check with nothing new costs the two offset
requests on an open connection.

Contract of :meth:`FeedPages.read`: the same as ``read_feed_page`` (records from
``offset`` on, at most ``limit``, each with its ``offset``; next offset; end offset;
:class:`~hub.core.errors.NotFoundError` when the actor has no feed yet;
:class:`~hub.core.errors.TransientError` when the broker fails or does not answer within
``timeout_s``, the whole read included). At most ``size`` reads run at once, each on a
consumer of its own; a consumer that failed or timed out is closed, never reused. A
consumer is bound to the event loop that started it: a read from another loop (a test
client's) starts new ones. :meth:`close` stops them all (the process's shutdown).
Whether a topic exists is asked of the whole cluster's metadata, never by naming it: a
broker with ``auto.create.topics.enable`` would create a feed on a mere request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from hub.core import topics
from hub.core.errors import NotFoundError, TransientError
from hub.core.kafka.client import topic_partitions
from hub.core.kafka.feed_pages import Page, page_from
from hub.core.kafka.reader import group_less_consumer, start_bounded
from hub.core.settings import HubSettings

log = logging.getLogger(__name__)

#: consumers kept open per process (concurrent feed reads beyond it wait for one)
DEFAULT_SIZE = 4


class FeedPages:
    """A small pool of group-less consumers reading pages of actors' feeds (module doc)."""

    def __init__(self, settings: HubSettings, *, size: int = DEFAULT_SIZE,
                 timeout_s: float = 10.0) -> None:  # fmt: skip
        self.settings = settings
        self.size = size
        self.timeout_s = timeout_s
        #: feed topics seen to exist (a feed is never deleted by the hub)
        self._known: set[str] = set()
        self._idle: list[AIOKafkaConsumer] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots: asyncio.Semaphore | None = None
        #: after close(): consumers are stopped after each read, none kept
        self._closed = False

    async def read(self, actor_id: str, offset: int, limit: int,
                   timeout_s: float | None = None) -> Page:  # fmt: skip
        """A page of ``hub.feed.<actor_id>`` (module doc)."""
        timeout = self.timeout_s if timeout_s is None else timeout_s
        topic = topics.feed_topic(actor_id)
        try:
            # one deadline for the whole call: the wait for a consumer and its start too
            # (review Q, F6: with a silent broker the n-th waiting request answered late)
            async with asyncio.timeout(timeout):
                return await self._read_in_slot(actor_id, offset, limit, timeout)
        except KafkaError as exc:
            self._known.discard(topic)  # deleted by an operator? asked again next time
            raise TransientError(f"feed read failed: {type(exc).__name__}") from None
        except TimeoutError:
            # a feed topic deleted by an operator times out its offsets requests: it is
            # looked up again at the next read, which says 404 (review Q, F5)
            self._known.discard(topic)
            raise TransientError(f"feed read failed: no answer within {timeout:g}s") from None

    async def _read_in_slot(self, actor_id: str, offset: int, limit: int,
                            timeout: float) -> Page:  # fmt: skip
        async with self._slot():
            consumer = await self._take(timeout)
            reusable = False
            try:
                page = await self._read(consumer, actor_id, offset, limit, timeout)
                reusable = True
                return page
            except NotFoundError:
                reusable = True
                raise
            finally:
                if reusable and not self._closed:
                    # what is assigned is not fetched meanwhile (an idle connection only)
                    consumer.pause(*consumer.assignment())
                    self._idle.append(consumer)
                else:  # failed, cut by the deadline, or the pool closed meanwhile
                    await asyncio.shield(_stop(consumer))

    async def close(self) -> None:
        """Stop every consumer kept open (those of another loop are dropped); one still
        reading is stopped when its read ends, and later reads keep none open."""
        self._closed = True
        idle, self._idle = self._idle, []
        if self._loop is not asyncio.get_running_loop():
            return
        for consumer in idle:
            await _stop(consumer)

    async def _read(self, consumer: AIOKafkaConsumer, actor_id: str, offset: int,
                    limit: int, timeout_s: float) -> Page:  # fmt: skip
        topic = topics.feed_topic(actor_id)
        if topic not in self._known:
            if not await topic_partitions(consumer, topic):
                raise NotFoundError(f"no feed yet for actor {actor_id!r}")
            self._known.add(topic)
        return await page_from(consumer, TopicPartition(topic, 0), offset, limit, timeout_s)

    @contextlib.asynccontextmanager
    async def _slot(self) -> Any:
        loop = asyncio.get_running_loop()
        if loop is not self._loop or self._slots is None:
            # a new loop (a test client's): the consumers of the former one cannot be used
            # nor stopped from here; they go with their loop
            self._loop, self._slots, self._idle = loop, asyncio.Semaphore(self.size), []
        async with self._slots:
            yield

    async def _take(self, timeout_s: float) -> AIOKafkaConsumer:
        if self._idle:
            return self._idle.pop()
        consumer = group_less_consumer(self.settings, "feed-pages")
        await start_bounded(consumer, self.settings, timeout_s)
        return consumer


async def _stop(consumer: AIOKafkaConsumer) -> None:
    try:
        await asyncio.wait_for(consumer.stop(), 5.0)
    except Exception as exc:  # closing a broken client: nothing more to do
        log.debug("feed pages consumer not stopped cleanly: %r", exc)
