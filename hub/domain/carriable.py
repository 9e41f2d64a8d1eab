"""What every delivery channel can carry, checked at the door (docs/limits.md).

A demand event reaches actors on every channel: the Kafka feed and the webhook (JSON),
the SOAP push and the DIS files (XML, the InterfaceNuu rendering). An event one channel
cannot carry would be accepted for some actors and stuck or lost for others, so the hub
refuses it where it enters — ``hub publish``, the REST API and the dispatch worker
(a dead letter) all call :func:`hub.domain.decisions.validate_event`, which calls
:func:`check_carriable`:

* **text**: every string of the event is made of XML 1.0 characters
  (:mod:`hub.core.xmlchars`: no C0 control but tab, line feed, carriage return; no
  surrogate; not U+FFFE nor U+FFFF). The SNE's own data is XML, so such a character can
  never legitimately come from it: refusing it costs no real demand. C1 controls and
  DEL *are* XML characters (a mis-decoded Windows-1252 text holds U+0085): they are
  accepted here; the REST API's models refuse them too (``hub/api/text.py``);
* **dates**: ``occurredAt`` between 0001-01-02 and 9999-12-30 (UTC), so that it is an
  ``xs:dateTime`` of years 0001–9999 in any time zone: what the SNE's ``dateFichier``
  can say, and what the hub can turn into a calendar day in French legal time (the
  score's reference day, the statistics) without an overflow; and the snapshot's dates
  the demand's clock computes with (``dateCreationDemande``, ``renouvellement/
  dateRenouvellement``) within the hub's days, 1900-01-01 to 2199-12-31
  (:mod:`hub.domain.days`): a demand dated 2300 has no renewal notice the hub could
  compute, and a typo is better refused where it enters than carried to every actor.

The push channels apply the same rules to the records already in a feed
(:func:`connectors.files.disfile.check_renderable`): one written before these checks is
closed with its reason there, never left blocking its actor.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from hub.core.errors import InputError
from hub.core.xmlchars import find_not_char
from hub.domain.days import FIRST_DAY, LAST_DAY

#: 0001-01-02T00:00:00Z and 9999-12-30T00:00:00Z in epoch milliseconds
MIN_DATE_MS = -62_135_510_400_000
MAX_DATE_MS = 253_402_128_000_000


def text_problem(value: Any, path: str = "") -> str | None:
    """Why a string inside ``value`` cannot be carried as XML (its path and code point,
    never the text), or None."""
    found = find_not_char(value, path)
    if found is None:
        return None
    where, code_point = found
    return f"{where}: character {code_point} is not allowed (XML 1.0 cannot carry it)"


def date_problem(ms: Any, name: str) -> str | None:
    """Why epoch milliseconds ``ms`` (field ``name``) cannot be written as an XML date."""
    if isinstance(ms, int) and not MIN_DATE_MS <= ms <= MAX_DATE_MS:
        return f"{name}: {ms} ms is outside the dates XML carries (years 0001-9999)"
    return None


#: the snapshot dates the demand's clock computes with, under ``demandeLogement``
CLOCK_DATES = (("dateCreationDemande",), ("renouvellement", "dateRenouvellement"))


#: the year of an ``xs:date``-shaped value (any number of digits, a sign), XML whitespace
#: around it allowed (``whiteSpace=collapse``)
_YEAR = re.compile(r"[ \t\r\n]*(-?)([0-9]+)-[0-9]{2}-[0-9]{2}")


def day_problem(demande: Any) -> str | None:
    """Why a date of ``demande`` (a snapshot) the clock computes with lies outside the
    hub's days (its path, never its value), or None. The value is read as an ``xs:date``
    (surrounding XML whitespace collapsed): a year of more than 4 digits or below zero is
    outside too (``10000-01-01``, ``-0001-01-01``). A value that is no date at all is not
    this check's business: the clock ignores it."""
    for path in CLOCK_DATES:
        node = demande.get("demandeLogement") if isinstance(demande, dict) else None
        for name in path:
            node = node.get(name) if isinstance(node, dict) else None
        year = _YEAR.match(node) if isinstance(node, str) else None
        if year is None:
            continue
        outside = bool(year.group(1)) or not FIRST_DAY.year <= int(year.group(2)) <= LAST_DAY.year
        if not outside:
            try:
                day = date.fromisoformat(year.string.strip(" \t\r\n")[:10])
            except ValueError:
                continue
            outside = not FIRST_DAY <= day <= LAST_DAY
        if outside:
            where = ".".join(("demande", "demandeLogement", *path))
            return f"{where}: outside the dates the hub computes with ({FIRST_DAY} to {LAST_DAY})"
    return None


#: an event id every channel carries as it is: printable ASCII, no space (the webhook sends
#: it as an HTTP header, the SOAP push as an attribute, receivers dedup by it)
EVENT_ID = re.compile(r"[\x21-\x7e]+")


def check_event_id(event_id: Any) -> None:
    """Raise :class:`InputError` (``invalid_event_id``) unless ``event_id`` is printable
    ASCII without space (never quoting it: it may be anything)."""
    if not isinstance(event_id, str) or EVENT_ID.fullmatch(event_id) is None:
        raise InputError("eventId must be printable ASCII without space (a UUID, say)",
                         code="invalid_event_id")  # fmt: skip


def check_carriable(event: dict[str, Any]) -> None:
    """Raise :class:`InputError` (``invalid_character``, ``date_out_of_range``) naming the
    field of ``event`` (a demand event) that some channel cannot carry, or a date of its
    snapshot the clock cannot compute with; ``invalid_event_id`` for an event id that is
    not printable ASCII (:func:`check_event_id`)."""
    check_event_id(event.get("eventId"))
    problem = text_problem(event)
    if problem is not None:
        raise InputError(problem, code="invalid_character")
    problem = date_problem(event.get("occurredAt"), "occurredAt") or day_problem(
        event.get("demande")
    )
    if problem is not None:
        raise InputError(problem, code="date_out_of_range")
