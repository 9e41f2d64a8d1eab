"""Authorization rules of the API beyond "the actor holds the demand"
(:mod:`hub.stores.access.holders`).

* :func:`claimed_by_others`: a creation (CRE/CRS) makes its submitter a holder, so it must
  not name a demand the hub already knows as someone else's — otherwise any actor could
  gain access to (and overwrite) another actor's demand by "creating" its numéro again.
  Known means: held by another actor in the ``api_holders`` projection, or carrying
  gestion partagée events. A numéro the API has never seen (no holder has called the API,
  no GP event) is not detected here: the hub keeps no registry of every numéro outside
  the dispatch worker's state (see docs/api.md, "Authorization model"). The check and
  the creator's claim are one atomic step (:meth:`~hub.stores.access.holders.Holders.claim`):
  of two actors creating one new numéro at once, one becomes its holder, the other is
  refused as a later creator would be.
* :func:`audit_needs_holding`: ``GET /audit?numUnique=`` by a non-``etat`` actor needs the
  demand to be held, so the audit answers 403 on out-of-scope demands like every other
  per-demand read (it used to answer 200 with the caller's own, empty, deliveries).
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, select

from hub.core.db import transient_db_errors
from hub.domain.actors import Actor
from hub.stores.access.tables import api_holders
from hub.stores.gp.tables import gp_events


def claimed_by_others(engine: Engine, actor_id: str, num_unique: str) -> bool:
    """Whether the API knows ``num_unique`` as a demand of someone other than ``actor_id``
    (:func:`claimed`, read once: a pre-check; the claim itself re-checks under its lock,
    :meth:`~hub.stores.access.holders.Holders.claim`)."""
    with transient_db_errors(), engine.connect() as conn:
        return claimed(conn, actor_id, num_unique)


def claimed(conn: Connection, actor_id: str, num_unique: str) -> bool:
    """Whether ``num_unique`` is known as a demand of someone other than ``actor_id``,
    read in ``conn``'s transaction (module doc)."""
    held = (
        select(api_holders.c.actor_id)
        .where(api_holders.c.num_unique == num_unique, api_holders.c.actor_id != actor_id)
        .limit(1)
    )
    mine = (
        select(api_holders.c.actor_id)
        .where(api_holders.c.num_unique == num_unique, api_holders.c.actor_id == actor_id)
        .limit(1)
    )
    events = select(gp_events.c.seq).where(gp_events.c.num_unique == num_unique).limit(1)
    if conn.execute(mine).first() is not None:
        return False  # a holder may send its creation again (idempotent resubmission)
    return conn.execute(held).first() is not None or conn.execute(events).first() is not None


def audit_needs_holding(actor: Actor, num_unique: str | None) -> bool:
    """Whether an audit query must be refused unless the caller holds ``num_unique``: any
    query by numéro from a non-``etat`` actor (the ``etat`` administrator sees all)."""
    return num_unique is not None and actor.kind != "etat"
