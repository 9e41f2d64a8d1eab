"""The API keys of actors removed before this release are revoked (independent audit K, F11).

Why: ``hub actors remove`` left an actor's keys unrevoked; they did not authenticate
while it was removed, and worked again as soon as its id was registered again — by the
same organisation or by another one. Removing an actor now revokes its keys
(:meth:`hub.stores.registry.store.ActorStore.remove_or_resend`); this revision does the
same for the actors that were removed before it, so that a later re-registration of
their ids starts without keys too. The keys of registered actors are left alone.

The downgrade changes nothing: a revocation is not undone (the earlier code reads a
revoked key as revoked, which is what it always did for a removed actor's keys).

Revision ID: 0014_removed_actor_keys
Revises: 0013_actor_enregistreur
Create Date: 2026-12-12
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0014_removed_actor_keys"
down_revision: str | None = "0013_actor_enregistreur"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.get_bind().execute(
        sa.text(
            "UPDATE api_keys SET revoked_at = :now WHERE revoked_at IS NULL AND actor_id IN "
            "(SELECT id FROM actors WHERE deleted_at IS NOT NULL)"
        ),
        {"now": datetime.now(UTC)},
    )


def downgrade() -> None:
    """Nothing to undo (module doc)."""
