"""Crashes of the file exchange lose and duplicate nothing: real `kill -9` of `hub files
watch` and `hub files outbox` mid-run, and the exact crash windows replayed in process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaConnectionError

from connectors.files import layout
from connectors.files.journal import Journal
from connectors.files.scan import scan_source
from connectors.ingress.publishing import prepare_event, publish_events
from connectors.interfacenuu.mapping import parse_demande_xml
from connectors.outbound.file import run_actor
from hub.core.errors import TransientError
from hub.core.settings import FilesSettings, HubSettings
from hub.domain.actors import Actor, ActorFilters, Delivery
from hub.services.feeds import feed_sizes
from tests.integration.conftest import collect_feed
from tests.support.demandes import demande_event, new_num_unique
from tests.support.legacy_files import HUB, drop, files_env, hub, legacy_xml, read_dis, wait_for

pytestmark = pytest.mark.kafka

COMMUNE = "76410"  # Maromme: a commune no other test uses


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def file_actor(service: Any, outdir: Path) -> Actor:
    actor = Actor(id=uid("fcrash"), name="crash", kind="bailleur",
                  filters=ActorFilters(communes=[COMMUNE]),
                  delivery=Delivery(channel="file", options={"dir": str(outdir)}))
    service.add_or_update(actor)
    return actor


def drop_demands(inbox: Path, pairs: int, singles: int) -> dict[str, list[str]]:
    """Drop CRE files, then MOD files for the first ``pairs`` demands; return the event
    ids expected per numéro unique, in order."""
    expected: dict[str, list[str]] = {}
    nums = [new_num_unique() for _ in range(pairs + singles)]
    for i, num in enumerate(nums):
        data = legacy_xml(num, [COMMUNE])
        drop(inbox, f"{i:03d}-cre.xml", data)
        expected[num] = [parse_demande_xml(data)["eventId"]]
    for i, num in enumerate(nums[:pairs]):
        data = legacy_xml(num, [COMMUNE], operation="MOD")
        drop(inbox, f"{i:03d}-mod.xml", data)
        expected[num].append(parse_demande_xml(data)["eventId"])
    return expected


def assert_feed_exactly(settings: HubSettings, actor_id: str, expected: dict[str, list[str]],
                        worker: Any) -> None:
    """The actor's feed holds each expected event once, in order per demand, and nothing
    more for these demands, even after a grace period for late duplicates."""
    total = sum(len(v) for v in expected.values())

    def ours(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r for r in records if r["numUnique"] in expected]

    collect_feed(settings, actor_id, worker=worker, timeout=90,
                 until=lambda rs: len(ours(rs)) >= total)
    time.sleep(3)  # a duplicate would be dispatched by now
    records = ours(collect_feed(settings, actor_id, until=lambda rs: True))
    got: dict[str, list[str]] = {}
    for r in records:
        got.setdefault(r["numUnique"], []).append(r["eventId"])
    assert got == expected
    assert all(r["kind"] == "DEMANDE" for r in records)


def files_settings(settings: HubSettings, root: Path, source: str, **extra: Any) -> HubSettings:
    files = FilesSettings(root=root, sources=(source,), settle_s=0, poll_interval_s=0.2, **extra)
    return settings.model_copy(update={"files": files})


def moved(inbox: Path) -> int:
    return sum(1 for d in ("done", "error") if (inbox / d).exists()
               for p in (inbox / d).iterdir() if p.name.endswith(".xml"))


def test_kill_9_during_watch_loses_and_duplicates_nothing(  # type: ignore[no-untyped-def]
        settings, worker, actor_service, hub_env, tmp_path) -> None:
    source = uid("erp")
    actor = file_actor(actor_service, tmp_path / "out")
    inbox = tmp_path / "files" / "inbox" / source
    expected = drop_demands(inbox, pairs=12, singles=16)
    total = 40
    env = files_env(hub_env, tmp_path / "files", source, HUB_FILES__BATCH_SIZE="3")
    log = tmp_path / "watch.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen([*HUB, "-v", "files", "watch"], env=env, stdout=fh,
                                stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: moved(inbox) >= 4 or proc.poll() is not None, 60, "a few files moved")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    at_kill = moved(inbox)
    assert 0 < at_kill < total, (at_kill, log.read_text()[-2000:])

    run = hub(env, "files", "scan")
    assert run.returncode == 0, run.stderr
    assert not list(inbox.glob("*.xml")) and not list((inbox / ".hub-work").iterdir())
    assert moved(inbox) == total and not list((inbox / "error").iterdir())
    assert len(list((inbox / "done").glob("*.report.json"))) == total
    assert_feed_exactly(settings, actor.id, expected, worker)


def test_crash_windows_of_a_batch(settings, worker, actor_service, tmp_path,  # type: ignore[no-untyped-def]
                                  monkeypatch) -> None:
    """The two windows of a batch, made to fail exactly there: after the acks but before
    the journal (the batch is published again; the dispatcher skips it by event id), and
    after the journal but before the moves (the files are moved, not published again)."""
    source = uid("erp")
    actor = file_actor(actor_service, tmp_path / "out")
    s = files_settings(settings, tmp_path / "files", source, batch_size=10)
    paths = layout.inbox_paths(s, source)
    paths.create()
    expected = drop_demands(paths.folder, pairs=3, singles=2)

    def no_journal(self: Journal, entries: Any) -> None:
        raise RuntimeError("crash after the acks")

    monkeypatch.setattr(Journal, "add", no_journal)
    with pytest.raises(RuntimeError):
        asyncio.run(scan_source(s, paths))
    monkeypatch.undo()
    # nothing moved: nothing lost (the first batch is claimed, in the hub's work folder)
    assert len(list(paths.folder.glob("*.xml")) + list(paths.work.glob("*.xml"))) == 8

    def no_move(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("crash before the moves")

    monkeypatch.setattr("connectors.files.scan.finish", no_move)
    with pytest.raises(RuntimeError):
        asyncio.run(scan_source(s, paths))
    monkeypatch.undo()
    assert len(Journal(paths.journal)) == 5  # the first batch: one file per demand
    stats = asyncio.run(scan_source(s, paths))
    n = stats.counts
    assert (n["recovered"], n["published"], n["rejected"]) == (5, 3, 0)
    assert not list(paths.folder.glob("*.xml")) and len(Journal(paths.journal)) == 0
    assert not list(paths.work.iterdir())
    assert_feed_exactly(settings, actor.id, expected, worker)


def _publish_demands(settings: HubSettings, n: int) -> set[str]:
    nums = {new_num_unique() for _ in range(n)}
    events = [prepare_event(demande_event(num, [COMMUNE])) for num in sorted(nums)]
    asyncio.run(publish_events(settings, events))
    return nums


def assert_outbox_complete(outdir: Path, end: int) -> list[dict[str, Any]]:
    """Every feed offset 0..end-1 in exactly one visible, parseable DIS file. The feed may
    have grown meanwhile (the shared worker still dispatching other tests' demands of the
    same commune): offsets past ``end`` are then written exactly once too, without a gap."""
    records = read_dis(outdir)
    counts = Counter(int(r["offset"]) for r in records)
    assert sorted(counts) == list(range(max(end, len(counts)))), (end, len(counts))
    assert set(counts.values()) == {1}
    assert not [p for p in outdir.iterdir() if p.name.startswith(".")]
    return records


def test_kill_9_during_outbox_loses_and_duplicates_nothing(  # type: ignore[no-untyped-def]
        settings, worker, actor_service, hub_env, tmp_path) -> None:
    outdir = tmp_path / "out"
    actor = file_actor(actor_service, outdir)
    nums = _publish_demands(settings, 20)
    collect_feed(settings, actor.id, worker=worker,
                 until=lambda rs: len({r["numUnique"] for r in rs} & nums) == len(nums))
    end = asyncio.run(feed_sizes(settings, [actor.id]))[actor.id]
    env = files_env(hub_env, tmp_path / "files", "unused", HUB_FILES__OUTBOX_BATCH_MAX="2")
    with (tmp_path / "outbox.log").open("wb") as fh:
        proc = subprocess.Popen([*HUB, "files", "outbox", "--actor", actor.id], env=env,
                                stdout=fh, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: len(list(outdir.glob("DIS_*.xml"))) >= 3 or proc.poll() is not None,
                 60, "the first DIS files")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    at_kill = sum(1 for _ in read_dis(outdir))
    assert 0 < at_kill < end, (at_kill, end)

    run = hub(env, "files", "outbox", "--actor", actor.id, "--once")
    assert run.returncode == 0, run.stderr
    records = assert_outbox_complete(outdir, end)
    assert {r["numUnique"] for r in records} >= nums


def test_outbox_replay_rewrites_the_same_range(settings, worker, actor_service,  # type: ignore[no-untyped-def]
                                               tmp_path, monkeypatch) -> None:
    """A crash after a DIS file is renamed but before its offsets are committed: the next
    run rewrites the same name with the same bytes, even with another batch size and
    after the receiver already took the first copy."""
    outdir = tmp_path / "out"
    actor = file_actor(actor_service, outdir)
    nums = _publish_demands(settings, 6)
    collect_feed(settings, actor.id, worker=worker,
                 until=lambda rs: len({r["numUnique"] for r in rs} & nums) == len(nums))
    end = asyncio.run(feed_sizes(settings, [actor.id]))[actor.id]
    assert end >= 6
    real_commit = AIOKafkaConsumer.commit
    commits = 0

    async def failing_commit(self: AIOKafkaConsumer, offsets: Any = None) -> None:
        nonlocal commits
        commits += 1
        if commits == 2:
            raise KafkaConnectionError("broker gone")
        await real_commit(self, offsets)

    monkeypatch.setattr(AIOKafkaConsumer, "commit", failing_commit)
    small = files_settings(settings, tmp_path / "files", "unused", outbox_batch_max=2)
    with pytest.raises(TransientError):
        asyncio.run(run_actor(small, actor, once=True))
    monkeypatch.undo()
    written = sorted(outdir.glob("DIS_*.xml"))
    assert len(written) == 2
    uncommitted = written[1]
    content = uncommitted.read_bytes()
    uncommitted.unlink()  # the receiver took it before the crash was noticed

    large = files_settings(settings, tmp_path / "files", "unused", outbox_batch_max=500)
    stats = asyncio.run(run_actor(large, actor, once=True))
    assert stats.counts["records"] == end - 2
    assert uncommitted.read_bytes() == content
    assert_outbox_complete(outdir, end)
