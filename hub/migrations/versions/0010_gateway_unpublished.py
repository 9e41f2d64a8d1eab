"""The SOAP gateway's records owed to Kafka (``sne_gateway_unpublished``).

Why: once the SNE accepted an ERP's call, the gateway published the resulting record
(a demand event, a gestion partagée event) and, when Kafka failed at that moment, only
logged it: the record was lost for every actor. The gateway now writes each such record
here before answering the ERP and deletes the row once Kafka acknowledged it; it
publishes what is owed at startup and periodically (connectors.sne.gateway.owed).

Nothing is owed when this revision is applied: the table starts empty.

Revision ID: 0010_gateway_unpublished
Revises: 0009_gp_unpublished
Create Date: 2026-12-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_gateway_unpublished"
down_revision: str | None = "0009_gp_unpublished"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sne_gateway_unpublished",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("topic", sa.String(64), nullable=False),
        sa.Column("num_unique", sa.String(40), nullable=False),
        sa.Column("record_key", sa.LargeBinary(), nullable=False),
        sa.Column("record_value", sa.LargeBinary(), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("operation", sa.String(40), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(300), nullable=True),
        sa.Column("refused_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("seq", name="pk_sne_gateway_unpublished"),
    )
    op.create_index(
        "ix_sne_gateway_unpublished_num_unique", "sne_gateway_unpublished", ["num_unique"]
    )


def downgrade() -> None:
    op.drop_index("ix_sne_gateway_unpublished_num_unique", table_name="sne_gateway_unpublished")
    op.drop_table("sne_gateway_unpublished")
