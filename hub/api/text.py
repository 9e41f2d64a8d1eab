"""Text accepted by the API, the same on every store and every channel (issue 19 point 5).

PostgreSQL refuses NUL in text, SQLite stores it, and XML 1.0 (the SOAP push, the DIS
files) cannot carry the C0 controls nor the noncharacters U+FFFE and U+FFFF, even
escaped: so that both stores and every channel downstream see the same inputs, the
request models refuse them before any store is reached, with a 422 problem naming the
field. The rule is a ``pattern`` on the field, so it is in the OpenAPI document too:

* :data:`Code` (codes, ids, names, dates, numéros): no control character at all
  (C0 ``U+0000``–``U+001F``, ``DEL``, C1 ``U+0080``–``U+009F``), nor U+FFFE, U+FFFF;
* :data:`Text` (free text: comments, motives, specific fields' values): the same, except
  tab, line feed and carriage return, which a free text legitimately holds;
* :data:`ID_PATTERN` (client-chosen ids): printable ASCII only.

Lone surrogates (``"\\ud800"`` in JSON) are refused by pydantic itself on a field with a
pattern (not valid Unicode). So a string either pattern accepts is made of XML 1.0
characters (:mod:`hub.core.xmlchars`; ``tests/unit/test_xmlchars.py`` checks it over the
whole code point range). Lengths are bounded where each field is declared.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

# ``\uFFFE`` is written as an escape the pattern's three readers share: pydantic's Rust
# regex, Python's ``re`` and the ECMAScript regex of an OpenAPI client
#: no control character (C0, DEL, C1), no U+FFFE / U+FFFF
CODE_PATTERN = r"^[^\x00-\x1f\x7f-\x9f\uFFFE\uFFFF]*$"
#: no control character except tab, line feed and carriage return; no U+FFFE / U+FFFF
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\uFFFE\uFFFF]*$"
PATTERNS = frozenset({CODE_PATTERN, TEXT_PATTERN})
#: client-chosen ids (``eventId``): printable ASCII, no space, no control character
ID_PATTERN = r"^[\x21-\x7e]+$"

Code = Annotated[str, StringConstraints(pattern=CODE_PATTERN)]
Text = Annotated[str, StringConstraints(pattern=TEXT_PATTERN)]
