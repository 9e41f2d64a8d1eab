"""Which of the SNE and a demand to blame when a demand's read fails on transport.

A read of ``getDemandeLogement`` that times out or whose connection fails (after the
client's ``sne.retries`` retries) is either the demand's trouble (a document the SNE is
too slow to give, a proxy choking on it) or the SNE's (down). :class:`Unanswered` tells
them apart by what comes next: a later read answered (whatever the answer) blames the
demands that failed before it; :data:`SNE_DOWN_AFTER` failures in a row blame the SNE,
and the pass fails (``SneUnavailable``, retriable). Either way those demands are left
unread, and an earlier pass's unread demands are read last and never counted in a row:
so demands that always fail cost at most one failed pass, never every pass, and never
pass for the SNE being down.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date

from connectors.sne.errors import SneUnavailable
from connectors.sne.poll_memory import PollMemory, Unread
from connectors.sne.poll_search import one_line
from hub.core.errors import HubError
from monitoring import recorder

log = logging.getLogger(__name__)
#: reads in a row failing on transport (timeout, connection) that mean the SNE is down,
#: not these demands: the pass fails. Demands already unread do not count.
SNE_DOWN_AFTER = 3


@dataclass
class Unanswered:
    """The transport failures of one pass's reads (module doc); ``nums``: the demands
    left unread for them, in order, each remembered in ``memory`` and counted in
    ``passerelle_sne_poller_skipped_total{what="demand_unanswered"}``."""

    memory: PollMemory
    today: date
    poller: str
    nums: list[str] = field(default_factory=list)
    _in_a_row: list[tuple[str, HubError]] = field(default_factory=list)

    def failed(self, num: str, before: Unread | None, exc: HubError) -> None:
        """``num``'s read failed on transport (``before``: left unread by an earlier
        pass). Raises :class:`SneUnavailable` when that blames the SNE."""
        if before is not None:
            self._leave(num, before, exc)
            return
        self._in_a_row.append((num, exc))
        if len(self._in_a_row) >= SNE_DOWN_AFTER:
            count = len(self._in_a_row)
            self.answered()  # unread all the same: at the next pass, read last (module doc)
            raise SneUnavailable(
                f"SNE down: the reads of {count} demands in a row failed "
                f"(last: {one_line(exc.message)})"
            )

    def answered(self) -> None:
        """A read got an answer (or the pass ended): leave the demands failed before it
        unread."""
        for num, exc in self._in_a_row:
            self._leave(num, None, exc)
        self._in_a_row.clear()

    def _leave(self, num: str, before: Unread | None, exc: HubError) -> None:
        now = self.memory.leave_unread(num, before, exc.code, self.today)
        recorder.sne_poll_skipped(self.poller, "demand_unanswered")
        self.nums.append(num)
        log.warning(
            "SNE poller: demand %s not read, the SNE not answering for it (%s); unread since "
            "%s (%d pass(es)), read again at the next pass",
            num, one_line(exc.message), now.since, now.passes,
        )  # fmt: skip

    def line(self) -> str | None:
        """The pass's incomplete line for them, None if there are none."""
        if not self.nums:
            return None
        shown = ", ".join(self.nums[:5])
        more = f" and {len(self.nums) - 5} more" if len(self.nums) > 5 else ""
        return (
            f"{len(self.nums)} demand(s) not read, the SNE not answering for them (timeout "
            f"or connection failure): {shown}{more}; read again at the next pass"
        )
