"""The gestion partagée events Kafka has not acknowledged yet (``gp_unpublished``).

Why: an event was stored, then published; when publishing failed (broker down, a record
refused) the client got 503 and the stored event stayed unpublished unless its author
re-sent the same ``eventId`` — impossible for an answer to a CAL decision (no client id)
and for a decision sent without ``decisionId``. The store now keeps, in the transaction
that stores an event, a row saying it is owed to ``hub.evenements``, deleted once Kafka
acknowledged it; ``hub api`` publishes what is owed (hub.stores.gp.publication).

Events stored before this revision were published by the code of their time, as far as
it knew: they start acknowledged (no row).

Revision ID: 0009_gp_unpublished
Revises: 0008_actor_published
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_gp_unpublished"
down_revision: str | None = "0008_actor_published"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gp_unpublished",
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("num_unique", sa.String(40), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_gp_unpublished"),
        sa.UniqueConstraint("seq", name="uq_gp_unpublished_seq"),
        sa.ForeignKeyConstraint(["seq"], ["gp_events.seq"], name="fk_gp_unpublished_seq_gp_events"),
    )
    op.create_index("ix_gp_unpublished_num_unique", "gp_unpublished", ["num_unique"])


def downgrade() -> None:
    op.drop_index("ix_gp_unpublished_num_unique", table_name="gp_unpublished")
    op.drop_table("gp_unpublished")
