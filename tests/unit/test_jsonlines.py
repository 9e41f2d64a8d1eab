"""JSON lines read from untrusted files: every line an object or a one-line refusal, with
memory, time and stack bounded (hub.core.jsonlines, issue 19 point 4)."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.core import jsonlines
from hub.core.errors import InputError
from hub.core.jsonlines import depth_exceeds, parse_object, read_objects

LIMIT = 1024


def read(data: bytes, *, max_line_bytes: int = LIMIT, max_depth: int = 8) -> list[Any]:
    """[(line, object or (code, message))] of ``data``."""
    out: list[Any] = []
    for n, got in read_objects(io.BytesIO(data), max_line_bytes=max_line_bytes,
                               max_depth=max_depth):  # fmt: skip
        out.append((n, (got.code, got.message) if isinstance(got, InputError) else got))
    return out


@pytest.mark.parametrize(("line", "kind"), [
    (b"5", "a number"), (b"-1.5e3", "a number"), (b"null", "null"), (b"true", "a boolean"),
    (b'"text"', "a string"), (b"[1, {}]", "an array"),
])  # fmt: skip
def test_only_objects_are_events(line: bytes, kind: str) -> None:
    assert read(line + b"\n") == [(1, ("not_an_object", f"not a JSON object (got {kind})"))]


def test_line_numbers_blank_lines_bom_and_crlf() -> None:
    data = b'\xef\xbb\xbf{"a": 1}\r\n\n   \r\n{"b": 2}'
    assert read(data) == [(1, {"a": 1}), (4, {"b": 2})]


def test_a_line_of_exactly_the_limit_is_read_even_with_crlf() -> None:
    body = json.dumps({"k": "x" * (LIMIT - 9)}).encode()
    assert len(body) == LIMIT
    assert read(body + b"\r\n" + body) == [(1, json.loads(body)), (2, json.loads(body))]


def test_longer_lines_are_refused_and_dropped_then_reading_goes_on() -> None:
    long = b'{"k": "' + b"x" * (5 * LIMIT) + b'"}'
    data = long + b"\n" + b'{"after": 1}\n' + b"y" * (LIMIT + 1)  # the last without newline
    refused = ("too_large", f"line longer than {LIMIT} bytes")
    assert read(data) == [(1, refused), (2, {"after": 1}), (3, refused)]


def test_a_long_line_is_never_held_in_memory() -> None:
    reads: list[int] = []

    class Spy(io.BytesIO):
        def readline(self, size: int | None = -1, /) -> bytes:
            line = super().readline(size)
            reads.append(len(line))
            return line

    fh = Spy(b"[" * (50 * LIMIT) + b"\n{}\n")
    got = list(read_objects(fh, max_line_bytes=LIMIT, max_depth=8))
    assert [n for n, _ in got] == [1, 2] and got[1][1] == {}
    assert max(reads) <= max(LIMIT + 2, 1 << 16)


@pytest.mark.parametrize("line", [b"\xff{}", b'{"a": "\xc3"}', b'{"a": "\xed\xa0\x80"}'])
def test_invalid_utf8_is_refused_with_its_column(line: bytes) -> None:
    [(n, (code, message))] = read(line)
    assert n == 1
    assert code == "undecodable" and message.startswith("not UTF-8 (invalid byte at column ")


@pytest.mark.parametrize(
    "line",
    [
        b"{",
        b"{'a': 1}",
        b'{"a": NaN}',
        b'{"a": -Infinity}',
        b'{"a": 1' + b"0" * 40 + b"}",
        b"{} {}",
    ],
)
def test_not_json_is_refused(line: bytes) -> None:
    [(n, (code, message))] = read(line)
    assert n == 1
    assert code == "not_json" and message.startswith("not JSON: ")


@pytest.mark.parametrize("depth", [9, 1000, 100_000])
@pytest.mark.parametrize("shape", ["array", "object", "unclosed"])
def test_depth_is_bounded_before_parsing(depth: int, shape: str) -> None:
    line = {
        "array": b'{"a":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}",
        "object": b'{"a":' * depth + b"1" + b"}" * depth,
        "unclosed": b"{" * depth,
    }[shape]
    refused = ("too_deep", "JSON nested deeper than 8 levels")
    assert read(line, max_line_bytes=1 << 20, max_depth=8) == [(1, refused)]


def test_depth_at_the_limit_and_brackets_in_strings_are_fine() -> None:
    at_limit = b'{"a":' * 8 + b"1" + b"}" * 8
    assert read(at_limit, max_depth=8)[0][1]["a"]["a"]
    in_strings = json.dumps({"a": "[" * 100 + '\\"{' * 100, "b": ["]]]"]}).encode()
    assert read(in_strings, max_depth=2) == [(1, json.loads(in_strings))]


def test_depth_scan_is_linear_on_hostile_strings() -> None:
    # unterminated strings and escapes everywhere: a naive scan would be quadratic
    line = (b'\\"[' * 400_000) + b'"' + b"[" * 10
    start = time.perf_counter()
    depth_exceeds(line, 8)
    assert time.perf_counter() - start < 2.0


def test_parse_object_messages_never_quote_the_line() -> None:
    with pytest.raises(InputError) as err:
        parse_object(b'{"nom": "DUPONT", "x": }', max_depth=8)
    assert "DUPONT" not in err.value.message


# -- the orjson fast path gives the reference path's verdicts -----------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False, allow_infinity=False)
    | st.integers(-(2**70), 2**70) | st.integers(2**63, 2**70) | st.integers(-(2**70), -(2**63))
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                               max_size=4),
    max_leaves=20,
)  # fmt: skip
_TOKENS_ODD = st.sampled_from(
    [b"NaN", b"-Infinity", b"1e400", b"-0", b"-0.0", b"1E-400", b'"\\ud800"', b'"\\udc00x"',
     b'"\\ud83d\\ude00"', b"\xef\xbb\xbf", b"\xff", b"\xed\xa0\x80", b",", b"}", b"]", b"{",
     b'"\x01"', b"\t", b"\r", b"00", b"1.", b"9" * 19, b"-" + b"9" * 25, b"1" * 31, b'"a":',
     b"true", b"nul", b"\xc3\xa9"]
)  # fmt: skip


def _same(a: Any, b: Any) -> bool:
    """Equal, with the same types all the way down (0 is not 0.0, -0.0 is not 0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(map(_same, a, b))
    return repr(a) == repr(b)


def _verdict(parse: Any, line: bytes) -> Any:
    try:
        return ("ok", parse(line))
    except InputError as exc:
        return ("refused", str(exc), exc.code)


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_the_fast_path_agrees_with_the_reference_path(data: st.DataObject) -> None:
    """Documents from the JSON grammar (big integers, floats, escapes, nesting), then
    spliced with odd-but-legal and hostile tokens: ``parse_object`` accepts exactly what
    the standard-library path accepts, with the same values, and refuses the rest with
    the same message."""
    if data.draw(st.booleans()):
        line = json.dumps({"k": data.draw(_JSON)}, ensure_ascii=data.draw(st.booleans())).encode()
    else:  # one odd token where a value goes
        line = b'{"k": [1, ' + data.draw(_TOKENS_ODD) + b"]}"
    for _ in range(data.draw(st.integers(0, 3))):
        at = data.draw(st.integers(0, len(line)))
        line = line[:at] + data.draw(_TOKENS_ODD) + line[at:]
    depth = data.draw(st.sampled_from([2, 5, 64]))
    fast = _verdict(lambda b: parse_object(b, max_depth=depth), line)
    ref = _verdict(lambda b: jsonlines._parse_reference(b, depth), line)
    assert fast[0] == ref[0] and (_same(fast[1], ref[1]) if fast[0] == "ok" else fast == ref)
