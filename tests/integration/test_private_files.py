"""Files holding personal data are owner-only (issue 19 point 9): 0600 files, 0700
folders, made by the real code under a permissive umask (022, as most systems have):

* the SQLite registry ``hub.db`` and its WAL/SHM files, ``HUB_HOME``;
* the dispatch worker's state store folder ``<HUB_HOME>/faust/...``;
* the file exchange: inbox ``done/``/``error/`` folders, reports and moved files, the
  journal and locks, DIS files of the outbox (on the shared broker: a feed topic of its
  own, one record written, the outbox run once).
"""

from __future__ import annotations

import asyncio
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from hub.core.db import make_engine, migrate
from hub.core.private import home_mode
from hub.core.settings import FilesSettings, HubSettings


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture(autouse=True)
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def test_sqlite_registry_owner_only(tmp_path: Path) -> None:
    settings = HubSettings(home=tmp_path / "home")
    engine = make_engine(settings.database_url)
    migrate(engine)
    with engine.begin() as conn:  # a write: the WAL and SHM files exist now
        conn.execute(text("CREATE TABLE IF NOT EXISTS probe (x TEXT)"))
        conn.execute(text("INSERT INTO probe VALUES ('donnée')"))
    db = settings.home / "hub.db"
    sides = [db.with_name("hub.db-wal"), db.with_name("hub.db-shm")]
    assert all(p.exists() for p in sides)
    assert {p.name: oct(mode(p)) for p in [db, *sides]} == {
        p.name: oct(0o600) for p in [db, *sides]}
    assert mode(settings.home) == 0o700
    engine.dispose()

    # a database created before the rule is tightened when next opened
    db.chmod(0o644)
    make_engine(settings.database_url).dispose()
    assert mode(db) == 0o600


def test_folders_outside_the_hub_keep_their_mode(tmp_path: Path) -> None:
    """A database in a shared folder (``/tmp``-like): the file is owner-only, the folder
    is not the hub's to change."""
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o1777)
    engine = make_engine(f"sqlite:///{shared / 'x.db'}")
    migrate(engine)
    engine.dispose()
    assert oct(mode(shared)) == oct(0o1777)
    assert oct(mode(shared / "x.db")) == oct(0o600)


def test_home_and_worker_state_owner_only(tmp_path: Path) -> None:
    from dispatch.runtime.app import create_app

    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    settings = HubSettings(home=home)
    create_app(settings, cluster="c1")
    state = home / "faust" / "c1" / f"w{settings.worker.web_port}"
    assert state.is_dir()
    assert oct(mode(home)) == oct(home_mode())  # 0700; 0711 as root (test below)
    assert {str(p.relative_to(tmp_path)): oct(mode(p)) for p in
            (home / "faust", home / "faust" / "c1", state)} == {
        str(p.relative_to(tmp_path)): oct(0o700) for p in
        (home / "faust", home / "faust" / "c1", state)}  # fmt: skip


def test_home_mode_keeps_the_local_postgres_reachable() -> None:
    """As root the local stack's PostgreSQL runs as the ``postgres`` user in
    ``<home>/postgres``: the home must stay traversable for it (not listable by others),
    or the stack would move the cluster to /tmp and lose track of the running one."""
    import pwd
    import shutil
    import tempfile

    from hub.dev.stack.postgres import _traversable

    parent = Path(tempfile.mkdtemp(prefix="hub-home-"))  # not pytest's 0700 folders
    try:
        parent.chmod(0o755)
        home = parent / "home"
        HubSettings(home=home).private_dir(home)
        if os.geteuid() != 0:
            assert mode(home) == 0o700
            return
        assert mode(home) == 0o711
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("no postgres user")
        assert _traversable(home / "postgres", user.pw_uid, user.pw_gid)
    finally:
        shutil.rmtree(parent)


def test_inbox_verdicts_owner_only(tmp_path: Path) -> None:
    from connectors.files import layout
    from connectors.files.scan import scan_source

    settings = HubSettings(home=tmp_path / "home",
                           files=FilesSettings(sources=("erp",), settle_s=0))
    paths = layout.inbox_paths(settings, "erp")
    paths.create()
    dropped = paths.folder / "broken.xml"
    dropped.write_bytes(b"<interfaceNuu><entete>")
    dropped.chmod(0o644)
    stats = asyncio.run(scan_source(settings, paths))
    assert stats.counts["rejected"] == 1
    moved = paths.error / "broken.xml"
    report = paths.error / layout.report_name("broken.xml")
    assert oct(mode(moved)) == oct(0o600) and oct(mode(report)) == oct(0o600)
    for folder in (paths.done, paths.error, paths.work, paths.journal.parent):
        assert oct(mode(folder)) == oct(0o700), folder
    for f in paths.journal.parent.iterdir():
        assert oct(mode(f)) == oct(0o600), f

    # folders made before the rule: done/, error/ and the state folder are the hub's own
    paths.error.chmod(0o755)
    paths.create()
    assert mode(paths.error) == 0o700


@pytest.mark.kafka
def test_dis_files_owner_only(settings: HubSettings, tmp_path: Path) -> None:
    from connectors.outbound.file import run_actor
    from hub.core import topics
    from hub.core.kafka.admin import ensure_topics, feed_spec
    from hub.core.kafka.client import new_producer
    from hub.domain.actors import Actor, ActorFilters, Delivery
    from schemas import get_codec
    from tests.support.demandes import demande_event, new_num_unique

    actor = Actor(id=f"priv-{uuid.uuid4().hex[:8]}", name="p", kind="bailleur",
                  filters=ActorFilters(communes=["76540"]),
                  delivery=Delivery(channel="file", options={"dir": str(tmp_path / "out")}))
    num = new_num_unique()
    record = get_codec().encode("FeedRecord", {
        "kind": "DEMANDE", "eventId": str(uuid.uuid4()), "numUnique": num, "operation": "CRE",
        "demandeVersion": 1, "occurredAt": 1, "dispatchedAt": 1_700_000_000_000,
        "profile": "consultant_simple", "reason": None, "changedFields": [],
        "demande": demande_event(num, ["76540"])["demande"], "evenement": None})
    local = settings.model_copy(update={
        "home": tmp_path / "home",
        "files": settings.files.model_copy(update={"root": tmp_path / "files"})})
    engine = make_engine(f"sqlite:///{tmp_path / 'home' / 'hub.db'}")
    migrate(engine)

    async def go() -> int:
        await ensure_topics(local, [feed_spec(actor.id)])
        producer = new_producer(local)
        await producer.start()
        try:
            await producer.send_and_wait(topics.feed_topic(actor.id), record, key=num.encode())
        finally:
            await producer.stop()
        return (await run_actor(local, actor, once=True, engine=engine)).counts["files"]

    assert asyncio.run(go()) == 1
    out = tmp_path / "out"
    written = list(out.iterdir())
    assert len(written) == 1 and written[0].name.startswith("DIS_")
    assert oct(mode(written[0])) == oct(0o600)
    assert oct(mode(out)) == oct(0o700)
    for f in (tmp_path / "files" / ".state").iterdir():
        assert oct(mode(f)) == oct(0o600), f


def test_hub_api_makes_its_home_owner_only(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from hub.cli.api import api

    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    served: list[object] = []
    # the REST ingress is a served connector: record it instead of serving it
    monkeypatch.setattr("connectors.shape.run_until_signal", lambda c: served.append(c.app))
    result = CliRunner().invoke(api, [], obj=HubSettings(home=home))
    assert result.exit_code == 0, result.output
    assert served
    assert oct(mode(home)) == oct(home_mode())
    assert oct(mode(home / "hub.db")) == oct(0o600)
