"""Text accepted by the API, the same on every store (issue 19 point 5).

PostgreSQL refuses NUL in text, SQLite stores it: so that both stores (and every consumer
downstream) see the same inputs, the request models refuse control characters before
any store is reached, with a 422 problem. The rule is a ``pattern`` on the field, so it
is in the OpenAPI document too:

* :data:`Code` (codes, ids, names, dates, numéros): no control character at all
  (C0 ``U+0000``–``U+001F``, ``DEL``, C1 ``U+0080``–``U+009F``);
* :data:`Text` (free text: comments, motives, specific fields' values): the same, except
  tab, line feed and carriage return, which a free text legitimately holds;
* :data:`ID_PATTERN` (client-chosen ids): printable ASCII only.

Lone surrogates (``"\\ud800"`` in JSON) are refused by pydantic itself (not valid
Unicode). Lengths are bounded where each field is declared.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

#: no control character (C0, DEL, C1)
CODE_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"
#: no control character except tab, line feed and carriage return
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
PATTERNS = frozenset({CODE_PATTERN, TEXT_PATTERN})
#: client-chosen ids (``eventId``): printable ASCII, no space, no control character
ID_PATTERN = r"^[\x21-\x7e]+$"

Code = Annotated[str, StringConstraints(pattern=CODE_PATTERN)]
Text = Annotated[str, StringConstraints(pattern=TEXT_PATTERN)]
