"""The poller's searches of the active demands wishing a commune, cut to what the SNE
answers at once, each commune's refusal costing that commune only.

``rechercheDemandeMulticritere`` refuses a search matching more demands than it answers at
once with the anomaly ``TROPRESULT`` (the simulator: more than 5,000; the real SNE's limit
is not published). A large commune — Paris, Rouen — passes any such limit over a year of
dépôts, so :func:`active_demands` searches one yearly dépôt window at a time and halves a
window the SNE refuses, again and again, down to a single day. A day still refused is
given up for this pass (:class:`Search` ``given_up`` says which): its demands published
before are still read through the poller's memory, new ones wait for a pass that fits.

Any other refusal of a commune's search — an anomaly or a Fault (``COMMUNE`` for a code
that is not an INSEE commune, ``CRITERE``, ``DATES``...), or an answer the hub cannot
read — gives that commune up for the pass, in one ``given_up`` line naming the commune,
the code and the SNE's message, and the search goes on with the next commune. A refusal
of the caller itself (:data:`CALLER_REFUSED`) stops the searches: every commune would be
refused the same. Only what fails the whole pass is raised: the SNE unreachable
(retriable) or not configured.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta

from connectors.sne.client import SneClient
from connectors.sne.errors import SneFault
from connectors.sne.poll_calls import guarded
from hub.core.errors import ConfigError, HubError

log = logging.getLogger(__name__)
#: the anomaly of a search matching more demands than the SNE answers at once
TOO_MANY = "TROPRESULT"
#: codes of a refusal of the caller, not of the commune (those of the hub's own SNE-shaped
#: gateway; the real SNE's are not published): no other commune is searched that pass
CALLER_REFUSED = frozenset({"ACCES", "AUTHENTIFICATION"})
#: codes of a refusal of the search's parameters, i.e. of the commune code given (the
#: simulator's: ``COMMUNE`` not an INSEE commune, ``XSD`` not 1 to 5 letters or digits)
COMMUNE_REFUSED = frozenset({"COMMUNE", "XSD", "CRITERE"})


@dataclass
class Search:
    """What the searches of one pass found: ``numbers`` in the order found, one line per
    thing given up (a single day above the SNE's limit, a commune refused), and how many
    searches the SNE ``answered`` and how many communes it ``refused``."""

    numbers: dict[str, None] = field(default_factory=dict)
    given_up: list[str] = field(default_factory=list)
    answered: int = 0
    refused: int = 0


def yearly_windows(since: date, today: date) -> Iterator[tuple[date, date]]:
    """(first, last) dépôt day of each calendar year from ``since`` to ``today``."""
    for year in range(since.year, today.year + 1):
        yield max(since, date(year, 1, 1)), min(today, date(year, 12, 31))


def one_line(text: str, limit: int = 300) -> str:
    """``text`` (an SNE's message: anything) on one line, at most ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def active_demands(
    client: SneClient, communes: tuple[str, ...], since: date, today: date
) -> Search:
    """The numéros of the active demands wishing each of ``communes`` deposited from
    ``since`` to ``today`` (module doc)."""
    found = Search()
    if since > today:
        found.given_up.append(f"sne.poll_since ({since}) is after today ({today}): no search")
        return found
    for commune in communes:
        try:
            for lo, hi in yearly_windows(since, today):
                _window(client, commune, lo, hi, found)
        except HubError as exc:
            if exc.retriable or isinstance(exc, ConfigError):
                raise  # the SNE down, or no SNE: the whole pass
            found.refused += 1
            if isinstance(exc, SneFault) and exc.code in CALLER_REFUSED:
                found.given_up.append(
                    f"every search refused by the SNE ({one_line(exc.message)}): the SNE "
                    "refuses the hub itself, check sne.guichet and the TLS certificate "
                    "(sne.cert_file); no commune searched, new demands not captured"
                )
                break
            found.given_up.append(_refusal(commune, exc))
    return found


def _refusal(commune: str, exc: HubError) -> str:
    if not isinstance(exc, SneFault):
        return (
            f"commune {commune}: search answered with what the hub cannot read "
            f"({exc.code}: {one_line(exc.message)}); its new demands wait for the next pass"
        )
    hint = (
        "a configuration error? check this code in sne.poll_communes (INSEE codes); its "
        "new demands are not captured while the SNE refuses it"
        if exc.code in COMMUNE_REFUSED
        else "its new demands wait for the next pass"
    )
    return f"commune {commune}: search refused by the SNE ({one_line(exc.message)}); {hint}"


def _window(client: SneClient, commune: str, lo: date, hi: date, found: Search) -> None:
    try:
        nums = guarded(
            "rechercheDemandeMulticritere",
            lambda: client.search(
                etatDemande="A",
                dateDepotDebut=lo.isoformat(),
                dateDepotFin=hi.isoformat(),
                communeSouhaitee=commune,
            ),
        )
    except SneFault as exc:
        if exc.code != TOO_MANY:
            raise
    else:
        found.answered += 1
        found.numbers.update(dict.fromkeys(nums))
        return
    found.answered += 1  # refused as too large: still an answer
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
