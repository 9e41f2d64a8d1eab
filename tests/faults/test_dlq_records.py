"""``hub dlq`` and ``hub status`` over whatever Kafka lets land on ``hub.dlq``.

Audit findings 6, 7 and 11, and the suspicion "recreated hub.dlq", on a private broker of
this module's own (the tests empty, delete and recreate ``hub.dlq``: never the shared one).
The records are drawn from the Kafka record model and the ``DeadLetter`` schema's fields
(schemas/avro/fr.passerelle.hub.DeadLetter.avsc), not from the worker's letter writer:

* a record that is no readable letter (tombstone, garbage, another schema, a truncated or
  unknown-fingerprint letter) is listed as ``unreadable`` at its position with why, and
  every letter around it stays listable, showable and replayable (finding 7);
* ``replay --all`` skips the letters that can never be replayed (tombstone, source not
  an input topic, unreadable), one line each, and replays the rest; ``--dry-run`` shows
  the same choice; they are counted apart, never "to replay" (finding 6);
* control characters of keys and texts taken from records are escaped: one letter is one
  line (finding 11);
* a letter written after ``hub.dlq`` was recreated is not taken for the replayed letter
  that once had its position (the ledger ``hub.dlq.replays`` survives the topic).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.cli import main
from hub.core import topics
from hub.core.kafka.admin import core_topics, ensure_topics
from hub.core.kafka.client import client_options, topic_partitions
from hub.core.settings import get_settings
from reliability.cluster import PrivateHub
from schemas import get_codec
from tests.support.demandes import demande_event, new_num_unique

pytestmark = [pytest.mark.kafka, pytest.mark.faults]

REPLAYS = "hub.dlq.replays"
#: what the hub's own letters never hold in a text: C0, DEL, C1, line and paragraph
#: separators (a terminal takes them for a new line or an escape sequence)
CONTROLS = st.sampled_from(["\n", "\r", "\x1b[2J", "\x00", "\x7f", "\x85", "\u2028", "\t", "\x9b"])
TEXT = st.lists(st.one_of(st.text(st.characters(exclude_categories=("Cs",)), max_size=8),
                          CONTROLS), max_size=6).map("".join)  # fmt: skip
Cli = Callable[..., Result]
#: each example talks to a broker; the fixtures (the broker, the CLI) serve every example
SLOW = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
#: each letter's source offset: letters of one source record are duplicates of each other
_OFFSETS = itertools.count()


@pytest.fixture(scope="module")
def dlq_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateHub]:
    if shutil.which("java") is None:
        pytest.skip("no JDK for the private broker")
    home: Path = tmp_path_factory.mktemp("dlq-hub")
    hub = PrivateHub(home, partitions=2)
    hub.up()
    try:
        yield hub
    finally:
        hub.down()


@pytest.fixture
def cli(dlq_hub: PrivateHub, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    """``hub ARGS...`` in this process, against the private broker, on an empty ``hub.dlq``
    (the replay ledger is compacted: it keeps its entries, as in production)."""
    for name, value in dlq_hub.env.items():
        if name.startswith("HUB_"):
            monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    asyncio.run(_empty(dlq_hub, [topics.DLQ]))
    yield lambda *args: CliRunner().invoke(main, [str(a) for a in args])
    get_settings.cache_clear()


async def _empty(hub: PrivateHub, names: list[str]) -> None:
    """Delete every record of ``names`` (DeleteRecords up to the end offsets)."""
    consumer = AIOKafkaConsumer(**client_options(hub.settings))
    admin = AIOKafkaAdminClient(**client_options(hub.settings))
    await consumer.start()
    await admin.start()
    try:
        tps = [tp for n in names for tp in await topic_partitions(consumer, n) or ()]
        if tps:
            ends = await consumer.end_offsets(tps)
            await admin.delete_records({tp: RecordsToDelete(before_offset=o)
                                        for tp, o in ends.items()}, timeout_ms=30_000)  # fmt: skip
    finally:
        await consumer.stop()
        await admin.close()


async def _recreate_dlq(hub: PrivateHub) -> None:
    """Delete ``hub.dlq`` and create it again as the hub does (offsets start over at 0);
    the replay ledger is left as it is."""
    admin = AIOKafkaAdminClient(**client_options(hub.settings))
    await admin.start()
    try:
        await admin.delete_topics([topics.DLQ])
        deadline = time.monotonic() + 60
        while topics.DLQ in await admin.list_topics():
            assert time.monotonic() < deadline, "hub.dlq not deleted within 60 s"
            await asyncio.sleep(0.5)
    finally:
        await admin.close()
    deadline = time.monotonic() + 60
    while True:  # the broker may still be removing the old partition's files
        try:
            if topics.DLQ in await ensure_topics(hub.settings, core_topics(hub.settings)):
                return
        except Exception:
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.5)


def letter(reason: str = "bad_operation", *, source: str = topics.DEMANDES,
           key: bytes | None = b"076", payload: bytes | None = b"p", message: str = "m",
           history: list[dict[str, Any]] | None = None) -> dict[str, Any]:  # fmt: skip
    """A DeadLetter as its Avro schema describes it."""
    return {"reason": reason, "message": message, "sourceTopic": source, "sourcePartition": 0,
            "sourceOffset": next(_OFFSETS), "key": key, "payload": payload,
            "payloadSize": None if payload is None else len(payload),
            "failedAt": int(time.time() * 1000), "attempts": 1,
            "history": history or []}  # fmt: skip


Record = tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]


async def _produce(hub: PrivateHub, topic: str, records: list[Record]) -> list[str]:
    """Send ``records`` (key, value, headers) in order; their ``P:O`` refs."""
    producer = AIOKafkaProducer(**client_options(hub.settings))
    await producer.start()
    try:
        refs = []
        for key, value, headers in records:
            md = await producer.send_and_wait(topic, value, key=key, headers=headers)
            refs.append(f"{md.partition}:{md.offset}")
        return refs
    finally:
        await producer.stop()


def _letters(hub: PrivateHub, *bodies: dict[str, Any]) -> list[str]:
    codec = get_codec()
    return asyncio.run(_produce(hub, topics.DLQ, [(b.get("key") or b"k",
                                                   codec.encode("DeadLetter", b), [])
                                                  for b in bodies]))  # fmt: skip


def _lines_of(out: str, ref: str) -> list[str]:
    return [line for line in out.splitlines() if line.split()[:1] == [ref]]


def _ok(res: Result) -> str:
    assert res.exit_code == 0, (res.output, res.exception)
    return res.stdout


def _other_schema() -> bytes:
    return get_codec().encode("DemandeEvent", demande_event(new_num_unique(), ["76540"]))


#: values no version of the hub reads as a DeadLetter
FOREIGN_VALUES = st.one_of(
    st.none(),  # a tombstone sent to hub.dlq by a tool
    st.binary(max_size=300),  # garbage, the empty value included
    st.binary(min_size=1, max_size=60).map(lambda b: b"\xc3\x01" + b),  # unknown fingerprint
    st.integers(1, 60).map(lambda n: get_codec().encode("DeadLetter", letter())[:-n]),
    st.just(b"").map(lambda _: _other_schema()),  # a message of another hub schema
)
FOREIGN = st.tuples(st.one_of(st.none(), st.binary(max_size=40)), FOREIGN_VALUES,
                    st.lists(st.tuples(st.text(max_size=5), st.binary(max_size=10)),
                             max_size=2),
                    ).filter(lambda r: r[0] is not None or r[1] is not None)  # aiokafka's rule


@settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=SLOW)
@given(st.lists(st.tuples(st.booleans(), FOREIGN), min_size=1, max_size=6))
def test_a_record_that_is_no_letter_is_listed_unreadable_and_the_letters_stay_usable(
        dlq_hub: PrivateHub, cli: Cli, drawn: list[tuple[bool, Record]]) -> None:  # fmt: skip
    codec = get_codec()
    records: list[Record] = []
    for is_letter, foreign in drawn:
        body = letter(key=foreign[0])
        records.append((foreign[0], codec.encode("DeadLetter", body), []) if is_letter else foreign)
    refs = asyncio.run(_produce(dlq_hub, topics.DLQ, records))
    good = {ref for ref, (is_letter, _) in zip(refs, drawn, strict=True) if is_letter}
    bad = set(refs) - good

    listed = _ok(cli("dlq", "list"))
    for ref in refs:
        (line,) = _lines_of(listed, ref)
        assert line.split()[1] == ("bad_operation" if ref in good else "unreadable"), line
        shown = _ok(cli("dlq", "show", ref, "--payload"))
        assert ("unreadable" in shown) is (ref in bad), shown
    dry = _ok(cli("dlq", "replay", "--all", "--dry-run"))
    assert {line.split()[2] for line in dry.splitlines() if line.startswith("would replay")
            } >= good  # fmt: skip
    skipped = {line.split()[1] for line in dry.splitlines() if line.startswith("skipped")}
    assert skipped >= bad and not skipped & good, dry
    status = json.loads(_ok(cli("status", "--json")))
    unreadable = status["dlq"].get("unreadable", {"letters": 0, "pending": 0})
    assert unreadable["letters"] >= len(bad) and unreadable["pending"] == 0, status["dlq"]
    assert status["dlq_letters"] >= len(refs)


def test_replay_all_skips_what_can_never_be_replayed_and_replays_the_rest(cli: Cli,
                                                                         dlq_hub: PrivateHub,
                                                                         ) -> None:  # fmt: skip
    first, tomb, foreign, last = _letters(
        dlq_hub,
        letter(payload=b"first"),
        letter("tombstone", payload=None),  # the worker's letter for a record without value
        letter(source=topics.ACTORS),  # not an input topic: never written back
        letter("unknown_commune", payload=b"last"),
    )
    (garbage,) = asyncio.run(_produce(dlq_hub, topics.DLQ, [(b"k", b"hello", [])]))
    never = {tomb, foreign, garbage}

    counts = _ok(cli("dlq", "list", "-q")).splitlines()
    assert counts[0] == "5 dead letters (0 duplicates, 3 unreplayable), 2 to replay", counts
    dry = _ok(cli("dlq", "replay", "--all", "--dry-run")).splitlines()
    assert {line.split()[1] for line in dry if line.startswith("skipped")} == never, dry
    assert [line.split()[2] for line in dry if line.startswith("would replay")] == [first, last]
    assert dry[-1] == "2 letters would be replayed, 3 skipped (never replayable)", dry

    out = _ok(cli("dlq", "replay", "--all")).splitlines()
    assert [line.split()[1] for line in out if line.startswith("replayed")] == [first, last]
    assert {line.split()[1] for line in out if line.startswith("skipped")} == never, out
    assert out[-1] == "2 letters replayed, 3 skipped (never replayable)", out
    assert _ok(cli("dlq", "list", "-q")).splitlines()[0] == (
        "5 dead letters (0 duplicates, 3 unreplayable), 0 to replay")
    assert "0 letters replayed" in _ok(cli("dlq", "replay", "--all"))
    # named alone, a letter that cannot be replayed is still an error
    one = cli("dlq", "replay", tomb)
    assert one.exit_code == 1 and "tombstone" in one.output, one.output
    status = json.loads(_ok(cli("status", "--json")))
    assert (status["dlq_letters"], status["dlq_pending"]) == (5, 0), status["dlq"]


@settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=SLOW)
@given(key=st.one_of(st.none(), st.binary(max_size=30), TEXT.map(str.encode)), reason=TEXT,
       message=TEXT, source=TEXT, earlier=TEXT)  # fmt: skip
def test_control_characters_of_records_are_escaped_one_letter_one_line(
        dlq_hub: PrivateHub, cli: Cli, key: bytes | None, reason: str, message: str,
        source: str, earlier: str) -> None:  # fmt: skip
    history = [{"reason": earlier, "message": earlier, "failedAt": 5}]
    (ref,) = _letters(dlq_hub, letter(reason, source=source, key=key, message=message,
                                      history=history))  # fmt: skip
    listed = _ok(cli("dlq", "list"))
    shown = _ok(cli("dlq", "show", ref))
    dry = cli("dlq", "replay", ref, "--dry-run")  # refused when the source is no input topic
    for out in (listed, shown, dry.output):
        assert all(line.isprintable() for line in out.splitlines()), out
    assert len(_lines_of(listed, ref)) == 1, listed
    # the letter's line, its message, one line per earlier failure, its payload size
    assert len(shown.splitlines()) == 4, shown


def test_a_letter_written_after_hub_dlq_was_recreated_is_not_taken_as_replayed(
        cli: Cli, dlq_hub: PrivateHub) -> None:  # fmt: skip
    asyncio.run(_recreate_dlq(dlq_hub))
    (old,) = _letters(dlq_hub, letter(payload=b"old"))
    assert "1 letters replayed" in _ok(cli("dlq", "replay", old))
    asyncio.run(_recreate_dlq(dlq_hub))  # the ledger keeps its entry for `old`'s position
    (new,) = _letters(dlq_hub, letter(payload=b"new"))
    assert new == old
    listed = _ok(cli("dlq", "list"))
    assert listed.splitlines()[0] == "1 dead letters (0 duplicates, 0 unreplayable), 1 to replay"
    assert "replayed->" not in _lines_of(listed, new)[0], listed
    assert "1 letters replayed" in _ok(cli("dlq", "replay", "--all"))
    # a ledger entry written before entries named their letter: a replay cannot precede
    # the failure it replays
    asyncio.run(_recreate_dlq(dlq_hub))
    legacy = {"replayedAt": int(time.time() * 1000) - 60_000, "topic": topics.DEMANDES,
              "partition": 0, "offset": 1}  # fmt: skip
    asyncio.run(_produce(dlq_hub, REPLAYS, [(new.encode(), json.dumps(legacy).encode(), [])]))
    (newer,) = _letters(dlq_hub, letter(payload=b"newer"))
    assert newer == new
    assert _ok(cli("dlq", "list", "-q")).splitlines()[0].endswith(", 1 to replay")
