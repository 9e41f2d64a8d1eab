"""Cotation declarations record the life of the demand they were made for (independent
audit N, N9).

Why: ``cotation_declarations`` was keyed by (numéro, EPCI, criterion) only; after a ``SUP``
and a new ``CRE`` on the numéro the new demand was scored with the deleted demand's
declarations, in the feed and in the API. ``demande_creee`` (the ``dateCreationDemande``
of the snapshot the partner declared against) ties a declaration to its demand
(:mod:`hub.domain.cotation.lives`).

Rows already there read ``demande_creee`` NULL: the snapshot they were declared against is
not in the database (the API reads snapshots from the actors' feeds), so their life is
unknown, and they count for a demand created on or before the day they were declared —
what a declaration of the current demand always is; a demand created after a declaration
is not the one it was made for. The downgrade drops the column (every declaration then
counts for any demand on the numéro again, as before).

``ADD COLUMN`` / ``DROP COLUMN`` in place on both backends (SQLite ≥ 3.35), like 0013.

Revision ID: 0015_declaration_life
Revises: 0014_removed_actor_keys
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_declaration_life"
down_revision: str | None = "0014_removed_actor_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("cotation_declarations", sa.Column("demande_creee", sa.Date(), nullable=True))


def downgrade() -> None:
    op.drop_column("cotation_declarations", "demande_creee")
