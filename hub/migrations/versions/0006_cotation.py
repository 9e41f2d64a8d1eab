"""Cotation (issue 20 point 4): partners' declarations of grid criteria, and where each
actor's feed holds the latest snapshot of each demand (see hub.stores.cotation.tables).

Revision ID: 0006_cotation
Revises: 0005_audit_chain
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_cotation"
down_revision: str | None = "0005_audit_chain"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cotation_declarations",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("declaration_id", sa.String(64), nullable=True, unique=True),
        sa.Column("num_unique", sa.String(40), nullable=False),
        sa.Column("epci", sa.String(9), nullable=False),
        sa.Column("critere", sa.String(40), nullable=False),
        sa.Column("valeur", sa.Boolean(), nullable=False),
        sa.Column("auteur", sa.String(63), nullable=False),
        sa.Column("date_declaration", sa.Date(), nullable=False),
        sa.Column("commentaire", sa.String(500), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_cotation_declarations_demande", "cotation_declarations", ["num_unique", "epci"]
    )
    op.create_table(
        "api_snapshot_offsets",
        sa.Column("actor_id", sa.String(63), primary_key=True),
        sa.Column("num_unique", sa.String(40), primary_key=True),
        sa.Column("feed_offset", sa.BigInteger(), nullable=False),
        sa.Column("demande_version", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "api_snapshot_cursors",
        sa.Column("actor_id", sa.String(63), primary_key=True),
        sa.Column("next_offset", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("api_snapshot_cursors")
    op.drop_table("api_snapshot_offsets")
    op.drop_index("ix_cotation_declarations_demande", table_name="cotation_declarations")
    op.drop_table("cotation_declarations")
