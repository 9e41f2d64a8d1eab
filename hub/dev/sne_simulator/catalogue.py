"""The simulator's event types (``t_typeEvenement`` dicts in XSD element order).

The SNE's national codes are not public: these codes are the simulator's own **[inferred]**,
one per processing event of décret 2015-523 (CCH R441-2-15), plus one territorial type for
the 076 territory so that the territorial listing has something to show. The types the
hub's CAL rules read or govern (``DESIGCAL``, ``EXAMCAL``, ``DECISCAL``, ``ACCEPTDEM``,
``REFUSDEM``) carry the hub's fields (:data:`hub.domain.gp.catalogue.SEED`), so that a CAL
sequence sent through the hub's SOAP gateway passes both the hub and the simulator.
"""

from __future__ import annotations

from typing import Any


def _type(
    code: str,
    libelle: str,
    *,
    publier: bool = True,
    territoire: str | None = None,
    champs: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "codeTypeEvenement": code,
        "texteDescriptifPGP": libelle,
        "texteDescriptifSNE": libelle,
        "aPublierSurPGP": publier,
        "utilisableMultiplesAttributionsSousConditions": code == "DECISCAL",
        "utilisableRechercheInstruction": True,
        "reglementaire": territoire is None,
        "dateDebutValidite": "2015-09-01",
        "codeTerritoire": territoire,
        "libelleTypeEvenement": {"libelle": libelle},
        "listeCaracteristiquesSpecifiques": champs,
    }


def _champ(code: str, libelle: str, typ: str, obligatoire: bool) -> dict[str, Any]:
    return {
        "code": code,
        "libelle": libelle,
        "typeCaracteristiqueSpecifique": typ,
        "obligatoire": obligatoire,
        "texteDescriptif": libelle,
        "aideALaSaisie": libelle,
    }


NATIONAL: list[dict[str, Any]] = [
    _type("DEMINFO", "Demande d'informations ou de pièces"),
    _type(
        "DESIGCAL",
        "Désignation pour une commission d'attribution",
        champs=[
            _champ("CODECAL", "Code de la CAL", "TXT", True),
            _champ("LOGEMENT", "Logement", "TXT", True),
            _champ("DESIGPREF", "Désignation DALO ou préfectorale", "BOO", False),
        ],
    ),
    _type(
        "INSCCAL",
        "Inscription à l'ordre du jour d'une CAL",
        champs=[_champ("DATECAL", "Date de la CAL", "DAT", True)],
    ),
    _type(
        "EXAMCAL",
        "Examen par la CAL",
        champs=[
            _champ("CODECAL", "Code de la CAL", "TXT", True),
            _champ("DATECAL", "Date de la CAL", "DAT", True),
        ],
    ),
    _type("VISITEPROP", "Visite proposée"),
    _type("VISITEFAIT", "Visite effectuée"),
    _type(
        "DECISCAL",
        "Décision de la CAL",
        champs=[
            _champ("DECISION", "Décision", "LST", True),
            _champ("RANG", "Rang", "INT", False),
            _champ("CODECAL", "Code de la CAL", "TXT", True),
            _champ("LOGEMENT", "Logement", "TXT", True),
            _champ("DECISIONID", "Identifiant de la décision", "TXT", True),
            _champ("MOTIF", "Motif", "TXT", False),
            _champ("PIECEMANQ", "Pièce manquante", "LST", False),
            _champ("DATELIM", "Date limite", "DAT", False),
            _champ("DATEDEC", "Date de la décision", "DAT", True),
        ],
    ),
    _type("REFUS", "Refus du demandeur", champs=[_champ("MOTIF", "Motif du refus", "TXT", True)]),
    _type(
        "REFUSDEM",
        "Refus du logement par le demandeur",
        champs=[
            _champ("MOTIF", "Motif du refus", "TXT", True),
            _champ("LOGEMENT", "Logement", "TXT", False),
            _champ("DECISIONID", "Décision concernée", "TXT", False),
        ],
    ),
    _type(
        "ACCEPTDEM",
        "Acceptation du logement par le demandeur",
        champs=[
            _champ("LOGEMENT", "Logement", "TXT", False),
            _champ("DECISIONID", "Décision concernée", "TXT", False),
        ],
    ),
    _type("BAILSIGNE", "Signature du bail"),
]
TERRITORIAL: list[dict[str, Any]] = [
    _type("LABELLOC", "Labellisation locale (accord collectif)", publier=False, territoire="076"),
]


def find(code: str) -> dict[str, Any] | None:
    """The type of ``code`` (national or territorial), None when unknown."""
    return next((t for t in NATIONAL + TERRITORIAL if t["codeTypeEvenement"] == code), None)
