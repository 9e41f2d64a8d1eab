"""Audit of Kafka feed deliveries (issue 4): the source event id of a delivery, and a
unique index that makes recording a delivery twice a no-op.

``event_id`` stays NULL for the rows recorded before (API reads, webhooks): NULLs are
distinct in a unique index on both backends, so those rows are unaffected.

Revision ID: 0004_audit_kafka
Revises: 0003_sne_simulator
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_audit_kafka"
down_revision: str | None = "0003_sne_simulator"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("audit_deliveries", sa.Column("event_id", sa.String(64), nullable=True))
    op.create_index(
        "ix_audit_deliveries_delivery",
        "audit_deliveries",
        ["event_id", "kind", "actor_id", "channel"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("ix_audit_deliveries_delivery", table_name="audit_deliveries")
    with op.batch_alter_table("audit_deliveries") as batch:
        batch.drop_column("event_id")
