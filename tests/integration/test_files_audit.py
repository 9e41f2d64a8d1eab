"""Audit of the DIS file channel (issue 4 point 7) on the real broker, a real `hub worker`
and a real `hub files outbox`, on SQLite and on PostgreSQL: every record carrying personal
data written into a DIS file is in ``audit_deliveries`` (channel ``file``, profile applied,
version, event id) and nothing else is; a crash after the file and before the offset
commit rewrites the file and adds no row; a full re-read adds none either; the chain stays
intact."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaConnectionError
from sqlalchemy import Engine, select

from connectors.files import layout
from connectors.ingress.publishing import prepare_event, publish_events
from connectors.outbound.file import group_id, run_actor
from hub.core import topics
from hub.core.errors import TransientError
from hub.core.kafka.client import client_options, topic_partitions
from hub.core.settings import FilesSettings, HubSettings
from hub.domain.actors import Actor, ActorFilters, Delivery
from hub.stores.audit.chain import verify
from hub.stores.audit.store import AuditStore
from hub.stores.audit.tables import audit_deliveries
from hub.stores.registry.store import ActorStore
from tests.integration.conftest import collect_feed
from tests.support.demandes import demande_event, new_num_unique
from tests.support.legacy_files import files_env, hub, read_dis

pytestmark = pytest.mark.kafka

#: communes no other test uses: only this test's demands reach its actors
HERE, AWAY = "76114", "76116"


def _publish(settings: HubSettings, events: list[dict[str, Any]]) -> None:
    asyncio.run(publish_events(settings, [prepare_event(e) for e in events]))


def _audited(engine: Engine, actor_id: str) -> list[tuple[str, str, str, int, str, str]]:
    t = audit_deliveries
    q = select(t.c.event_id, t.c.kind, t.c.num_unique, t.c.demande_version, t.c.profile,
               t.c.channel).where(t.c.actor_id == actor_id)
    with engine.connect() as conn:
        return sorted((str(r[0]), r[1], r[2], int(r[3]), r[4], r[5]) for r in conn.execute(q))


def _expected(outdir: Path) -> list[tuple[str, str, str, int, str, str]]:
    """What the DIS files delivered with personal data (the records holding a document)."""
    return sorted((r["eventId"], r["nature"], r["numUnique"], int(r["version"]), r["profil"],
                   "file") for r in read_dis(outdir) if "document" in r)


def _rewind(settings: HubSettings, actor_id: str) -> None:
    """Forget the outbox's progress: committed offsets back to 0 (as a new deployment
    re-reading the whole feed would)."""
    async def go() -> None:
        consumer = AIOKafkaConsumer(**client_options(settings), group_id=group_id(actor_id),
                                    enable_auto_commit=False)
        await consumer.start()
        try:
            tps = await topic_partitions(consumer, topics.feed_topic(actor_id)) or []
            consumer.assign(tps)
            await consumer.commit({tp: 0 for tp in tps})
        finally:
            await consumer.stop()

    asyncio.run(go())


def test_file_deliveries_are_audited_once(
        worker: Any, actor_service: Any, settings: HubSettings, hub_env: dict[str, str],
        migrated_db: tuple[str, Engine], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db_url, engine = migrated_db
    outdir = tmp_path / "out"
    actor = Actor(id=f"faudit-{uuid.uuid4().hex[:8]}", name="Audit fichiers", kind="bailleur",
                  profile="consultant_sensible", filters=ActorFilters(communes=[HERE]),
                  delivery=Delivery(channel="file", options={"dir": str(outdir)}))
    actor_service.add_or_update(actor)  # the worker learns it from hub.actors
    ActorStore(engine).upsert(actor)  # the outbox reads the registry of db_url
    num, moved = new_num_unique(), new_num_unique()
    time.sleep(1.0)  # let the worker take the new actor before the demands
    _publish(settings, [demande_event(num, [HERE]), demande_event(moved, [HERE]),
                        demande_event(num, [HERE], operation="MOD"),
                        # moved out of the territory: a RETRAIT, no personal data
                        demande_event(moved, [AWAY], operation="MOD")])

    def complete(rs: list[dict[str, Any]]) -> bool:
        return (sum(r["numUnique"] == num for r in rs) >= 2
                and any(r["numUnique"] == moved and r["kind"] == "RETRAIT" for r in rs))

    assert complete(collect_feed(settings, actor.id, until=complete, worker=worker))
    env = {**files_env(hub_env, tmp_path / "files", "unused"), "HUB_DATABASE__URL": db_url}
    run = hub(env, "files", "outbox", "--actor", actor.id, "--once")
    assert run.returncode == 0, run.stderr

    expected = _expected(outdir)
    assert _audited(engine, actor.id) == expected
    assert {k[1:4] for k in expected} >= {("DEMANDE", num, 1), ("DEMANDE", num, 2),
                                          ("DEMANDE", moved, 1)}
    entries = AuditStore(engine).query(num_unique=num)
    assert [(e.actor_id, e.channel, e.profile, e.demande_version) for e in entries] == [
        (actor.id, "file", "consultant_sensible", 1), (actor.id, "file", "consultant_sensible", 2)]
    # the RETRAIT is in a DIS file but carries no personal data: not a delivery to audit
    assert any(r["nature"] == "RETRAIT" and r["numUnique"] == moved for r in read_dis(outdir))
    assert [e.kind for e in AuditStore(engine).query(num_unique=moved)] == ["DEMANDE"]

    # crash after the DIS file is written, before its offsets are committed
    late = new_num_unique()
    _publish(settings, [demande_event(late, [HERE])])
    collect_feed(settings, actor.id, worker=worker,
                 until=lambda rs: any(r["numUnique"] == late for r in rs))
    files = FilesSettings(root=tmp_path / "files", sources=("unused",), settle_s=0,
                          poll_interval_s=0.2)
    local = settings.model_copy(update={"files": files})

    async def broken_commit(self: AIOKafkaConsumer, offsets: Any = None) -> None:
        raise KafkaConnectionError("broker gone")

    monkeypatch.setattr(AIOKafkaConsumer, "commit", broken_commit)
    written_before = {p.name for p in outdir.glob("DIS_*.xml")}
    with pytest.raises(TransientError):
        asyncio.run(run_actor(local, actor, once=True, engine=engine))
    monkeypatch.undo()
    crashed = {p.name for p in outdir.glob("DIS_*.xml")} - written_before
    assert len(crashed) == 1  # written, not committed
    assert [e.channel for e in AuditStore(engine).query(num_unique=late)] == ["file"]
    before_replay = _audited(engine, actor.id)
    assert before_replay == _expected(outdir)

    stats = asyncio.run(run_actor(local, actor, once=True, engine=engine))
    assert stats.counts["files"] >= 1  # the same range again, under the same name
    assert {p.name for p in outdir.glob("DIS_*.xml")} - written_before == crashed
    assert _audited(engine, actor.id) == before_replay  # no duplicate

    # a full re-read of the feed (progress lost) rewrites files and records nothing new
    _rewind(settings, actor.id)
    (layout.state_dir(local) / f"outbox-{actor.id}.json").unlink()
    stats = asyncio.run(run_actor(local, actor, once=True, engine=engine))
    assert stats.counts["records"] >= len(before_replay)
    assert _audited(engine, actor.id) == before_replay
    report = verify(engine)
    assert report.intact and report.rows == len(before_replay), report.problems
