"""The generated Avro writer and reader (:mod:`schemas.codegen`) against fastavro, over
schemas drawn from the Avro specification's grammar (not from our ``.avsc`` files): every
primitive, records, enums, fixed, arrays, maps, ``["null", T]`` and other unions, nested
to any depth; then values drawn from each schema. Same bytes as fastavro, read back equal;
values that do not fit are refused with :class:`Mismatch`."""

from __future__ import annotations

import contextlib
import io
import itertools
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.avro_binary import Corrupt, Mismatch
from schemas.compiled import compile_schema

_names = itertools.count()
_NAME = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
PRIMITIVES = ["null", "boolean", "int", "long", "float", "double", "bytes", "string"]


def _fresh(stem: str) -> str:
    return f"{stem}{next(_names)}"


@st.composite
def _record(draw: st.DrawFn, inner: st.SearchStrategy[Any]) -> dict[str, Any]:
    names = draw(st.lists(_NAME, min_size=0, max_size=5, unique=True))
    return {"type": "record", "name": _fresh("R"),
            "fields": [{"name": n, "type": draw(inner)} for n in names]}  # fmt: skip


def _min_size(t: Any) -> int:
    """The fewest bytes a value of ``t`` takes."""
    if isinstance(t, list):
        return 1
    if isinstance(t, str):
        return {"null": 0, "float": 4, "double": 8}.get(t, 1)
    if t["type"] == "record":
        return sum(_min_size(f["type"]) for f in t["fields"])
    return int(t["size"]) if t["type"] == "fixed" else 1


def _types() -> st.SearchStrategy[Any]:
    leaves = st.one_of(
        st.sampled_from(PRIMITIVES),
        st.builds(
            lambda s: {"type": "enum", "name": _fresh("E"), "symbols": s},
            st.lists(_NAME, min_size=1, max_size=4, unique=True),
        ),
        st.builds(lambda n: {"type": "fixed", "name": _fresh("F"), "size": n}, st.integers(0, 5)),
    )

    def grow(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        non_null = inner.filter(lambda t: t != "null" and not isinstance(t, list))
        return st.one_of(
            _record(inner),
            # the registry refuses array items that may take no byte (the readers' length
            # guard relies on it: docs in schemas.compiled), so the grammar leaves them out
            st.builds(lambda t: {"type": "array", "items": t}, non_null.filter(_min_size)),
            st.builds(lambda t: {"type": "map", "values": t}, non_null),
            st.builds(lambda t: ["null", t], non_null),
            st.lists(
                st.sampled_from(["boolean", "long", "string", "double"]),
                min_size=1,
                max_size=4,
                unique=True,
            ),
        )

    return st.recursive(leaves, grow, max_leaves=12)


def _value(t: Any) -> st.SearchStrategy[Any]:
    """Values that fit ``t`` (floats representable in 32 bits for ``float``)."""
    if isinstance(t, list):
        return st.one_of(*[_value(b) for b in t])
    if isinstance(t, str):
        return {
            "null": st.none(),
            "boolean": st.booleans(),
            "int": st.integers(-(2**31), 2**31 - 1),
            "long": st.integers(-(2**63), 2**63 - 1),
            "float": st.floats(width=32, allow_nan=False),
            "double": st.floats(allow_nan=False),
            "bytes": st.binary(max_size=80),
            "string": st.text(max_size=80),
        }[t]
    kind = t["type"]
    if kind == "record":
        return st.fixed_dictionaries({f["name"]: _value(f["type"]) for f in t["fields"]})
    if kind == "enum":
        return st.sampled_from(t["symbols"])
    if kind == "fixed":
        return st.binary(min_size=t["size"], max_size=t["size"])
    if kind == "array":
        return st.lists(_value(t["items"]), max_size=70)  # > 63: a two-byte count too
    return st.dictionaries(st.text(max_size=10), _value(t["values"]), max_size=4)


def _top(t: Any) -> dict[str, Any]:
    return {"type": "record", "name": _fresh("Top"), "fields": [{"name": "v", "type": t}]}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_same_bytes_as_fastavro_and_read_back_equal(data: st.DataObject) -> None:
    schema = _top(data.draw(_types()))
    value = {"v": data.draw(_value(schema["fields"][0]["type"]))}
    write, read = compile_schema(schema)
    ours = write(value)
    ref = io.BytesIO()
    parsed = parse_schema(schema)
    # fastavro picks the first union branch that validates: the same rule as ours
    schemaless_writer(ref, parsed, value)
    assert ours == ref.getvalue()
    back, end = read(ours, 0)
    assert end == len(ours)
    assert back == schemaless_reader(io.BytesIO(ours), parsed)
    assert _same(back, value)


def _same(back: object, value: object) -> bool:
    """``back`` read is ``value`` written, an int written through a ``float``/``double``
    branch coming back as that float (both libraries pick the first branch that validates:
    an int of a ``["double", "long"]`` union is written as a double; 2**53 + 1 comes back
    2**53, as Avro says a double holds it)."""
    if isinstance(back, float) and isinstance(value, int) and not isinstance(value, bool):
        return back == float(value)
    if isinstance(back, dict) and isinstance(value, dict):
        return back.keys() == value.keys() and all(_same(back[k], value[k]) for k in back)
    if isinstance(back, list) and isinstance(value, list):
        return len(back) == len(value) and all(map(_same, back, value))
    return back == value


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_truncated_or_corrupted_bytes_raise_only_the_readers_errors(data: st.DataObject) -> None:
    schema = _top(data.draw(_types()))
    value = {"v": data.draw(_value(schema["fields"][0]["type"]))}
    write, read = compile_schema(schema)
    blob = bytearray(write(value))
    if blob:
        cut = data.draw(st.integers(0, len(blob) - 1))
        blob[cut] = data.draw(st.integers(0, 255))
        blob = blob[: data.draw(st.integers(0, len(blob)))]
    with contextlib.suppress(Corrupt, IndexError, UnicodeDecodeError):
        read(bytes(blob), 0)


@pytest.mark.parametrize(
    ("field_type", "value", "where"),
    [
        ("int", 2**31, r"integer out of range for int \(32 bits\)"),
        ("int", -(2**31) - 1, r"integer out of range for int \(32 bits\)"),
        ("int", 1.5, "expected int, got float"),
        ("long", 10**19, r"integer out of range for long \(64 bits\)"),
        ("long", -99999999999999999999, r"integer out of range for long \(64 bits\)"),
        ("long", 10**28, r"integer out of range for long \(64 bits\)"),
        (["null", "long"], 2**63, r"integer out of range for long \(64 bits\)"),
        ("long", True, "expected long, got bool"),
        ("string", b"x", "expected string, got bytes"),
        ("string", "\ud800", "not encodable"),
        (["null", "string"], 3, "expected string, got int"),
        (["boolean", "long"], "x", "fits no branch"),
        ({"type": "array", "items": "int"}, "ab", "expected a array"),
        ({"type": "map", "values": "int"}, {"k": "x"}, "expected int"),
        ({"type": "enum", "name": "Colour", "symbols": ["RED"]}, "BLUE", "not a symbol"),
        ({"type": "fixed", "name": "Four", "size": 4}, b"abc", "expected 4 fixed bytes"),
    ],
)
def test_a_value_that_does_not_fit_names_the_field(field_type: Any, value: Any, where: str) -> None:
    write, _ = compile_schema(_top(field_type))
    with pytest.raises(Mismatch, match=where) as caught:
        write({"v": value})
    assert ".v" in str(caught.value)
    assert ("out of range" in str(caught.value)) == ("out of range" in where), caught.value


@pytest.mark.parametrize("t", ["int", "long"])
def test_the_bounds_of_int_and_long_are_written_and_one_past_them_is_out_of_range(t: str) -> None:
    bits = {"int": 32, "long": 64}[t]
    write, read = compile_schema(_top(t))
    for ok in (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1):
        assert read(write({"v": ok}), 0)[0] == {"v": ok}
    for wide in (-(2 ** (bits - 1)) - 1, 2 ** (bits - 1)):
        with pytest.raises(Mismatch, match=rf"\.v: integer out of range for {t} \({bits} bits\)$"):
            write({"v": wide})


def test_one_name_defined_differently_in_two_schemas_keeps_each_definition() -> None:
    """Functions are shared between schemas only for the same definition: a history
    version of a record with other fields must keep its own code."""
    one = {"type": "record", "name": "fr.x.Same", "fields": [{"name": "a", "type": "string"}]}
    two = {"type": "record", "name": "fr.x.Same", "fields": [{"name": "a", "type": "long"}]}
    three = {"type": "record", "name": "fr.x.Same", "fields": [{"name": "a", "type": "string",
                                                               "default": "d"}]}  # fmt: skip
    w1, r1 = compile_schema(one)
    w2, r2 = compile_schema(two)
    w3, _ = compile_schema(three)
    assert r1(w1({"a": "é"}), 0)[0] == {"a": "é"}
    assert r2(w2({"a": -5}), 0)[0] == {"a": -5}
    assert w3({}) == w1({"a": "d"})
    with pytest.raises(Mismatch, match="missing"):
        w1({})


def test_recursive_record_and_odd_field_names() -> None:
    """A record that contains itself, and names no Python identifier could be: the
    generated source takes them only through ``repr``."""
    odd = "a'b\"c\\n); import os #"
    schema = {"type": "record", "name": "Node", "fields": [
        {"name": odd, "type": "long"},
        {"name": "next", "type": ["null", "Node"]},
    ]}  # fmt: skip
    write, read = compile_schema(schema)
    chain: Any = None
    for i in range(50):
        chain = {odd: i, "next": chain}
    assert read(write(chain), 0)[0] == chain
