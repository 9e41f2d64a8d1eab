"""Records closed without being delivered, in the audit chain: ``outcome`` and ``reason``.

Why: a push or file channel closes some records without delivering them — the receiver
refused one with a SOAP Fault, a record XML cannot hold, the undelivered records of an
actor removed from the registry. Their only trace was the outbox row's ``last_error``
(or a log line); the audit trail now records each with ``outcome`` (``refused``: the
receiver got it and refused it; ``unsent``: nothing of it left the hub) and a short
``reason`` code. Both stay NULL for a delivery, so every row written before this
revision is a delivery and verifies unchanged (the chain hashes them only when
``outcome`` is set: hub.stores.audit.chain).

``ADD COLUMN`` on both backends: the SQLite table is not rebuilt, its append-only
triggers stay.

Revision ID: 0011_audit_closed
Revises: 0010_gateway_unpublished
Create Date: 2026-12-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_audit_closed"
down_revision: str | None = "0010_gateway_unpublished"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("audit_deliveries", sa.Column("outcome", sa.String(16), nullable=True))
    op.add_column("audit_deliveries", sa.Column("reason", sa.String(40), nullable=True))


def downgrade() -> None:
    # a closed row's hash covers its outcome and reason: dropping them would break the chain
    closed = (
        op.get_bind()
        .execute(sa.text("SELECT count(*) FROM audit_deliveries WHERE outcome IS NOT NULL"))
        .scalar_one()
    )
    if closed:
        raise RuntimeError(
            f"{closed} audit row(s) record records closed undelivered: their hashes cover "
            "outcome and reason, so this downgrade would break the audit chain"
        )
    op.drop_column("audit_deliveries", "reason")  # SQLite >= 3.35: no rebuild, triggers kept
    op.drop_column("audit_deliveries", "outcome")
