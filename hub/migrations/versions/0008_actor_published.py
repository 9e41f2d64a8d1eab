"""The version of each actor last acknowledged on Kafka (``actors.published_version``).

Why: an actor saved while Kafka was down stayed unpublished, and registering it again
said "unchanged" without publishing it: the workers never learnt of it and it received
nothing. The registry now knows what Kafka got (hub.stores.registry.service).

Rows written before this revision were published by the code of their time, as far as it
knew: they start published at their current version.

Revision ID: 0008_actor_published
Revises: 0007_statistics
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_actor_published"
down_revision: str | None = "0007_statistics"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("actors") as batch:
        batch.add_column(sa.Column("published_version", sa.Integer(), nullable=True))
    op.execute("UPDATE actors SET published_version = version")


def downgrade() -> None:
    with op.batch_alter_table("actors") as batch:
        batch.drop_column("published_version")
