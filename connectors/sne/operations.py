"""The SNE services and operations: the one table the WSDLs, the client and the servers share.

Each operation names its request and response parts: ``b64`` parts carry a business XML
document (base64, MTOM/XOP attachment or inline), ``str``/``date`` parts are plain values,
a trailing ``?`` marks an optional part. ``DOCUMENT`` tells which XSD validates the business
document of each operation (request and response alike); ``CONTENT_TYPES`` the MIME type of
the ``b64`` parts that are not business XML (the ``getNumUnique`` attestation is a PDF).
"""

from __future__ import annotations

WS_NS = "http://ws.metier.nuu.application.i2/"
Parts = list[tuple[str, str]]
B64: tuple[str, str] = ("fluxXml", "b64")

DEMANDE = "DemandeLogementImplService"
GP = "GestionPartageeEVTImplService"
RECHERCHE = "RechercheDemandeImplService"

#: service → (port type, {operation: (request parts, response parts)})
SERVICES: dict[str, tuple[str, dict[str, tuple[Parts, Parts]]]] = {
    DEMANDE: (
        "DemandeLogement",
        {
            # the SNE answers the registered demand, and for a registration or a renewal
            # the attestation (R441-2-4 CCH): its file name and the PDF (MTOM attachment)
            "getNumUnique": (
                [B64],
                [("return", "b64"), ("nomAttestation", "str?"), ("attestation", "b64?")],
            ),
            "getDemandeLogement": (
                [("codeGuichet", "str"), ("numUnique", "str")],
                [("return", "b64")],
            ),
            "getDoublons": ([B64], [("return", "b64")]),
            "getDeclarationNouveauDalo": ([B64], [("return", "b64")]),
            "getDemandesRadieesDepuisLe": (
                [("codeGuichet", "str"), ("date", "date")],
                [("return", "b64")],
            ),
            "getNouveauxDaloDepuisLe": (
                [("codeGuichet", "str"), ("date", "date")],
                [("return", "b64")],
            ),
        },
    ),
    GP: (
        "GestionPartageeEVT",
        {
            op: ([B64], [("return", "b64")])
            for op in (
                "listerTypesEvenementsNationaux",
                "listerTypesEvenementsTerritoriaux",
                "listerEvenementsDemande",
                "ajouterEvenementDemande",
                "modifierEvenementDemande",
                "supprimerEvenementDemande",
            )
        },
    ),
    RECHERCHE: (
        "RechercheDemande",
        {
            "rechercheDemandeMulticritere": ([B64], [("return", "b64")]),
        },
    ),
}

#: MIME type of the ``b64`` parts that are not business XML (default application/octet-stream)
CONTENT_TYPES: dict[str, str] = {"attestation": "application/pdf"}

#: operation → business document kind of its ``fluxXml`` / ``return`` (see documents.XSDS)
DOCUMENT: dict[str, str] = {
    "getNumUnique": "demande",
    "getDemandeLogement": "demande",
    "getDoublons": "demande",
    "getDeclarationNouveauDalo": "demande",
    "getDemandesRadieesDepuisLe": "recherche",
    "getNouveauxDaloDepuisLe": "recherche",
    "listerTypesEvenementsNationaux": "typeEvenement",
    "listerTypesEvenementsTerritoriaux": "typeEvenement",
    "listerEvenementsDemande": "evenement",
    "ajouterEvenementDemande": "evenement",
    "modifierEvenementDemande": "evenement",
    "supprimerEvenementDemande": "evenement",
    "rechercheDemandeMulticritere": "recherche",
}


def parts(service: str, operation: str) -> tuple[Parts, Parts]:
    """(request parts, response parts) of ``operation``; KeyError when unknown."""
    return SERVICES[service][1][operation]


def service_of(operation: str) -> str:
    """The service holding ``operation``; KeyError when no service has it."""
    for name, (_port, ops) in SERVICES.items():
        if operation in ops:
            return name
    raise KeyError(operation)
