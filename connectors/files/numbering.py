"""A valid inbox file made ready to publish: its event, numbered by the SNE first if it is a
creation without numéro unique — and registered at the SNE once, whatever happens next.

A legacy system dropping files cannot call the SNE itself, so the inbox has its new
demands numbered like every other ingress (docs/connectors-soap.md, "Creations the SNE has
not numbered yet"). Registering is not idempotent: the same applicant registered again is
refused as a DOUBLON. Hence the two rules of :func:`ready`:

* the SNE is asked only when the file's batch is about to be published (never while the
  files are examined), and only if no number is known for the file's bytes;
* the number the SNE answers is written to the inbox journal (keyed by the file's
  SHA-256, fsynced) before the batch is published, so a later attempt — Kafka failed or
  timed out, the process died — publishes under that number without calling the SNE.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

from connectors.files.inbox import PUBLISHED, REJECTED, REPORT_REASONS, Outcome, internal_error
from connectors.files.journal import Journal
from connectors.ingress.publishing import Checked, PreparedEvent
from connectors.sne.numbering import needs_number, number
from hub.core.errors import InputError, TransientError
from hub.domain.decisions import validate_event
from schemas import get_codec

log = logging.getLogger(__name__)


@dataclass(slots=True)
class SneState:
    """What one pass learnt of the SNE: once unreachable, it is not asked again in that
    pass (each call would wait for the client's retries)."""

    down: bool = False


def ready(outcome: Outcome, journal: Journal, sne: SneState, *, ask: bool = True) -> Outcome | None:
    """``outcome`` with its :attr:`Outcome.prepared` event (module contract); a rejected
    outcome as is. ``ask``: whether the SNE may be called (False for a file whose event
    Kafka already acknowledged: it is only moved, under the number journaled if any).
    Returns a rejected outcome if the SNE refuses the creation (``sne_refused``) and None
    if the SNE cannot be reached now (the file waits for a later pass)."""
    checked = outcome.checked
    if outcome.status != PUBLISHED or checked is None:
        return outcome
    try:
        if not needs_number(checked.event):
            prepared = PreparedEvent(checked.event["numUnique"].encode(), checked.value,
                                     checked.event)  # fmt: skip
            return dataclasses.replace(outcome, prepared=prepared)
        num = journal.number_of(outcome.sha256)
        if num is None and ask:
            if sne.down:
                return None
            num = _register(outcome, checked, journal, sne)
            if num is None:
                return None
        if num is None:  # acknowledged before numbers were journaled: only moved
            return outcome
        return dataclasses.replace(outcome, prepared=with_number(checked, num))
    except InputError as exc:
        reason = REPORT_REASONS.get(exc.code, exc.code)
        return dataclasses.replace(outcome, status=REJECTED, reason=reason,
                                   message=exc.message, checked=None)  # fmt: skip
    except OSError:
        raise  # the journal cannot be written: the pass fails, the file stays
    except Exception as exc:  # a bug must not stop the inbox nor lose the file
        log.exception("unexpected error numbering an inbox file")
        return internal_error(outcome.candidate, outcome.sha256, exc)


def _register(outcome: Outcome, checked: Checked, journal: Journal, sne: SneState) -> str | None:
    """The SNE's number for a creation, journaled; None if the SNE is unreachable."""
    try:
        num = str(number(checked.event, checked.document)["numUnique"])
    except TransientError as exc:
        sne.down = True
        log.warning("inbox file %s left for a later pass: %s", outcome.candidate.name, exc.code)
        return None
    # before anything else: whatever fails from here on, this file keeps this number
    journal.add_number(outcome.sha256, outcome.candidate.path.name, num)
    return num


def with_number(checked: Checked, num: str) -> PreparedEvent:
    """The event of ``checked`` keyed by ``num``, set on the event and on its snapshot as
    :func:`connectors.sne.numbering.number` sets the SNE's answer; encoded and validated
    again (:class:`InputError` if it does not pass)."""
    event: dict[str, Any] = checked.event
    demande = event.get("demande") or {}
    dl = {**(demande.get("demandeLogement") or {}), "numUnique": num}
    event = {**event, "numUnique": num, "demande": {**demande, "demandeLogement": dl}}
    value = get_codec().encode("DemandeEvent", event)
    validate_event(event)
    return PreparedEvent(key=num.encode(), value=value, event=event)
