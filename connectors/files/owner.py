"""Whose inbox a source is, and so which profile its files were written from (audit K, F2).

A legacy system delivered by file receives each demand cut to its actor's profile (the
DIS files of ``outbox/<actor id>``: docs/profiles.md); a modification it drops back into
an inbox is made from that cut copy, which lacks what the profile withholds. An inbox
source **named after a registered actor** (``inbox/<actor id>``) is that actor's: its
events carry the actor's profile, and the worker keeps, from the stored snapshot, what
that profile does not see (:func:`hub.domain.profiles.restore_withheld`) instead of
erasing it for everyone. Any other source carries no profile: its snapshots replace the
stored ones whole, as before (a registering office's own export, never cut).

:func:`source_profile` reads the registry at each pass (a profile changed since applies
from the next pass; a removed actor's inbox keeps its last profile: fails closed). A
registry that cannot be read raises :class:`~hub.core.errors.TransientError`: the pass
fails and is retried, the files wait where they are, as when Kafka is down.
"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from hub.core.db import make_engine, migrate
from hub.core.errors import NotFoundError, TransientError
from hub.core.settings import HubSettings
from hub.stores.registry.store import ActorStore

#: one engine per database, migrated once per process (a pass runs every few seconds)
_ENGINES: dict[str, Engine] = {}


def _engine(url: str) -> Engine:
    engine = _ENGINES.get(url)
    if engine is None:
        engine = make_engine(url)
        migrate(engine)
        _ENGINES[url] = engine
    return engine


def source_profile(settings: HubSettings, source: str) -> str | None:
    """The profile of the registered actor named ``source`` (removed ones included), or
    None when no actor has that id (module doc)."""
    try:
        store = ActorStore(_engine(settings.database_url))
        return store.get(source, include_deleted=True).profile
    except NotFoundError:
        return None
    except SQLAlchemyError as exc:
        raise TransientError(
            f"inbox {source!r}: the actor registry cannot be read ({type(exc).__name__})"
        ) from None
