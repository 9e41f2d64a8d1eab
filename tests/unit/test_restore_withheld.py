"""Audit K, F2: the contract of ``hub.domain.profiles.restore_withheld`` — a write made from
a copy cut to a profile keeps, from the stored snapshot, what that profile does not see.

Snapshots are drawn from the Avro schema of the demand (``fr.passerelle.sne.Demande``: the
records holding the sensitive fields, every field of their types) and from the domain's
document table (``hub.domain.pieces``: every category, an unknown one, documents with and
without ``reference``), then read back through the codec as the worker reads them — not
from the hub's demand generator. The oracle of what a profile may not see is written here
from the domain reference (docs/profiles.md), not taken from the cut's code: the three
sensitive fields, the sensitive categories of the table (and any unknown one), and the
``reference`` of every document below ``consultant_demande``."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.domain.pieces import categories
from hub.domain.profiles import cut_for_profile, restore_withheld
from schemas import get_codec

ROOT = Path(__file__).resolve().parents[2]
PROFILES = ("consultant_simple", "consultant_demande", "consultant_sensible")
#: the domain reference's sensitive fields (docs/profiles.md), written out, not imported
SENSIBLE = (
    ("demandeLogement", "listeHandicap"),
    ("demandeLogement", "principauxMotifDemande", "compDateJugement"),
    ("demandeLogement", "principauxMotifDemande", "compAutreMotif"),
)
#: a category code no version of the table knows (an SNE code newer than the hub's)
UNKNOWN = "XCAT"
CATEGORIES = {**{c.code: sorted(c.types) for c in categories().values()}, UNKNOWN: ["XT"]}
PUBLIC = {c.code for c in categories().values() if not c.sensible}

# -- snapshots from the schema -----------------------------------------------------------


def _named() -> dict[str, dict[str, Any]]:
    """Every record type of Demande.avsc by short name (defined inline at first use)."""
    out: dict[str, dict[str, Any]] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "record":
                out.setdefault(node["name"], node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads((ROOT / "schemas/avro/fr.passerelle.sne.Demande.avsc").read_text("utf-8")))
    return out


NAMED = _named()
TEXT = st.text(alphabet="abcdefghij 0123456789-", min_size=1, max_size=12)


def _value(avro: Any, depth: int) -> st.SearchStrategy[Any]:
    """Values of an Avro type (records: every field drawn, each nullable one possibly null)."""
    if isinstance(avro, list):
        branches = [b for b in avro if b != "null"]
        inner = _value(branches[0], depth)
        return st.one_of(st.none(), inner) if "null" in avro else inner
    if isinstance(avro, str):
        if avro == "string":
            return TEXT
        if avro == "boolean":
            return st.booleans()
        if avro in ("int", "long"):
            return st.integers(0, 99)
        return _record(NAMED[avro.rpartition(".")[2]], depth)
    if avro["type"] == "array":
        return st.lists(_value(avro["items"], depth), max_size=2)
    if avro["type"] == "record":
        return _record(avro, depth)
    return _value(avro["type"], depth)


def _record(avro: dict[str, Any], depth: int) -> st.SearchStrategy[Any]:
    if depth <= 0:
        return st.none()
    return st.fixed_dictionaries({f["name"]: _value(f["type"], depth - 1) for f in avro["fields"]})


@st.composite
def pieces(draw: st.DrawFn) -> list[dict[str, Any]] | None:
    """A document index: None, or entries of every category (unknown included), some of
    them alike (same category, type and date), with and without a reference."""
    if draw(st.integers(0, 6)) == 0:
        return None
    out = []
    for _ in range(draw(st.integers(0, 6))):
        cat = draw(st.sampled_from(sorted(CATEGORIES)))
        out.append({
            "categorie": cat,
            "type": draw(st.sampled_from(CATEGORIES[cat])),
            "dateDepot": draw(st.sampled_from(["2026-03-01", "2026-03-02"])),
            "reference": draw(st.one_of(st.none(), st.builds("urn:doc:{}".format, TEXT))),
        })  # fmt: skip
    return out


@st.composite
def snapshots(draw: st.DrawFn) -> dict[str, Any]:
    """A Demande as the codec decodes it (every field present)."""
    motifs = draw(st.one_of(st.none(), _record(NAMED["PrincipauxMotifDemande"], 3)))
    handicaps = draw(st.one_of(st.none(), st.lists(_record(NAMED["Handicap"], 3), max_size=2)))
    demande = {
        "informationDalo": None,
        "demandeLogement": {
            "numUnique": "076112500001210691",
            "precision": draw(st.one_of(st.none(), TEXT)),
            "principauxMotifDemande": motifs,
            "listeHandicap": handicaps,
        },
        "piecesJustificatives": draw(pieces()),
    }
    return _as_read(demande)


def _as_read(demande: dict[str, Any]) -> dict[str, Any]:
    codec = get_codec()
    event = {"eventId": "e", "numUnique": "076112500001210691", "operation": "MOD",
             "occurredAt": 0, "source": "test", "demande": demande}  # fmt: skip
    read: dict[str, Any] = codec.decode_as(codec.encode("DemandeEvent", event), "DemandeEvent")[
        "demande"
    ]
    return read


# -- the oracle ------------------------------------------------------------------------


def _at(doc: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        doc = doc.get(part) if isinstance(doc, dict) else None
    return doc


def _withheld_entries(index: list[dict[str, Any]] | None, profile: str) -> list[Any]:
    if profile == "consultant_sensible":
        return []
    return [p for p in index or [] if p["categorie"] not in PUBLIC]


def _visible(index: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    return [p for p in index or [] if p["categorie"] in PUBLIC]


def _key(p: dict[str, Any]) -> tuple[str, str, str]:
    return p["categorie"], p["type"], p["dateDepot"]


SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


@SETTINGS
@given(stored=snapshots(), incoming=snapshots(), profile=st.sampled_from(PROFILES))
def test_the_writer_s_view_is_its_write_and_the_rest_is_the_stored_one(
    stored: dict[str, Any], incoming: dict[str, Any], profile: str
) -> None:
    before = copy.deepcopy((stored, incoming))
    result = restore_withheld(stored, incoming, profile)
    assert (stored, incoming) == before  # neither input modified
    assert result is not None
    carried = incoming
    if profile != "consultant_sensible" and incoming["piecesJustificatives"] is None:
        # an index not carried (InterfaceNuu has none): the stored one stands
        carried = {**incoming, "piecesJustificatives": stored["piecesJustificatives"]}
    # what the writer sees is as it wrote it
    assert cut_for_profile(result, profile) == cut_for_profile(carried, profile)
    if profile == "consultant_sensible":
        assert result is incoming
        return
    # the withheld fields are the stored ones, wherever the write keeps their record
    for path in SENSIBLE:
        if isinstance(_at(incoming, path[:-1]), dict):
            assert _at(result, path) == _at(stored, path)
        else:
            assert _at(result, path[:-1]) is None
    # the withheld documents are the stored ones, in their order
    index = result["piecesJustificatives"]
    assert _withheld_entries(index, profile) == _withheld_entries(
        stored["piecesJustificatives"], profile
    )
    if incoming["piecesJustificatives"] is None:
        assert index == stored["piecesJustificatives"]
        return
    shown = _visible(index)
    assert [_key(p) for p in shown] == [_key(p) for p in _visible(incoming["piecesJustificatives"])]
    if profile == "consultant_demande":  # references are its own to write
        assert shown == _visible(incoming["piecesJustificatives"])
        return
    # consultant_simple: the n-th entry of a kind carries the n-th stored one's reference
    pool: dict[tuple[str, str, str], list[Any]] = {}
    for p in _visible(stored["piecesJustificatives"]):
        pool.setdefault(_key(p), []).append(p["reference"])
    for got, sent in zip(shown, _visible(incoming["piecesJustificatives"]), strict=True):
        left = pool.get(_key(got))
        assert got["reference"] == (left.pop(0) if left else sent["reference"])


@SETTINGS
@given(stored=snapshots(), profile=st.sampled_from(PROFILES), text=TEXT)
def test_a_write_back_of_the_cut_copy_changes_only_what_was_changed(
    stored: dict[str, Any], profile: str, text: str
) -> None:
    """The audit's scenario as a property: the actor takes the copy it received, changes a
    field it sees and sends it back: the demand is the stored one with that field changed,
    nothing lost — whatever the profile, sensitive fields and documents, references."""
    copy_ = _as_read(copy.deepcopy(cut_for_profile(stored, profile)))  # as the feed gave it
    copy_["demandeLogement"]["precision"] = text
    expected = copy.deepcopy(stored)
    expected["demandeLogement"]["precision"] = text
    assert restore_withheld(stored, copy_, profile) == expected


def test_nothing_to_keep_without_a_stored_snapshot_or_a_write() -> None:
    demande = _as_read({"demandeLogement": {"listeHandicap": [{"handicapMoteur": True}]}})
    assert restore_withheld(None, demande, "consultant_simple") is demande
    assert restore_withheld(demande, None, "consultant_simple") is None
    with pytest.raises(ValueError, match="unknown profile"):
        restore_withheld(demande, demande, "consultant_total")


def test_an_unchanged_write_is_the_incoming_snapshot_itself() -> None:
    """Nothing restored: the very object comes back (its bytes as read stay usable)."""
    demande = _as_read({"demandeLogement": {"precision": "x"},
                        "piecesJustificatives": [{"categorie": "IDD", "type": "CID",
                                                  "dateDepot": "2026-03-01"}]})  # fmt: skip
    same = copy.deepcopy(demande)
    assert restore_withheld(demande, same, "consultant_simple") is same
