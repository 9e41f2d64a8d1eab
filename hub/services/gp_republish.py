"""``hub api``'s republisher: publishes the gestion partagée events that were stored but
not acknowledged by Kafka (a 503 answered, a crash between store and acknowledgement), at
startup and every ``api.republish_interval_s``, so that none waits for a client's retry.

Each pass publishes what is owed, demand by demand (the demand owing longest first), in
store order per demand (:meth:`hub.stores.gp.publication.Publication.republish`), until
nothing is owed or a publication fails (Kafka still down: one warning, the next pass tries
again). It then sets the gauge ``passerelle_gp_unpublished_events``. The task never ends
on an error, only when cancelled (the app's shutdown).
"""

from __future__ import annotations

import asyncio
import logging

from hub.core.errors import HubError
from hub.stores.gp.service import GPService
from monitoring import recorder

log = logging.getLogger(__name__)
#: most rounds of :meth:`GPService.republish` (100 demands each) in one pass: a pass ends,
#: and the gauge is set, even if owed events were to keep coming back
MAX_ROUNDS = 100


async def republish_once(gp: GPService) -> int:
    """One pass (module doc); how many events it published."""
    sent = 0
    try:
        for _ in range(MAX_ROUNDS):
            n = await gp.republish()
            if not n:
                break
            sent += n
    except HubError as exc:
        log.warning("gestion partagée: %d owed event(s) published, the rest waits (%s)",
                    sent, exc.message)  # fmt: skip
    except Exception:  # a bug must not stop the republisher for good: logged, tried again
        log.exception("gestion partagée: republishing failed")
    else:
        if sent:
            log.info("gestion partagée: %d owed event(s) published", sent)
    try:
        count, _oldest = await asyncio.to_thread(gp.store.unpublished_summary)
        recorder.gp_unpublished(count)
    except HubError:
        pass  # the database is down: the gauge keeps its last value
    return sent


async def republish_forever(gp: GPService, interval_s: float) -> None:
    """:func:`republish_once` now, then every ``interval_s`` seconds, until cancelled."""
    while True:
        await republish_once(gp)
        await asyncio.sleep(interval_s)
