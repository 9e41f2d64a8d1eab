"""The consumer guide's examples (docs/consumers.md) decode every FeedRecord kind from the
real broker (issue 21.7).

A fresh actor gets, through the real worker and API, a DEMANDE, an EVENEMENT (a gestion
partagée event it records), a RETRAIT (a demand moved out of its territory), a RADIATION,
COPIEs (its territory widened over demands already there) and an AVIS (the demand's
clock: ``hub clock tick --now`` past a renewal notice of one of its demands). Then each
example runs as a user would run it, as a separate process on the actor's topic: the
Python one (fastavro, ``examples/python-consumer``, run from its folder with the command
of docs/consumers.md) and the JVM one (plain Apache Avro and the Kafka client,
``examples/jvm-consumer``, built by Maven in a copy under the test's tmp dir: offline from
``~/.m2`` when everything is cached, else online from Maven Central). Every record the hub
itself decodes from the feed must be printed by the example with the same fields, and the
examples must have seen all six kinds of ``FeedRecord.kind``. A second feed holds one record
written with each archived ``FeedRecord`` version (``schemas/avro/history/``) and one with
the current: both examples must find each writer schema by its fingerprint.

Measured (2 cores shared, load ~10): the feed fixture 13 s, the Python example 3 to 4 s
(3 s of it waiting for the end), the JVM one 13 s of which the Maven build 4 to 8 s
offline (12 s from an empty ``~/.m2``): well under 60 s, so no marker but ``kafka``.
With the AVIS step (one ``hub clock tick``, a CLI process) at load 1.4 to 3: the fixture
12.5 to 13 s, the whole module 38 to 42 s.

A last test writes a switched feed by hand (a single-object record, then one in the
Confluent wire format of the registry option): the Python example, run without
``--registry``, prints the first and stops at the second with one line saying what it is
and which option to give (its decoding with ``--registry``: tests/unit/
test_feed_consumer_example.py).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from connectors.ingress.publishing import prepare_event, publish_events
from hub.core.db import make_engine, migrate
from hub.core.settings import HubSettings
from hub.domain.actors import Actor, ActorFilters
from hub.stores.access.keys import KeyStore
from tests.integration.api_support import Caller, gp_event
from tests.integration.conftest import collect_feed
from tests.support.demandes import demande_event, new_num_unique

#: the first JVM build downloads from Maven Central; a busy worker group can be slow
pytestmark = [pytest.mark.kafka, pytest.mark.timeout(900)]
WAIT = 180.0  # s, per step of the feed fixture

ROOT = Path(__file__).resolve().parents[2]
AVRO = ROOT / "schemas" / "avro"
#: communes no other test uses (La Roche-sur-Yon, Les Sables-d'Olonne)
HERE, THERE = "85191", "85194"
KINDS = {"DEMANDE", "COPIE", "RETRAIT", "RADIATION", "EVENEMENT", "AVIS"}
#: the AVIS demand's creation day and the clock's time: its renewal deadline is 2002-01-15,
#: so the tick is one day past its ``renouvellement_m-2`` (2001-11-15) and before any
#: threshold of the other demands of the shared broker (created 2024 and later): the tick
#: (to every partition of hub.demandes) sends nothing to anyone else
NOTICE_CREATED, NOTICE_TICK = "2001-01-15", "2001-11-16"
FIELDS = ("kind", "numUnique", "eventId", "operation", "demandeVersion", "profile", "reason",
          "hasDemande", "codeTypeEvenement", "delaiAnormalementLong", "cotations")


def _publish(settings: HubSettings, *events: dict[str, Any]) -> None:
    asyncio.run(publish_events(settings, [prepare_event(e) for e in events]))


def _has(*wanted: tuple[str, str]) -> Any:
    return lambda rs: set(wanted) <= {(r["numUnique"], r["kind"]) for r in rs}


def _radiation(num: str, commune: str) -> dict[str, Any]:
    return demande_event(num, [commune], operation="RAD",
                         radiation={"dateRadiation": "2026-11-20", "motifRadiation": "RADATT"})


def _noticed(num: str) -> dict[str, Any]:
    """A demand whose renewal notices are long due (the clock sends them at a tick)."""
    event = demande_event(num, [HERE])
    event["demande"]["demandeLogement"]["dateCreationDemande"] = NOTICE_CREATED
    return event


def _tick(env: dict[str, str], now: str) -> None:
    """``hub clock tick --now NOW``, the command tests and operators move the clock with."""
    done = subprocess.run([sys.executable, "-c", "from hub.cli import main; main()", "clock",
                           "tick", "--now", now], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0 and "ticked" in done.stdout, done.stderr[-3000:]


def _summary(rec: dict[str, Any]) -> tuple[Any, ...]:
    """What the examples print, from a record the hub decoded (or an example's line)."""
    if "hasDemande" not in rec:
        rec = {**rec, "hasDemande": rec["demande"] is not None,
               "codeTypeEvenement": (rec["evenement"] or {}).get("codeTypeEvenement"),
               "delaiAnormalementLong": rec.get("delaiAnormalementLong"),
               "cotations": {c["epci"]: c["total"] for c in rec.get("cotations") or []}}
    return tuple(tuple(sorted(rec[f].items())) if f == "cotations" else rec[f] for f in FIELDS)


@pytest.fixture(scope="module")
def feed(worker: Any, actor_service: Any, settings: HubSettings,
         hub_env: dict[str, str]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(actor id, its whole feed as the hub decodes it) holding all six kinds."""
    from hub.api.app import create_app

    engine = make_engine(settings.database_url)
    migrate(engine)
    suffix = uuid.uuid4().hex[:8]
    actor = Actor(id=f"cons-{suffix}", name="consumer guide", kind="bailleur",
                  profile="consultant_simple", filters=ActorFilters(communes=[HERE]))
    sentinel = Actor(id=f"cons-s-{suffix}", name="sentinel", kind="guichet",
                     filters=ActorFilters(communes=[THERE]))
    actor_service.add_or_update(actor)
    actor_service.add_or_update(sentinel)
    me = Caller(actor, {"Authorization": f"Bearer {KeyStore(engine).create(actor.id).key}"})
    held, moved, elsewhere = new_num_unique(), new_num_unique(), new_num_unique()
    noticed = new_num_unique()
    nums = {held, moved, elsewhere, noticed}

    def wait(actor_id: str, *wanted: tuple[str, str]) -> list[dict[str, Any]]:
        got = collect_feed(settings, actor_id, until=_has(*wanted), worker=worker,
                           timeout=WAIT)
        ours = [(r["numUnique"], r["kind"]) for r in got if r["numUnique"] in nums]
        assert _has(*wanted)(got), f"{actor_id}: missing {set(wanted) - set(ours)}, has {ours}"
        return got

    _publish(settings, demande_event(held, [HERE]), demande_event(moved, [HERE]),
             demande_event(elsewhere, [THERE]), _noticed(noticed))
    wait(sentinel.id, (elsewhere, "DEMANDE"))
    wait(actor.id, (held, "DEMANDE"), (moved, "DEMANDE"), (noticed, "DEMANDE"))
    _tick(hub_env, NOTICE_TICK)  # after the DEMANDE: the demand is stored before the tick
    avis = [r for r in wait(actor.id, (noticed, "AVIS"))
            if (r["numUnique"], r["kind"]) == (noticed, "AVIS")]
    assert "renouvellement_m-2" in {r["reason"] for r in avis}, avis
    with TestClient(create_app(settings, engine)) as client:
        gp_event(client, me, held, "VISPROP", {"DATEVIS": "2025-06-02"})
    wait(actor.id, (held, "EVENEMENT"))
    _publish(settings, demande_event(moved, [THERE], operation="MOD"),
             _radiation(held, HERE))
    wait(sentinel.id, (moved, "DEMANDE"))
    wait(actor.id, (moved, "RETRAIT"), (held, "RADIATION"))
    actor_service.add_or_update(actor.model_copy(
        update={"filters": ActorFilters(communes=[HERE, THERE])}))
    records = wait(actor.id, (held, "DEMANDE"), (held, "EVENEMENT"), (held, "RADIATION"),
                   (moved, "RETRAIT"), (moved, "COPIE"), (elsewhere, "COPIE"),
                   (noticed, "AVIS"))
    assert {r["kind"] for r in records if r["numUnique"] in nums} == KINDS
    yield actor.id, records
    # radiated, so that later runs' widened actors get no copies of them (and no later
    # tick sends notices of them)
    _publish(settings, _radiation(moved, THERE), _radiation(elsewhere, THERE),
             _radiation(noticed, HERE))
    engine.dispose()


def _check(printed: str, hub_records: list[dict[str, Any]]) -> None:
    lines = [json.loads(line) for line in printed.splitlines() if line.strip()]
    seen = {_summary(line) for line in lines}
    missing = [s for s in map(_summary, hub_records) if s not in seen]
    assert not missing, f"records the example did not print as the hub reads them: {missing}"
    assert {line["kind"] for line in lines} == KINDS
    by_partition: dict[int, list[int]] = {}
    for line in lines:
        by_partition.setdefault(line["partition"], []).append(line["offset"])
    for offsets in by_partition.values():  # in order, nothing skipped
        assert offsets == list(range(offsets[0], offsets[0] + len(offsets)))


def _run(cmd: list[str], *, timeout: float, cwd: Path | None = None) -> str:
    started = time.monotonic()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          check=False)
    print(f"\n{' '.join(cmd[:3])} ...: {time.monotonic() - started:.1f} s")
    assert done.returncode == 0, f"{cmd}: {done.stderr[-3000:]}{done.stdout[-2000:]}"
    return done.stdout


Example = Callable[[str], str]


@pytest.fixture(scope="module")
def python_example(kafka_bootstrap: str) -> Example:
    """Runs the Python example on an actor's feed as docs/consumers.md says (from its
    folder, ``--schemas`` left to its default); returns what it printed."""
    return lambda actor_id: _run(
        [sys.executable, "feed_consumer.py", "--bootstrap", kafka_bootstrap, "--actor",
         actor_id, "--idle", "3"], cwd=ROOT / "examples/python-consumer", timeout=120)


@pytest.fixture(scope="module")
def jvm_example(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Example:
    """Builds the JVM example once (a copy, under tmp) and runs it like the Python one."""
    mvn, java = shutil.which("mvn"), shutil.which("java")
    if not mvn or not java:
        pytest.fail("Maven and Java are needed (scripts/bootstrap.sh installs them)")
    project = tmp_path_factory.mktemp("jvm") / "jvm-consumer"
    shutil.copytree(ROOT / "examples/jvm-consumer", project,
                    ignore=shutil.ignore_patterns("target"))
    started = time.monotonic()
    offline = subprocess.run([mvn, "-q", "-B", "-o", "package"], cwd=project,
                             capture_output=True, text=True, timeout=300, check=False)
    print(f"\nmvn -o package: {time.monotonic() - started:.1f} s, exit {offline.returncode}")
    if offline.returncode != 0:  # not everything cached yet: fetch from Maven Central
        _run([mvn, "-q", "-B", "package"], cwd=project, timeout=800)
    classpath = f"{project}/target/classes:{project}/target/lib/*"
    return lambda actor_id: _run(
        [java, "-cp", classpath, "fr.passerelle.examples.FeedConsumer", kafka_bootstrap,
         actor_id, str(AVRO), "3"], timeout=120)


def test_python_example_decodes_every_kind(
        feed: tuple[str, list[dict[str, Any]]], python_example: Example) -> None:
    actor_id, records = feed
    _check(python_example(actor_id), records)


def test_the_python_example_piped_into_head_ends_quietly(
        feed: tuple[str, list[dict[str, Any]]], kafka_bootstrap: str) -> None:
    """``feed_consumer.py ... | head``, as a reader tries it (audit L, F10): the reader
    closing the pipe ends the example without a BrokenPipeError traceback."""
    actor_id, records = feed
    assert len(records) > 1
    example = subprocess.Popen(
        [sys.executable, "feed_consumer.py", "--bootstrap", kafka_bootstrap, "--actor",
         actor_id, "--idle", "3"], cwd=ROOT / "examples/python-consumer",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    assert example.stdout is not None and example.stderr is not None
    # the reader closes the pipe before the example writes (it connects to Kafka first):
    # its next print meets a closed pipe, as past `head`'s last line (a pipe buffer holds
    # ~64 KiB, so with a small feed `head` alone would not show it)
    example.stdout.close()
    err = example.stderr.read().decode()
    assert example.wait(timeout=120) == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err, err


def test_jvm_example_decodes_every_kind(
        feed: tuple[str, list[dict[str, Any]]], jvm_example: Example) -> None:
    actor_id, records = feed
    _check(jvm_example(actor_id), records)


@contextmanager
def _hand_written_feed(settings: HubSettings, actor_id: str, num: str,
                       values: list[bytes]) -> Iterator[None]:
    """``values`` written as they are to a new feed topic of ``actor_id`` (keyed ``num``:
    one partition, in order), the topic deleted afterwards."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient

    from hub.core import topics
    from hub.core.kafka.admin import ensure_topics, feed_spec
    from hub.core.kafka.client import client_options

    async def produce() -> None:
        await ensure_topics(settings, [feed_spec(actor_id)])
        producer = AIOKafkaProducer(**client_options(settings))
        await producer.start()
        try:
            for value in values:
                await producer.send_and_wait(topics.feed_topic(actor_id), value,
                                             key=num.encode())
        finally:
            await producer.stop()

    async def drop() -> None:
        admin = AIOKafkaAdminClient(**client_options(settings))
        await admin.start()
        try:
            await admin.delete_topics([topics.feed_topic(actor_id)])
        finally:
            await admin.close()

    asyncio.run(produce())
    try:
        yield
    finally:
        asyncio.run(drop())


@pytest.fixture(scope="module")
def versions_feed(settings: HubSettings) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
    """(actor id, summaries) of a feed written by hand: the same kind of record once with
    each archived FeedRecord writer schema, then with the current one."""
    from schemas import MARKER, SchemaRegistry

    registry = SchemaRegistry()
    writers = [registry.version("FeedRecord", f"v{n}") for n in range(1, 100)
               if (AVRO / "history" / f"FeedRecord.v{n}.avsc").exists()]
    writers.append(registry.current("FeedRecord"))
    assert len(writers) >= 3 and len({w.fingerprint for w in writers}) == len(writers)
    actor_id = f"cons-v-{uuid.uuid4().hex[:8]}"
    num = new_num_unique()
    demande = demande_event(num, [HERE])["demande"]
    records = [{"kind": "DEMANDE", "eventId": f"{actor_id}-{w.version}", "numUnique": num,
                "operation": "CRE", "demandeVersion": i + 1, "occurredAt": 1_750_000_000_000,
                "dispatchedAt": 1_750_000_000_001, "profile": "consultant_simple",
                "reason": None, "changedFields": [], "demande": demande, "evenement": None}
               for i, w in enumerate(writers)]
    # the current writer's record carries issue 20's fields (older ones cannot)
    records[-1].update(delaiAnormalementLong=True, delaiAnormalementLongSource="sne",
                       cotations=[{"epci": "200023414", "versionGrille": "1",
                                   "dateReference": "2025-06-17", "total": 60,
                                   "horsCotation": False, "maximum": 860, "criteres": []}])

    values = [MARKER + w.fingerprint + w.write(rec)
              for w, rec in zip(writers, records, strict=True)]
    with _hand_written_feed(settings, actor_id, num, values):
        yield actor_id, [_summary(r) for r in records]


def test_examples_find_every_schema_version_by_fingerprint(
        versions_feed: tuple[str, list[tuple[Any, ...]]], python_example: Example,
        jvm_example: Example) -> None:
    actor_id, expected = versions_feed
    for run in (python_example, jvm_example):
        printed = [json.loads(line) for line in run(actor_id).splitlines() if line.strip()]
        assert [_summary(line) for line in printed] == expected


def test_the_python_example_stops_at_a_confluent_record_with_one_line(
        settings: HubSettings, kafka_bootstrap: str) -> None:
    """A feed switched to the registry option (docs/consumers.md): a single-object record,
    then the same one in the Confluent wire format. Without ``--registry`` the example
    prints the first, then stops at the second with one line naming the format and the
    option (exit 1), where it used to die with a traceback."""
    from schemas import get_codec
    from schemas.confluent import frame

    actor_id = f"cons-c-{uuid.uuid4().hex[:8]}"
    num = new_num_unique()
    single = get_codec().encode("FeedRecord", {
        "kind": "DEMANDE", "eventId": f"{actor_id}-1", "numUnique": num, "operation": "CRE",
        "demandeVersion": 1, "occurredAt": 1_750_000_000_000,
        "dispatchedAt": 1_750_000_000_001, "profile": "consultant_simple", "reason": None,
        "changedFields": [], "demande": demande_event(num, [HERE])["demande"],
        "evenement": None, "delaiAnormalementLong": None,
        "delaiAnormalementLongSource": None, "cotations": []})  # fmt: skip
    with _hand_written_feed(settings, actor_id, num, [single, frame(42, single[10:])]):
        done = subprocess.run(
            [sys.executable, "feed_consumer.py", "--bootstrap", kafka_bootstrap, "--actor",
             actor_id, "--idle", "3"], cwd=ROOT / "examples/python-consumer",
            capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1, (done.stdout, done.stderr)
    printed = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert [(p["offset"], p["kind"], p["numUnique"]) for p in printed] == [(0, "DEMANDE", num)]
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"feed_consumer.py: error: hub.feed.{actor_id} partition "), lines
    assert "offset 1: the record is in the Confluent wire format (magic byte 0, schema id 42)" \
        in lines[0] and "--registry URL" in lines[0], lines  # fmt: skip


def test_the_python_example_says_when_the_actor_has_no_feed(kafka_bootstrap: str) -> None:
    """An actor id with no topic on the broker (never registered, or a typo): one line
    naming the topic and how to list the actors, at once (the client waited for the
    topic's metadata, printed a warning every retry, then a traceback)."""
    actor_id = f"cons-none-{uuid.uuid4().hex[:8]}"
    done = subprocess.run(
        [sys.executable, "feed_consumer.py", "--bootstrap", kafka_bootstrap, "--actor",
         actor_id, "--idle", "1"], cwd=ROOT / "examples/python-consumer",
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f"feed_consumer.py: error: no topic hub.feed.{actor_id} at {kafka_bootstrap}: is "
        f"the actor {actor_id!r} registered? (hub actors list)"]
