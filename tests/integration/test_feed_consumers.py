"""The consumer guide's examples (docs/consumers.md) decode every FeedRecord kind from the
real broker (issue 21.7).

A fresh actor gets, through the real worker and API, a DEMANDE, an EVENEMENT (a gestion
partagée event it records), a RETRAIT (a demand moved out of its territory), a RADIATION
and COPIEs (its territory widened over demands already there). Then each example runs as
a user would run it, as a separate process on the actor's topic: the Python one
(fastavro, ``examples/python-consumer``) and the JVM one (plain Apache Avro and the Kafka
client, ``examples/jvm-consumer``, built by Maven in a copy under the test's tmp dir:
offline from ``~/.m2`` when everything is cached, else online from Maven Central). Every
record the hub itself decodes from the feed must be printed by the example with the same
fields, and the examples must have seen all five kinds.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hub.actors import Actor, ActorFilters
from hub.api.auth import KeyStore
from hub.db import make_engine, migrate
from hub.publishing import prepare_event, publish_events
from hub.settings import HubSettings
from tests.integration.api_support import Caller, gp_event
from tests.integration.conftest import collect_feed
from tests.support.demandes import demande_event, new_num_unique

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]
AVRO = ROOT / "schemas" / "avro"
#: communes no other test uses (La Roche-sur-Yon, Les Sables-d'Olonne)
HERE, THERE = "85191", "85194"
KINDS = {"DEMANDE", "COPIE", "RETRAIT", "RADIATION", "EVENEMENT"}
FIELDS = ("kind", "numUnique", "eventId", "operation", "demandeVersion", "profile", "reason",
          "hasDemande", "codeTypeEvenement")


def _publish(settings: HubSettings, *events: dict[str, Any]) -> None:
    asyncio.run(publish_events(settings, [prepare_event(e) for e in events]))


def _has(*wanted: tuple[str, str]) -> Any:
    return lambda rs: set(wanted) <= {(r["numUnique"], r["kind"]) for r in rs}


def _radiation(num: str, commune: str) -> dict[str, Any]:
    return demande_event(num, [commune], operation="RAD",
                         radiation={"dateRadiation": "2026-11-20", "motifRadiation": "RADATT"})


def _summary(rec: dict[str, Any]) -> tuple[Any, ...]:
    """What the examples print, from a record the hub decoded (or an example's line)."""
    if "hasDemande" not in rec:
        rec = {**rec, "hasDemande": rec["demande"] is not None,
               "codeTypeEvenement": (rec["evenement"] or {}).get("codeTypeEvenement")}
    return tuple(rec[f] for f in FIELDS)


@pytest.fixture(scope="module")
def feed(worker: Any, actor_service: Any,
         settings: HubSettings) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(actor id, its whole feed as the hub decodes it) holding all five kinds."""
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
    _publish(settings, demande_event(held, [HERE]), demande_event(moved, [HERE]),
             demande_event(elsewhere, [THERE]))
    collect_feed(settings, sentinel.id, until=_has((elsewhere, "DEMANDE")), worker=worker)
    got = collect_feed(settings, actor.id, worker=worker,
                       until=_has((held, "DEMANDE"), (moved, "DEMANDE")))
    assert _has((held, "DEMANDE"), (moved, "DEMANDE"))(got), "demands not dispatched"
    with TestClient(create_app(settings, engine)) as client:
        gp_event(client, me, held, "VISPROP", {"DATEVIS": "2025-06-02"})
    collect_feed(settings, actor.id, until=_has((held, "EVENEMENT")), worker=worker)
    _publish(settings, demande_event(moved, [THERE], operation="MOD"),
             _radiation(held, HERE))
    collect_feed(settings, sentinel.id, until=_has((moved, "DEMANDE")), worker=worker)
    collect_feed(settings, actor.id, worker=worker,
                 until=_has((moved, "RETRAIT"), (held, "RADIATION")))
    actor_service.add_or_update(actor.model_copy(
        update={"filters": ActorFilters(communes=[HERE, THERE])}))
    every = ((held, "DEMANDE"), (held, "EVENEMENT"), (held, "RADIATION"),
             (moved, "RETRAIT"), (moved, "COPIE"), (elsewhere, "COPIE"))
    records = collect_feed(settings, actor.id, until=_has(*every), worker=worker)
    assert _has(*every)(records), sorted((r["numUnique"], r["kind"]) for r in records)
    yield actor.id, records
    # radiated, so that later runs' widened actors get no copies of them
    _publish(settings, _radiation(moved, THERE), _radiation(elsewhere, THERE))
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


def test_python_example_decodes_every_kind(
        feed: tuple[str, list[dict[str, Any]]], kafka_bootstrap: str) -> None:
    actor_id, records = feed
    out = _run([sys.executable, str(ROOT / "examples/python-consumer/feed_consumer.py"),
                "--bootstrap", kafka_bootstrap, "--actor", actor_id,
                "--schemas", str(AVRO), "--idle", "3"], timeout=120)
    _check(out, records)


@pytest.mark.timeout(900)  # the first build downloads Avro and Maven plugins
def test_jvm_example_decodes_every_kind(
        feed: tuple[str, list[dict[str, Any]]], kafka_bootstrap: str, tmp_path: Path) -> None:
    actor_id, records = feed
    mvn, java = shutil.which("mvn"), shutil.which("java")
    if not mvn or not java:
        pytest.fail("Maven and Java are needed (scripts/bootstrap.sh installs them)")
    project = tmp_path / "jvm-consumer"
    shutil.copytree(ROOT / "examples/jvm-consumer", project,
                    ignore=shutil.ignore_patterns("target"))
    build = [mvn, "-q", "-B", "package"]
    started = time.monotonic()
    offline = subprocess.run([*build[:3], "-o", "package"], cwd=project, capture_output=True,
                             text=True, timeout=300, check=False)
    print(f"\nmvn -o package: {time.monotonic() - started:.1f} s, exit {offline.returncode}")
    if offline.returncode != 0:  # not everything cached yet: fetch from Maven Central
        _run(build, cwd=project, timeout=800)
    out = _run([java, "-cp", f"{project}/target/classes:{project}/target/lib/*",
                "fr.passerelle.examples.FeedConsumer", kafka_bootstrap, actor_id,
                str(AVRO), "3"], timeout=120)
    _check(out, records)
