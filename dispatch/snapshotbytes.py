"""A demand event's snapshot bytes, copied into its state and its feed records.

The snapshot (``demande``) of a demand event is stored unchanged in the demand's state and
sent unchanged to every profile that sees it whole (:mod:`schemas.splice`: why and how).
:class:`SnapshotBytes` holds the three splices (event, state, feed record) of one codec:

* ``event_span(data)`` decodes a hub.demandes record and tells where its snapshot's bytes
  are (None when the record is not a current-schema DemandeEvent);
* ``encode_state`` / ``encode_feed`` write a record with those bytes in place of its
  snapshot when they are given and the schemas allow it, else encode in full. Any value
  that does not fit, or a result above the codec's cap, goes through the full encode, so
  errors are the codec's own.

The bytes are valid only for the very snapshot object they were read with: callers pass
them along with it (``DemandeState.demande_bytes``), never on their own.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import Any

from hub.domain.state import DemandeState
from schemas import Codec
from schemas.codec import MARKER
from schemas.splice import FieldSplice, same_type

SNAPSHOT = "demande"


class SnapshotBytes:
    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        current = codec.registry.current
        event_ws = current("DemandeEvent")
        self.event = FieldSplice(event_ws, SNAPSHOT)
        self.state = self._target(FieldSplice(current("DemandeState"), SNAPSHOT), event_ws)
        self.feed = self._target(FieldSplice(current("FeedRecord"), SNAPSHOT), event_ws)

    def _target(self, splice: FieldSplice, event_ws: Any) -> FieldSplice | None:
        usable = (
            self.event.usable
            and splice.usable
            and same_type(event_ws, SNAPSHOT, splice.schema, SNAPSHOT)
        )
        return splice if usable else None

    def event_span(self, data: bytes) -> tuple[str, dict[str, Any], bytes | None]:
        """(schema name, record, snapshot bytes or None) of one hub.demandes record."""
        name, record, span = self.codec.decode_span(data, self.event)
        return name, record, None if span is None else data[span[0] : span[1]]

    def decode_state(self, data: bytes) -> DemandeState:
        """A stored state, carrying its snapshot's bytes when they can be copied as they
        are: a copy or withdrawal of it then writes its feed record and its new state
        without encoding the snapshot again (issue 22: the cost of a re-dispatch)."""
        if self.state is None:
            return DemandeState.from_avro(self.codec.decode_as(data, "DemandeState"))
        name, record, span = self.codec.decode_span(data, self.state)
        if name != "DemandeState":
            return DemandeState.from_avro(self.codec.decode_as(data, "DemandeState"))
        state = DemandeState.from_avro(record)
        if span is None:
            return state
        return replace(state, demande_encoding=(state.demande, data[span[0] : span[1]]))

    def encode_state(self, state: DemandeState) -> bytes:
        return self._encode(self.state, "DemandeState", state.to_avro(), state.demande_bytes)

    def encode_feed(self, record: dict[str, Any], raw: bytes | None) -> bytes:
        """``raw``: the bytes of ``record["demande"]`` (None: unknown)."""
        return self._encode(self.feed, "FeedRecord", record, raw)

    def _encode(
        self, splice: FieldSplice | None, name: str, record: dict[str, Any], raw: bytes | None
    ) -> bytes:
        if splice is not None and raw is not None:
            try:
                data = MARKER + splice.schema.fingerprint + splice.write(record, raw)
            except Exception:  # the full encode names the problem
                pass
            else:
                if len(data) <= self.codec.max_bytes:
                    return data
        return self.codec.encode(name, record)


@lru_cache(maxsize=4)
def snapshot_bytes(codec: Codec) -> SnapshotBytes:
    """The splices of ``codec`` (compiled once per codec)."""
    return SnapshotBytes(codec)
