"""``hub db``: the schema revision of the hub's database (``HUB_DATABASE__URL``), and the
steps of a rollback (docs/operations.md, "Rollback").

Every service migrates the database to its release's latest revision at start; a release
started on a database a newer release migrated stops with one line naming the command
to run, with the newer release, before it: ``hub db downgrade <its latest revision>``.
Registered on ``hub`` by being imported (hub.cli._register).
"""

from __future__ import annotations

import click

from hub.cli import main
from hub.core.settings import get_settings


def _url() -> str:
    settings = get_settings()
    settings.private_dir(settings.home)  # an embedded SQLite database lives there
    return settings.database_url


@main.group("db")
def db() -> None:
    """The database's schema revision: show it, move it up or down (rollback)."""


@db.command("current")
def current_cmd() -> None:
    """The database's revision, and the latest this release knows."""
    from hub.core.db import current, release_head

    rev, head = current(_url()), release_head()
    if rev is None:
        click.echo(f"database: no schema yet (this release creates it up to {head})")
    elif rev == head:
        click.echo(f"database: {rev} (the latest this release knows)")
    else:
        click.echo(f"database: {rev} (this release knows up to {head}; 'hub db upgrade' or "
                   "any service's start moves it there)")  # fmt: skip


@db.command("history")
def history_cmd() -> None:
    """This release's revisions, oldest first; the database's is marked."""
    from hub.core.db import current, release_revisions

    rev = current(_url())
    for known in release_revisions():
        click.echo(known + ("  <- database" if known == rev else ""))


@db.command("upgrade")
@click.argument("revision", default="head")
def upgrade_cmd(revision: str) -> None:
    """Upgrade the database to REVISION (default: the latest this release knows), as a
    service does at start."""
    from hub.core.db import upgrade

    before, after = upgrade(_url(), revision)
    if before == after:
        click.echo(f"database: already at {after}")
    else:
        click.echo(f"database: {before or 'no schema'} -> {after}")


@db.command("downgrade")
@click.argument("revision")
def downgrade_cmd(revision: str) -> None:
    """Step the database down to REVISION, the latest revision of the release to roll
    back to (it names it when it refuses to start). One transaction: a step that refuses
    (it would lose data the older schema cannot hold) leaves the database unchanged."""
    from hub.core.db import downgrade

    before, after = downgrade(_url(), revision)
    if before == after:
        click.echo(f"database: already at {after}")
    else:
        click.echo(f"database: {before} -> {after}; start the release that ends at {after}")
