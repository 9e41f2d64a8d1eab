"""The write right on demands: ``actors.enregistreur`` (independent audit K, F3).

Why: any actor holding a demand could modify, renew, radiate or delete it (and register
demands), whatever its kind and profile — a commune receiving demands for information
deleted one for everyone. The SNE's profiles are *read* profiles; writing is the
registering office's (*guichet enregistreur*). The registry now says which actors write
demands (:attr:`hub.domain.actors.Actor.enregistreur`).

Rows written before this revision get NULL: the default of their kind (true for
``bailleur`` and ``guichet``, false for the others), which is what the API and the SOAP
gateway apply from now on. Their history (``actor_changes.registration``) is left as
written: a registration without ``enregistreur`` reads as NULL too.

The downgrade drops the column: the earlier code has no write right to apply, and an
actor registered with ``enregistreur: true``/``false`` meanwhile loses that choice (its
history keeps it).

``ADD COLUMN`` / ``DROP COLUMN`` in place on both backends (SQLite ≥ 3.35): a batch copy
of ``actors`` would drop and re-create the table that ``actor_changes`` references, which
SQLite's foreign keys refuse once an actor has a history.

Revision ID: 0013_actor_enregistreur
Revises: 0012_gp_purge
Create Date: 2026-12-12
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_actor_enregistreur"
down_revision: str | None = "0012_gp_purge"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("actors", sa.Column("enregistreur", sa.Boolean(), nullable=True))


def downgrade() -> None:
    op.drop_column("actors", "enregistreur")
