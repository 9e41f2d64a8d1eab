"""``check_codes`` walks the coded fields once, as a tree (``hub.domain.refdata._CODED_TREE``):
it must refuse exactly the demands that hold an unknown code at one of the listed paths,
and name the same field as a walk of each path in turn (the order of ``CODED_FIELDS``).

The demands are drawn from the paths' own grammar (a dotted field name, ``*`` for each
item of a list), with values from the tables in force, codes of no table, empty codes,
nulls and nodes of the wrong JSON type, not from the hub's generators. The oracle below
walks one path at a time, as the reference's outline reads.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.core.errors import InputError
from hub.domain.refdata import CODED_FIELDS, TABLES, check_codes

_ALL_CODES = sorted({code for table in TABLES.values() for code in table})
_VALUES = st.one_of(
    st.sampled_from(_ALL_CODES),  # in some table, maybe not this field's
    st.just(""),  # no code: never refused
    st.text(alphabet="AZ09x", min_size=1, max_size=4),  # mostly codes of no table
)
_ODD = st.one_of(st.none(), st.integers(0, 9), st.just({}), st.just([]), st.just("zz"))


def _set(node: dict[str, Any], names: list[str], draw: Any) -> None:
    """Put a value (or a list of them) at ``names`` under ``node``, creating the way."""
    name, rest = names[0], names[1:]
    if rest and rest[0] == "*":
        items = node.setdefault(name, [])
        if not isinstance(items, list):
            return
        for _ in range(draw(st.integers(0, 3))):
            if len(rest) == 1:
                items.append(draw(_VALUES))
            else:
                child: dict[str, Any] = {}
                _set(child, rest[1:], draw)
                items.append(child)
        return
    if not rest:
        node[name] = draw(_VALUES)
        return
    child = node.setdefault(name, {})
    if isinstance(child, dict):
        _set(child, rest, draw)


@st.composite
def demandes(draw: Any) -> dict[str, Any]:
    demande: dict[str, Any] = {}
    for path, _ in draw(st.lists(st.sampled_from(CODED_FIELDS), max_size=12)):
        _set(demande, path.split("."), draw)
    # a few nodes of the wrong type where the outline has an element (a hostile producer)
    for path, _ in draw(st.lists(st.sampled_from(CODED_FIELDS), max_size=2)):
        names = path.split(".")
        cut = draw(st.integers(1, len(names)))
        node: Any = demande
        for name in names[: cut - 1]:
            node = node.get(name) if isinstance(node, dict) and name != "*" else None
        if isinstance(node, dict) and names[cut - 1] != "*":
            node[names[cut - 1]] = draw(_ODD)
    return demande


def _first_unknown(demande: Any) -> str | None:
    """The oracle: the path (with list indices) of the first unknown code, path by path."""
    for path, table in CODED_FIELDS:
        found = _walk(demande, path.split("."), "", TABLES[table])
        if found is not None:
            return found
    return None


def _walk(node: Any, names: list[str], where: str, table: frozenset[str]) -> str | None:
    if not names:
        return None if node == "" or node in table else where
    name, rest = names[0], names[1:]
    if name == "*":
        for i, item in enumerate(node if isinstance(node, list) else []):
            found = _walk(item, rest, f"{where}[{i}]", table)
            if found is not None:
                return found
        return None
    if not isinstance(node, dict) or node.get(name) is None:
        return None
    return _walk(node[name], rest, f"{where}.{name}" if where else name, table)


@settings(max_examples=400, deadline=None)
@given(demandes())
def test_refuses_what_a_walk_of_each_path_refuses_and_names_the_same_field(
    demande: dict[str, Any],
) -> None:
    try:
        expected = _first_unknown(demande)
    except TypeError:  # a {} or [] where a code is expected, met before any unknown code
        with pytest.raises(TypeError):
            check_codes(demande)
        return
    if expected is None:
        check_codes(demande)
        return
    with pytest.raises(InputError) as info:
        check_codes(demande)
    assert info.value.code == "unknown_code"
    assert info.value.message.startswith(f"{expected}: unknown code")


def test_a_list_where_a_code_is_expected_does_not_hide_an_earlier_field() -> None:
    """Review T, T-F3: the tree is walked in another order than CODED_FIELDS; a list under
    a later path (a resource) made it raise TypeError where the walk of each path in turn
    names the earlier field (a co-holder's civilité). (The Avro shape refuses such a list
    first in every entrance; the verdict must not depend on that.)"""
    demande = {"demandeLogement": {"personnePhysique": {
        "demandeur": {"listeRessourceRecue": [{"ressource": ["SAL"]}]},
        "listeCotitulaire": [{"civilite": "9"}]}}}  # fmt: skip
    with pytest.raises(InputError, match=r"listeCotitulaire\[0\]\.civilite"):
        check_codes(demande)


def test_a_known_demand_and_one_bad_code_deep_in_a_list() -> None:
    ok = {
        "demandeLogement": {
            "logementRecherche": {"listeTypeLogement": ["T2", "T3"]},
            "personnePhysique": {"listeCotitulaire": [{"civilite": "1"}, {"civilite": ""}]},
        }
    }
    check_codes(ok)
    check_codes(None)
    ok["demandeLogement"]["personnePhysique"]["listeCotitulaire"].append({"civilite": "9"})
    with pytest.raises(InputError, match=r"listeCotitulaire\[2\]\.civilite: unknown code '9'"):
        check_codes(ok)
