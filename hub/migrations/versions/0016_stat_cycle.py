"""The statistics' facts keep the renewal cycle of a demand (independent review O, O1).

Why: the fold decided whether a change of a radiated demand may bring it back
(:func:`hub.domain.decisions.check_revival`: 18 months after the cycle's start for
``RADREN``) from the *incoming* event's snapshot, while the dispatch worker decides from
the radiated state it holds: a ``REN`` sent after the 18 months carrying its own renewal
date was refused by the worker and folded active by the statistics.

``stat_demandes`` gains ``renouvellement`` (the renewal token the worker's clock keeps
after the demand's last folded event, :func:`hub.domain.renewal.renewal_tokens`; ``''``
when it keeps none) and ``debut_cycle`` (the cycle's start as the worker reckons it,
:func:`hub.domain.decisions.cycle_start`: that renewal date, else the creation date).

Rows already there read both NULL: their cycle is unknown (the facts kept no renewal
date), and the fold decides for them as before — from the incoming event's snapshot
(docs/statistics.md, "Refused records") — until their next folded event writes them
again. The downgrade drops the columns (the fold then decides as before for every row).

``ADD COLUMN`` / ``DROP COLUMN`` in place on both backends (SQLite ≥ 3.35), like 0015.

Revision ID: 0016_stat_cycle
Revises: 0015_declaration_life
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_stat_cycle"
down_revision: str | None = "0015_declaration_life"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("stat_demandes", sa.Column("renouvellement", sa.Text(), nullable=True))
    op.add_column("stat_demandes", sa.Column("debut_cycle", sa.Date(), nullable=True))


def downgrade() -> None:
    op.drop_column("stat_demandes", "debut_cycle")
    op.drop_column("stat_demandes", "renouvellement")
