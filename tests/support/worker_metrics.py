"""Reading a running worker's /metrics in tests, and picking demands it will process.

Other test sessions may run workers in the same consumer group (passerelle-test): a
worker then holds only some partitions of hub.demandes. Tests that assert one worker's
metric values therefore publish only demands whose key falls on that worker's
partitions (read from its ``passerelle_consumer_lag`` series).
"""

from __future__ import annotations

import time
import urllib.request

from aiokafka.partitioner import murmur2
from prometheus_client.parser import text_string_to_metric_families

from hub.core import topics
from tests.support.demandes import new_num_unique

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def sample(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def owned_partitions(port: int, timeout: float = 60.0) -> set[int]:
    """Partitions of hub.demandes the worker on ``port`` holds (waits until it has one)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            owned = {
                int(dict(labels)["partition"])
                for name, labels in scrape(port)
                if name == "passerelle_consumer_lag" and dict(labels)["topic"] == topics.DEMANDES
            }
        except OSError:
            owned = set()
        if owned:
            return owned
        if time.monotonic() > deadline:
            raise AssertionError(
                f"the worker on port {port} holds no partition of {topics.DEMANDES}"
            )
        time.sleep(0.5)


def partition_of(num_unique: str, partitions: int) -> int:
    """The partition the producers' default partitioner (murmur2) gives this key."""
    return (murmur2(num_unique.encode()) & 0x7FFFFFFF) % partitions


def nums_on(owned: set[int], count: int, partitions: int, dep: str = "076") -> list[str]:
    """``count`` fresh numéros uniques that land on the ``owned`` partitions."""
    out: list[str] = []
    while len(out) < count:
        n = new_num_unique(dep)
        if partition_of(n, partitions) in owned:
            out.append(n)
    return out
