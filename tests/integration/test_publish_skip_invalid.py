"""``hub publish`` on the real broker with valid events mixed with lines that are not
events (issue 19 point 4): without ``--skip-invalid`` nothing reaches ``hub.demandes``;
with it, exactly the valid events do, each once, read back with an independent Avro
reader; every bad line is one ``file:line: reason`` line on stderr, no traceback."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from hub.core import topics
from hub.core.kafka.admin import core_topics, ensure_topics
from hub.core.settings import HubSettings
from tests.support.demandes import new_num_unique
from tests.support.spec_events import read_spec_event, spec_event, wished_communes

pytestmark = pytest.mark.kafka


def hub(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from hub.cli import main; main()", *args],
                          env=env, capture_output=True, text=True, timeout=180)  # fmt: skip


async def _end_offsets(bootstrap: str) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        metadata = await consumer._client.fetch_all_metadata()
        parts = metadata.partitions_for_topic(topics.DEMANDES) or set()
        assert parts, "hub.demandes has no partition"
        tps = [TopicPartition(topics.DEMANDES, p) for p in sorted(parts)]
        return dict(await consumer.end_offsets(tps))
    finally:
        await consumer.stop()


async def _read(bootstrap: str, start: dict[TopicPartition, int],
                end: dict[TopicPartition, int]) -> list[tuple[bytes | None, bytes]]:  # fmt: skip
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    out: list[tuple[bytes | None, bytes]] = []
    try:
        consumer.assign(list(end))
        for tp in end:
            consumer.seek(tp, start.get(tp, 0))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while [tp for tp in end if await consumer.position(tp) < end[tp]]:
            assert loop.time() < deadline, "hub.demandes not read to its end in 60 s"
            for records in (await consumer.getmany(timeout_ms=500)).values():
                out += [(r.key, r.value) for r in records if r.value is not None]
    finally:
        await consumer.stop()
    return out


def test_skip_invalid_publishes_exactly_the_valid_events(
    hub_env: dict[str, str], settings: HubSettings, tmp_path: Path
) -> None:
    bootstrap = settings.kafka.bootstrap_servers
    asyncio.run(ensure_topics(settings, core_topics(settings)))
    communes = list(wished_communes())
    valid = [spec_event(new_num_unique(), [communes[i % len(communes)]]) for i in range(3)]
    unknown_commune = spec_event(new_num_unique(), ["99999"])
    rnd = random.Random(19)
    lines: list[tuple[bytes, bool]] = [
        (b"5", False),
        (json.dumps(valid[0]).encode(), True),
        (b"null", False),
        (b"[" * 100_000 + b"]" * 100_000, False),
        (json.dumps(valid[1]).encode(), True),
        (b"x" * (settings.publish.max_line_bytes + 1), False),
        (bytes(rnd.randrange(128, 256) for _ in range(200)), False),
        (json.dumps(unknown_commune).encode(), False),
        (json.dumps(valid[2]).encode(), True),
        (b'["an", "array"]', False),
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(data for data, _ in lines) + b"\n")
    bad = [n for n, (_, ok) in enumerate(lines, 1) if not ok]
    before = asyncio.run(_end_offsets(bootstrap))

    refused = hub(hub_env, "publish", str(path))
    assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stderr[-2000:]
    assert f"{len(bad)} invalid event(s), nothing published" in refused.stderr

    res = hub(hub_env, "publish", "--skip-invalid", str(path))
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr[-2000:]
    assert f"published 3 event(s) to hub.demandes, skipped {len(bad)} invalid" in res.stdout
    reported = [ln.split(": ", 1)[0] for ln in res.stderr.splitlines()]
    assert reported == [f"{path}:{n}" for n in bad]
    assert (
        f"{path}:8: logementRecherche/listeLocalisationSouhaite/commune: unknown INSEE"
        " commune code '99999'"
    ) in res.stderr

    after = asyncio.run(_end_offsets(bootstrap))
    mine = {e["eventId"] for e in [*valid, unknown_commune]}
    got = []
    for key, value in asyncio.run(_read(bootstrap, before, after)):
        if value[:2] != b"\xc3\x01":
            continue  # another test's hostile record
        try:
            event: dict[str, Any] = read_spec_event(value)
        except Exception:  # another session's record of another schema: ours are
            continue  # all found below, or the assertion fails
        if event["eventId"] in mine:
            got.append((key, event))
    # each valid event once (the refused run published nothing), keyed by its numéro unique
    assert sorted(e["eventId"] for _, e in got) == sorted(e["eventId"] for e in valid)
    by_id = {e["eventId"]: e for e in valid}
    for key, event in got:
        sent = by_id[event["eventId"]]
        assert key == sent["numUnique"].encode()
        assert event["demande"] == sent["demande"] and event["operation"] == "CRE"
