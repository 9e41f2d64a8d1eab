"""Actor registry: current actors and their append-only change log.

Revision ID: 0001_actors
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_actors"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "actors",
        sa.Column("id", sa.String(63), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("profile", sa.String(32), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("delivery_channel", sa.String(16), nullable=False),
        sa.Column("delivery_options", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_actors"),
    )
    op.create_table(
        "actor_changes",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("actor_id", sa.String(63), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("change", sa.String(8), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("registration", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_actor_changes"),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["actors.id"], name="fk_actor_changes_actor_id_actors"
        ),
        sa.UniqueConstraint("actor_id", "version", name="uq_actor_changes_actor_id_version"),
        sa.CheckConstraint("change IN ('add', 'update', 'remove')", name="ck_actor_changes_change"),
    )


def downgrade() -> None:
    op.drop_table("actor_changes")
    op.drop_table("actors")
