"""Input contiguity: the worker's consumer hands the streams each input partition's records
in offset order, with no hole, or not at all.

Why: at start-up and after a rebalance, faust resumes fetching before it seeks the input
partitions back to their committed offsets. Records fetched before that seek are still
being handed out after it; faust then takes the jump between the reset read offset and
such a stale record for a gap in the log and counts the offsets in between as consumed:
a record that never reached the agent was committed past, i.e. lost. It was seen on a
fresh worker with a backlog (``tests/faults/test_fault_runs_delivery.py``; the diagnosis is
in docs/reliability.md).

Contract of :class:`Contiguity` (plain logic, one instance per consumer):

* a partition's *expected* offset is unknown after (re)assignment (the first record is
  admitted: the client starts at the committed offset), set by :meth:`reset` (a seek), and
  advanced past each admitted record;
* a record below the expected offset is a copy already handed out: **dropped**;
* a record above it is a **hole**: dropped, and the caller seeks the partition back to the
  expected offset and drops that partition's other records of the same fetch (they are
  stale too); they are fetched again, in order. If the same hole shows again after that
  rewind, the log really has no such offset (compaction, transaction markers): the
  record is admitted (:attr:`Verdict.ADMIT_PAST_HOLE`) and the hole logged; the caller
  counts the absent offsets as consumed, so that commits can pass them.

Holes are known here only. faust also infers them, from a jump of its read offset
(``Consumer._add_gap``), but its read offset is reset behind the records already handed
out whenever the partition is sought back (start-up, rebalance, a rewind here): it then
records as absent offsets that exist and are acknowledged too. Its commit merges those
"gaps" into the acknowledged offsets, each such offset twice, and its run of consecutive
offsets stops at the first repeat: the committed offset then advanced by **one offset per
commit interval** (2.8 s) until the phantom gap was passed. That was the "idle worker" of
the fault tests: every record handed out and dispatched, the lag going down by one record
every 2.5 s per partition, for minutes (docs/reliability.md). So the consumer ignores
faust's inferred gaps on input topics and records only the holes this guard found.

Records can also vanish *after* they were handed out: when faust resumes its flow (end of
recovery, after its seek to the committed offsets) it clears every stream queue, and the
records handed out between that seek and the clear are dropped there, unseen by the
agent. Nothing after them is out of order, so no hole shows; faust then commits past them
(its commit takes an acknowledged offset one above the committed one as contiguous). Seen
as the first record after the committed offset missing on every partition after a
frozen-broker stop (``tests/faults/test_shutdown_broker_gone.py``). :func:`lowest_offsets`
names, before such a clear, the first input record of each partition still queued; the
consumer resets the expected offset there and seeks back, so they are read again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Container, Hashable, Iterable
from enum import Enum

log = logging.getLogger(__name__)


class Verdict(Enum):
    ADMIT = "admit"
    #: admit; the offsets from the expected one up to this record's are absent from the
    #: log (seen again after a rewind): the caller counts them as consumed
    ADMIT_PAST_HOLE = "admit_past_hole"
    DROP = "drop"
    #: drop, and seek the partition back to :meth:`Contiguity.expected`
    REWIND = "rewind"


#: seconds between two log lines about one partition's holes or rewinds: a transactional
#: upstream producer makes one hole per transaction and partition (its commit marker)
LOG_EVERY_S = 60.0


class _Throttle:
    """One log line per partition and kind at most every :data:`LOG_EVERY_S`, the lines
    held back counted in the next one."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._last: dict[tuple[Hashable, str], float] = {}
        self._held: dict[tuple[Hashable, str], int] = {}

    def due(self, tp: Hashable, kind: str) -> int | None:
        """None: hold this line back; else how many were held back since the last one."""
        key, now = (tp, kind), self._clock()
        last = self._last.get(key)
        if last is not None and now - last < LOG_EVERY_S:
            self._held[key] = self._held.get(key, 0) + 1
            return None
        self._last[key] = now
        return self._held.pop(key, 0)


def _more(held: int) -> str:
    return f" ({held} more since the last line)" if held else ""


class Contiguity:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._expected: dict[Hashable, int] = {}
        #: partitions rewound to this offset and not yet past it
        self._rewound: dict[Hashable, int] = {}
        self._throttle = _Throttle(clock)

    def expected(self, tp: Hashable) -> int | None:
        return self._expected.get(tp)

    def reset(self, tp: Hashable, offset: int | None) -> None:
        """The partition was sought to ``offset`` (None: unknown, admit the next record)."""
        self._rewound.pop(tp, None)
        if offset is None or offset < 0:
            self._expected.pop(tp, None)
        else:
            self._expected[tp] = offset

    def forget(self, tp: Hashable) -> None:
        """The partition was (re)assigned: its next record is admitted."""
        self._expected.pop(tp, None)
        self._rewound.pop(tp, None)

    def check(self, tp: Hashable, offset: int) -> Verdict:
        expected = self._expected.get(tp)
        if expected is None or offset == expected:
            return self._admit(tp, offset)
        if offset < expected:
            return Verdict.DROP
        if self._rewound.get(tp) == expected:
            held = self._throttle.due(tp, "hole")
            if held is not None:
                log.warning("input %s: offsets %d..%d absent from the log after a rewind "
                            "(transaction markers, compaction, or removed: see the error "
                            "line that follows if so): going on at %d%s",
                            tp, expected, offset - 1, offset, _more(held))  # fmt: skip
            self._admit(tp, offset)
            return Verdict.ADMIT_PAST_HOLE
        # expected at a start or rebalance on a backlog (see module doc): not an error
        held = self._throttle.due(tp, "rewind")
        if held is not None:
            log.info("input %s: offset %d handed out where %d was expected: seeking back%s",
                     tp, offset, expected, _more(held))  # fmt: skip
        self._rewound[tp] = expected
        return Verdict.REWIND

    def _admit(self, tp: Hashable, offset: int) -> Verdict:
        self._expected[tp] = offset + 1
        if self._rewound:  # per input record: skip the pop in the usual case
            self._rewound.pop(tp, None)
        return Verdict.ADMIT


def lowest_offsets(queued: Iterable[object], inputs: Container[str]) -> dict[Hashable, int]:
    """The lowest offset of each input partition among ``queued`` items: faust events
    (``.message``) or messages (``.tp``, ``.offset``); anything else is ignored."""
    lowest: dict[Hashable, int] = {}
    for item in queued:
        message = getattr(item, "message", item)
        tp, offset = getattr(message, "tp", None), getattr(message, "offset", None)
        if tp is None or not isinstance(offset, int) or getattr(tp, "topic", None) not in inputs:
            continue
        if tp not in lowest or offset < lowest[tp]:
            lowest[tp] = offset
    return lowest
