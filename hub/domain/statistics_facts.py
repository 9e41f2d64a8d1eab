"""From a demand event to the statistics' fact of the demand (issue 20 point 5).

Contracts:

* :func:`fait_of` reads a ``DemandeEvent`` (decoded, validated) the worker would accept:
  the territory of the demand's **first** wished commune (resolved to today's code, an
  arrondissement or commune déléguée counted in its commune), every EPCI it wishes (in
  wish order), its typologies, ``dateCreationDemande``, and for ``RAD`` the radiation's
  date and motive (``radiation/dateRadiation``, ``motifRadiation``; the event's own (Paris) day
  when the snapshot lacks it; a motive outside the reference table ``motifRadiation`` is
  kept as unknown, ``None``). Any other live operation makes the demand active again (a
  ``MOD`` after a ``RAD`` is a reactivation: domain README, "Empty motive = reactivation").
  The resources per consumption unit are :func:`hub.domain.cotation.faits.ressources_par_uc`
  on the event's date. Unknown wished codes raise :class:`UnknownCommuneError` for the
  live operations (the worker refuses them too), are skipped for ``RAD``.
* :func:`applies` is the fold's ordering rule, the dispatch worker's (hub.domain.decisions):
  a demand's order is its partition's order, so an event is skipped when its id is among
  the demand's recent ones (the same event published twice) or it sits at or before the
  position last folded in the same partition (a replay after a crash or a rebalance). A
  deleted demand keeps its mark (a deletion marker), so this holds after its ``SUP`` too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from hub.core.errors import UnknownCommuneError
from hub.domain.cotation import faits
from hub.domain.decisions import as_received
from hub.domain.geo import Geography
from hub.domain.refdata import TABLES
from hub.domain.renewal import PARIS
from hub.domain.state import wished_communes, wished_typologies
from hub.domain.statistics import Fait

#: event ids a demand remembers (as the dispatch state: hub.domain.state)
RECENT_EVENT_IDS = 16


@dataclass(frozen=True, slots=True)
class Mark:
    """Where a demand was last folded: its input position and its recent event ids."""

    partition: int
    offset: int
    recent_event_ids: tuple[str, ...]

    def after(self, event_id: str, partition: int, offset: int) -> Mark:
        recent = (*self.recent_event_ids, event_id)[-RECENT_EVENT_IDS:]
        return Mark(partition, offset, recent)


def applies(prior: Mark | None, event_id: str, partition: int, offset: int) -> bool:
    """Whether the event at (``partition``, ``offset``) is new for the demand (module doc)."""
    if prior is None:
        return True
    if event_id in prior.recent_event_ids:
        return False
    return not (partition == prior.partition and 0 <= offset <= prior.offset)


def event_instant(event: dict[str, Any]) -> datetime:
    """The event's ``occurredAt`` (epoch ms or an aware datetime) as an aware UTC datetime."""
    when = event["occurredAt"]
    if isinstance(when, datetime):
        return when.astimezone(UTC)
    return datetime.fromtimestamp(int(when) / 1000, UTC)


def event_date(event: dict[str, Any]) -> date:
    """The Europe/Paris day of the event's ``occurredAt``: the day the hub gives an event
    everywhere (the demand's clock, the score: docs/lifecycle.md, docs/cotation.md), so a
    radiation at 00:30 on 1 July in Paris counts in July (audit R, R-F8)."""
    return event_instant(event).astimezone(PARIS).date()


def _places(
    codes: Sequence[str], geo: Geography, strict: bool
) -> list[tuple[str, str | None, str]]:
    """(current commune, EPCI, département) of each known wished code, in wish order."""
    out = []
    for code in codes:
        try:
            commune = geo.commune(geo.resolve(code))
        except UnknownCommuneError:
            if strict:
                raise
            continue
        out.append((commune.parent or commune.code, commune.epci, commune.departement))
    return out


def fait_of(event: dict[str, Any], geo: Geography, scores: dict[str, int] | None = None) -> Fait:
    """The fact of the demand after ``event`` (not ``SUP``: that one leaves only its mark,
    hub.stores.statistics.store)."""
    demande = event.get("demande") or {}
    op = as_received(event)["operation"]  # a RAD with an empty motive: reactivated
    places = _places(wished_communes(demande), geo, strict=op != "RAD")
    first = places[0] if places else (None, None, None)
    epcis: list[str] = []
    for _c, epci, _d in places:
        if epci is not None and epci not in epcis:
            epcis.append(epci)
    on = event_date(event)
    radiation = faits.demande_logement(demande).get("radiation") or {}
    active = op != "RAD"
    motif = radiation.get("motifRadiation") if not active else None
    return Fait(
        num_unique=event["numUnique"],
        commune=first[0],
        epci=first[1],
        departement=first[2],
        epcis_souhaites=tuple(epcis),
        typologies=tuple(dict.fromkeys(wished_typologies(demande))),
        date_creation=faits.date_creation(demande),
        active=active,
        date_radiation=None if active else (faits.parse_date(radiation.get("dateRadiation")) or on),
        motif_radiation=motif if motif in TABLES["motifRadiation"] and motif else None,
        ressources_uc=faits.ressources_par_uc(demande, on),
        scores=dict(scores or {}),
    )
