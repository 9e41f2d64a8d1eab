"""What an actor may write, beyond holding the demand (independent audit K, F3 and F4).

Holding a demand (:mod:`hub.stores.access.holders`) lets an actor read it and share
gestion partagée events on it. Two writes need more, whatever the route (REST, SOAP
gateway, the CAL service):

* **writing the demand itself** — registering it (CRE/CRS), modifying, renewing,
  radiating or deleting it (MOD, REN, RAD, SUP), declaring its DALO status — is for a
  registering office: :attr:`hub.domain.actors.Actor.writes_demands`
  (:func:`require_demand_writer`). The profiles are read profiles: a commune receiving
  demands for information is not a registering office unless registered as one;
* **the CAL's own acts** (:data:`CAL_ACTS`: putting a demand on a CAL's agenda, its
  examination, its decision) are recorded by the landlord whose CAL it is, a
  ``bailleur`` (:func:`require_cal_author`, CCH R441-3: the CAL is the landlord's). A
  designation for a CAL (``DESIGCAL``) stays open to every holder: réservataires (the
  préfet, communes, Action Logement) designate candidates for their dwellings.

* **the applicant's answer to an attribution** (``ACCEPTDEM``/``REFUSDEM``) is recorded
  by the actor that recorded the decision (:func:`require_decision_author`): the landlord
  receives the applicant's answer; another holder recording one first would lock the
  decision's only answer (``R441-3/reponse-unique``).

All raise :class:`~hub.core.errors.ForbiddenError` (403 ``forbidden`` on the REST API,
as every refusal; the SOAP Fault ``ACCES`` on the gateway) whose message names the rule,
never the demand's content. The first two do not depend on the demand; the third reads
only the author of a decision the caller, a holder, already reads in the demand's
timeline.
"""

from __future__ import annotations

from collections.abc import Iterable

from hub.core.errors import ForbiddenError
from hub.domain.actors import Actor

#: gestion partagée event types that record what a CAL did: recorded by a ``bailleur`` only
CAL_ACTS = frozenset({"ORDREJCAL", "EXAMCAL", "DECISCAL"})
#: the kind whose actors hold CALs
CAL_KIND = "bailleur"


class NoWriteRight(ForbiddenError):
    """The actor is no registering office: it does not write demands."""


class NotCalAuthor(ForbiddenError):
    """The actor's kind does not record a CAL's acts."""


class NotDecisionAuthor(ForbiddenError):
    """The actor did not record the decision it answers for the applicant."""


def require_demand_writer(actor: Actor) -> None:
    """:class:`NoWriteRight` unless ``actor`` writes demands (module doc)."""
    if actor.writes_demands:
        return
    if actor.enregistreur is False:
        said = "registered enregistreur: false"
    else:
        said = f"kind {actor.kind} is not a registering office by default"
    raise NoWriteRight(
        f"actor {actor.id} does not write demands ({said}): registering, modifying, "
        "renewing, radiating or deleting a demand is for a registering office "
        "(guichet enregistreur; registry field enregistreur)"
    )


def require_cal_author(actor: Actor, codes: Iterable[str]) -> None:
    """:class:`NotCalAuthor` if one of the event type ``codes`` is a CAL act
    (:data:`CAL_ACTS`) and ``actor`` is not a ``bailleur``."""
    acts = sorted(set(codes) & CAL_ACTS)
    if acts and actor.kind != CAL_KIND:
        raise NotCalAuthor(
            f"only a {CAL_KIND} records a CAL's acts ({', '.join(acts)}): actor "
            f"{actor.id} is of kind {actor.kind}"
        )


def require_decision_author(auteur: str, decided_by: Iterable[str], decision_id: str) -> None:
    """:class:`NotDecisionAuthor` unless ``auteur`` recorded the decision, whose records
    name ``decided_by`` as their authors (none: nothing to check here, the CAL rules
    refuse an answer to an unknown decision)."""
    authors = set(decided_by)
    if authors and auteur not in authors:
        raise NotDecisionAuthor(
            f"the applicant's answer to decision {decision_id[:40]} is recorded by the actor "
            f"that recorded the decision, not by {auteur}"
        )
