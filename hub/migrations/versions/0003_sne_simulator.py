"""SNE simulator store and SNE poller memory (issue 3).

Revision ID: 0003_sne_simulator
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_sne_simulator"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sne_sim_demandes",
        sa.Column("num_unique", sa.String(18), nullable=False),
        sa.Column("guichet", sa.String(5), nullable=False),
        sa.Column("etat", sa.String(1), nullable=False),
        sa.Column("date_depot", sa.String(10), nullable=False),
        sa.Column("date_renouvellement", sa.String(10), nullable=True),
        sa.Column("date_radiation", sa.String(10), nullable=True),
        sa.Column("motif_radiation", sa.String(6), nullable=True),
        sa.Column("communes", sa.JSON(), nullable=False),
        sa.Column("identite", sa.String(64), nullable=False),
        sa.Column("dalo_declared_on", sa.String(10), nullable=True),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("document", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("num_unique", name="pk_sne_sim_demandes"),
    )
    op.create_table(
        "sne_sim_sequences",
        sa.Column("territoire", sa.String(3), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("territoire", name="pk_sne_sim_sequences"),
    )
    op.create_table(
        "sne_sim_evenements",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("num_unique", sa.String(18), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sne_sim_evenements"),
    )
    op.create_index("ix_sne_sim_evenements_num_unique", "sne_sim_evenements", ["num_unique"])
    op.create_table(
        "sne_poll_seen",
        sa.Column("num_unique", sa.String(18), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("event", sa.JSON(), nullable=False),
        sa.Column("seen_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("num_unique", name="pk_sne_poll_seen"),
    )
    op.create_table(
        "sne_poll_watermarks",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.String(64), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_sne_poll_watermarks"),
    )


def downgrade() -> None:
    op.drop_table("sne_poll_watermarks")
    op.drop_table("sne_poll_seen")
    op.drop_index("ix_sne_sim_evenements_num_unique", table_name="sne_sim_evenements")
    op.drop_table("sne_sim_evenements")
    op.drop_table("sne_sim_sequences")
    op.drop_table("sne_sim_demandes")
