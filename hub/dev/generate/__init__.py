"""Seeded generator of realistic social-housing demand events (fictitious persons).

Used by ``hub demo`` and by benchmarks. Contract:

* **Reproducible**: the same arguments (seed included) give the same events, in any process
  (one ``random.Random(seed)``, codes always iterated in sorted order, a fixed clock:
  ``until`` defaults to :data:`DEFAULT_UNTIL`, never "now").
* **Valid**: every event is a ``fr.passerelle.hub.DemandeEvent`` dict whose ``demande``
  follows the InterfaceNuu 02.01 snapshot naming (element names as in
  ``shared/domain/sne-interface/InterfaceNuu_v0201.txt``; coded values as plain strings;
  ISO dates; ``listeX`` wrappers as arrays of their items). Wished communes exist in the
  geography; numéros uniques are 18 characters ``DDDMMYYSSSSSSGGGGG`` and unique per call.
* **Realistic enough to exercise dispatching**: 1–8 wished communes drawn by population
  inside the EPCI of the first choice; typologies consistent with the household; ~30% of
  applicants already social tenants (current housing ``HLM``: a mutation); ~3% DALO.
* **Documents**: ~92% of demands carry a document index (hub extension
  ``piecesJustificatives``, codes of :mod:`hub.domain.pieces`) consistent with the household:
  identity, tax notice, co-holder, dependants, and the sensitive categories where the
  demand calls for them (disability complement, judgment or complaint for the motives,
  internal notes). Drawn from a generator seeded by the eventId, so adding them left the
  rest of every event unchanged.

Codes whose lists are not in the domain reference (``sexe`` M/F, ``lienParente`` E,
``lienDemandeur`` M, ``typeLogementActuel`` T1…) follow the SNE samples published with
betagouv's openfisca-demande-logement-social; coded fields whose values are unknown
(handicap natures, attribution details) are left empty rather than invented.

Modules: :mod:`~hub.dev.generate.vocabulary` (clock, constants, built-in lists),
:mod:`~hub.dev.generate.territory` (wishable communes by population),
:mod:`~hub.dev.generate.household` (persons, income, housing, motives),
:mod:`~hub.dev.generate.pieces` (the document index), :mod:`~hub.dev.generate.demandes`
(creations) and :mod:`~hub.dev.generate.modifications` (later MOD and RAD events).
"""

from __future__ import annotations

from hub.dev.generate.demandes import generate_demandes
from hub.dev.generate.modifications import generate_modifications
from hub.dev.generate.vocabulary import (
    DEFAULT_UNTIL,
    F_COMMUNES,
    F_RADIATION,
    F_RESSOURCES,
    F_TEL,
    F_TYPOLOGIES,
    SOURCE,
    TYPOLOGIES,
    VERSION_INTERFACE,
    WINDOW,
    Event,
)

__all__ = [
    "DEFAULT_UNTIL",
    "F_COMMUNES",
    "F_RADIATION",
    "F_RESSOURCES",
    "F_TEL",
    "F_TYPOLOGIES",
    "SOURCE",
    "TYPOLOGIES",
    "VERSION_INTERFACE",
    "WINDOW",
    "Event",
    "generate_demandes",
    "generate_modifications",
]
