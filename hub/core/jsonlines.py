"""Reading JSON lines from an untrusted file with bounded memory, time and stack.

Contract of :func:`read_objects`: for every non-blank line of the file it yields the line
number and either the JSON object of that line or an :class:`InputError` saying in one
line why the line is refused. It never raises for the content of the file; only an
``OSError`` of the file itself escapes. A line is refused when it is:

* longer than ``max_line_bytes`` (end of line not counted): the rest of the line is read
  in small chunks and dropped, so no more than ``max_line_bytes`` + 2 bytes are ever held;
* not UTF-8 (a byte order mark opening the file is allowed);
* nested deeper than ``max_depth`` arrays and objects: checked by a linear scan *before*
  parsing, because Python's ``json`` recurses once per level;
* not JSON (``NaN``/``Infinity`` and integers of more than 30 digits are refused too);
* a JSON value other than an object (number, string, boolean, null, array).

Messages name the problem and a column, never the line's content.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import IO, Any

import orjson

from hub.core.errors import InputError

_BOM = b"\xef\xbb\xbf"
_DRAIN_CHUNK = 1 << 16
#: a JSON string (its closing quote optional, so an unterminated one ends the scan in
#: linear time) or one bracket; everything else is skipped by ``finditer``
_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)
_OPEN = frozenset(b"[{")
_CLOSE = frozenset(b"]}")
_MAX_INT_DIGITS = 30
#: where orjson and ``json`` may disagree: integers beyond 64 bits have at least 19 digits.
#: Found by mapping every digit to 9 and the rest to a space, then a substring search:
#: ~3 µs for a 2 kB line, where the regular expression took ~30.
_DIGITS_AS_9 = bytes(0x39 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_LONG_RUN = b"9" * 19
_KINDS = {type(None): "null", bool: "a boolean", int: "a number", float: "a number",
          str: "a string", list: "an array"}  # fmt: skip


def read_objects(
    fh: IO[bytes], *, max_line_bytes: int, max_depth: int
) -> Iterator[tuple[int, dict[str, Any] | InputError]]:
    """(line number, object or refusal) for every non-blank line (see the module doc)."""
    for n, line in _lines(fh, max_line_bytes):
        if line is None:
            yield n, InputError(f"line longer than {max_line_bytes} bytes", code="too_large")
            continue
        if n == 1 and line.startswith(_BOM):
            line = line[len(_BOM) :]
        if not line.strip():
            continue
        try:
            yield n, parse_object(line, max_depth=max_depth)
        except InputError as exc:
            yield n, exc


def parse_object(line: bytes, *, max_depth: int) -> dict[str, Any]:
    """The JSON object of one line of bytes, or :class:`InputError` (see the module doc).

    Speed: most lines are parsed by orjson (~3× faster than ``json``). Its results are
    those of the reference path below whenever it accepts a line, except for integers
    beyond 64 bits (floats for orjson), so a line holding a run of 19 or more digits
    goes to the reference path, as does every line orjson refuses: the verdict and the
    message are always the reference path's."""
    # the depth first: orjson 3.8 was seen to crash the process on deep nesting
    if _LONG_RUN not in line.translate(_DIGITS_AS_9) and not depth_exceeds(line, max_depth):
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            pass  # the reference path says why
        else:
            if type(value) is dict:
                return value
    return _parse_reference(line, max_depth)


def _parse_reference(line: bytes, max_depth: int) -> dict[str, Any]:
    """:func:`parse_object` with the standard library alone: the behaviour of record."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 (invalid byte at column {exc.start + 1})",
                         code="undecodable") from None  # fmt: skip
    if depth_exceeds(line, max_depth):
        raise InputError(f"JSON nested deeper than {max_depth} levels", code="too_deep")
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_int=_bounded_int)
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON: {exc.msg} at column {exc.colno}", code="not_json") from None
    except ValueError as exc:  # from the hooks below
        raise InputError(f"not JSON: {exc}", code="not_json") from None
    except RecursionError:  # unreachable while max_depth is far below the recursion limit
        raise InputError(f"JSON nested deeper than {max_depth} levels",
                         code="too_deep") from None  # fmt: skip
    if not isinstance(value, dict):
        kind = _KINDS.get(type(value), type(value).__name__)
        raise InputError(f"not a JSON object (got {kind})", code="not_an_object")
    return value


def depth_exceeds(line: bytes, limit: int) -> bool:
    """Whether arrays and objects nest more than ``limit`` deep in ``line``, brackets
    inside strings not counted. Linear time, constant stack. For any input, the depth a
    JSON parser reaches before it stops is at most the depth counted here."""
    if line.count(b"[") + line.count(b"{") <= limit:
        return False  # cannot nest deeper than it has openers: no scan needed
    depth = 0
    for m in _TOKENS.finditer(line):
        first = line[m.start()]
        if first in _OPEN:
            depth += 1
            if depth > limit:
                return True
        elif first in _CLOSE:
            depth -= 1
    return False


def _lines(fh: IO[bytes], max_bytes: int) -> Iterator[tuple[int, bytes | None]]:
    """(number, line without its end of line) for every line; None for a line longer
    than ``max_bytes``, whose bytes are dropped as they are read."""
    n = 0
    while True:
        line = fh.readline(max_bytes + 2)  # room for a CR LF after a line of max_bytes
        if not line:
            return
        n += 1
        ended = line.endswith(b"\n")
        body = line.rstrip(b"\r\n") if ended else line
        if len(body) <= max_bytes:
            yield n, body
            continue
        while not ended:  # drop the rest of an overlong line
            chunk = fh.readline(_DRAIN_CHUNK)
            ended = not chunk or chunk.endswith(b"\n")
        yield n, None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > _MAX_INT_DIGITS:
        raise ValueError(f"integer of more than {_MAX_INT_DIGITS} digits")
    return int(digits)
