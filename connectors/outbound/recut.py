"""What a push or file channel sends is cut to the actor's profile *now* (independent
audit F1).

The push outbox holds each feed record as the dispatcher cut it
(:mod:`connectors.outbound.pump`), and a DIS outbox reads it from the feed as it was
written (:mod:`connectors.outbound.file`); both may send it long after it was written (a
receiver down for hours, a file actor run by cron), after the actor's profile was lowered.
So each channel looks the actor's profile up in the registry when it sends
(:func:`current_profile`, once per batch it sends) and cuts every record to it
(:func:`hub.domain.recut.recut`: never more than that profile allows, never more than the
record's own cut):

* :func:`cut_batch`: outbox records as a push channel sends them — the JSON body cut and
  serialized again as :func:`record_body` writes it, or the very record (same bytes) when
  nothing is cut — so that the webhook's signature, the SOAP envelope and the audit row
  (its ``profile``: the one applied) are those of what is actually sent;
* the DIS outbox cuts its decoded records with :func:`hub.domain.recut.recut` itself.

:func:`current_profile` reads the ``actors`` table of the database the registry and the
push outbox share (one primary-key read): the registry's profile of the actor; None when
the registry holds it removed (nothing is sent: its outbox records are closed by the
removed-actor sweep, :mod:`hub.stores.delivery.removed`; its DIS outbox stops); the
profile of the :class:`~hub.domain.actors.Actor` given when the registry never held it (a
caller serving an actor of its own: tests, benches). A profile this version does not know
counts as the narrowest. A database outage raises
:class:`~hub.core.errors.TransientError`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import InterfaceError, OperationalError

from hub.core.errors import TransientError
from hub.domain.actors import Actor
from hub.domain.profiles import PROFILES
from hub.domain.recut import recut
from hub.stores.delivery.outbox import Pending
from hub.stores.registry.tables import ActorRow


def current_profile(engine: Engine, actor: Actor) -> str | None:
    """The profile ``actor`` has in the registry now (module doc)."""
    a = ActorRow.__table__
    try:
        with engine.connect() as conn:
            row = conn.execute(
                select(a.c.profile, a.c.deleted_at).where(a.c.id == actor.id)
            ).first()
    except (OperationalError, InterfaceError) as exc:
        raise TransientError(f"actor registry unavailable ({type(exc.orig).__name__})") from None
    if row is None:
        return actor.profile
    if row.deleted_at is not None:
        return None
    return row.profile if row.profile in PROFILES else PROFILES[0]


def cut_batch(batch: Sequence[Pending], profile: str) -> tuple[list[Pending], list[dict[str, Any]]]:
    """``batch`` (outbox records) as ``profile`` may receive them (module doc), in order,
    and the FeedRecord each of them now holds (decoded once: the caller audits from it)."""
    out: list[Pending] = []
    records: list[dict[str, Any]] = []
    for p in batch:
        record = json.loads(p.body)
        cut = recut(record, profile)
        out.append(p if cut is record else replace(p, body=record_body(cut)))
        records.append(cut)
    return out, records


def record_body(record: dict[str, Any]) -> bytes:
    """The outbox body of a decoded FeedRecord (its offset removed): canonical JSON."""
    return json.dumps(record, ensure_ascii=False, sort_keys=True).encode()
