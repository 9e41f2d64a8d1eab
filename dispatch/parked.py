"""What a parked gestion partagée event looks like in the state store (dispatch.parking).

Three kinds of own keys, beside the states in the same changelog partition (the demand's),
so they survive a restart and move with the partition:

    event   b"\\x00e:" + numéro + b":" + input offset on 20 digits  -> the parked record
    demand  b"\\x00e:" + numéro                                      -> its parked offsets
    expiry  b"\\x00e@" + parked-at ms on 13 digits + b":" + offset on 20 digits
              + b"\\x00" + numéro                                    -> b""

The *demand* key lists the offsets of the demand's parked events in arrival order (8 bytes
each): the first store of the demand's state finds them with one lookup. It is written
after its events (a batch's writes are stored in order), so an offset it lists always has
its event. The *expiry* keys sort by parking time: a tick finds the expired ones with a
range scan, and counting them gives the partition's parked volume. No numéro unique starts
with a NUL byte, and every numéro is checked (``check_num_unique``: letters and digits)
before it is parked, so one demand's keys are never under another's.

The parked record keeps what a dead letter needs: the original value and headers (a DLQ
replay history goes on), its offset, and when it was parked.
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dispatch.batch import Batch
    from dispatch.batchstats import Submitted

#: the per-demand list and the events
PREFIX = b"\x00e:"
#: the expiry index
EXPIRY = b"\x00e@"
_MAGIC = b"P1"
_LEN = struct.Struct(">I")
_OFFSET = struct.Struct(">q")


@dataclass(frozen=True, slots=True)
class Parked:
    """One parked hub.evenements record."""

    offset: int
    #: when it was parked (epoch ms, the batch's clock)
    at: int
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


def demand_key(num: str) -> bytes:
    return PREFIX + num.encode()


def event_key(num: str, offset: int) -> bytes:
    return PREFIX + b"%s:%020d" % (num.encode(), offset)


def expiry_key(at: int, num: str, offset: int) -> bytes:
    return EXPIRY + b"%013d:%020d\x00%s" % (at, offset, num.encode())


def parse_expiry(key: bytes) -> tuple[int, int, str]:
    """(parked-at ms, offset, numéro) of an expiry key."""
    head, _, num = key[len(EXPIRY) :].partition(b"\x00")
    at, _, offset = head.partition(b":")
    return int(at), int(offset), num.decode()


def encode(parked: Parked) -> bytes:
    meta = json.dumps({"offset": parked.offset, "at": parked.at,
                       "headers": [[k, base64.b64encode(v).decode()] for k, v in parked.headers]},
                      separators=(",", ":")).encode()  # fmt: skip
    return _MAGIC + _LEN.pack(len(meta)) + meta + parked.value  # the value as it came


def decode(raw: bytes) -> Parked:
    """The record :func:`encode` wrote; ValueError for anything else."""
    if raw[:2] != _MAGIC:
        raise ValueError("not a parked gestion partagée event")
    try:
        (size,) = _LEN.unpack_from(raw, 2)
        start = 2 + _LEN.size
        meta = json.loads(raw[start : start + size])
        headers = tuple((str(k), base64.b64decode(v)) for k, v in meta["headers"])
        return Parked(int(meta["offset"]), int(meta["at"]), raw[start + size :], headers)
    except (KeyError, TypeError, struct.error) as exc:
        raise ValueError(f"parked gestion partagée event unreadable: {exc}") from exc


def offsets(raw: bytes | None) -> list[int]:
    """The offsets a demand key lists (none: absent)."""
    if not raw:
        return []
    return [o for (o,) in _OFFSET.iter_unpack(raw)]


def pack_offsets(listed: Sequence[int]) -> bytes | None:
    """The demand key's value (None: no parked event left, the key is deleted)."""
    return b"".join(_OFFSET.pack(o) for o in listed) or None


def unstored(batch: Batch, partition: int, prefix: bytes) -> dict[bytes, bytes | None]:
    """The writes under ``prefix`` of ``partition`` that the unsettled batches and this one
    will store, as they leave each key (None: deleted)."""
    view: dict[bytes, bytes | None] = {}
    subs: list[Batch | Submitted] = [*batch.proc._unsettled, batch]
    for sub in subs:  # in the order they are stored
        for key, p, value in sub.raw:
            if p == partition and key.startswith(prefix):
                view[key] = value
    return view


def expiry_keys(batch: Batch, partition: int, *, limit: int,
                until: int | None = None) -> list[bytes]:  # fmt: skip
    """The expiry keys of ``partition`` as the batch sees them (stored, then the unstored
    writes), in order; only those parked at or before ``until`` when given; at most
    ``limit`` of them (the stored ones beyond it are not read)."""
    view = unstored(batch, partition, EXPIRY)
    deleted = sum(1 for v in view.values() if v is None)
    found: set[bytes] = set()
    # few large pages: the memory store passes over all its keys at every call
    after, page = EXPIRY, max(256, min(limit + deleted, 10_000))
    while len(found) < limit + deleted:
        rows = list(batch.proc.store.scan_from(partition, [EXPIRY], after, page))
        due = [k for k, _ in rows if until is None or parse_expiry(k)[0] <= until]
        found.update(due)
        if len(rows) < page or len(due) < len(rows):
            break
        after = rows[-1][0]
    for key, value in view.items():
        if value is None:
            found.discard(key)
        elif until is None or parse_expiry(key)[0] <= until:
            found.add(key)
    return sorted(found)[:limit]
