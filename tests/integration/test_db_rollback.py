"""Rolling a release back over a schema change (independent audit G, G5), on SQLite and the
real PostgreSQL, with the ``hub`` command an operator runs:

* a release started on a database a newer release migrated stops with one line naming
  the database's revision, the last one it knows and ``hub db downgrade <that one>``,
  and leaves the database untouched (it used to die on alembic's "Can't locate revision");
* ``hub db downgrade`` steps the database down to the previous release's last revision,
  the previous release (its migrations only) then starts on it, and ``hub db upgrade``
  brings it forward again;
* a downgrade step that refuses (``0011_audit_closed`` with records closed undelivered in
  the audit) leaves the database exactly as it was: one transaction on both backends.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from hub.core.db import (
    MIGRATIONS_DIR,
    SchemaTooNewError,
    alembic_config,
    current,
    migrate,
    release_head,
    release_revisions,
    write_transaction,
)
from hub.services.purge import purge_sql
from hub.stores.audit import chain
from hub.stores.gp.store import GPStore
from tests.integration.test_gp_unpublished_migration import _record
from tests.support.demandes import new_num_unique

NEWER = "0099_from_a_newer_release"
#: the release rolled back to: the last one before the GP purge's marks (0012), whose
#: absence the rollback test checks; every later step (0012, 0013 ...) goes down on the way
PREVIOUS = "0011_audit_closed"


def hub(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from hub.cli import main; main()", *args],
                          env=env, capture_output=True, text=True, timeout=120)  # fmt: skip


def one_line_error(res: subprocess.CompletedProcess[str]) -> str:
    assert res.returncode == 1, (res.stdout, res.stderr)
    assert "Traceback" not in res.stderr, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    return lines[0]


@pytest.fixture
def db(migrated_db: tuple[str, Engine], tmp_path: Path) -> tuple[Engine, dict[str, str]]:
    """A database at this release's head, and the environment of a ``hub`` using it."""
    url, engine = migrated_db
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(HUB_HOME=str(tmp_path / "home"), HUB_DATABASE__URL=url)
    return engine, env


def _version(engine: Engine) -> str:
    with engine.connect() as conn:
        return str(conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one())


def _gp_event(engine: Engine) -> str:
    num = new_num_unique()
    GPStore(engine).append(_record(f"gp-{num}", num))
    return num


def test_a_start_on_a_newer_schema_is_one_line_naming_the_way_down(
    db: tuple[Engine, dict[str, str]],
) -> None:
    engine, env = db
    head = release_head()
    with engine.begin() as conn:  # what a newer release's migrate leaves
        conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": NEWER})
    with pytest.raises(SchemaTooNewError) as raised:
        migrate(engine)
    message = raised.value.message
    assert NEWER in message and f"up to {head}" in message
    assert message.endswith(f"hub db downgrade {head}")
    for start in (("actors", "list"), ("db", "current"), ("db", "upgrade")):
        assert one_line_error(hub(env, *start)) == f"Error: {message}"
    assert _version(engine) == NEWER  # untouched


def _previous_release_starts(engine: Engine, tmp_path: Path, previous: str) -> None:
    """What the previous image does at start: upgrade to the head of ITS migrations (this
    release's without the revisions after ``previous``)."""
    old = tmp_path / "previous" / "migrations"
    shutil.copytree(MIGRATIONS_DIR, old, ignore=shutil.ignore_patterns("__pycache__"))
    script = ScriptDirectory.from_config(alembic_config())
    for rev in release_revisions()[release_revisions().index(previous) + 1 :]:
        path = script.get_revision(rev).path
        (old / "versions" / Path(path).name).unlink()
    cfg = Config()
    cfg.set_main_option("script_location", str(old))
    with write_transaction(engine) as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def test_rollback_to_the_previous_release_and_forward_again(
    db: tuple[Engine, dict[str, str]], tmp_path: Path
) -> None:
    engine, env = db
    head, previous = release_revisions()[-1], PREVIOUS
    num = _gp_event(engine)

    res = hub(env, "db", "downgrade", previous)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == (f"database: {head} -> {previous}; "
                                  f"start the release that ends at {previous}")  # fmt: skip
    assert hub(env, "db", "current").stdout.startswith(f"database: {previous} (")
    _previous_release_starts(engine, tmp_path, previous)
    assert _version(engine) == previous
    assert "gp_purge_marks" not in inspect(engine).get_table_names()
    with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
        conn.execute(text("DELETE FROM gp_events WHERE num_unique = :n"), {"n": num})
    assert GPStore(engine).timeline(num) != []  # the data went down with the schema

    res = hub(env, "db", "upgrade")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"database: {previous} -> {head}"
    assert current(engine) == head
    assert purge_sql(env["HUB_DATABASE__URL"], [num])["gp_events"] == 1


def test_a_refused_downgrade_leaves_the_database_as_it_was(
    db: tuple[Engine, dict[str, str]],
) -> None:
    engine, env = db
    head = release_head()
    num = _gp_event(engine)
    closed = {"actor_id": "erp-7", "num_unique": num, "demande_version": 1, "channel": "soap",
              "profile": "consultant_demande", "kind": "DEMANDE", "at": datetime.now(UTC),
              "outcome": "unsent", "reason": "actor_removed"}  # fmt: skip
    with write_transaction(engine) as conn:
        chain.append(conn, [closed])

    line = one_line_error(hub(env, "db", "downgrade", "0010_gateway_unpublished"))
    assert "downgrade to 0010_gateway_unpublished refused" in line
    assert f"still at {head}" in line and "closed undelivered" in line
    # nothing changed, 0013's and 0012's steps included (they ran before 0011 refused)
    assert _version(engine) == head
    columns = {c["name"] for c in inspect(engine).get_columns("audit_deliveries")}
    assert {"outcome", "reason"} <= columns
    assert "gp_purge_marks" in inspect(engine).get_table_names()
    assert "enregistreur" in {c["name"] for c in inspect(engine).get_columns("actors")}
    assert chain.verify(engine).intact
    assert purge_sql(env["HUB_DATABASE__URL"], [num])["gp_events"] == 1
