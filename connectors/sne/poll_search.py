"""The poller's searches of the active demands wishing a commune, cut to what the SNE
answers at once.

``rechercheDemandeMulticritere`` refuses a search matching more demands than it answers at
once with the anomaly ``TROPRESULT`` (the simulator: more than 5,000; the real SNE's limit
is not published). A large commune — Paris, Rouen — passes any such limit over a year of
dépôts, so :func:`active_demands` searches one yearly dépôt window at a time and halves a
window the SNE refuses, again and again, down to a single day. A day still refused is
given up for this pass (:class:`Search` ``given_up`` says which): its demands published
before are still read through the poller's memory, new ones wait for a pass that fits.
Every other refusal of a search is raised (:class:`~connectors.sne.errors.SneFault`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta

from connectors.sne.client import SneClient
from connectors.sne.errors import SneFault

log = logging.getLogger(__name__)
#: the anomaly of a search matching more demands than the SNE answers at once
TOO_MANY = "TROPRESULT"


@dataclass
class Search:
    """What the searches of one pass found: ``numbers`` in the order found, and one line
    per window given up (a single day still above the SNE's limit)."""

    numbers: dict[str, None] = field(default_factory=dict)
    given_up: list[str] = field(default_factory=list)


def yearly_windows(since: date, today: date) -> Iterator[tuple[date, date]]:
    """(first, last) dépôt day of each calendar year from ``since`` to ``today``."""
    for year in range(since.year, today.year + 1):
        yield max(since, date(year, 1, 1)), min(today, date(year, 12, 31))


def active_demands(
    client: SneClient, communes: tuple[str, ...], since: date, today: date
) -> Search:
    """The numéros of the active demands wishing each of ``communes`` deposited from
    ``since`` to ``today`` (module doc)."""
    found = Search()
    for commune in communes:
        for lo, hi in yearly_windows(since, today):
            _window(client, commune, lo, hi, found)
    return found


def _window(client: SneClient, commune: str, lo: date, hi: date, found: Search) -> None:
    try:
        nums = client.search(
            etatDemande="A",
            dateDepotDebut=lo.isoformat(),
            dateDepotFin=hi.isoformat(),
            communeSouhaitee=commune,
        )
    except SneFault as exc:
        if exc.code != TOO_MANY:
            raise
    else:
        found.numbers.update(dict.fromkeys(nums))
        return
    if lo >= hi:  # one day: nothing narrower to ask (recursion depth: log2(366) + 1)
        found.given_up.append(
            f"commune {commune}: more active demands deposited on {lo} than the SNE answers "
            f"in one search ({TOO_MANY}); the new ones of that day are not captured"
        )
        return
    mid = lo + (hi - lo) // 2
    log.info("SNE poller: %s for commune %s, %s to %s: halving", TOO_MANY, commune, lo, hi)
    _window(client, commune, lo, mid, found)
    _window(client, commune, mid + timedelta(days=1), hi, found)
