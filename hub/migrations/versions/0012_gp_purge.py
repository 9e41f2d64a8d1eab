"""The purge may delete a purged demand's gestion partagée events; nothing else may.

Why: ``gp_events`` is append-only (migration 0002: triggers refuse UPDATE and DELETE), so
the events of a demand radiated or deleted more than a year ago — a ``commentaire`` and
``TXT`` characteristics, free text about the household — stayed in the hub for ever,
against the purge's rule (docs/reliability.md, "Personal-data hygiene").

How: the rows are **deleted**, through a marked path. ``gp_purge_marks`` holds the
numéros uniques the running purge is removing; the DELETE trigger lets a row go only when
its demand is marked, and refuses every other DELETE as before. Every UPDATE is still
refused, and on PostgreSQL TRUNCATE now is too (it bypasses row triggers). The purge
(hub.services.purge) writes the marks, deletes the demand's ``gp_unpublished`` rows (they
point at the events) and its events, then deletes the marks, all in one transaction:
outside a running purge the table is empty and the record is append-only as it was.

Why delete rather than redact: nothing needs the rows once the demand is gone. No hash
chain covers them (``audit_deliveries`` keeps the ids of what was delivered: the proof of
who received what); the demand's other stores (holders, outbox, dispatch state) go in
the same purge; a redacted row would still make the API see the demand as someone's
(hub.stores.access.scope) and answer a re-sent event with a conflict. A CAL decision's
other candidates keep their own ``DECISCAL`` rows, so the decision stays whole for the
CAL rules (hub.stores.cal.guard).

Same rule on both backends. SQLite: ``gp_events_no_delete`` gets a ``WHEN NOT EXISTS``
on the marks (``gp_events_no_update`` is untouched); a later batch migration rebuilding
``gp_events`` drops its triggers and must create them again (:func:`create_triggers`).
PostgreSQL: ``gp_events_append_only`` runs ``hub_gp_events_guard()`` (the audit's
triggers keep ``hub_append_only()``), plus ``gp_events_no_truncate``. A database owner
can still write a mark by hand or drop a trigger: the triggers stop mistakes and code
paths, not the table's owner (the same limit as the audit's, docs/audit.md).

The downgrade puts 0002's triggers back and drops the marks (empty outside a purge).

Revision ID: 0012_gp_purge
Revises: 0011_audit_closed
Create Date: 2026-12-11
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_gp_purge"
down_revision: str | None = "0011_audit_closed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "gp_events"
MARKS = "gp_purge_marks"
REFUSED = f"append-only table {TABLE}"


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def create_triggers() -> None:
    """The triggers of this revision on ``gp_events`` (module doc)."""
    if _postgresql():
        op.execute(
            "CREATE FUNCTION hub_gp_events_guard() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN IF TG_OP = 'DELETE' AND EXISTS (SELECT 1 FROM {MARKS} m "
            "WHERE m.num_unique = OLD.num_unique) THEN RETURN OLD; END IF; "
            "RAISE EXCEPTION 'append-only table %', TG_TABLE_NAME; END $$"
        )
        op.execute(
            f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION hub_gp_events_guard()"
        )
        op.execute(
            f"CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE} "
            "FOR EACH STATEMENT EXECUTE FUNCTION hub_append_only()"
        )
    else:
        op.execute(
            f"CREATE TRIGGER {TABLE}_no_delete BEFORE DELETE ON {TABLE} "
            f"WHEN NOT EXISTS (SELECT 1 FROM {MARKS} WHERE num_unique = OLD.num_unique) "
            f"BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END"
        )


def upgrade() -> None:
    op.create_table(
        MARKS,
        sa.Column("num_unique", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("num_unique", name="pk_gp_purge_marks"),
    )
    if _postgresql():
        op.execute(f"DROP TRIGGER {TABLE}_append_only ON {TABLE}")
    else:
        op.execute(f"DROP TRIGGER {TABLE}_no_delete")
    create_triggers()


def downgrade() -> None:
    if _postgresql():
        op.execute(f"DROP TRIGGER {TABLE}_no_truncate ON {TABLE}")
        op.execute(f"DROP TRIGGER {TABLE}_append_only ON {TABLE}")
        op.execute("DROP FUNCTION hub_gp_events_guard()")
        op.execute(  # 0002's trigger
            f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION hub_append_only()"
        )
    else:
        op.execute(f"DROP TRIGGER {TABLE}_no_delete")
        op.execute(  # 0002's trigger
            f"CREATE TRIGGER {TABLE}_no_delete BEFORE DELETE ON {TABLE} "
            f"BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END"
        )
    op.drop_table(MARKS)
