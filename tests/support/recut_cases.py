"""Test material for the channels' recut to the actor's *current* profile (independent
audit F1), built without the code under test:

* feed records drawn from the Avro schemas themselves (``schemas/avro/*.avsc``: every
  field of ``FeedRecord`` and of the ``Demande`` snapshot it embeds, each optional part
  present or not), with the sensitive parts planted (markers searched in the bytes sent):
  ``listeHandicap``, the motive's free texts, a document index over the categories of
  docs/profiles.md (and one it does not know), changed fields, a score under the shipped
  Rouen grid (and one of a grid the hub does not know);
* the profiles, their order, the sensitive fields, the document categories and what each
  profile receives, read from docs/profiles.md (:func:`as_cut`: a record as the page says
  a profile receives it; the score and changed-field rules from
  :mod:`tests.support.profile_scores`, which reads the same page).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from tests.support.profile_scores import allowed_criteria, changed_allowed, criteria_table

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "profiles.md"
AVRO = REPO / "schemas" / "avro"
GRIDS = REPO / "hub" / "data" / "cotation"
PRIMITIVES = ("null", "boolean", "int", "long", "float", "double", "bytes", "string")

#: markers of the sensitive free texts (never drawn by the generator: its texts are shorter)
HANDICAP = "sekret-besoin-handicap-5c1f"
MOTIF = "sekret-autre-motif-93ab"
JUGEMENT = "1901-02-03"  # compDateJugement; generated dates lie in 2000-2030
#: a document category the page's table does not know (a later table's)
UNKNOWN_CATEGORY = "ZZNEW"
#: a score under a grid the hub does not ship, with a criterion the page does not list
UNKNOWN_GRID, UNKNOWN_CRITERION = "999999999", "CRITERE_FUTUR"
#: kinds of FeedRecord (the schema's doc) with and without a snapshot
WITH_SNAPSHOT = ("DEMANDE", "COPIE", "RADIATION", "AVIS")
WITHOUT_SNAPSHOT = ("RETRAIT", "EVENEMENT")
CHANGED_PATHS = (
    "demandeLogement.listeHandicap",
    "demandeLogement.listeHandicap[0].besoinParticulier",
    "demandeLogement/principauxMotifDemande/compAutreMotif",
    "demandeLogement.principauxMotifDemande",
    "demandeLogement.principauxMotifDemande.motifDemande",
    "demandeLogement",
    "piecesJustificatives",
    "demandeLogement.logementRecherche.listeTypeLogement",
    "demandeLogement.personnePhysique.demandeur.telPortable",
    "informationDalo",
)


# --- docs/profiles.md -----------------------------------------------------------------


@cache
def profiles() -> tuple[str, ...]:
    """The profiles, narrowest first (the page's first table)."""
    text = PAGE.read_text("utf-8")
    found = tuple(re.findall(r"^\| `(consultant_\w+)` \|", text, re.M))
    assert len(found) == 3, found
    return found


def narrower(a: str, b: str) -> str:
    order = profiles()
    return a if order.index(a) <= order.index(b) else b


SENSIBLE = "consultant_sensible"
SIMPLE = "consultant_simple"


@cache
def sensitive_paths() -> tuple[tuple[str, ...], ...]:
    """The sensitive fields under the snapshot (the page's changed-field roots, which are
    those fields and the document index)."""
    text = PAGE.read_text("utf-8")
    block = re.search(r"<!-- profiles:changed-roots -->\n```\n(.*?)\n```", text, re.S)
    assert block is not None
    roots = [tuple(line.split(".")) for line in block[1].split()]
    out = tuple(r for r in roots if r != ("piecesJustificatives",))
    assert len(out) == 3, out
    return out


@cache
def categories() -> dict[str, tuple[bool, tuple[str, ...]]]:
    """Document category -> (sensitive, its types), from the page's table."""
    rows = re.findall(
        r"^\| `([A-Z]+)` \| [^|]+ \| (\*\*yes\*\*|no) \| ([^|]+) \|$", PAGE.read_text("utf-8"), re.M
    )
    table = {
        code: (flag != "no", tuple(re.findall(r"`(\w+)`", types))) for code, flag, types in rows
    }
    assert len(table) == 10 and {"MOTIF", "HAND", "INT"} <= set(table), table
    return table


def piece_visible(piece: dict[str, Any], profile: str) -> bool:
    if profile == SENSIBLE:
        return True
    known = categories().get(piece["categorie"])
    return known is not None and not known[0]  # unknown categories: withheld (fails closed)


def as_cut(record: dict[str, Any], profile: str) -> dict[str, Any]:
    """``record`` (as :func:`feed_records` draws it: everything, for consultant_sensible)
    as the page says ``profile`` receives it: the sensitive fields null, the documents of
    sensitive or unknown categories removed, the references removed for
    consultant_simple, the changed fields and the score's criteria it may not see removed
    (the score's total the sum of the criteria left, unless hors cotation; a score of a
    grid the page does not cover keeps no criterion it does not list)."""
    out = {**record, "profile": profile}
    demande = record["demande"]
    if demande is None or profile == SENSIBLE:
        return out
    demande = json.loads(json.dumps(demande))
    for path in sensitive_paths():
        node = demande
        for part in path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node[path[-1]] = None
    if demande.get("piecesJustificatives") is not None:
        demande["piecesJustificatives"] = [
            {**p, "reference": None if profile == SIMPLE else p["reference"]}
            for p in demande["piecesJustificatives"]
            if piece_visible(p, profile)
        ]
    allowed = allowed_criteria(profile)
    cotations = []
    for c in record["cotations"]:
        kept = [k for k in c["criteres"] if k["code"] in allowed]
        total = c["total"] if c["horsCotation"] else sum(k["points"] for k in kept)
        cotations.append({**c, "criteres": kept, "total": total})
    out.update(
        demande=demande,
        cotations=cotations,
        changedFields=[p for p in record["changedFields"] if changed_allowed(p, profile)],
    )
    return out


def forbidden(record: dict[str, Any], profile: str) -> list[str]:
    """Strings of the full ``record`` that must appear nowhere in what ``profile``
    receives: the markers of the sensitive fields, the references it may not have, the
    codes and declarers of the criteria it may not see."""
    if profile == SENSIBLE or record["demande"] is None:
        return []
    out = [HANDICAP, MOTIF, JUGEMENT]
    out += [
        p["reference"]
        for p in record["demande"].get("piecesJustificatives") or ()
        if p["reference"] and (profile == SIMPLE or not piece_visible(p, profile))
    ]
    allowed = allowed_criteria(profile)
    for c in record["cotations"]:
        for k in c["criteres"]:
            if k["code"] not in allowed:
                out += [k["code"], *([k["declarePar"]] if k["declarePar"] else [])]
    return out


def present(record: dict[str, Any], profile: str) -> list[str]:
    """Positive control: strings of the full ``record`` that what ``profile`` receives
    must hold (the sensitive markers planted, the references it may have)."""
    demande = record["demande"]
    if demande is None:
        return []
    text = json.dumps(demande)
    out = [m for m in (HANDICAP, MOTIF, JUGEMENT) if profile == SENSIBLE and m in text]
    return out + [
        p["reference"]
        for p in demande.get("piecesJustificatives") or ()
        if p["reference"] and profile != SIMPLE and piece_visible(p, profile)
    ]


# --- records drawn from the Avro schemas ------------------------------------------------


@cache
def _named() -> dict[str, dict[str, Any]]:
    """Every named type of the current schemas, by full name."""
    names: dict[str, dict[str, Any]] = {}

    def walk(t: Any, ns: str) -> None:
        if isinstance(t, list):
            for b in t:
                walk(b, ns)
        elif isinstance(t, dict):
            kind = t["type"]
            if kind in ("record", "enum", "fixed"):
                ns = t.get("namespace", ns)
                names[t["name"] if "." in t["name"] else f"{ns}.{t['name']}"] = t
                for f in t.get("fields", ()):
                    walk(f["type"], ns)
            elif kind == "array":
                walk(t["items"], ns)
            elif kind == "map":
                walk(t["values"], ns)

    for path in sorted(AVRO.glob("*.avsc")):
        walk(json.loads(path.read_text("utf-8")), "")
    return names


def _resolve(name: str, ns: str) -> tuple[dict[str, Any], str]:
    full = name if "." in name else f"{ns}.{name}"
    t = _named()[full]
    return t, full.rpartition(".")[0]


#: texts: letters, digits and what XML must escape (never a marker: at most 12 characters)
_TEXT = st.text(alphabet="abcXYZ éà0129&<>\"'-", min_size=1, max_size=12)
_DATES = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2030, 12, 31)).map(str)
_MS = st.integers(946_684_800_000, 1_924_905_600_000)  # 2000-01-01 .. 2030-12-31


def _primitive(kind: str, doc: str) -> st.SearchStrategy[Any]:
    if kind == "string":
        if "xs:dateTime" in doc:
            return _DATES.map(lambda d: f"{d}T10:11:12")
        return _DATES if "xs:date" in doc else _TEXT
    return {
        "null": st.none(),
        "boolean": st.booleans(),
        "int": st.integers(0, 9999),
        "long": st.integers(0, 10**6),
        "float": st.floats(0, 1000, width=32),
        "double": st.floats(0, 1000),
        "bytes": st.binary(max_size=8),
    }[kind]


def values(t: Any, ns: str = "", doc: str = "") -> st.SearchStrategy[Any]:
    """Values of Avro type ``t`` (unions: any branch, so every optional part is present
    or not; arrays of 0-2 items)."""
    if isinstance(t, list):
        return st.one_of(*[values(b, ns, doc) for b in t])
    if isinstance(t, str):
        if t in PRIMITIVES:
            return _primitive(t, doc)
        named, inner = _resolve(t, ns)
        return values(named, inner, doc)
    kind = t["type"]
    if kind == "record":
        ns = t.get("namespace", ns)
        return st.fixed_dictionaries(
            {f["name"]: values(f["type"], ns, f.get("doc", "")) for f in t["fields"]}
        )
    if kind == "array":
        return st.lists(values(t["items"], ns), max_size=2)
    if kind == "map":
        return st.dictionaries(_TEXT, values(t["values"], ns), max_size=2)
    if kind == "enum":
        return st.sampled_from(t["symbols"])
    if t.get("logicalType") == "timestamp-millis":
        return _MS
    return _primitive(kind, doc)


def record_type(name: str) -> st.SearchStrategy[dict[str, Any]]:
    named, ns = _resolve(name, "")
    return values(named, ns)  # type: ignore[return-value]


@cache
def _rouen_grid() -> tuple[str, str]:
    """(epci, version) of the shipped grid (``hub/data/cotation/<epci>-<version>.yaml``)."""
    (path,) = GRIDS.glob("*.yaml")
    epci, _, version = path.stem.partition("-")
    return epci, version


@st.composite
def _pieces(draw: st.DrawFn) -> list[dict[str, Any]] | None:
    if draw(st.booleans()) and draw(st.booleans()):
        return None
    table = categories()
    out = []
    for i, code in enumerate(
        draw(st.lists(st.sampled_from([*table, UNKNOWN_CATEGORY]), max_size=6))
    ):
        types = table[code][1] if code in table else ("X",)
        ref = f"urn:test:piece:{code.lower()}-{i}-{draw(st.integers(0, 10**9))}"
        out.append(
            {
                "categorie": code,
                "type": draw(st.sampled_from(types)),
                "dateDepot": draw(_DATES),
                "reference": ref if draw(st.booleans()) else None,
            }
        )
    return out


@st.composite
def _cotations(draw: st.DrawFn) -> list[dict[str, Any]]:
    epci, version = _rouen_grid()
    table = criteria_table()
    out = []
    for grid, codes in ((epci, sorted(table)), (UNKNOWN_GRID, [UNKNOWN_CRITERION])):
        if not draw(st.booleans()):
            continue
        met = draw(st.lists(st.sampled_from(codes), unique=True, max_size=6))
        criteres = [
            {
                "code": c,
                "statut": draw(st.sampled_from(["rempli", "indetermine"])),
                "points": draw(st.integers(1, 40)),
                "declarePar": (
                    f"decl-{c.lower()}" if table.get(c, ("declared",))[0] == "declared" else None
                ),
            }
            for c in met
        ]
        hors = draw(st.booleans())
        total = 1000 if hors else sum(c["points"] for c in criteres)
        out.append(
            {
                "epci": grid,
                "versionGrille": version,
                "dateReference": draw(_DATES),
                "total": total,
                "horsCotation": hors,
                "maximum": 400,
                "criteres": criteres,
            }
        )
    return out


@st.composite
def feed_records(draw: st.DrawFn) -> dict[str, Any]:
    """A FeedRecord drawn from the schema, as consultant_sensible receives it (nothing
    cut), with the sensitive parts planted when the record has a snapshot."""
    record = draw(record_type("fr.passerelle.hub.FeedRecord"))
    kind = draw(st.sampled_from(WITH_SNAPSHOT + WITHOUT_SNAPSHOT))
    # the hub's event ids are printable ASCII (an HTTP header carries them)
    record.update(
        kind=kind,
        profile=SENSIBLE,
        evenement=None,
        eventId=str(draw(st.uuids())),
        numUnique=f"0765{draw(st.integers(0, 10**13)):014d}",
    )
    if kind in WITHOUT_SNAPSHOT:
        record.update(demande=None, cotations=[], changedFields=[])
        return record
    demande = draw(record_type("fr.passerelle.sne.Demande"))
    dl = demande.get("demandeLogement") or draw(record_type("fr.passerelle.sne.DemandeLogement"))
    demande["demandeLogement"] = dl
    if draw(st.booleans()):
        items = draw(st.lists(record_type("fr.passerelle.sne.Handicap"), min_size=1, max_size=2))
        dl["listeHandicap"] = [{**h, "besoinParticulier": HANDICAP} for h in items]
    if draw(st.booleans()):
        motifs = dl.get("principauxMotifDemande") or {"motifDemande": ["06"]}
        dl["principauxMotifDemande"] = {
            **motifs,
            "compAutreMotif": MOTIF,
            "compDateJugement": JUGEMENT,
        }
    demande["piecesJustificatives"] = draw(_pieces())
    record.update(
        demande=demande,
        cotations=draw(_cotations()),
        changedFields=draw(st.lists(st.sampled_from(CHANGED_PATHS), unique=True)),
    )
    return record


def outbox_body(record: dict[str, Any]) -> bytes:
    """The outbox row of a feed record, as the feed pump copies it (docs/api.md)."""
    return json.dumps(record, ensure_ascii=False, sort_keys=True).encode()


def every(t: Any, ns: str = "", doc: str = "") -> Any:
    """The value of Avro type ``t`` with every optional part present (unions: the last
    branch, arrays of one item): a text ``"x"``, a date, 1 or true."""
    if isinstance(t, list):
        return every(t[-1], ns, doc)
    if isinstance(t, str):
        if t in PRIMITIVES:
            return {
                "string": "2026-01-02" if "xs:date" in doc else "x",
                "boolean": True,
                "null": None,
                "bytes": b"x",
            }.get(t, 1)
        named, inner = _resolve(t, ns)
        return every(named, inner, doc)
    kind = t["type"]
    if kind == "record":
        ns = t.get("namespace", ns)
        return {f["name"]: every(f["type"], ns, f.get("doc", "")) for f in t["fields"]}
    if kind == "array":
        return [every(t["items"], ns)]
    if kind == "map":
        return {"x": every(t["values"], ns)}
    if kind == "enum":
        return t["symbols"][0]
    return 1_767_225_600_000 if t.get("logicalType") == "timestamp-millis" else every(kind)


@cache
def _full_record() -> str:
    record = every(_resolve("fr.passerelle.hub.FeedRecord", "")[0], "fr.passerelle.hub")
    dl = record["demande"]["demandeLogement"]
    dl["listeHandicap"] = [{**h, "besoinParticulier": HANDICAP} for h in dl["listeHandicap"]]
    dl["principauxMotifDemande"].update(compAutreMotif=MOTIF, compDateJugement=JUGEMENT)
    record["demande"]["piecesJustificatives"] = [
        {
            "categorie": c,
            "type": types[0],
            "dateDepot": "2026-03-02",
            "reference": f"urn:test:piece:{c.lower()}",
        }
        for c, (_, types) in {**categories(), UNKNOWN_CATEGORY: (True, ("X",))}.items()
    ]
    epci, version = _rouen_grid()
    criteres = [
        {
            "code": c,
            "statut": "rempli",
            "points": 5,
            "declarePar": f"decl-{c.lower()}" if source == "declared" else None,
        }
        for c, (source, _) in sorted(criteria_table().items())
    ]
    record.update(
        eventId="f1-full",
        numUnique="076540000000000042",
        profile=SENSIBLE,
        evenement=None,
        changedFields=list(CHANGED_PATHS),
        reason=None,
        cotations=[
            {
                "epci": epci,
                "versionGrille": version,
                "dateReference": "2026-01-05",
                "total": 5 * len(criteres),
                "horsCotation": False,
                "maximum": 400,
                "criteres": criteres,
            }
        ],
    )
    return json.dumps(record)


def full_record(kind: str = "DEMANDE") -> dict[str, Any]:
    """A record with every sensitive part: both free texts and ``listeHandicap``, one
    document (with its reference) of each category of the page and one of a category it
    does not know, every criterion of the Rouen grid met (each declared one with its
    declarer), every changed path of :data:`CHANGED_PATHS`."""
    return {**json.loads(_full_record()), "kind": kind}
