"""The keys of the due-time index (dispatch.deadlines) and the tick's scan over them.

Each active demand has, beside its state and in the same changelog partition, own-key
entries for its next thresholds:

    key   = b"\\x00d:" + due field + b"\\x00" + code + b"\\x00" + numéro unique
    value = b""

**The due field sorts as the due time does, whatever the due time.** A tick reads the
entries in key order and stops at the first one not due, so a single key out of order
would hide every entry behind it. The field is

* 13 digits for a due time in [0, 10^13) ms: every day from 1970 to 2286-11-20, the
  keys written since the index exists (unchanged);
* ``b":"`` + 19 digits from 10^13 ms on (``:`` sorts after every digit);
* ``b"-"`` + the 19 digits of 10^19 + due, before 0 (``-`` sorts before every digit);

due times beyond ±(10^19 - 1) ms are clamped (no date is that far: 10^19 ms is
~300 million years). So for any two due times, key order is numeric order
(tests/unit/test_clock_due_index.py).

**Misplaced keys heal themselves.** Until this layout the field was ``%013d`` whatever
the due time: a due time of 10^13 ms or more (a demand dated 2287 or later) got 14
digits, sorted among the 13-digit keys of a tenth of its due time — before keys actually
due — and stopped every scan of its partition there: the partition's other demands got
no notice (audit D, F1). Such a key (digits, not 13 of them: :func:`misplaced`) is never
written now. The scan returns it whatever ``now`` is and never stops at it; the tick then
finds it stale (the demand's entries no longer hold it), removes it and writes the
demand's own entries in this layout. A partition reaches such a key only when every key
sorted before it is due, so it heals exactly when it would have been blocked, at no cost
before.
"""

from __future__ import annotations

from typing import Any

#: prefix of every due entry
PREFIX = b"\x00d:"
#: due entries read per store scan page
_PAGE = 128
#: the 13-digit field holds due times below this
_WIDE = 10**13
#: the 19-digit fields hold magnitudes below this
_LIMIT = 10**19
_LATE, _EARLY = b":", b"-"


def _field(due: int) -> bytes:
    if 0 <= due < _WIDE:
        return b"%013d" % due
    if due >= _WIDE:
        return _LATE + b"%019d" % min(due, _LIMIT - 1)
    return _EARLY + b"%019d" % max(_LIMIT + due, 1)


def entry_key(due_ms: int, code: str, num_unique: str) -> bytes:
    """The key of the due entry of threshold ``code`` of ``num_unique`` at ``due_ms``."""
    return PREFIX + _field(due_ms) + b"\x00%s\x00%s" % (code.encode(), num_unique.encode())


def parse(key: bytes) -> tuple[int, str, str]:
    """(due ms, code, numéro unique) of a due entry's key (a misplaced one's included)."""
    field, code, num = key[len(PREFIX) :].split(b"\x00", 2)
    if field[:1] == _LATE:
        due = int(field[1:])
    elif field[:1] == _EARLY:
        due = int(field[1:]) - _LIMIT
    else:
        due = int(field)
    return due, code.decode(), num.decode()


def misplaced(key: bytes) -> bool:
    """Whether ``key`` is a due entry whose due field has not the width of its form (one
    written before this layout with 14 digits): it does not sort by its due time."""
    field = key[len(PREFIX) :].split(b"\x00", 1)[0]
    return len(field) != (20 if field[:1] in (_LATE, _EARLY) else 13)


def marker(partition: int, generation: int = 1) -> bytes:
    """Written once every stored demand of ``partition`` has its due entries.
    ``generation`` 2: the entries of the cotation clock too (a worker with a scoring
    runs the upgrade pass again, once, for the states stored without them)."""
    if generation == 1:
        return b"\x00d-complete:%d" % partition
    return b"\x00d-complete:%d:%d" % (generation, partition)


def due_in_store(store: Any, partition: int, now_ms: int, limit: int) -> list[bytes]:
    """The keys of up to ``limit`` stored due entries of ``partition`` with a due time at
    or before ``now_ms``, and the misplaced keys met on the way, in key order: pages of
    the range scan, stopping at the first well-placed entry not due (the cost is the due
    entries plus at most one page)."""
    out: list[bytes] = []
    after = PREFIX
    while len(out) < limit:
        page = list(store.scan_from(partition, [PREFIX], after, _PAGE))
        for key, _ in page:
            if not misplaced(key) and parse(key)[0] > now_ms:
                return out
            out.append(key)
            if len(out) >= limit:
                return out
        if len(page) < _PAGE:
            return out
        after = page[-1][0]
    return out
