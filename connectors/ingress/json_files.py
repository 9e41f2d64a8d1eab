"""A ``.json`` file holding one JSON document rather than JSON lines (audit finding 13).

``hub publish`` reads ``.json`` files as JSON lines: one event object per line
(docs/limits.md). The most natural content of a ``.json`` file, one pretty-printed object
or array, would give one refusal per line of the file and bury the other files'
refusals. :func:`document_refusal` tells it apart from the first line alone and gives one
line for the whole file instead.

Contract: a ``.json`` file is refused whole when its first non-blank line (a byte order
mark opening the file skipped) is not JSON at all — ``{``, ``[``, ``{"numUnique": "…",``.
Any other file is read line by line as before, each bad line refused with its number: a
first line that is a complete JSON value (an object, or an array, a number…: refused on
its own line), one not UTF-8, nested too deep, or longer than :data:`PEEK_BYTES`, and
every ``.jsonl``/``.ndjson`` file (named as JSON lines, their errors are per line).
"""

from __future__ import annotations

import json
from pathlib import Path

from hub.core.jsonlines import depth_exceeds

SUFFIX = ".json"
#: bytes of the first line looked at; a longer line opens no pretty-printed document
PEEK_BYTES = 1 << 20
#: nesting allowed to the first line while telling (deeper: left to the per-line check)
_DEPTH = 500
_BOM = b"\xef\xbb\xbf"
MESSAGE = (
    "a .json file is read as JSON lines, one complete event object per line, and its "
    "first line is not a complete JSON value (a pretty-printed JSON document?): write one "
    "object per line (e.g. jq -c)"
)


def document_refusal(path: Path) -> str | None:
    """:data:`MESSAGE` when ``path`` is a ``.json`` file holding a multi-line JSON
    document (module doc), else None. Reads at most the file's first non-blank line
    (:data:`PEEK_BYTES`); an unreadable file is left to the reader (None)."""
    if path.suffix.lower() != SUFFIX:
        return None
    try:
        with path.open("rb") as fh:
            line = fh.readline(PEEK_BYTES + 1).removeprefix(_BOM)
            while line and not line.strip():
                line = fh.readline(PEEK_BYTES + 1)
    except OSError:
        return None
    if not line.strip() or len(line) > PEEK_BYTES or depth_exceeds(line, _DEPTH):
        return None
    try:
        # NaN and the like are allowed here: such a line is JSON lines, refused on its own
        json.loads(line.decode("utf-8"), parse_constant=lambda _name: None)
    except json.JSONDecodeError:
        return MESSAGE  # not JSON at all: the opening of a multi-line document
    except (ValueError, RecursionError):  # not UTF-8, an integer too long for Python
        return None
    return None
