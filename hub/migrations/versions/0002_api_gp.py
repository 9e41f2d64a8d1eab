"""API keys and holders, gestion partagée record, webhook outbox, delivery audit (issue 4).

``gp_events`` is append-only: triggers refuse UPDATE and DELETE on both backends.

Revision ID: 0002
Revises: 0001_actors
Create Date: 2025-01-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001_actors"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "gp_events",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("num_unique", sa.String(40), nullable=False),
        sa.Column("code", sa.String(10), nullable=False),
        sa.Column("catalogue_version", sa.String(32), nullable=False),
        sa.Column("date_survenance", sa.String(10), nullable=False),
        sa.Column("auteur", sa.String(63), nullable=False),
        sa.Column("recorded_at", TZ, nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.Column("a_publier", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_gp_events"),
        sa.UniqueConstraint("event_id", name="uq_gp_events_event_id"),
    )
    op.create_index("ix_gp_events_num_unique", "gp_events", ["num_unique"])
    op.create_table(
        "gp_catalogues",
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("version", name="pk_gp_catalogues"),
    )
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("actor_id", sa.String(63), nullable=False),
        sa.Column("salt", sa.LargeBinary(), nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("revoked_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("key_id", name="pk_api_keys"),
    )
    op.create_index("ix_api_keys_actor_id", "api_keys", ["actor_id"])
    op.create_table(
        "api_holders",
        sa.Column("actor_id", sa.String(63), nullable=False),
        sa.Column("num_unique", sa.String(40), nullable=False),
        sa.Column("since", TZ, nullable=False),
        sa.PrimaryKeyConstraint("actor_id", "num_unique", name="pk_api_holders"),
    )
    op.create_table(
        "api_feed_cursors",
        sa.Column("actor_id", sa.String(63), nullable=False),
        sa.Column("next_offset", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("actor_id", name="pk_api_feed_cursors"),
    )
    op.create_table(
        "webhook_outbox",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("actor_id", sa.String(63), nullable=False),
        sa.Column("feed_offset", sa.Integer(), nullable=False),
        sa.Column("num_unique", sa.String(40), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TZ, nullable=False),
        sa.Column("delivered_at", TZ, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name="pk_webhook_outbox"),
        sa.UniqueConstraint(
            "actor_id", "feed_offset", name="uq_webhook_outbox_actor_id_feed_offset"
        ),
    )
    op.create_index("ix_webhook_outbox_actor_id", "webhook_outbox", ["actor_id"])
    op.create_table(
        "audit_deliveries",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("actor_id", sa.String(63), nullable=False),
        sa.Column("num_unique", sa.String(40), nullable=False),
        sa.Column("demande_version", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("profile", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_deliveries"),
    )
    op.create_index("ix_audit_deliveries_actor_id", "audit_deliveries", ["actor_id"])
    op.create_index("ix_audit_deliveries_num_unique", "audit_deliveries", ["num_unique"])
    _append_only("gp_events")


def _append_only(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION hub_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'append-only table %', TG_TABLE_NAME; END $$"
        )
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION hub_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'append-only table {table}'); END"
            )


def downgrade() -> None:
    for table in (
        "audit_deliveries",
        "webhook_outbox",
        "api_feed_cursors",
        "api_holders",
        "api_keys",
        "gp_catalogues",
        "gp_events",
    ):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS hub_append_only()")
