"""Which demand's life a partner's declaration belongs to (independent audit N, N9).

A numéro may carry several demands one after the other: a ``SUP`` deletes the demand and a
later ``CRE``/``CRS`` starts a new one on the same numéro (docs/lifecycle.md), which keeps
nothing of the earlier one — its cotation declarations included. A declaration is recorded
with the *life* it was made for: the ``dateCreationDemande`` of the snapshot the declaring
partner held (a renewal keeps it, README §Lifecycle "renewal keeps number and seniority").

Contract of :func:`of_life` (the API's store and the worker's port both filter with it,
before taking the latest declaration of each criterion):

* a declaration recorded with a life counts for a snapshot whose ``dateCreationDemande``
  is that day, and for no other;
* a declaration recorded without one (rows written before revision
  ``0015_declaration_life``, or declared against a snapshot without a readable
  ``dateCreationDemande``) counts for a snapshot created on or before the day it was
  declared, or whose creation day is unknown: a demand created after a declaration
  cannot be the one it was made for.
"""

from __future__ import annotations

from datetime import date


def of_life(declared_for: date | None, declared_on: date, created: date | None) -> bool:
    """Whether a declaration made on ``declared_on`` for the life ``declared_for`` counts
    for a snapshot created on ``created`` (module doc)."""
    if declared_for is not None:
        return declared_for == created
    return created is None or created <= declared_on
