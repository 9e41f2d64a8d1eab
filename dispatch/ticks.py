"""Writing the demand's clock into hub.demandes: ``DispatchTick`` records (issue 20).

A tick is processed by the partition's owner in stream order (dispatch.deadlines); who
writes it does not matter, and two ticks with the same ``now`` send nothing twice. Two
writers:

* the worker, every ``clock.tick_interval_s`` (wall time), to each partition of
  hub.demandes assigned to it (:func:`tick_assigned`);
* ``hub clock tick [--now ISO]``, to every partition: how tests and operators move the
  clock (a ``now`` ahead of wall time fires notices early: it is the operator's choice).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable
from typing import Any

from hub.core import topics
from schemas import Codec

log = logging.getLogger(__name__)


def tick_value(codec: Codec, partition: int, now_ms: int) -> bytes:
    return codec.encode("DispatchTick", {"tickId": str(uuid.uuid4()), "partition": partition,
                                         "now": now_ms})  # fmt: skip


def demandes_partitions(assigned: Iterable[Any]) -> list[int]:
    """The hub.demandes partitions among ``assigned`` topic-partitions (``.topic``,
    ``.partition``), sorted."""
    return sorted(tp.partition for tp in assigned if tp.topic == topics.DEMANDES)


async def tick_assigned(assigned: Iterable[Any], processor: Any, codec: Codec, sender: Any,
                        now_ms: int | None = None) -> list[int]:  # fmt: skip
    """Write a tick (``now_ms``, default wall time) to each hub.demandes partition of
    ``assigned`` (the worker's topic-partitions), keyed so the default partitioner puts it
    there (``Processor.partition_key``), and wait for the acknowledgements. Returns the
    partitions ticked."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    parts = demandes_partitions(assigned)
    futures = [await sender.send(topics.DEMANDES, processor.partition_key(p),
                                 tick_value(codec, p, now)) for p in parts]  # fmt: skip
    for fut in futures:
        await fut
    log.debug("clock: ticked partitions %s at %d", parts, now)
    return parts
