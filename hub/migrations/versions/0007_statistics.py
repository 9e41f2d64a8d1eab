"""Territorial statistics (issue 20 point 5): the facts folded from hub.demandes, one row
per demand and one per (demand, wished EPCI) (see hub.stores.statistics.tables).

Revision ID: 0007_statistics
Revises: 0006_cotation
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_statistics"
down_revision: str | None = "0006_cotation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stat_demandes",
        sa.Column("num_unique", sa.String(40), primary_key=True),
        sa.Column("commune", sa.String(5), nullable=True),
        sa.Column("epci", sa.String(9), nullable=True),
        sa.Column("departement", sa.String(3), nullable=True),
        sa.Column("typologies", sa.String(64), nullable=False),
        sa.Column("date_creation", sa.Date(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("date_radiation", sa.Date(), nullable=True),
        sa.Column("motif_radiation", sa.String(10), nullable=True),
        sa.Column("ressources_uc", sa.Float(), nullable=True),
        sa.Column("last_partition", sa.Integer(), nullable=False),
        sa.Column("last_offset", sa.BigInteger(), nullable=False),
        sa.Column("recent_event_ids", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    for column in ("commune", "epci", "departement"):
        op.create_index(f"ix_stat_demandes_{column}", "stat_demandes", [column])
    op.create_table(
        "stat_demande_epcis",
        sa.Column("num_unique", sa.String(40), primary_key=True),
        sa.Column("epci", sa.String(9), primary_key=True),
        sa.Column("rang", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
    )
    op.create_index("ix_stat_demande_epcis_epci", "stat_demande_epcis", ["epci"])


def downgrade() -> None:
    op.drop_index("ix_stat_demande_epcis_epci", table_name="stat_demande_epcis")
    op.drop_table("stat_demande_epcis")
    for column in ("departement", "epci", "commune"):
        op.drop_index(f"ix_stat_demandes_{column}", table_name="stat_demandes")
    op.drop_table("stat_demandes")
