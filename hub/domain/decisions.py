"""Dispatch decisions: plain functions over plain data, no broker, no faust.

``decide`` turns one demand event and the demand's prior state into the new state and the
feed records to send; ``reevaluate`` does the same for one demand when an actor changes
(filters, profile, removal). The agents (``dispatch.agents``) only decode, call these,
encode and send.

The house rule both keep: a **registered** actor holds (last received a DEMANDE, COPIE or
RADIATION of) exactly the demands it matches, each as its current profile may see it; an
actor that is not registered (removed from the registry) holds none. A removal is the
limiting case of a filter change — a territory matching nothing — so it withdraws
(``RETRAIT``, ``filtres_modifies``) what the actor held, and the actor stays a *former*
recipient like any actor withdrawn; registered again, it is copied what it matches, as
any actor whose territory grew.

A ``SUP`` does not forget the demand: it leaves a *deletion marker*
(:func:`deletion_marker`), so an event of the demand published again later (same
``eventId``: a retried API call, a connector re-publishing after a crash) is still a
duplicate instead of bringing the deleted demand back. ``hub purge`` removes the marker
with the radiations (dispatch.purge).

A **creation** (``CRE``, ``CRS``: :data:`CREATIONS`) is accepted only for a numéro the hub
holds no demand of — never seen, purged, or deleted (a deletion marker: the SNE poller
publishes a ``CRE`` for a demand deleted and found again). For an active or radiated
demand it is refused, ``demande_existante`` (:data:`EXISTING`): nothing is applied nor
sent, the worker dead-letters it (replayable: once the demand is deleted it is a creation
again). Taken as a new version, it let any actor replace the demand's snapshot, move it
to its own territory and have every holder told to delete it (audit K, F1); the worker is
the one place that knows every numéro, so it is the guard. The same creation published
again is no takeover: within the dedup window it is skipped as any duplicate, and later
(its id forgotten, e.g. a file dropped again months after) it is skipped too while it is
identical to the demand's current snapshot — nothing would change; a creation differing
from it would roll the demand back, and is refused like a takeover.

A **change** of an existing demand (any other operation) in the name of an actor
(``source`` ``api:<id>``) is applied only when that actor holds the demand — among its
current recipients, or its registering actor (:attr:`DemandeState.registered_by`) —
else refused, ``auteur_non_detenteur``: :mod:`hub.domain.authorship`.

**A radiated demand comes back** (any operation but ``RAD``, ``SUP`` and the creations
makes it active again: a ``MOD``, a ``REN``, a reactivation — a ``RAD`` with an empty
motive, :func:`as_received`) only as the domain allows (docs/lifecycle.md, "Reactivation"):

* radiated for **attribution** (``RADATT``, lease signed): never — the demand was
  satisfied, it cannot be renewed; refused ``demande_attribuee`` (:data:`ATTRIBUTED`);
* radiated for **non-renewal** (``RADREN``): "can be reactivated up to 18" months — until
  the start of its cycle (:func:`cycle_start`: its renewal date, else its creation, as the
  worker's clock reckons it) plus 18 months, that day included (:func:`reactivation_limit`),
  measured on the Europe/Paris day of the event's ``occurredAt``; later, refused
  ``reactivation_hors_delai`` (:data:`LATE_REACTIVATION`);
* radiated for another motive: as before (the reference sets no limit).

Both refusals are domain refusals: nothing applied nor sent, the event dead-lettered
(replayable) and never counted towards the consecutive dead-letter stop
(``dispatch.letters.DOMAIN_REFUSALS``). The statistics fold refuses the same events
(hub.services.statistics_folder).

An event carrying a ``profile`` was written from a copy cut to that profile (an actor's
write through the API, the SOAP gateway or its file inbox): the new snapshot keeps, from
the stored one, what that profile does not see (:func:`hub.domain.profiles.
restore_withheld`; audit K, F2: a ``consultant_simple`` MOD erased the sensitive fields,
documents and every document reference for everyone). Without ``profile`` (the SNE, a
producer, older records) the event's snapshot replaces the stored one, as ever.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from hub.core.errors import InputError, InvalidNumUniqueError
from hub.domain import renewal
from hub.domain.authorship import check_author, registered_by
from hub.domain.carriable import check_carriable
from hub.domain.matching import TerritoryIndex
from hub.domain.pieces import check_piece
from hub.domain.profiles import PROFILES, kept_index, restore_withheld
from hub.domain.refdata import PENDING_NUM_UNIQUE, check_code, check_codes, check_num_unique
from hub.domain.state import RECENT_EVENT_IDS, DemandeState, wished_communes, wished_typologies

# Feed record kinds
DEMANDE = "DEMANDE"
COPIE = "COPIE"
RETRAIT = "RETRAIT"
RADIATION = "RADIATION"

# Withdrawal reasons (no personal data in a withdrawal)
OUT_OF_TERRITORY = "hors_territoire"
FILTERS_CHANGED = "filtres_modifies"
DELETED = "demande_supprimee"
#: RADIATION sent to an actor withdrawn earlier: it learns the outcome, not the data
FORMER_RECIPIENT = "ancien_destinataire"
#: COPIE replacing the copy an actor holds, cut to the profile it had (docs/profiles.md)
PROFILE_CHANGED = "profil_modifie"

_LIVE_OPERATIONS = frozenset({"CRE", "CRS", "MOD", "REN"})
#: operations never refused for a territorial reason (a wished commune unknown today): a
#: demand whose commune vanished must still be radiated or deleted (issue 17)
TERRITORY_FREE_OPERATIONS = frozenset({"RAD", "SUP"})


@dataclass(frozen=True, slots=True)
class Delivery:
    actor_id: str
    kind: str
    reason: str | None = None


@dataclass(slots=True)
class Decision:
    """What to do for one input: send ``deliveries``, then store ``state``.

    ``delete``: the demand was deleted (``SUP``), ``state`` is its deletion marker (stored
    like any state: the entry is never removed here, ``hub purge`` does it); ``skipped``
    means the input was already applied (a replay after a crash, or the same event
    published twice).
    """

    state: DemandeState | None
    deliveries: list[Delivery] = field(default_factory=list)
    delete: bool = False
    skipped: bool = False


#: creations: their numéro comes from the SNE (a stand-in until numbered:
#: PENDING_NUM_UNIQUE), and they are refused on a numéro the hub holds a demand of
CREATIONS = frozenset({"CRE", "CRS"})
#: the dead-letter reason of a creation naming an active or radiated demand (module doc)
EXISTING = "demande_existante"


#: what a RAD with an empty radiation motive stands for: the domain's "empty motive =
#: reactivation" (docs/lifecycle.md)
REACTIVATION = "MOD"


def is_reactivation(event: dict[str, Any]) -> bool:
    """Whether ``event`` is a ``RAD`` whose radiation motive is empty (``""``): a
    reactivation, whatever the entrance (the document connector turns such a document
    into a ``MOD`` already; a JSON line or a direct producer may not)."""
    if event.get("operation") != "RAD":
        return False
    inner = (event.get("demande") or {}).get("demandeLogement") or {}
    return (inner.get("radiation") or {}).get("motifRadiation") == ""


def as_received(event: dict[str, Any]) -> dict[str, Any]:
    """``event`` with the operation it stands for: a reactivation (:func:`is_reactivation`)
    as a ``MOD``; any other event as it is (the same object)."""
    return {**event, "operation": REACTIVATION} if is_reactivation(event) else event


#: the dead-letter reason of a reactivation of a demand radiated for non-renewal
#: (``RADREN``) past :data:`REACTIVATION_MONTHS` of its cycle (module doc)
LATE_REACTIVATION = "reactivation_hors_delai"
#: the dead-letter reason of a change of a demand radiated for attribution (``RADATT``)
ATTRIBUTED = "demande_attribuee"
#: "Non-renewed demands are radiated at 13 months, can be reactivated up to 18"
REACTIVATION_MONTHS = 18
#: the radiation motives :func:`check_revival` reads
NON_RENEWAL, ATTRIBUTION = "RADREN", "RADATT"


def cycle_start(state: DemandeState) -> dt.date | None:
    """The start of ``state``'s renewal cycle as the worker's clock reckons it
    (:func:`hub.domain.renewal.renewal_day`, the date kept in ``noticesSent``), else its
    ``dateCreationDemande``; None when none is readable."""
    return renewal.renewal_day(state.demande, state.notices_sent) or renewal.created(state.demande)


def radiation_motive(demande: dict[str, Any] | None) -> str | None:
    """The ``motifRadiation`` of a snapshot (None: no radiation element)."""
    inner = (demande or {}).get("demandeLogement") or {}
    motive = (inner.get("radiation") or {}).get("motifRadiation")
    return None if motive is None else str(motive)


def reactivation_limit(start: dt.date) -> dt.date:
    """The last day a demand radiated for non-renewal whose cycle started on ``start`` may
    be reactivated: ``start`` + 18 months (same day of the month, clamped), included."""
    return renewal.shifted(start, REACTIVATION_MONTHS) or dt.date.max


def check_revival(
    operation: str,
    occurred_at: int,
    motive: str | None,
    start: dt.date | None,
) -> None:
    """Raise :class:`InputError` when an event of ``operation`` at ``occurred_at`` (epoch
    ms) may not bring back a demand radiated with ``motive`` whose cycle started on
    ``start`` (module doc, "A radiated demand comes back"); return otherwise. Only an
    operation that makes the demand active again is looked at (not a ``RAD``, a ``SUP``
    nor a creation: those have their own rules)."""
    if operation in ("RAD", "SUP") or operation in CREATIONS:
        return
    if motive == ATTRIBUTION:
        raise InputError(
            f"{operation} of a demand radiated for attribution (RADATT, lease signed): a "
            "satisfied demand is neither renewed, changed nor reactivated; a new need is a "
            "new demand",
            code=ATTRIBUTED,
        )
    if motive != NON_RENEWAL or start is None:
        return
    limit = reactivation_limit(start)
    day = renewal.paris_day(occurred_at)
    if day > limit:
        raise InputError(
            f"reactivation on {day.isoformat()} of a demand radiated for non-renewal "
            f"(RADREN) whose cycle started on {start.isoformat()}: reactivable up to "
            f"{REACTIVATION_MONTHS} months, until {limit.isoformat()}",
            code=LATE_REACTIVATION,
        )


def validate_event(event: dict[str, Any]) -> None:
    """Raise :class:`InputError` naming the first problem of a demand event: numéro unique,
    operation, characters, snapshot, then every coded field against the reference tables
    in force (``unknown_code``: :func:`hub.domain.refdata.check_codes`)."""
    num = check_num_unique(event["numUnique"], pending_ok=event.get("operation") in CREATIONS)
    op = check_code("operation", event["operation"])
    check_carriable(event)  # what some channel cannot carry: refused for every channel
    if event.get("profile") not in (None, *PROFILES):  # the writer's cut: fails closed
        raise InputError("profile is not an access profile", code="invalid_input")
    demande = event.get("demande")
    if op == "SUP":
        return
    if demande is None:
        raise InputError(f"{op} event without a demand snapshot", code="missing_snapshot")
    inner = demande.get("demandeLogement") or {}
    if inner.get("numUnique") not in (None, num):
        raise InputError("snapshot numUnique differs from the event's", code="num_unique_mismatch")
    # a live demand wishing no commune (logementRecherche is optional in the SNE outline)
    # is valid: no territorial filter matches it, so it reaches nobody until it wishes one
    check_codes(demande)  # the wished typologies among them
    for piece in demande.get("piecesJustificatives") or ():  # the document index
        check_piece(piece)


def decide(
    event: dict[str, Any],
    prior: DemandeState | None,
    index: TerritoryIndex,
    *,
    partition: int = -1,
    offset: int = -1,
    demande_bytes: bytes | None = None,
) -> Decision:
    """Decide the feed records for one demand event (see module doc). ``demande_bytes``:
    the encoding of ``event["demande"]`` as read, kept with it in the new state."""
    if prior is not None and (
        event["eventId"] == prior.last_event_id
        or event["eventId"] in prior.recent_event_ids
        or (partition == prior.partition and 0 <= offset <= prior.offset)
    ):
        return Decision(state=prior, skipped=True)
    if event["numUnique"] == PENDING_NUM_UNIQUE:  # the door's stand-in, never a demand's
        raise InvalidNumUniqueError("the stand-in numéro of a creation not numbered yet")
    validate_event(event)
    op = event["operation"]
    demande = event.get("demande")
    if op in CREATIONS and prior is not None and not prior.deleted:
        if demande == prior.demande:  # published again past the dedup window: a no-op
            return Decision(state=prior, skipped=True)
        raise InputError(
            f"{op} of a demand that exists ({'active' if prior.active else 'radiée'}, "
            f"version {prior.version}): a creation is refused on an existing numéro, only "
            "accepted again after the demand's deletion (SUP)",
            code=EXISTING,
        )
    check_author(event, prior)  # a change of an existing demand: by a holder only
    if prior is not None and not prior.active and not prior.deleted:  # a radiated demand
        check_revival(as_received(event)["operation"], event["occurredAt"],
                      radiation_motive(prior.demande), cycle_start(prior))  # fmt: skip
    if prior is not None and op != "SUP":
        if event.get("profile") is not None:
            demande = restore_withheld(prior.demande, demande, event["profile"])
        demande = kept_index(prior.demande, demande)  # an index not carried is kept
    before = prior.recipients if prior is not None else frozenset()
    former = prior.former if prior is not None else frozenset()
    version = (prior.version if prior is not None else 0) + 1

    if op == "SUP":
        gone = [Delivery(a, RETRAIT, DELETED) for a in sorted(before)]
        marker = deletion_marker(event, prior, partition=partition, offset=offset)
        return Decision(state=marker, deliveries=gone, delete=True)

    # Unknown communes raise here, before anything is sent; a former code matches as its
    # successor does. A radiation is never refused for a territorial reason: its recipients
    # come from the stored state, a commune unknown today only adds no one.
    skip = op in TERRITORY_FREE_OPERATIONS
    matched = frozenset(
        index.match(wished_communes(demande), wished_typologies(demande), skip_unknown=skip)
    )
    deliveries: list[Delivery]
    if op == "RAD":
        # Everyone who had the demand, and anyone it matches now, learns of the radiation;
        # an actor removed meanwhile (a recipient until its removal's re-dispatch reaches
        # the demand) is withdrawn instead: no data for an actor no longer registered, and
        # a radiated demand is never re-dispatched. Former recipients learn the outcome
        # only while registered (a removed actor's feed gets nothing more).
        held = before | matched
        recipients = frozenset(a for a in held if a in index)
        removed = held - recipients
        deliveries = [Delivery(a, RADIATION) for a in sorted(recipients)]
        deliveries += [Delivery(a, RETRAIT, FILTERS_CHANGED) for a in sorted(removed)]
        told = sorted(a for a in former - held if a in index)
        deliveries += [Delivery(a, RADIATION, FORMER_RECIPIENT) for a in told]
        former = (former | removed) - recipients
        active = False
    else:
        recipients = matched
        deliveries = [Delivery(a, DEMANDE) for a in sorted(matched)]
        deliveries += [Delivery(a, RETRAIT, OUT_OF_TERRITORY) for a in sorted(before - matched)]
        former = (former | (before - matched)) - matched
        active = True
    state = DemandeState(
        num_unique=event["numUnique"],
        version=version,
        active=active,
        recipients=recipients,
        last_event_id=event["eventId"],
        last_operation=op,
        occurred_at=event["occurredAt"],
        partition=partition,
        offset=offset,
        demande=demande,
        # the event's bytes hold its own snapshot only, not one merged with the stored one
        demande_encoding=None
        if demande_bytes is None or demande is not event.get("demande")
        else (demande, demande_bytes),
        former=former,
        recent_event_ids=(*(prior.recent_event_ids if prior else ()), event["eventId"])[
            -RECENT_EVENT_IDS:
        ],
        registered_by=registered_by(event, prior, operation=op),
    )
    return Decision(state=state, deliveries=deliveries)


def deletion_marker(
    event: dict[str, Any], prior: DemandeState | None, *, partition: int, offset: int
) -> DemandeState:
    """What a ``SUP`` leaves of the demand: inactive, no snapshot, no recipient, no
    clock, only what recognises its events again — the recent event ids with the SUP's,
    its input position — and the last version (a withdrawal carries it; a creation of the
    same numéro after the deletion, with a new event id, goes on at the next version).
    At most ~700 bytes stored (16 ids), against kilobytes for a demand's state."""
    return DemandeState(
        num_unique=event["numUnique"],
        version=prior.version if prior is not None else 0,
        active=False,
        recipients=frozenset(),
        last_event_id=event["eventId"],
        last_operation="SUP",
        occurred_at=event["occurredAt"],
        partition=partition,
        offset=offset,
        recent_event_ids=(*(prior.recent_event_ids if prior else ()), event["eventId"])[
            -RECENT_EVENT_IDS:
        ],
    )


def reevaluate(
    state: DemandeState, actor_id: str, index: TerritoryIndex, *, recut: bool = False
) -> Decision | None:
    """The record this demand owes actor ``actor_id`` after it changed (the change already
    applied to ``index``; absent from it = removed), or None when it owes nothing.

    The actor must end holding the demand exactly when it is registered and matches it
    (module doc):

    * matches and does not hold it: ``COPIE``;
    * holds it and no longer matches — or was removed: ``RETRAIT`` (``filtres_modifies``);
      it becomes a former recipient (a radiation tells it the outcome while registered);
    * holds it, still matches and ``recut`` (its profile changed): ``COPIE``
      (``profil_modifie``), the snapshot cut to the new profile, replacing the one it
      holds — after a downgrade the latest record of the demand holds no more than the
      new profile allows, after an upgrade it holds what that profile is entitled to.

    An inactive demand (radiated, deleted) owes nothing: it has no index entry and is
    never re-dispatched. The records' profile is the one ``index`` registers at emission.
    """
    if not state.active:
        return None
    had = actor_id in state.recipients
    wants = actor_id in index and index.matches(
        actor_id, wished_communes(state.demande), wished_typologies(state.demande)
    )
    if wants and not had:
        return Decision(
            state=replace(
                state, recipients=state.recipients | {actor_id}, former=state.former - {actor_id}
            ),
            deliveries=[Delivery(actor_id, COPIE)],
        )
    if had and not wants:
        return Decision(
            state=replace(
                state, recipients=state.recipients - {actor_id}, former=state.former | {actor_id}
            ),
            deliveries=[Delivery(actor_id, RETRAIT, FILTERS_CHANGED)],
        )
    if had and recut:
        return Decision(state=state, deliveries=[Delivery(actor_id, COPIE, PROFILE_CHANGED)])
    return None


#: namespace of the event ids of records an actor change owes (:func:`change_event_id`)
_CHANGE_IDS = uuid.UUID("5d0b7c1e-2f4a-4c8e-9a61-3b7e0d2c9f14")


def change_event_id(event_id: str, actor_id: str, actor_version: int | None) -> str:
    """The ``eventId`` of a record that registration ``actor_version`` of ``actor_id`` owes
    a demand whose current version came with ``event_id`` (a ``COPIE`` or a ``RETRAIT`` of
    a re-dispatch).

    Consumers drop a record whose (``eventId``, ``kind``) they already applied
    (docs/reliability.md). An actor may be owed a record of one demand version more than
    once — copied, withdrawn (a filter change, a removal), copied again (registered
    again), or copied again cut to a new profile — so each registration's records carry
    their own id: ``uuid5`` of the three, the same when a replay decides them again (the
    consumer drops that duplicate). A first registration (version 1, or unknown: a moves
    record of an older writer) keeps the version's own ``event_id``: nothing of that
    version went to the actor before, and copies made for many new actors at once share
    one encoding."""
    if actor_version is None or actor_version <= 1:
        return event_id
    return str(uuid.uuid5(_CHANGE_IDS, f"{event_id}\x00{actor_id}\x00{actor_version}"))
