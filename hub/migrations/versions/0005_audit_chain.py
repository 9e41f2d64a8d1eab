"""Tamper-evident, append-only audit (issue 7): the hash chain columns of
``audit_deliveries`` (hub.stores.audit.chain), filled for the rows already there in ``seq``
order, then made NOT NULL; and triggers refusing UPDATE and DELETE (and TRUNCATE on
PostgreSQL) on the table.

The triggers are created last, after the backfill, which is the only update the table
ever gets. On SQLite a batch ("move and copy") migration of this table would drop them:
a later migration that rebuilds it must create them again (:func:`create_triggers`).

Revision ID: 0005_audit_chain
Revises: 0004_audit_kafka
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from hub.stores.audit.chain import FIELDS, GENESIS, row_hash

revision: str = "0005_audit_chain"
down_revision: str | None = "0004_audit_kafka"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "audit_deliveries"
_rows = sa.table(
    TABLE,
    sa.column("seq", sa.Integer()),
    sa.column("actor_id", sa.String()),
    sa.column("num_unique", sa.String()),
    sa.column("demande_version", sa.Integer()),
    sa.column("channel", sa.String()),
    sa.column("profile", sa.String()),
    sa.column("kind", sa.String()),
    sa.column("at", sa.DateTime(timezone=True)),
    sa.column("event_id", sa.String()),
    sa.column("prev_hash", sa.String()),
    sa.column("row_hash", sa.String()),
)


def create_triggers() -> None:
    """The append-only guards (hub_append_only() exists since 0002 on PostgreSQL)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION hub_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE} "
            "FOR EACH STATEMENT EXECUTE FUNCTION hub_append_only()"
        )
        return
    for verb in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER {TABLE}_no_{verb.lower()} BEFORE {verb} ON {TABLE} "
            f"BEGIN SELECT RAISE(ABORT, 'append-only table {TABLE}'); END"
        )


def drop_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE}")
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_truncate ON {TABLE}")
        return
    for verb in ("update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_{verb}")


def _backfill() -> None:
    bind = op.get_bind()
    rows = (
        bind.execute(sa.select(_rows.c.seq, *(_rows.c[f] for f in FIELDS)).order_by(_rows.c.seq))
        .mappings()
        .all()
    )
    prev = GENESIS
    for row in rows:
        h = row_hash(row, prev)
        bind.execute(
            sa.update(_rows).where(_rows.c.seq == row["seq"]).values(prev_hash=prev, row_hash=h)
        )
        prev = h


def upgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        batch.add_column(sa.Column("prev_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("row_hash", sa.String(64), nullable=True))
    _backfill()
    with op.batch_alter_table(TABLE) as batch:
        batch.alter_column("prev_hash", existing_type=sa.String(64), nullable=False)
        batch.alter_column("row_hash", existing_type=sa.String(64), nullable=False)
    create_triggers()


def downgrade() -> None:
    drop_triggers()
    with op.batch_alter_table(TABLE) as batch:
        batch.drop_column("row_hash")
        batch.drop_column("prev_hash")
