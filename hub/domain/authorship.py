"""Who may change an existing demand: the worker's holder rule (audit K, F1).

An event whose ``source`` names an actor (:func:`source_actor`: ``api:<actor id>``, what
the REST API stamps on every event an actor posts; ``files:<actor id>`` with a
``profile``, what an actor's own file inbox publishes — connectors.files.owner: an inbox
named after a registered actor) and whose operation changes an
existing demand (every operation but a creation: ``MOD``, ``REN``, ``RAD``, ``SUP``, a
reactivation) is applied only when that actor **holds** the demand (:func:`may_change`):

* it is among the demand's current recipients (:attr:`DemandeState.recipients`: it last
  received a ``DEMANDE``, ``COPIE`` or ``RADIATION`` of it), or
* it is the demand's **registering actor** (:attr:`DemandeState.registered_by`): the
  actor whose event started the demand's current life — its creation the worker accepted
  (or any event on a numéro the hub held no demand of, which the worker takes as one) —
  kept across its changes, dropped with the demand by a ``SUP``. A registering office
  may so change a demand wishing communes outside its own territory. A state written
  before this field (``null``) has no registering actor: the recipients rule alone
  applies to it.

Otherwise the event is refused, :data:`NOT_HOLDER` (``auteur_non_detenteur``): nothing
applied nor sent, the worker dead-letters it (replayable: it is applied once its actor
holds the demand). The API alone could not tell: it knows a demand's holders only from
its own projection (``api_holders``), which records the submitter of any creation it
accepts — also one the worker then refuses (``demande_existante``), so an actor could
"create" another's demand, then modify it (audit K F1, the two-step takeover). The worker
holds every demand's state: it is the one place that knows.

Events not naming an actor are not concerned: the SNE poller (``sne``), the SOAP gateway
(``soap-gateway``: it names no actor, and publishes only what the SNE accepted first),
file inboxes of no actor's name (``files:<inbox>`` without a profile: a legacy system's
folder set by the operator), the CAL (``cal``), producers and the CLI (``cli``...). A demand the
hub holds no demand of (never seen, purged, deleted: a deletion marker) is not an
existing demand: an event on it is decided as before.

**The refused writer is told** (:func:`refused_writer`). The API records the submitter of
every creation it accepts as a holder of the numéro (``api_holders``), and the worker's
refusal alone would not undo it: the refused "creator" would keep reading what the API
serves of the demand (its gestion partagée timeline, free texts included). So when the
worker refuses an event for :data:`hub.domain.decisions.EXISTING` or :data:`NOT_HOLDER`
and its source names a **registered** actor (one with a feed) that does **not** hold the
demand, it also sends that actor a ``RETRAIT``, reason :data:`REFUSED_WRITE`
(``ecriture_refusee``): no personal data, the demand's current version, an ``eventId``
derived from the refused event's (:func:`refused_write_event_id`: the same when a replay
decides it again). The API's fold of that feed drops the claim at the actor's next call,
and its ERP learns the write was refused. Nothing goes to an actor holding the demand (a
holder sending its creation again must not be told to delete it), nothing to the real
holders, and the demand's state does not change.
"""

from __future__ import annotations

import uuid
from collections.abc import Container
from typing import Any

from hub.core.errors import InputError
from hub.domain.state import DemandeState

#: the prefix of the ``source`` of an event an actor posted through the REST API
#: (hub.api.routes_demandes)
API_SOURCE_PREFIX = "api:"
#: the prefix of the ``source`` of an event a file inbox published (connectors.files.inbox):
#: an actor's own inbox when the event carries a ``profile`` (connectors.files.owner)
FILES_SOURCE_PREFIX = "files:"
#: the dead-letter reason of a change of an existing demand by an actor not holding it
NOT_HOLDER = "auteur_non_detenteur"
#: the reason of the ``RETRAIT`` sent to the actor whose write the worker refused
#: (:func:`refused_writer`)
REFUSED_WRITE = "ecriture_refusee"
#: namespace of the event ids of those ``RETRAIT`` (:func:`refused_write_event_id`)
_REFUSED_WRITE_IDS = uuid.UUID("b7e2a54c-0d3f-4e61-8c2a-6f19d4e0a3b8")
#: the dead-letter reason of a creation of an existing demand (hub.domain.decisions.EXISTING,
#: which imports this module)
_EXISTING = "demande_existante"
#: operations that bring a demand into existence (hub.domain.decisions.CREATIONS)
_CREATIONS = frozenset({"CRE", "CRS"})


def source_actor(event: dict[str, Any]) -> str | None:
    """The actor ``event``'s source names (``api:<actor id>``, or ``files:<actor id>``
    with a profile: an actor's own inbox), or None."""
    source = event.get("source")
    if not isinstance(source, str):
        return None
    if source.startswith(API_SOURCE_PREFIX):
        return source[len(API_SOURCE_PREFIX) :] or None
    if source.startswith(FILES_SOURCE_PREFIX) and event.get("profile") is not None:
        return source[len(FILES_SOURCE_PREFIX) :] or None
    return None


def existing(prior: DemandeState | None) -> bool:
    """Whether ``prior`` is a demand (active or radiated), not nothing nor a deletion
    marker."""
    return prior is not None and not prior.deleted


def may_change(actor: str, prior: DemandeState) -> bool:
    """Whether ``actor`` holds ``prior`` (module doc)."""
    return actor in prior.recipients or (
        prior.registered_by is not None and actor == prior.registered_by
    )


def check_author(event: dict[str, Any], prior: DemandeState | None) -> None:
    """Raise :class:`InputError` (:data:`NOT_HOLDER`) when ``event`` changes the existing
    demand ``prior`` in the name of an actor that does not hold it (module doc)."""
    if event.get("operation") in _CREATIONS or prior is None or not existing(prior):
        return
    actor = source_actor(event)
    if actor is None or may_change(actor, prior):
        return
    raise InputError(
        f"{event.get('operation')} by actor {actor!r} of a demand it does not hold (neither "
        f"among its {len(prior.recipients)} current recipients nor its registering actor): "
        "only a holder changes an existing demand",
        code=NOT_HOLDER,
    )


def registered_by(
    event: dict[str, Any], prior: DemandeState | None, *, operation: str
) -> str | None:
    """The registering actor of the state ``event`` leads to (module doc): the actor the
    source names when the event starts the demand's life, else the prior's; none after a
    ``SUP``."""
    if operation == "SUP":
        return None
    if not existing(prior):
        return source_actor(event)
    assert prior is not None
    return prior.registered_by


def refused_writer(event: dict[str, Any], prior: DemandeState | None, code: str,
                   registered: Container[str]) -> str | None:  # fmt: skip
    """The actor to send a ``RETRAIT`` (:data:`REFUSED_WRITE`) when the worker refused
    ``event`` with ``code`` on the demand ``prior`` (module doc): the actor ``event``'s
    source names, when ``code`` is ``demande_existante`` or :data:`NOT_HOLDER`, the
    demand exists, the actor is in ``registered`` (has a feed) and does not hold the
    demand; else None."""
    if code not in (_EXISTING, NOT_HOLDER) or prior is None or not existing(prior):
        return None
    actor = source_actor(event)
    if actor is None or actor not in registered or may_change(actor, prior):
        return None
    return actor


def refused_write_event_id(event_id: str, actor_id: str) -> str:
    """The ``eventId`` of the ``RETRAIT`` telling ``actor_id`` that its event ``event_id``
    was refused: ``uuid5`` of the two, the same whenever the refusal is decided again (a
    replay of the batch, ``hub dlq replay``), so consumers drop the duplicate; never the
    refused event's own id (that id may be one the actor's records already carry)."""
    return str(uuid.uuid5(_REFUSED_WRITE_IDS, f"{event_id}\x00{actor_id}\x00{REFUSED_WRITE}"))
