"""The per-demand dispatch state kept in the changelog-backed table.

One entry per numéro unique: the last accepted snapshot (needed to send copies when an
actor's filters change), who received it, and where in the input it was last applied
(so an input replayed after a crash is recognised and skipped). A deleted demand (``SUP``)
keeps a *deletion marker* (:attr:`DemandeState.deleted`) until ``hub purge`` removes it,
so the same events published again are still recognised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: how many applied event ids a demand remembers for replay detection
RECENT_EVENT_IDS = 16


@dataclass(frozen=True, slots=True)
class DemandeState:
    num_unique: str
    version: int
    active: bool
    recipients: frozenset[str]
    last_event_id: str
    last_operation: str
    occurred_at: int
    #: input position of the last applied event (partition, offset); -1 when unknown
    partition: int = -1
    offset: int = -1
    demande: dict[str, Any] | None = field(default=None, compare=False)
    #: actors that received the demand once and were withdrawn since (told of a radiation)
    former: frozenset[str] = frozenset()
    #: ids of the last applied events, newest last (at most RECENT_EVENT_IDS): an older
    #: event published again (a retried file, a replayed source) must not roll back
    recent_event_ids: tuple[str, ...] = ()
    #: (the snapshot, its Avro bytes as read from its event, a ``["null", Demande]``
    #: union): copied into the state and feed records instead of encoding ``demande``
    #: again (dispatch.snapshotbytes). Read through :attr:`demande_bytes`, which holds
    #: only while the pair's snapshot *is* ``demande``: a copy of the state with another
    #: snapshot can never carry stale bytes.
    demande_encoding: tuple[dict[str, Any] | None, bytes] | None = field(
        default=None, compare=False, repr=False
    )
    #: renewal notices sent for the current cycle, ``"<deadline>:<code>"``
    #: (dispatch.deadlines; a REN starts a new cycle: dispatch.deadlines.carry), and the
    #: clock's tokens: ``"cotation:<day>"`` (dispatch.cotation), ``"renouvellement:<day>"``
    #: the cycle's renewal date (hub.domain.renewal)
    notices_sent: tuple[str, ...] = ()
    #: past the délai anormalement long: None unknown; set by the hub at the crossing or by
    #: the SNE's indicator (which wins); ``delai_source`` says which ("hub" or "sne")
    delai_anormalement_long: bool | None = None
    delai_source: str | None = None
    #: the registering actor: the actor (``api:<id>`` source) whose event started the
    #: demand's current life (its creation the worker accepted); None when no actor did,
    #: or in a state written before it (hub.domain.authorship: who may change the demand)
    registered_by: str | None = None

    @property
    def deleted(self) -> bool:
        """A deletion marker: what a ``SUP`` leaves (hub.domain.decisions.deletion_marker),
        inactive, without snapshot nor recipients, kept for its event ids until purged."""
        return not self.active and self.last_operation == "SUP"

    @property
    def demande_bytes(self) -> bytes | None:
        """The bytes of ``demande`` as read, or None (unknown)."""
        enc = self.demande_encoding
        return enc[1] if enc is not None and enc[0] is self.demande else None

    def to_avro(self) -> dict[str, Any]:
        return {
            "numUnique": self.num_unique,
            "version": self.version,
            "active": self.active,
            "recipients": sorted(self.recipients),
            "lastEventId": self.last_event_id,
            "lastOperation": self.last_operation,
            "occurredAt": self.occurred_at,
            "partition": self.partition,
            "offset": self.offset,
            "demande": self.demande,
            "former": sorted(self.former),
            "recentEventIds": list(self.recent_event_ids),
            "noticesSent": list(self.notices_sent),
            "delaiAnormalementLong": self.delai_anormalement_long,
            "delaiAnormalementLongSource": self.delai_source,
            "registeredBy": self.registered_by,
        }

    @classmethod
    def from_avro(cls, rec: dict[str, Any]) -> DemandeState:
        return cls(
            num_unique=rec["numUnique"],
            version=rec["version"],
            active=rec["active"],
            recipients=frozenset(rec["recipients"]),
            last_event_id=rec["lastEventId"],
            last_operation=rec["lastOperation"],
            occurred_at=rec["occurredAt"],
            partition=rec["partition"],
            offset=rec["offset"],
            demande=rec["demande"],
            former=frozenset(rec.get("former") or ()),
            recent_event_ids=tuple(rec.get("recentEventIds") or ()),
            notices_sent=tuple(rec.get("noticesSent") or ()),
            delai_anormalement_long=rec.get("delaiAnormalementLong"),
            delai_source=rec.get("delaiAnormalementLongSource"),
            registered_by=rec.get("registeredBy"),
        )


def wished_communes(demande: dict[str, Any] | None) -> list[str]:
    """Wished communes in order of preference (first = first choice)."""
    lr = ((demande or {}).get("demandeLogement") or {}).get("logementRecherche") or {}
    return [
        loc["commune"] for loc in lr.get("listeLocalisationSouhaite") or [] if loc.get("commune")
    ]


def wished_typologies(demande: dict[str, Any] | None) -> list[str]:
    lr = ((demande or {}).get("demandeLogement") or {}).get("logementRecherche") or {}
    return [t for t in lr.get("listeTypeLogement") or [] if t]
