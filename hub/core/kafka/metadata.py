"""A long-lived aiokafka producer keeps the metadata of every topic it writes to.

Why: an aiokafka client starts with an empty topic list, which means "fetch the metadata
of every topic". The first send to a topic missing from that metadata (a feed topic
created after the client's last refresh: an actor registered while the worker runs) calls
``add_topic``, and the list becomes that one topic: from the next refresh on, the
client's metadata holds that topic only. Every batch already waiting for another topic
then has no known leader; the sender asks for metadata again, gets the same single topic,
and waits for ever (until the batch's request timeout). The worker's commit waits for
those batches: every partition stalled, no error logged (seen: an actor registered, then
its profile changed, the worker stopped committing for minutes; the first registration
before a stall leaves the producer tracking only that actor's feed).

:func:`track_every_topic` replaces the empty list by the explicit list of the topics
that exist, so that ``add_topic`` only ever adds to it (call it right after the start).
A topic deleted later stays on the list: the client logs it as not found at each refresh.
"""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaProducer


async def track_every_topic(producer: AIOKafkaProducer) -> None:
    """Make ``producer``'s client track the existing topics by name (module doc: why).
    Does nothing when the client already tracks an explicit list."""
    client: Any = producer.client
    if client._topics:  # aiokafka: an explicit list is only ever added to (add_topic)
        return
    everything = await client.fetch_all_metadata()
    await client.set_topics(sorted(everything.topics()))
