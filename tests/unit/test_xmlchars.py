"""The characters XML 1.0 can carry: the hub's predicate, the API's text patterns, the
door check of demand events and lxml agree with the XML grammar's ``Char`` production,
written here from the specification (https://www.w3.org/TR/xml/#charsets), over the
whole code point range."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from lxml import etree

from hub.api.text import CODE_PATTERN, TEXT_PATTERN
from hub.core.errors import InputError
from hub.core.xmlchars import find_not_char, first_not_char, is_char
from hub.domain.carriable import MAX_DATE_MS, MIN_DATE_MS, check_carriable

# Char ::= #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
GRAMMAR = ((0x9, 0x9), (0xA, 0xA), (0xD, 0xD), (0x20, 0xD7FF), (0xE000, 0xFFFD),
           (0x10000, 0x10FFFF))  # fmt: skip
#: what the API refuses besides: the C1 controls and DEL (XML characters, but controls)
C1_AND_DEL = (0x7F, 0x9F)
code_points = st.integers(min_value=0, max_value=0x10FFFF)
#: any text, surrogates included (hypothesis leaves them out by default)
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)


def grammar(cp: int) -> bool:
    return any(lo <= cp <= hi for lo, hi in GRAMMAR)


def lxml_takes(text: str) -> bool:
    el = etree.Element("a")
    try:
        el.text = text
        el.set("b", text)
    except ValueError:  # "All strings must be XML compatible"; a surrogate: UnicodeEncodeError
        return False
    return True


def one_of_them(cp: int) -> dict[str, bool]:
    ch = chr(cp)
    return {
        "is_char": is_char(cp),
        "first_not_char": first_not_char(f"a{ch}b") is None,
        "find_not_char": find_not_char({"x": [f"a{ch}"]}) is None,
        "lxml": lxml_takes(ch),
    }


@given(code_points)
@example(0xFFFE)
@example(0xFFFF)
@example(0x1)
@example(0xD800)
@example(0x1FFFE)
@example(0xFDD0)
def test_every_reading_of_a_code_point_agrees_with_the_grammar(cp: int) -> None:
    expected = grammar(cp)
    assert one_of_them(cp) == dict.fromkeys(one_of_them(cp), expected), hex(cp)


def test_the_whole_code_point_range_agrees_with_the_grammar_and_lxml() -> None:
    # hypothesis samples; this walks all 1,114,112 code points once (about 3 s)
    wrong = [cp for cp in range(0x110000)
             if not (is_char(cp) == grammar(cp) == lxml_takes(chr(cp)))]  # fmt: skip
    assert wrong == []


@pytest.mark.parametrize("pattern", [CODE_PATTERN, TEXT_PATTERN])
def test_what_the_api_patterns_accept_xml_carries(pattern: str) -> None:
    from typing import Annotated

    from pydantic import StringConstraints, TypeAdapter, ValidationError

    adapter = TypeAdapter(Annotated[str, StringConstraints(pattern=pattern)])
    accepted = []
    for cp in range(0x110000):
        try:
            adapter.validate_python(f"a{chr(cp)}")
        except ValidationError:
            continue
        accepted.append(cp)
    assert all(grammar(cp) for cp in accepted)
    assert 0xFFFE not in accepted and 0xFFFF not in accepted and 0x1 not in accepted
    # every XML character but the controls the API refuses on its own is accepted
    taken = set(accepted)
    missing = [cp for cp in range(0x110000) if grammar(cp) and cp not in taken
               and not C1_AND_DEL[0] <= cp <= C1_AND_DEL[1]
               and not (pattern == CODE_PATTERN and cp in (0x9, 0xA, 0xD))]  # fmt: skip
    assert missing == []


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | any_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.text("abcdefgh", min_size=1, max_size=4), inner, max_size=4),
    max_leaves=25,
)  # fmt: skip


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _at(value: Any, parts: list[str]) -> list[str]:
    """The strings found at the dotted path ``parts`` of ``value`` (list items share the
    path of their list)."""
    if isinstance(value, list):
        return [s for v in value for s in _at(v, parts)]
    if not parts:
        return _strings(value)
    if not isinstance(value, dict) or parts[0] not in value:
        return []
    return _at(value[parts[0]], parts[1:])


@given(json_values)
def test_find_not_char_names_a_field_holding_a_character_outside_the_grammar(
        value: Any) -> None:  # fmt: skip
    bad = [ch for s in _strings(value) for ch in s if not grammar(ord(ch))]
    found = find_not_char(value)
    if not bad:
        assert found is None
        return
    assert found is not None
    path, code = found
    assert re.fullmatch(r"U\+[0-9A-F]{4,6}", code)
    cp = int(code[2:], 16)
    assert not grammar(cp)
    strings = _strings(value) if path == "value" else _at(value, path.split("."))
    assert any(chr(cp) in s for s in strings), (path, code)


def _event(text: str, occurred_at: int = 1_700_000_000_000) -> dict[str, Any]:
    return {"eventId": "e-1", "numUnique": "076112500012310691", "operation": "CRE",
            "occurredAt": occurred_at, "source": "test", "changedFields": [],
            "demande": {"demandeLogement": {"precision": text}}}  # fmt: skip


@given(any_text)
@example("Asso\ufffeciation")
@example("Asso\x01ciation")
@example("ligne 1\r\n\tligne 2 \x85 \ufdd0")
def test_a_demand_event_holding_a_character_xml_cannot_carry_is_refused_naming_the_field(
        text: str) -> None:  # fmt: skip
    bad = [ch for ch in text if not grammar(ord(ch))]
    if not bad:
        check_carriable(_event(text))
        return
    with pytest.raises(InputError) as caught:
        check_carriable(_event(text))
    assert caught.value.code == "invalid_character"
    assert caught.value.message.startswith("demande.demandeLogement.precision: character U+")
    assert "\n" not in caught.value.message and text not in caught.value.message


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
@example(MIN_DATE_MS - 1)
@example(MAX_DATE_MS + 1)
@example(2**62)
def test_occurred_at_is_refused_outside_the_dates_xml_carries(ms: int) -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    def renders() -> bool:  # the instant as a date of years 0001-9999 in every zone used
        try:
            for zone in (UTC, ZoneInfo("Europe/Paris"), ZoneInfo("Pacific/Kiritimati"),
                         ZoneInfo("Etc/GMT+12")):  # fmt: skip
                datetime.fromtimestamp(ms / 1000, zone)
        except (ValueError, OverflowError, OSError):
            return False
        return True

    try:
        check_carriable(_event("ok", ms))
    except InputError as exc:
        assert exc.code == "date_out_of_range" and exc.message.startswith("occurredAt: ")
        return
    assert renders()


#: the code points around every border of the grammar (C0, the surrogates, U+FFFE/FFFF,
#: the supplementary planes' start), each alone and beside the odd-but-legal texts that
#: look like a JSON escape of one (a literal backslash before b, f or u0001)
_BORDERS = [*range(0x0, 0x100), *range(0xD7F0, 0xE010), *range(0xFFF0, 0x10010)]
_LOOKALIKES = ["\\b", "\\f", "\\u0001", "\\\\u001f", "\\", "\ufffd", "\U0010ffff"]


@pytest.mark.parametrize("around", ["", *_LOOKALIKES])
def test_find_not_char_agrees_with_the_grammar_at_every_border(around: str) -> None:
    # find_not_char first serializes the value with orjson and looks at the JSON text
    # (escapes of C0 controls, UTF-8 of U+FFFE/FFFF, surrogates refused): each border code
    # point, in the shapes a demand has, and next to texts that only look like an escape
    wrong = []
    for cp in _BORDERS:
        text = f"{around}a{chr(cp)}{around}"
        for value in ({"x": [text]}, [1, {"y": {"z": text}}], text, {"b": b"\x01", "t": text}):
            found = find_not_char(value)
            if (found is None) != grammar(cp):
                wrong.append((hex(cp), around, type(value).__name__))
        if find_not_char({"x": around, "n": 2**70, "t": [around]}) is not None:
            wrong.append(("lookalike alone", around, "bigint"))
    assert wrong == []
