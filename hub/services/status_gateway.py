"""``hub status``'s part on the records the SOAP gateway owes Kafka (issue: the gateway's
Kafka failures), read from the database (``sne_gateway_unpublished``), so shown when the
broker is down too, which is when they pile up.

:func:`read` fills ``gateway_unpublished`` (owed, not refused) and the age of the oldest,
``gateway_refused`` (refused by Kafka for good, set aside) and the first
:data:`~hub.services.status_model.REFUSED_SHOWN` of them with their error; a database it
cannot read (down, not migrated to 0010) leaves them None with a line in ``problems``.
"""

from __future__ import annotations

from hub.core.settings import HubSettings
from hub.services.status_model import REFUSED_SHOWN, RefusedRecord, Status


def read(settings: HubSettings, status: Status) -> None:
    """Fill ``status``'s gateway part (module doc); never raises."""
    from connectors.sne.gateway.owed_store import OwedStore
    from hub.core.db import make_engine

    try:
        store = OwedStore(make_engine(settings.database_url))
        count, oldest, refused = store.summary()
        shown = store.refused(REFUSED_SHOWN) if refused else []
    except Exception as exc:  # the database down or never migrated: reported, not raised
        status.problems.append(f"SOAP gateway: {str(exc).splitlines()[0][:300]}")
        return
    now_s = status.generated_at_ms / 1000
    status.gateway_unpublished, status.gateway_refused = count, refused
    if oldest is not None:
        status.gateway_unpublished_age_s = round(max(0.0, now_s - oldest.timestamp()), 1)
    status.gateway_refused_records = [
        RefusedRecord(
            o.record.topic,
            o.record.num_unique,
            o.record.event_id,
            o.record.operation,
            o.last_error or "",
            int((o.refused_at or o.stored_at).timestamp() * 1000),
            len(o.record.value),
        )
        for o in shown
    ]
