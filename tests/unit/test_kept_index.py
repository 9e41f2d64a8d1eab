"""A write that carries no document index keeps the stored one (hub.domain.profiles.
kept_index, applied by hub.domain.decisions.decide): InterfaceNuu has no element for the
hub's ``piecesJustificatives``, so every change the SNE made to a demand (the poller, the
gateway's relay, ``hub publish`` of XML) erased the documents partners had indexed, for
everyone. ``[]`` empties it; a SUP leaves no snapshot to keep it in."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.domain.actors import Actor, ActorFilters
from hub.domain.decisions import decide
from hub.domain.matching import TerritoryIndex
from hub.domain.profiles import kept_index
from schemas import get_codec
from tests.support.demandes import demande_event, new_num_unique
from tests.unit.test_clock import ROUEN

PIECE = {"categorie": "IDD", "type": "CID", "dateDepot": "2026-03-01",
         "reference": "urn:ged:idd-1"}  # fmt: skip


def _read(ev: dict[str, Any]) -> dict[str, Any]:
    codec = get_codec()
    read: dict[str, Any] = codec.decode_as(codec.encode("DemandeEvent", ev), "DemandeEvent")
    return read


@pytest.fixture()
def index(geography: Any) -> TerritoryIndex:
    return TerritoryIndex(geography, [
        Actor(id="bailleur", name="b", kind="bailleur", profile="consultant_demande",
              version=1, filters=ActorFilters(communes=[ROUEN])),
    ])  # fmt: skip


def _indexed_cre(num: str) -> dict[str, Any]:
    ev = demande_event(num, [ROUEN])
    ev["demande"]["piecesJustificatives"] = [copy.deepcopy(PIECE)]
    return _read(ev)


@pytest.mark.parametrize("operation", ["MOD", "REN"])
def test_an_sne_change_without_index_keeps_the_documents(
    index: TerritoryIndex, operation: str
) -> None:
    cre = _indexed_cre(new_num_unique())
    state = decide(cre, None, index, partition=0, offset=1).state
    sne = _read({**demande_event(cre["numUnique"], [ROUEN], operation=operation),
                 "source": "sne-poller"})  # fmt: skip
    assert sne["demande"]["piecesJustificatives"] is None
    after = decide(sne, state, index, partition=0, offset=2, demande_bytes=b"raw")
    assert after.state is not None
    assert after.state.demande["piecesJustificatives"] == [PIECE]
    assert after.state.demande_bytes is None  # not the event's own snapshot any more
    (delivery,) = after.deliveries
    assert delivery.actor_id == "bailleur"


def test_an_empty_index_empties_it(index: TerritoryIndex) -> None:
    cre = _indexed_cre(new_num_unique())
    state = decide(cre, None, index, partition=0, offset=1).state
    mod = demande_event(cre["numUnique"], [ROUEN], operation="MOD")
    mod["demande"]["piecesJustificatives"] = []
    after = decide(_read(mod), state, index, partition=0, offset=2)
    assert after.state is not None and after.state.demande["piecesJustificatives"] == []


pieces = st.none() | st.lists(st.just(PIECE), max_size=2)


@settings(max_examples=50)
@given(stored=pieces, incoming=pieces)
def test_kept_index_takes_the_incoming_index_unless_it_carries_none(
    stored: list[Any] | None, incoming: list[Any] | None
) -> None:
    s = {"demandeLogement": {"precision": "a"}, "piecesJustificatives": stored}
    i = {"demandeLogement": {"precision": "b"}, "piecesJustificatives": incoming}
    out = kept_index(s, i)
    assert out is not None and out["demandeLogement"] == {"precision": "b"}
    assert out["piecesJustificatives"] == (stored if incoming is None else incoming)
    assert i["piecesJustificatives"] is incoming  # the input is not modified
    assert kept_index(None, i) is i and kept_index(s, None) is None


@pytest.mark.parametrize("seed", [1, 7, 23])
def test_an_interfacenuu_document_from_the_outline_keeps_the_documents(
    index: TerritoryIndex, seed: int
) -> None:
    """The input the fix is for, not written by the hub: a MOD document built by audit J's
    own generator from the SNE outline (tests/support/auditj_grammar.py), read by
    ``hub publish``'s check, over a stored demand with an index."""
    from tests.unit.test_sne_fidelity_audit_j import _bytes, _doc, _event

    mod = _event(_bytes(_doc(seed, op="MOD")))
    assert mod["demande"]["piecesJustificatives"] is None  # InterfaceNuu carries none
    cre = {**mod, "operation": "CRE", "eventId": f"cre-{seed}"}
    cre["demande"] = {**mod["demande"], "piecesJustificatives": [copy.deepcopy(PIECE)]}
    state = decide(cre, None, index, partition=0, offset=1).state
    after = decide(mod, state, index, partition=0, offset=2)
    assert after.state is not None
    assert after.state.demande["piecesJustificatives"] == [PIECE]
    assert after.state.demande["demandeLogement"] == mod["demande"]["demandeLogement"]
