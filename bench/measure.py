"""Timing one burst: send input records, wait until the outputs hold the expected count.

The same protocol measures the hub and the baselines: a burst of pre-encoded records is
produced to the input topic as fast as the client goes, and the round ends when the end
offsets of the output topics have grown by the expected number of deliveries. CPU seconds
of each measured process (hub or baseline, and the broker) come from ``/proc``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition

from bench.harness import Watcher, produce
from bench.procstat import CpuMeter


@dataclass(slots=True)
class Burst:
    events: int
    deliveries: int
    seconds: float
    cpu: dict[str, float | None]  # role -> CPU seconds during the burst

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "events": self.events,
            "deliveries": self.deliveries,
            "seconds": round(self.seconds, 3),
            "events_per_s": round(self.events / self.seconds, 1),
            "deliveries_per_s": round(self.deliveries / self.seconds, 1),
        }
        for role, cpu in self.cpu.items():
            out[f"{role}_cpu_us_per_event"] = (
                None if cpu is None else round(cpu * 1e6 / max(self.events, 1), 1)
            )
            out[f"{role}_cpu_us_per_delivery"] = (
                None if cpu is None else round(cpu * 1e6 / max(self.deliveries, 1), 1)
            )
        return out


async def burst(
    watcher: Watcher,
    bootstrap: str,
    input_topic: str,
    records: Sequence[tuple[bytes, bytes]],
    outputs: Sequence[TopicPartition],
    deliveries: int,
    pids: dict[str, int | None],
    timeout: float = 900,
) -> Burst:
    """Produce ``records`` to ``input_topic``; wait for ``deliveries`` new output records."""
    before = await watcher.total(outputs)
    meters = {role: CpuMeter(pid) for role, pid in pids.items()}
    for m in meters.values():
        m.start()
    t0 = time.monotonic()
    await produce(bootstrap, input_topic, records)
    done = await watcher.wait_total(outputs, before + deliveries, timeout)
    cpu = {role: m.stop() for role, m in meters.items()}
    if done is None:
        got = await watcher.total(outputs) - before
        raise TimeoutError(f"only {got} of {deliveries} deliveries after {timeout:g}s")
    return Burst(len(records), deliveries, done - t0, cpu)
