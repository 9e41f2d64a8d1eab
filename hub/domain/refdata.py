"""Versioned reference tables: SNE codes are data checked here, never Avro enums.

A code list changes over time (new motives, the 2027 national numbering...): add a new
version of the table rather than editing one in place (a new key of :data:`VERSIONS`),
and move :data:`VERSION` to it. Every table comes from the domain reference
(``../shared/domain/README.md``, "Code lists (SNE)", "Lifecycle of a demand"); the
reference dates none of them, so one version is in force at a time, for every event.

Which fields are checked (:data:`CODED_FIELDS`) and which are not:

* checked — every coded field of a demand snapshot whose table the reference gives
  (civilité, nationalité, situation familiale, typologies, catégorie sought, contract,
  resources, current housing model, motives, réservataire, DALO status, radiation motive
  and sub-motive), by :func:`check_codes`; an unknown code is refused ``unknown_code``,
  naming the field and the table, never quoting a value that is not code-shaped;
* an empty code (a coded element without its ``code``, which the outline allows) is no
  code, not an unknown one; an empty radiation motive means a reactivation;
* not checked, on purpose: coded fields the reference gives no table for (``sexe``,
  ``lienParente``, ``coParentalite``, ``lienDemandeur``, the disability codes,
  ``dejaLogeParcBailleur``, ``accordCollectif``, ``zus``), and those whose table the
  reference does not name (``typeLogementActuel``, ``typeLogementPossede``, the current
  housing's ``categorieLogement``, the attributed dwelling's ``typeLogement``): refusing
  a demand on a guessed table would lose it. Documents (:mod:`hub.domain.pieces`: "codes
  seen", incomplete) and gestion partagée event types (a catalogue refreshed from the SNE,
  :mod:`hub.domain.gp`) have their own checks; the search service's state code (values
  unknown) is never checked.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from hub.core.errors import InputError, InvalidNumUniqueError

_TYPOLOGIES = frozenset({"C", "T1", "T2", "T3", "T4", "T5", "T6P"})
_OPERATIONS = frozenset({"CRE", "CRS", "MOD", "REN", "RAD", "SUP"})
_MOTIFS_RADIATION = frozenset({"RADATT", "RADABA", "RADIRR", "RADCON", "RADREN", ""})
_STATUTS_DALO = frozenset({"NON", "ACTIF", "CADUC", "ACTREL"})
# received (SAL … AUT) and paid (PAV) resources: one table, the reference ties none to a list
_RESSOURCE_CODES = frozenset({
    "SAL", "RET", "CHO", "PAR", "PINV", "AF", "AAH", "AEEH", "AJPP", "RSA", "AMV", "PAJE",
    "BE", "AUT", "PAV",
})  # fmt: skip
_MODELES_LOGEMENT = frozenset({
    "HLM", "LP", "RS", "RHVS", "RE", "SLHT", "SH", "CDEFCM", "CPE", "CP", "LTG", "FONC",
    "POCC", "CAMCAR", "HOT", "SD", "SQUAT",
})  # fmt: skip

#: Every version of the tables, by version label.
VERSIONS: dict[str, dict[str, frozenset[str]]] = {
    "2026.11": {
        "operation": _OPERATIONS,
        "typologie": _TYPOLOGIES,
        "motifRadiation": _MOTIFS_RADIATION,
        "statutDalo": _STATUTS_DALO,
    },
    # every code list of the domain reference (audit J, F3)
    "2026.12": {
        "operation": _OPERATIONS,
        "typologie": _TYPOLOGIES,
        "motifRadiation": _MOTIFS_RADIATION,  # "" = reactivation
        "sousMotifIrrecevabilite": frozenset({"IRRSEJ", "IRRRES"}),
        "statutDalo": _STATUTS_DALO,
        "civilite": frozenset({"1", "2", "3"}),
        "nationalite": frozenset({"1", "2", "3"}),
        "situationFamiliale": frozenset({"C", "M", "D", "S", "P", "U", "V"}),
        "categorieLogement": frozenset({"A", "M", "I"}),
        "typeContratTravail": frozenset({"CDI", "CDD", "ART", "CHO", "APP", "ETU", "RET", "AUT"}),
        "ressource": _RESSOURCE_CODES,
        "modeleLogement": _MODELES_LOGEMENT,
        "motifDemande": frozenset(f"{n:02d}" for n in range(1, 24)),
        "typeReservataire": frozenset({"COLTER", "COLACT", "PPRIOR", "PFONCT", "AUTRES", "AUCUN"}),
    },
}
#: The version in force.
VERSION = "2026.12"
#: The tables in force.
TABLES: dict[str, frozenset[str]] = VERSIONS[VERSION]

_DL = "demandeLogement"
_PP = f"{_DL}.personnePhysique"
_RESSOURCES = (
    "listeRessourceRecue",
    "listeRessourceVersee",
    "listeRessourceRecuePersACharge",
    "listeRessourceVerseePersACharge",
)
#: The coded fields of a demand snapshot (``fr.passerelle.sne.Demande``, the InterfaceNuu
#: tree) and the table each is checked against: a dotted path of field names, ``*`` for
#: every item of a list.
CODED_FIELDS: tuple[tuple[str, str], ...] = (
    ("informationDalo.statutDalo", "statutDalo"),
    ("informationDalo.typologieLogementDalo", "typologie"),
    (f"{_DL}.logementRecherche.categorieLogementRecherche", "categorieLogement"),
    (f"{_DL}.logementRecherche.listeTypeLogement.*", "typologie"),
    (f"{_DL}.principauxMotifDemande.motifDemande.*", "motifDemande"),
    *(
        (f"{person}.{field}", field)
        for person in (f"{_PP}.demandeur", f"{_PP}.listeCotitulaire.*")
        for field in ("civilite", "nationalite", "situationFamiliale")
    ),
    *(
        (f"{person}.situationProfessionnelle.typeContratTravail", "typeContratTravail")
        for person in (f"{_PP}.demandeur", f"{_PP}.listeCotitulaire.*")
    ),
    *((f"{_PP}.demandeur.{liste}.*.ressource", "ressource") for liste in _RESSOURCES),
    *((f"{_PP}.listeCotitulaire.*.{liste}.*.ressource", "ressource") for liste in _RESSOURCES[:2]),
    (f"{_PP}.logementActuel.listeModeleLogement.*", "modeleLogement"),
    (f"{_DL}.radiation.motifRadiation", "motifRadiation"),
    (f"{_DL}.radiation.sousMotifIrrecevabilite", "sousMotifIrrecevabilite"),
    (f"{_DL}.radiation.attributionLogement.typeReservataire", "typeReservataire"),
    (f"{_DL}.listeDoublons.*.demandeur.civilite", "civilite"),
    (f"{_DL}.listeDoublons.*.listeCotitulaire.*.civilite", "civilite"),
)

#: what a code looks like (``t_codeElement``'s pattern): only such a value is quoted
_CODE_SHAPE = re.compile(r"[A-Za-z0-9]{1,6}")


def check_code(table: str, value: str) -> str:
    """Return ``value`` if it belongs to ``table``, else raise :class:`InputError`."""
    if value not in TABLES[table]:
        raise InputError(
            f"unknown {table} code {_shown(value)} (reference tables {VERSION})",
            code="bad_operation" if table == "operation" else "unknown_code",
        )
    return value


def _shown(value: object) -> str:
    """A value quoted only when it has the shape of a code (no free text in a message)."""
    if isinstance(value, str) and _CODE_SHAPE.fullmatch(value):
        return repr(value)
    return "(not a code)" if isinstance(value, str) else f"(a {type(value).__name__})"


def coded_values(demande: dict[str, Any] | None) -> Iterator[tuple[str, str, Any]]:
    """(field path with list indices, table, value) of every non-empty coded field of a
    demand snapshot listed in :data:`CODED_FIELDS`."""
    for path, table in CODED_FIELDS:
        nodes: list[tuple[str, Any]] = [("", demande)]
        for name in path.split("."):
            nxt: list[tuple[str, Any]] = []
            for where, node in nodes:
                if name == "*":
                    if isinstance(node, list):
                        nxt += [(f"{where}[{i}]", item) for i, item in enumerate(node)]
                elif isinstance(node, dict) and node.get(name) is not None:
                    nxt.append((f"{where}.{name}" if where else name, node[name]))
            nodes = nxt
        for where, value in nodes:
            if value != "":
                yield where, table, value


#: :data:`CODED_FIELDS` as a tree (a field name, or ``*`` for a list's items → the
#: tables of the values there and the tree below): one walk of a demand looks at each
#: field once, where walking the ~30 paths one by one looked at the shared prefixes ~30
#: times (~35 µs per demand, a fourth of ``hub publish``'s check and paid again by the
#: worker; ~5 µs this way)
_Tree = dict[str, tuple["_Tree", tuple[frozenset[str], ...]]]


def _tree(fields: tuple[tuple[str, str], ...], tables: dict[str, frozenset[str]]) -> _Tree:
    root: _Tree = {}
    for path, table in fields:
        node, names = root, path.split(".")
        for i, name in enumerate(names):
            below, codes = node.setdefault(name, ({}, ()))
            if i == len(names) - 1:
                node[name] = (below, (*codes, tables[table]))
            node = below
    return root


_CODED_TREE = _tree(CODED_FIELDS, TABLES)


def _all_known(node: Any, tree: _Tree) -> bool:
    """True when every non-empty value under ``node`` that ``tree`` names is in its tables
    (what :func:`coded_values` yields, looked at without building its paths)."""
    for name, (below, codes) in tree.items():
        if name == "*":
            if not isinstance(node, list):
                continue
            items: Any = node
        elif not isinstance(node, dict) or (value := node.get(name)) is None:
            continue
        else:
            items = (value,)
        for item in items:
            if codes and type(item) is not str:
                return False  # not a code (the Avro shape refuses it): the walk names it
            for table in codes:
                if item != "" and item not in table:
                    return False
            if below and not _all_known(item, below):
                return False
    return True


def check_codes(demande: dict[str, Any] | None) -> None:
    """Raise :class:`InputError` ``unknown_code`` naming the first coded field of
    ``demande`` (in :data:`CODED_FIELDS` order) whose code is not in its table in force
    (module doc)."""
    if _all_known(demande, _CODED_TREE):
        return  # the usual case; the paths are built only to name a refused field
    for where, table, value in coded_values(demande):
        if value not in TABLES[table]:
            raise InputError(
                f"{where}: unknown code {_shown(value)} (table {table}, "
                f"reference tables {VERSION})",
                code="unknown_code",
            )


#: Accepted numéro unique formats, by version. The number is opaque to the hub: a pattern
#: decides validity, nothing parses it (a national numbering is announced for 2027).
#: Anchored with ``\A``/``\Z`` (``$`` would let a trailing line feed through) and matched
#: whole.
NUM_UNIQUE_PATTERNS: dict[str, re.Pattern[str]] = {
    # DDD territory (département on 3 characters: 057, 02A, 971; Île-de-France 111),
    # MMYY of the first deposit (month 01-12), 6-digit sequence, 5-char guichet code
    "2011": re.compile(r"\A[0-9]{2}[0-9AB](?:0[1-9]|1[0-2])[0-9]{2}[0-9]{6}[0-9A-Z]{5}\Z"),
}
#: The stand-in number the door checks a creation the SNE has not numbered yet with
#: (``connectors.ingress.publishing``): no era's pattern gives it (month 00), so it is
#: accepted by name, for a creation only (:func:`check_num_unique`'s ``pending_ok``), and
#: the dispatcher never takes it (:func:`hub.domain.decisions.decide`).
PENDING_NUM_UNIQUE = "000000000000000000"


def check_num_unique(value: str, *, pending_ok: bool = False) -> str:
    """Return the numéro unique if one accepted pattern matches it whole."""
    if not value.strip():
        raise InvalidNumUniqueError("numéro unique missing", code="missing_num_unique")
    if pending_ok and value == PENDING_NUM_UNIQUE:
        return value
    if not any(p.fullmatch(value) for p in NUM_UNIQUE_PATTERNS.values()):
        raise InvalidNumUniqueError(f"malformed numéro unique {value[:40]!r}")
    return value
