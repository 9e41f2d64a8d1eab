"""``hub publish`` in constant memory (issue 21 point 4), without a broker: the producer is
a fake that acknowledges each send on the next turn of the event loop.

* the publishing path pulls events from a generator only while fewer than ``window``
  sends await their acknowledgement (a list of every send would hold them all);
* the whole command (both passes) on 10× more events peaks at about the same traced
  memory (the former command kept every valid event in a list: ~10× more);
* a folder is walked in the order of its sorted paths without listing the tree first;
* the progress bar shows on a terminal, never in a pipe.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import pty
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError
from click.testing import CliRunner

from connectors.ingress import publishing
from connectors.ingress.publishing import PreparedEvent, publish_events, walk_files
from hub.cli import main
from hub.core.errors import HubError
from hub.core.settings import get_settings
from tests.support.demandes import new_num_unique
from tests.support.spec_events import spec_event, wished_communes


class FakeProducer:
    """Acknowledges every send on the next loop turn; counts what it was given."""

    def __init__(self) -> None:
        self.sent = 0
        self.keys = hashlib.sha256()  # of the keys in order: a list would weigh on the measure
        self.acked = 0

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def send(self, topic: str, value: bytes, *, key: bytes) -> asyncio.Future[None]:
        self.sent += 1
        self.keys.update(key + b"\n")
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def ack() -> None:
            self.acked += 1
            fut.set_result(None)

        asyncio.get_running_loop().call_soon(ack)
        return fut


@pytest.fixture()
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeProducer:
    producer = FakeProducer()

    async def no_topics(*_: Any) -> list[str]:
        return []

    monkeypatch.setattr(publishing, "new_producer", lambda _settings: producer)
    monkeypatch.setattr(publishing, "ensure_topics", no_topics)
    return producer


@pytest.mark.parametrize("window", [100, None])
def test_a_generator_is_pulled_only_as_far_as_the_window(fake: FakeProducer,
                                                         window: int | None) -> None:  # fmt: skip
    n, bound = (5_000, 100) if window else (25_000, 10_000)  # None: the default window
    pulled = 0
    ahead: list[int] = []  # events pulled but not acknowledged, at each pull

    def events() -> Iterator[PreparedEvent]:
        nonlocal pulled
        for i in range(n):
            pulled += 1
            ahead.append(pulled - fake.acked)
            yield PreparedEvent(key=str(i).encode(), value=b"v", event={})

    opts = {"window": window} if window else {}
    count = asyncio.run(publish_events(get_settings(), events(), **opts))
    assert count == n == fake.sent
    assert fake.keys.digest() == hashlib.sha256(b"".join(b"%d\n" % i for i in range(n))).digest()
    assert max(ahead) <= bound + 1, max(ahead)  # never the whole input at once


def _peak_of_publish(folder: Path, lines: int, line: bytes) -> int:
    path = folder / f"events-{lines}.jsonl"
    path.write_bytes(line * lines)
    tracemalloc.start()
    try:
        res = CliRunner().invoke(main, ["publish", str(path)])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert res.exit_code == 0, (res.output, res.exception)
    assert f"published {lines} event(s) to hub.demandes" in res.stdout
    return peak


def test_publish_memory_does_not_grow_with_the_input(tmp_path: Path, fake: FakeProducer) -> None:
    event = spec_event(new_num_unique(), list(wished_communes())[:3])
    event.pop("eventId", None)  # each line gets its own
    line = json.dumps(event).encode() + b"\n"
    _peak_of_publish(tmp_path, 20, line)  # loads the codec, geography, rich...
    small = _peak_of_publish(tmp_path, 300, line)
    large = _peak_of_publish(tmp_path, 3_000, line)
    assert fake.sent == 3_320
    # 10x the events: the same peak within the chunks in flight (the former command held
    # every event, ~10x its small peak)
    assert large < small * 1.5 + 2_000_000, (small, large)
    print(f"traced peak: {small} B for 300 events, {large} B for 3,000")


def test_folders_are_walked_in_sorted_path_order(tmp_path: Path) -> None:
    names = ["b.xml", "a/z.xml", "a.xml", "a/b/c.jsonl", "a-b/x.xml", "B.xml", "a/0.txt"]
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "a")  # a link to a folder is not followed
    assert list(walk_files(tmp_path)) == sorted(p for p in tmp_path.rglob("*") if p.is_file())


def _hub_argv() -> list[str]:
    return [sys.executable, "-c", "from hub.cli import main; main()"]


def test_progress_shows_on_a_terminal_only(tmp_path: Path) -> None:
    """On a terminal (a pseudo-terminal here) the check pass draws rich's bar with the
    events counted and the bytes read; piped, stderr carries nothing but refusals."""
    event = spec_event(new_num_unique(), list(wished_communes())[:2])
    path = tmp_path / "events.jsonl"
    path.write_bytes((json.dumps(event) + "\n").encode() * 200)
    primary, secondary = pty.openpty()
    try:
        proc = subprocess.run([*_hub_argv(), "publish", "--dry-run", str(path)],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=secondary, timeout=120,
                              env={**os.environ, "COLUMNS": "120"})  # fmt: skip
        os.close(secondary)
        secondary = -1
        drawn = b""
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # EIO: the other side is closed and drained
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(primary)
        if secondary >= 0:
            os.close(secondary)
    assert proc.returncode == 0
    assert b"200 valid event(s), 0 invalid; nothing published (dry run)" in proc.stdout
    screen = drawn.decode(errors="replace")
    assert "checking" in screen and "200 events" in screen, screen[-2000:]
    assert "kB" in screen or "MB" in screen, screen[-2000:]
    piped = subprocess.run([*_hub_argv(), "publish", "--dry-run", str(path)],
                           capture_output=True, text=True, timeout=120)  # fmt: skip
    assert piped.returncode == 0 and piped.stderr == ""


def test_a_failed_send_is_one_hub_error_and_stops_the_input(
    fake: FakeProducer, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop_send = fake.send

    async def failing(topic: str, value: bytes, *, key: bytes) -> asyncio.Future[None]:
        if key == b"50":
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            fut.set_exception(KafkaTimeoutError("no answer"))
            return fut
        return await loop_send(topic, value, key=key)

    monkeypatch.setattr(fake, "send", failing)
    pulled = 0

    def events() -> Iterator[PreparedEvent]:
        nonlocal pulled
        for i in range(100_000):
            pulled += 1
            yield PreparedEvent(key=str(i).encode(), value=b"v", event={})

    with pytest.raises(HubError, match=r"publishing to hub\.demandes failed"):
        asyncio.run(publish_events(get_settings(), events(), window=10))
    assert pulled < 100  # the rest of the input is not read


class LateProducer:
    """Acknowledges each send ``delay`` seconds after it; ``held`` sends are never
    acknowledged (a broker that stopped answering)."""

    def __init__(self, delay: float, held: int = 0) -> None:
        self.delay, self.held = delay, held
        self.sent = self.acked = 0
        self.open: list[asyncio.Future[None]] = []

    async def send(self, topic: str, value: bytes, *, key: bytes) -> asyncio.Future[None]:
        self.sent += 1
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.sent > self.held:

            def ack() -> None:
                self.acked += 1
                fut.set_result(None)

            asyncio.get_running_loop().call_later(self.delay, ack)
        self.open.append(fut)
        return fut


def _many() -> Iterator[PreparedEvent]:
    for i in range(1_000_000):
        yield PreparedEvent(key=str(i).encode(), value=b"v", event={})


def test_a_cancelled_send_counts_what_the_broker_acknowledged_after_the_cancel() -> None:
    """Ctrl-C in the send pass (asyncio.run cancels the task): nothing more is sent, the
    records the producer holds are waited for and every acknowledged one is counted, so
    the count is exactly what the broker got."""
    producer = LateProducer(delay=0.05)
    sent = publishing.Sent()
    counted: list[int] = []

    async def run() -> None:
        task = asyncio.ensure_future(
            publishing.send_all(producer, _many(), window=500, sent=sent, on_acked=counted.append)
        )
        while producer.acked < 2_000:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    assert 2_000 <= sent.acked == producer.acked == producer.sent == sum(counted) < 1_000_000
    assert sent.unsettled == 0


def test_a_second_cancel_stops_the_wait_and_counts_the_unsettled() -> None:
    producer = LateProducer(delay=0.001, held=10_000)  # the first 10,000: no answer
    sent = publishing.Sent()

    async def run() -> None:
        task = asyncio.ensure_future(publishing.send_all(producer, _many(), window=300, sent=sent))
        while producer.sent < 300:
            await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.sleep(0.1)  # waiting for the answers that will not come
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    assert (sent.acked, sent.unsettled) == (0, producer.sent) and producer.sent >= 300


def test_kafka_failing_mid_send_says_how_many_events_it_had_acknowledged(
    fake: FakeProducer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A broker failure in the send pass: the one line says what Kafka had already taken
    (those stay published) and how to send the rest, not only "failed"."""
    from tests.support.demandes import demande_event, new_num_unique

    real_send = fake.send

    async def send(topic: str, value: bytes, *, key: bytes) -> asyncio.Future[None]:
        if fake.sent == 40:
            raise KafkaTimeoutError("broker gone")
        return await real_send(topic, value, key=key)

    monkeypatch.setattr(fake, "send", send)
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(demande_event(new_num_unique(), ["76540"])) + "\n"
                            for _ in range(100)))  # fmt: skip
    res = CliRunner().invoke(main, ["publish", str(path)])
    assert res.exit_code == 1, res.output
    [line] = res.stderr.splitlines()
    assert "publishing to hub.demandes failed" in line
    assert f"{fake.acked} of 100 event(s) sent (acknowledged by Kafka)" in line, line
    assert fake.acked == 40 and "publish the same input again" in line
