"""The REST API's request bounds without a server: the JSON depth scan and the demand-event
model derived from the Avro schemas (lengths and ranges taken from the SNE's facets)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from hub.api.demande_model import demande_event_model
from hub.api.limits import depth_exceeds
from tests.support.demandes import demande_event, new_num_unique

JSON = st.recursive(st.none() | st.integers() | st.text(alphabet='[]{}"\\ab', max_size=8),
                    lambda c: st.lists(c, max_size=3)
                    | st.dictionaries(st.text(alphabet='[]{}"\\ab', max_size=4), c,
                                      max_size=3), max_leaves=40)


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


@given(JSON, st.integers(min_value=0, max_value=8))
def test_the_depth_scan_agrees_with_the_parsed_depth(value: Any, limit: int) -> None:
    assert depth_exceeds(json.dumps(value).encode(), limit) == (_depth(value) > limit)


def test_brackets_in_strings_and_unterminated_strings_do_not_count() -> None:
    assert not depth_exceeds(b'["[[[[", "\\"[[[["]', 1)
    assert depth_exceeds(b"[[[", 2)
    assert not depth_exceeds(b'["' + b"[" * 10_000, 1)  # linear, no false alarm


def _event(**snapshot: Any) -> dict[str, Any]:
    event = demande_event(new_num_unique(), ["76540"])
    event["demande"]["demandeLogement"].update(snapshot)
    return event


@pytest.mark.parametrize(("field", "value"), [
    ("numGuichet", "123456"),          # t_numGuichet maxLength=5
    ("numUnique", "0" * 19),           # t_numUnique maxLength=18
    ("precision", "a\x00"),            # no control character
    ("unknown", "x"),                  # no unknown field
])
def test_the_snapshot_keeps_the_sne_bounds(field: str, value: Any) -> None:
    model = demande_event_model(100)
    model.model_validate(_event())
    with pytest.raises(ValidationError):
        model.model_validate(_event(**{field: value}))


def test_types_are_strict_and_wished_communes_bounded() -> None:
    model = demande_event_model(3)
    event = _event()
    event["demande"]["demandeLogement"]["logementRecherche"]["demandeElargie"] = "true"
    with pytest.raises(ValidationError):
        model.model_validate(event)
    event = _event()
    event["demande"]["demandeLogement"]["logementRecherche"]["listeLocalisationSouhaite"] = [
        {"commune": "76540"}] * 4
    with pytest.raises(ValidationError):
        model.model_validate(event)
    event["demande"]["demandeLogement"]["logementRecherche"]["listeLocalisationSouhaite"] = [
        {"commune": "76540"}] * 3
    model.model_validate(event)
