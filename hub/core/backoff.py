"""The one back-off of the hub (issue 18): exponential, capped, jittered.

Every retry loop (the SNE client's transport retries, the push channels' per-record
retries and their registry reads, the file inbox's Kafka outages, the dispatch worker's
unacknowledged batches) asks a :class:`Backoff` how long to wait before its next try.

Contract of :meth:`Backoff.delay` for ``attempt`` = 0, 1, 2… (how many tries already
failed before the one that just failed, i.e. 0 after the first failure)::

    base(attempt)  = min(max_s, initial_s · 2**attempt)
    delay(attempt) = base(attempt) · U(low, high)      (jitter = (low, high))

* **bounds**: ``low·base ≤ delay ≤ high·base``; with the default jitter (0.5, 1.0) a
  delay never exceeds ``max_s`` (a jitter above 1 may, by at most that factor);
* **growth**: ``base`` doubles with each attempt until it reaches ``max_s``;
* **cap**: from the first attempt where ``initial_s·2**attempt ≥ max_s`` on, ``base`` is
  ``max_s`` (the exponent is clamped, so a huge ``attempt`` never overflows);
* **jitter** spreads the retries of many clients failing together (a receiver back after
  an outage is not hit by all of them at once); ``jitter=(1.0, 1.0)`` makes the delay
  exact (loops whose tests expect exact values).

:meth:`Backoff.delays` yields the successive delays of a loop that keeps failing.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

__all__ = ["DEFAULT_JITTER", "Backoff"]

#: the default jitter factor range: a delay between half and all of its base
DEFAULT_JITTER: tuple[float, float] = (0.5, 1.0)

#: 2**62 · any positive initial already exceeds any sensible cap
_MAX_EXPONENT = 62


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential back-off: ``initial_s`` after the first failure, doubled after each
    next one, capped at ``max_s``, scaled by a random factor in ``jitter``."""

    initial_s: float
    max_s: float
    jitter: tuple[float, float] = DEFAULT_JITTER

    def __post_init__(self) -> None:
        low, high = self.jitter
        if self.initial_s < 0 or self.max_s < 0:
            raise ValueError("back-off delays cannot be negative")
        if not 0 <= low <= high:
            raise ValueError(f"back-off jitter must satisfy 0 <= low <= high, got {self.jitter}")

    def base(self, attempt: int) -> float:
        """The delay before jitter: ``min(max_s, initial_s · 2**attempt)``."""
        exponent = min(max(attempt, 0), _MAX_EXPONENT)
        return float(min(self.max_s, self.initial_s * 2**exponent))

    def delay(
        self, attempt: int, *, uniform: Callable[[float, float], float] = random.uniform
    ) -> float:
        """Seconds to wait after ``attempt + 1`` failed tries (see the module's contract)."""
        low, high = self.jitter
        base = self.base(attempt)
        return base if low == high == 1.0 else float(base * uniform(low, high))

    def delays(self) -> Iterator[float]:
        """The delays of a loop failing again and again: ``delay(0)``, ``delay(1)``…"""
        attempt = 0
        while True:
            yield self.delay(attempt)
            attempt += 1
