"""A wished commune code in any letter case, through the hub's door (audit P, F3): the
SNE's ``t_commune`` is ``xs:string(maxLength=5, pattern=[a-zA-Z0-9]{1,5})``
(``sne-interface/InterfaceNuu_v0201.txt``), so "2a004" is Ajaccio. Codes drawn from
INSEE's table with every letter's case drawn apart, put in JSON events built from the
schema (tests/support/spec_events) and in InterfaceNuu documents generated from the
domain's outline (tests/support/outline_docs), never from the hub's own generators: each
is accepted at the door, and matched as its upper-case code is."""

from __future__ import annotations

import functools
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.ingress.publishing import check_event, prepare_event
from hub.core.jsonlines import parse_object
from hub.domain.actors import Actor, ActorFilters
from hub.domain.geo import get_geography
from hub.domain.matching import TerritoryIndex
from schemas import get_codec
from tests.support.demandes import new_num_unique
from tests.support.outline_docs import generate, numbered
from tests.support.spec_events import spec_event


@functools.cache
def _lettered() -> list[str]:
    """Today's codes holding a letter: Corsica's (2A…, 2B…)."""
    geo = get_geography()
    return sorted(c for c in geo.communes() if geo.has_commune(c) and not c.isdigit())


@st.composite
def written(draw: Any) -> tuple[str, str]:
    """(today's code, the same code with each letter's case drawn)."""
    code = draw(st.sampled_from(_lettered()))
    cases = draw(st.lists(st.booleans(), min_size=len(code), max_size=len(code)))
    return code, "".join(c.lower() if low else c for c, low in zip(code, cases, strict=True))


def _index() -> TerritoryIndex:
    geo = get_geography()
    return TerritoryIndex(geo, [Actor(id=d.lower(), name=d, kind="bailleur",
                                      filters=ActorFilters(departements=[d]))
                                for d in ("2A", "2B")])  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(code=written())
def test_a_json_event_wishing_a_code_in_any_case_is_accepted_and_matched(
        code: tuple[str, str]) -> None:  # fmt: skip
    today, as_written = code
    event = spec_event(new_num_unique(), [as_written])
    # the JSON line as `hub publish` reads it
    checked = check_event(parse_object(json.dumps(event).encode(), max_depth=64))
    wishes = checked["demande"]["demandeLogement"]["logementRecherche"]
    assert [w["commune"] for w in wishes["listeLocalisationSouhaite"]] == [as_written]
    index = _index()
    assert index.match([as_written], ["T2"]) == index.match([today], ["T2"]) != set()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(code=written(), seed=st.integers(0, 2**63 - 1))
def test_an_interfacenuu_document_wishing_a_code_in_any_case_is_accepted(
        code: tuple[str, str], seed: int) -> None:  # fmt: skip
    today, as_written = code
    doc = generate(seed, "random", operation="CRE", live_search=True)
    doc = numbered(doc, new_num_unique(), communes=[as_written])
    event = get_codec().decode_as(prepare_event(doc.xml).value, "DemandeEvent")
    wishes = event["demande"]["demandeLogement"]["logementRecherche"]
    communes = [w["commune"] for w in wishes["listeLocalisationSouhaite"]]
    assert communes and set(communes) == {as_written}, doc.describe()
    index = _index()
    assert index.match(communes, ["T2"]) == index.match([today], ["T2"])
