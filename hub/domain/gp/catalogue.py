"""The versioned catalogue of gestion partagée event types (CCH R441-2-15).

On the SNE wire event types are data, not an enum: each has a code (≤10 chars), labels,
``reglementaire``, ``aPublierSurPGP``, validity dates, a territory (national when
``codeTerritoire`` is empty) and typed specific fields. National codes are not public:
:data:`SEED` holds the décret's list with codes chosen by the hub;
:mod:`connectors.sne.catalogue` refreshes it from the SNE's services (a new version).

Field types (``typeCaracteristiqueSpecifique``, 3 chars): ``TXT`` text ≤500, ``DAT`` ISO
date, ``INT`` integer, ``BOO`` true/false, ``LST`` one of ``valeurs``.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

FieldType = Literal["TXT", "DAT", "INT", "BOO", "LST"]

SEED_VERSION = "2025.1"


class FieldSpec(BaseModel):
    """One specific field (``caracteristiqueSpecifique``) of an event type."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(pattern=r"^[A-Z0-9_]{1,10}$")
    libelle: str
    type: FieldType = "TXT"
    obligatoire: bool = False
    valeurs: tuple[str, ...] = ()
    #: shown to the applicant in the right-to-information timeline
    visibleDemandeur: bool = True
    dateDebutValidite: date | None = None
    dateFinValidite: date | None = None

    def valid_on(self, day: date) -> bool:
        return (self.dateDebutValidite is None or self.dateDebutValidite <= day) and (
            self.dateFinValidite is None or day <= self.dateFinValidite
        )


class EventType(BaseModel):
    """One event type of the catalogue."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(pattern=r"^[A-Z0-9_]{1,10}$")
    libelle: str
    texteDescriptifSNE: str
    texteDescriptifPGP: str
    reglementaire: bool
    aPublierSurPGP: bool
    dateDebutValidite: date | None = None
    dateFinValidite: date | None = None
    #: None: national; otherwise the 3-char territory code (département on 3 chars)
    codeTerritoire: str | None = None
    champs: tuple[FieldSpec, ...] = ()

    def valid_on(self, day: date) -> bool:
        return (self.dateDebutValidite is None or self.dateDebutValidite <= day) and (
            self.dateFinValidite is None or day <= self.dateFinValidite
        )

    def field(self, code: str) -> FieldSpec | None:
        return next((f for f in self.champs if f.code == code), None)


class Catalogue(BaseModel):
    """A version of the catalogue: immutable; a refresh makes a new version."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    types: tuple[EventType, ...]

    def get(self, code: str) -> list[EventType]:
        """Every definition of ``code`` (national and territorial ones)."""
        return [t for t in self.types if t.code == code]


def _f(
    code: str,
    libelle: str,
    type_: FieldType = "TXT",
    obligatoire: bool = True,
    valeurs: tuple[str, ...] = (),
    visible: bool = True,
) -> FieldSpec:
    return FieldSpec(
        code=code,
        libelle=libelle,
        type=type_,
        obligatoire=obligatoire,
        valeurs=valeurs,
        visibleDemandeur=visible,
    )


def _t(
    code: str,
    libelle: str,
    pgp: str,
    champs: tuple[FieldSpec, ...],
    *,
    publier: bool = True,
    reglementaire: bool = True,
) -> EventType:
    return EventType(
        code=code,
        libelle=libelle,
        texteDescriptifSNE=libelle,
        texteDescriptifPGP=pgp,
        reglementaire=reglementaire,
        aPublierSurPGP=publier,
        champs=champs,
    )


CAL = _f("CODECAL", "Code de la commission d'attribution")
LOGEMENT = _f("LOGEMENT", "Identifiant du logement", visible=False)
DECISION_ID = _f("DECISIONID", "Identifiant de la décision", visible=False)
#: decision codes of DECISCAL (CCH R441-3)
DECISIONS = ("ATTR", "ATTRRANG", "ATTRCOND", "NONATTR", "IRREC")
#: the only documents whose absence allows an attribution sous condition suspensive
PIECES_CONDITION = ("IDENTITE", "AVISIMPOT")

SEED = Catalogue(
    version=SEED_VERSION,
    types=(
        _t(
            "DEMPIECES",
            "Demande d'informations ou de pièces justificatives",
            "Des informations ou pièces vous ont été demandées",
            (
                _f("PIECES", "Pièces ou informations demandées"),
                _f("DATELIM", "Date limite de réponse", "DAT", obligatoire=False),
            ),
        ),
        _t(
            "DESIGCAL",
            "Désignation du demandeur pour une CAL",
            "Votre demande a été désignée pour passer en commission d'attribution",
            (
                CAL,
                LOGEMENT,
                _f(
                    "DESIGPREF",
                    "Désignation DALO ou préfectorale",
                    "BOO",
                    obligatoire=False,
                    visible=False,
                ),
            ),
        ),
        _t(
            "ORDREJCAL",
            "Inscription à l'ordre du jour d'une CAL",
            "Votre demande est inscrite à l'ordre du jour d'une commission d'attribution",
            (CAL, _f("DATECAL", "Date de la commission", "DAT")),
        ),
        _t(
            "EXAMCAL",
            "Examen de la demande par la CAL",
            "Votre demande a été examinée par une commission d'attribution",
            (CAL, _f("DATECAL", "Date de la commission", "DAT")),
        ),
        _t(
            "VISPROP",
            "Visite de logement proposée",
            "Une visite de logement vous a été proposée",
            (
                _f("DATEVIS", "Date de la visite", "DAT"),
                _f("LOGEMENT", "Logement", obligatoire=False, visible=False),
            ),
        ),
        _t(
            "VISEFF",
            "Visite de logement effectuée",
            "Vous avez visité un logement",
            (
                _f("DATEVIS", "Date de la visite", "DAT"),
                _f("LOGEMENT", "Logement", obligatoire=False, visible=False),
            ),
        ),
        _t(
            "DECISCAL",
            "Décision de la CAL",
            "La commission d'attribution a rendu sa décision",
            (
                CAL,
                LOGEMENT,
                DECISION_ID,
                _f("DECISION", "Décision", "LST", valeurs=DECISIONS),
                _f("RANG", "Rang", "INT", obligatoire=False),
                _f("MOTIF", "Motif de non-attribution ou d'irrecevabilité", obligatoire=False),
                _f(
                    "PIECEMANQ",
                    "Pièce manquante (condition suspensive)",
                    "LST",
                    obligatoire=False,
                    valeurs=PIECES_CONDITION,
                ),
                _f("DATELIM", "Date limite de la condition suspensive", "DAT", obligatoire=False),
                _f("DATEDEC", "Date de la décision", "DAT"),
            ),
        ),
        _t(
            "REFUSDEM",
            "Refus du logement par le demandeur",
            "Vous avez refusé le logement proposé",
            (
                _f("MOTIF", "Motif du refus"),
                _f("LOGEMENT", "Logement", obligatoire=False, visible=False),
                _f("DECISIONID", "Décision concernée", obligatoire=False, visible=False),
            ),
        ),
        _t(
            "ACCEPTDEM",
            "Acceptation du logement par le demandeur",
            "Vous avez accepté le logement proposé",
            (
                _f("LOGEMENT", "Logement", obligatoire=False, visible=False),
                _f("DECISIONID", "Décision concernée", obligatoire=False, visible=False),
            ),
            reglementaire=False,
        ),
        _t(
            "BAILSIGNE",
            "Signature du bail",
            "Vous avez signé un bail",
            (
                _f("DATEBAIL", "Date de signature", "DAT"),
                _f("LOGEMENT", "Logement", obligatoire=False, visible=False),
            ),
        ),
        _t(
            "PRIORITE",
            "Caractère prioritaire reconnu",
            "Votre demande est reconnue prioritaire",
            (_f("TYPEPRIO", "Type de priorité", "LST", valeurs=("DALO", "ACCCOLL", "LABELLOC")),),
        ),
        _t(
            "CONTINGENT",
            "Contingent de réservation auquel le demandeur est éligible",
            "Contingent de réservation",
            (
                _f(
                    "RESERV",
                    "Réservataire",
                    "LST",
                    valeurs=("COLTER", "COLACT", "PPRIOR", "PFONCT", "AUTRES"),
                ),
            ),
            publier=False,
        ),
        _t(
            "RECTIF",
            "Rectification de la demande au vu des pièces",
            "Votre demande a été rectifiée au vu des pièces fournies",
            (
                _f("CHAMP", "Information rectifiée"),
                _f("PIECE", "Pièce justificative", obligatoire=False),
            ),
        ),
    ),
)
