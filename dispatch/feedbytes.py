"""Encode-once fan-out across profiles: one FeedRecord encoding reused for every profile
that sees the same snapshot.

A FeedRecord differs between two profiles only by its ``profile`` field when the profile
cut left the snapshot unchanged (the common case: no sensitive field set). Re-encoding
the whole snapshot for each profile would cost a full Avro write per profile; instead the
``profile`` string is replaced in the bytes already written. This is valid Avro because
the fields before it (kind, eventId, numUnique, operation: strings; demandeVersion,
occurredAt, dispatchedAt: longs) are skipped exactly, and the result is byte-identical to
a full encode (tested). If the current FeedRecord schema does not start with those
fields, :class:`FeedBytes` falls back to full encodes.

Document index splice: profiles also differ by the document index
(``demande.piecesJustificatives``, cut per profile by :mod:`hub.domain.profiles`) when the
rest of the snapshot is the same. That field is the last of the Demande record and the
snapshot is followed only by ``evenement``, so the index's bytes sit just before the
``evenement`` bytes at the end of the encoding: they are replaced by the encoding of the
other profile's index (compiled writers of those two field types), again byte-identical to
a full encode. When the schema does not end that way, full encodes are used.

Wire format: all of the above works on single-object bytes; :func:`wire` turns them into
what goes on the feed topic at the very end. Single-object encoding is the default; the
worker switches every feed record to the Confluent wire format when
``HUB_REGISTRY__WIRE_FORMAT=confluent`` (:func:`use_wire`, called once at start-up by
:func:`dispatch.feedwire.configure_feed_wire` after registering the schema).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dispatch.snapshotbytes import SnapshotBytes
from schemas import Codec
from schemas.codec import HEADER_SIZE
from schemas.compiled import compile_schema, read_long, write_long
from schemas.registry import strip_logical

PIECES = "piecesJustificatives"
#: single-object bytes -> the feed's wire format; None: single-object (the default)
_FRAME: Callable[[bytes], bytes] | None = None


def use_wire(frame: Callable[[bytes], bytes] | None) -> None:
    """Write feed records through ``frame`` (e.g. :meth:`schemas.confluent.SchemaIds.to_confluent`)
    from now on in this process; None: back to single-object encoding."""
    global _FRAME
    _FRAME = frame


def wire(data: bytes) -> bytes:
    """A FeedRecord's single-object bytes as they go on the feed topic."""
    return data if _FRAME is None else _FRAME(data)


#: FeedRecord fingerprint -> the writers of its index and evenement fields (or None)
_TAILS: dict[bytes, tuple[Callable[[Any], bytes], ...] | None] = {}

_HEAD = [
    ("kind", "string"),
    ("eventId", "string"),
    ("numUnique", "string"),
    ("operation", "string"),
    ("demandeVersion", "long"),
    ("occurredAt", "long"),
    ("dispatchedAt", "long"),
    ("profile", "string"),
]


def _type(t: Any) -> Any:
    return t["type"] if isinstance(t, dict) else t


def _tail_writers(fields: list[Any]) -> tuple[Callable[[Any], bytes], ...] | None:
    """Writers of the index field and of ``evenement`` when the FeedRecord ends with
    ``demande`` (["null", Demande] whose last field is the index) then ``evenement``."""
    if [f["name"] for f in fields[-2:]] != ["demande", "evenement"]:
        return None
    demande = fields[-2]["type"]
    if not (isinstance(demande, list) and len(demande) == 2 and isinstance(demande[1], dict)):
        return None
    inner = demande[1].get("fields") or [{}]
    if inner[-1].get("name") != PIECES:
        return None
    try:  # both types are stand-alone in the expanded schema; anything else: no splice
        return (
            compile_schema(strip_logical(inner[-1]["type"]))[0],
            compile_schema(strip_logical(fields[-1]["type"]))[0],
        )
    except Exception:
        return None


def _same_but_index(a: Any, b: Any) -> bool:
    """Two snapshots equal except (maybe) for their document index."""
    if not isinstance(a, dict) or not isinstance(b, dict) or a.keys() != b.keys():
        return False
    return all(a[k] is b[k] or a[k] == b[k] for k in a if k != PIECES)


def _same(a: Any, b: Any) -> bool:
    return a is b or a == b


def _long_bytes(n: int) -> bytes:
    out = bytearray()
    write_long(n, out)
    return bytes(out)


class FeedBytes:
    """Per-emission cache: ``encode(record)`` returns the record's bytes, reusing an
    earlier encoding of the same kind/reason/snapshot with another profile."""

    def __init__(self, codec: Codec, snapshots: SnapshotBytes | None = None) -> None:
        self.codec = codec
        self.snapshots = snapshots
        ws = codec.registry.current("FeedRecord")
        schema = ws.schema
        fields = schema.get("fields", []) if isinstance(schema, dict) else []
        self.splice = [(f["name"], _type(f["type"])) for f in fields[: len(_HEAD)]] == _HEAD
        if self.splice and ws.fingerprint not in _TAILS:  # compiled once per schema
            _TAILS[ws.fingerprint] = _tail_writers(fields)
        self._tail = _TAILS.get(ws.fingerprint) if self.splice else None
        self._done: list[tuple[dict[str, Any], bytes]] = []

    def encode(
        self,
        record: dict[str, Any],
        raw: bytes | None = None,
        snapshot: dict[str, Any] | None = None,
    ) -> bytes:
        """The bytes of ``record``. ``raw``: the bytes of ``snapshot`` (the demand's uncut
        snapshot) as read, when known: a record carrying ``snapshot`` itself copies them
        (``dispatch.snapshotbytes``), and one whose profile cut changed only the document
        index is spliced from them."""
        data = self._reuse(record) if self.splice else None
        if data is not None:
            return wire(data)
        if raw is not None and snapshot is not None and self.snapshots is not None:
            if record["demande"] is snapshot:
                data = self.snapshots.encode_feed(record, raw)
            elif record["demande"] is not None and self._tail is not None:
                whole = {**record, "demande": snapshot}
                data = self._with_index(self.snapshots.encode_feed(whole, raw), whole, record)
        if data is None:
            data = self.codec.encode("FeedRecord", record)
        self._done.append((record, data))
        return wire(data)

    def _reuse(self, record: dict[str, Any]) -> bytes | None:
        """An earlier encoding of this emission turned into ``record``'s, or None (a
        spliced document index is kept for later records)."""
        for prev, data in self._done:
            if (
                prev["kind"] == record["kind"]
                and prev["reason"] == record["reason"]
                and prev["eventId"] == record["eventId"]
                and prev["dispatchedAt"] == record["dispatchedAt"]
                and prev["operation"] == record["operation"]
                and prev["changedFields"] == record["changedFields"]
                and prev["evenement"] == record["evenement"]
                and prev.get("delaiAnormalementLong") == record.get("delaiAnormalementLong")
                and prev.get("delaiAnormalementLongSource")
                == record.get("delaiAnormalementLongSource")
                and _same(prev.get("cotations"), record.get("cotations"))
            ):
                if prev["demande"] is record["demande"] or prev["demande"] == record["demande"]:
                    if prev["profile"] == record["profile"]:
                        return data
                    return self._with_profile(data, record["profile"])
                spliced = self._with_index(data, prev, record)
                if spliced is not None:
                    self._done.append((record, spliced))
                    return spliced
        return None

    def _with_index(
        self, data: bytes, prev: dict[str, Any], record: dict[str, Any]
    ) -> bytes | None:
        """``data`` (the encoding of ``prev``) turned into the encoding of ``record`` when
        they differ only by the document index (and the profile); else None."""
        if self._tail is None or not _same_but_index(prev["demande"], record["demande"]):
            return None
        write_index, write_evenement = self._tail
        try:  # a value that does not fit: the full encode raises the codec's own error
            end = len(data) - len(write_evenement(record["evenement"]))
            old = write_index(prev["demande"].get(PIECES))
            new = write_index(record["demande"].get(PIECES))
        except Exception:
            return None
        start = end - len(old)
        if data[start:end] != old:  # not where expected: never guess, encode in full
            return None
        out = data[:start] + new + data[end:]
        if len(out) > self.codec.max_bytes:
            return None  # the full encode raises the codec's own error
        if prev["profile"] != record["profile"]:
            out = self._with_profile(out, record["profile"])
        return out

    @staticmethod
    def _with_profile(data: bytes, profile: str) -> bytes:
        pos = HEADER_SIZE
        for _ in range(4):  # kind, eventId, numUnique, operation
            n, pos = read_long(data, pos)
            pos += n
        for _ in range(3):  # demandeVersion, occurredAt, dispatchedAt
            _, pos = read_long(data, pos)
        n, end = read_long(data, pos)
        raw = profile.encode()
        return data[:pos] + _long_bytes(len(raw)) + raw + data[end + n :]
