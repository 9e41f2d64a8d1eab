"""The spool and the parallel check of ``hub publish`` (issue 21 point 4), without a broker
(the producer is the fake of ``test_publish_streaming``: it acknowledges on the next turn
of the event loop and records the keys and values in the order sent).

* the spool gives back what was written, in order, any bytes, and reads as an error
  when cut short; it has no name on disk and is closed on error;
* the check cut into units, in worker processes, reports exactly what one stream over
  the inputs reports (same locations, same messages, same order), and the records sent
  are the inputs' valid events in input order, whatever the number of processes;
* the all-or-nothing rule through the spool: one invalid event after thousands of valid
  ones and nothing is sent; with ``--skip-invalid`` the others are, in order;
* what is sent is what was checked, even if an input changes between the passes;
* Ctrl-C during the check ends the command and its workers, the spool gone with them,
  and says nothing was sent; during the send pass it says how many events the producer
  acknowledged (exactly those it got) and how to send the rest.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.ingress import checking, publishing
from connectors.ingress.checking import Checker, units
from connectors.ingress.publish_files import publish_spool, validate_files
from connectors.ingress.publishing import InputLimits, check_raw, iter_inputs
from connectors.ingress.spool import READY, Spool, frame, frame_pending
from hub.cli import main
from hub.core.errors import InputError
from hub.core.settings import get_settings
from tests.support.demandes import new_num_unique
from tests.support.spec_events import read_spec_event, spec_event, wished_communes


class RecordingProducer:
    """Acknowledges every send on the next loop turn; keeps (key, value) in order."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, bytes]] = []

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def send(self, topic: str, value: bytes, *, key: bytes) -> asyncio.Future[None]:
        self.sent.append((key, value))
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(fut.set_result, None)
        return fut


@pytest.fixture()
def producer(monkeypatch: pytest.MonkeyPatch) -> RecordingProducer:
    fake = RecordingProducer()

    async def no_topics(*_: Any) -> list[str]:
        return []

    monkeypatch.setattr(publishing, "new_producer", lambda _settings: fake)
    monkeypatch.setattr(publishing, "ensure_topics", no_topics)
    return fake


@pytest.fixture()
def small_units(monkeypatch: pytest.MonkeyPatch) -> None:
    """Units of a few kB and XML batches of 3: many units from small inputs (the forked
    workers inherit the patched values)."""
    monkeypatch.setattr(checking, "_BLOCK", 4096)
    monkeypatch.setattr(checking, "SLICE_BYTES", 4096)
    monkeypatch.setattr(checking, "XML_BATCH", 3)


def _event_line(**extra: Any) -> bytes:
    event = spec_event(new_num_unique(), list(wished_communes())[:2])
    event.update(extra)
    return json.dumps(event).encode()


def _event_line_without_id() -> bytes:
    event = spec_event(new_num_unique(), list(wished_communes())[:2])
    del event["eventId"]
    return json.dumps(event).encode()


# -- the spool itself ------------------------------------------------------------------

_FIXTURES = [HealthCheck.function_scoped_fixture]


def _link(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:  # closed meanwhile
        return ""


entries = st.lists(st.tuples(st.binary(max_size=40), st.binary(max_size=300)), max_size=60)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(records=entries, cuts=st.lists(st.integers(0, 60), max_size=8))
def test_the_spool_gives_back_what_was_written_in_order(
    tmp_path: Path, records: list[tuple[bytes, bytes]], cuts: list[int]
) -> None:
    framed = [frame(READY, k, v) for k, v in records]
    bounds = sorted({0, len(framed), *(min(c, len(framed)) for c in cuts)})
    with Spool(tmp_path) as spool:
        for a, b in itertools.pairwise(bounds):  # several entries per write
            spool.write(b"".join(framed[a:b]), b - a)
        for _ in range(2):  # read twice: each reading starts from the first entry
            got = [(e.kind, e.key, e.value) for e in spool.entries()]
            assert got == [(READY, k, v) for k, v in records]
        assert spool.bytes_written == sum(len(f) for f in framed)
        assert os.listdir(tmp_path) == []  # no name on disk, ever


def test_a_creation_to_number_keeps_its_location_event_and_document(tmp_path: Path) -> None:
    event = {"operation": "CRE", "numUnique": "", "demande": {"x": [1, "é", None]}}
    with Spool(tmp_path) as spool:
        spool.write(frame_pending("in.xml", event, b"<doc/>") + frame(READY, b"k", b"v"), 2)
        first, second = spool.entries()
    assert first.pending() == ("in.xml", event, b"<doc/>")
    assert (second.kind, second.key, second.value) == (READY, b"k", b"v")


def test_a_spool_cut_short_is_an_error_not_garbage(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        spool.write(frame(READY, b"key", b"value" * 10) * 3, 3)
        spool._fh.flush()
        spool._fh.truncate(spool.bytes_written - 7)
        with pytest.raises(InputError, match="spool"):
            list(spool.entries())


def test_the_spool_is_closed_when_the_block_fails(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), Spool(tmp_path) as spool:
        spool.write(frame(READY, b"k", b"v"), 1)
        assert str(tmp_path) in _link(f"/proc/self/fd/{spool._fh.fileno()}")
        raise RuntimeError("boom")
    assert spool.closed
    assert not [n for n in os.listdir("/proc/self/fd")
                if str(tmp_path) in _link(f"/proc/self/fd/{n}")]  # fmt: skip


def test_a_full_disk_is_one_line_naming_the_temp_area(tmp_path: Path) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    spool = Spool(tmp_path)
    spool._fh.close()
    spool._fh = open("/dev/full", "wb", buffering=0)  # noqa: SIM115 (closed below)
    try:
        with pytest.raises(Exception, match=f"cannot write the publish spool in {tmp_path}"):
            spool.write(b"x" * 10, 1)
    finally:
        spool.close()


# -- the check cut into units, in worker processes -------------------------------------

_LINES = st.lists(
    st.sampled_from(["valid", "valid", "valid", "blank", "not_json", "array", "unknown",
                     "long", "bom", "crlf"]),
    min_size=1, max_size=40,
)  # fmt: skip


def _line(kind: str, limits: InputLimits) -> bytes:
    if kind == "valid":
        return _event_line()
    if kind == "crlf":
        return _event_line() + b"\r"
    if kind == "blank":
        return b"   "
    if kind == "not_json":
        return b"{not json"
    if kind == "array":
        return b"[1, 2]"
    if kind == "unknown":
        return _event_line(unexpected=1)
    if kind == "bom":  # a byte order mark is allowed on line 1 only
        return b"\xef\xbb\xbf" + _event_line()
    return b"x" * (limits.max_line_bytes + 5)


def _serial(paths: list[Path], limits: InputLimits) -> tuple[list[tuple[str, str]], list[str]]:
    """What one stream over the inputs finds: refusals, numéros uniques of valid events."""
    refused, valid = [], []
    for where, raw in iter_inputs(paths, limits):
        try:
            valid.append(check_raw(raw, max_xml_bytes=limits.max_file_bytes).event["numUnique"])
        except InputError as exc:
            refused.append((where, exc.message))
    return refused, valid


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(kinds=_LINES, jobs=st.sampled_from([1, 2]))
def test_units_in_workers_find_what_one_stream_finds(
    tmp_path_factory: pytest.TempPathFactory, small_units: None,
    kinds: list[str], jobs: int,
) -> None:  # fmt: skip
    limits = InputLimits.of(get_settings()).__class__(
        max_line_bytes=8192, max_json_depth=64, max_file_bytes=1 << 20)  # fmt: skip
    folder = tmp_path_factory.mktemp("in")
    path = folder / "events.jsonl"
    path.write_bytes(b"\n".join(_line(k, limits) for k in kinds) + b"\n")
    refused, valid = _serial([path], limits)
    found: list[tuple[str, str]] = []
    with Spool(folder) as spool, Checker(limits, jobs=jobs) as checker:
        counts = validate_files([path], limits, lambda w, m: found.append((w, m)),
                                spool=spool, checker=checker, skip_invalid=True)  # fmt: skip
        sent = [e.key.decode() for e in spool.entries()]
    assert found == refused
    assert (counts.valid, counts.invalid) == (len(valid), len(refused))
    assert sent == valid


def _xml_documents(folder: Path, n: int) -> list[str]:
    """``n`` InterfaceNuu documents (the reference one with a new numéro unique each),
    in sub-folders; their numéros in sorted path order."""
    reference = Path(__file__).resolve().parents[1] / "data" / "interfacenuu"
    text = (reference / "demande_complete.xml").read_text()
    old = text.split("<numUnique>", 1)[1].split("</numUnique>", 1)[0]
    nums = []
    for i in range(n):
        num = new_num_unique()
        sub = folder / f"{i % 3}"
        sub.mkdir(exist_ok=True)
        (sub / f"d{i:03d}.xml").write_text(text.replace(old, num))
        nums.append((str(sub / f"d{i:03d}.xml"), num))
    return [num for _, num in sorted(nums)]


def test_the_records_sent_follow_the_input_order_with_two_workers(
    tmp_path: Path, producer: RecordingProducer, small_units: None
) -> None:
    lines = [_event_line() for _ in range(120)]
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_bytes(b"\n".join(lines) + b"\n")
    xml = tmp_path / "docs"
    xml.mkdir()
    xml_nums = _xml_documents(xml, 10)
    tail = tmp_path / "z.ndjson"
    tail.write_bytes(lines[0] + b"\n")  # the same event again, after the folder
    res = CliRunner().invoke(main, ["publish", "--jobs", "2", str(jsonl), str(xml), str(tail)])
    assert res.exit_code == 0, (res.output, res.exception)
    assert "published 131 event(s) to hub.demandes" in res.stdout
    expected = [json.loads(ln)["numUnique"] for ln in lines] + xml_nums
    expected.append(json.loads(lines[0])["numUnique"])
    assert [k.decode() for k, _ in producer.sent] == expected
    ids = [read_spec_event(v)["eventId"] for _, v in producer.sent[:120]]
    assert ids == [json.loads(ln)["eventId"] for ln in lines]  # the values, in order too


@pytest.mark.parametrize("skip", [False, True])
def test_one_invalid_event_late_in_a_big_input_and_nothing_is_sent(
    tmp_path: Path, producer: RecordingProducer, skip: bool
) -> None:
    good = _event_line()
    n = 3_000  # about 8 MB: several units of the real size
    path = tmp_path / "big.jsonl"
    with path.open("wb") as out:
        for _ in range(n):
            out.write(good + b"\n")
        out.write(_event_line(numUnique="not a numéro") + b"\n")
        out.write(good + b"\n")
    args = ["publish", "--jobs", "2", *(["--skip-invalid"] if skip else []), str(path)]
    res = CliRunner().invoke(main, args)
    assert f"{path}:{n + 1}: " in res.stderr
    if not skip:
        assert res.exit_code == 1
        assert "1 invalid event(s), nothing published" in res.stderr
        assert producer.sent == []
    else:
        assert res.exit_code == 0, (res.output, res.exception)
        assert f"published {n + 1} event(s) to hub.demandes, skipped 1 invalid" in res.stdout
        assert len(producer.sent) == n + 1
    home_tmp = get_settings().home / "tmp"
    assert not home_tmp.exists() or os.listdir(home_tmp) == []


def test_what_is_sent_is_what_was_checked_even_if_the_input_changes(
    tmp_path: Path, producer: RecordingProducer
) -> None:
    lines = [_event_line() for _ in range(5)]
    path = tmp_path / "e.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    limits = InputLimits.of(get_settings())
    with Spool(tmp_path) as spool:
        checked = validate_files([path], limits, lambda w, m: None, spool=spool)
        path.write_bytes(b"garbage\n")  # changed between the passes
        done = asyncio.run(publish_spool(get_settings(), spool, lambda w, m: None))
    assert checked.valid == done.published == 5
    assert [k.decode() for k, _ in producer.sent] == [json.loads(ln)["numUnique"] for ln in lines]


def test_units_never_split_a_line_nor_open_a_slice_with_a_bom(
    tmp_path: Path, small_units: None
) -> None:
    bom = b"\xef\xbb\xbf"
    body = b"".join((bom if i % 7 == 0 else b"") + b"x" * (i * 37 % 900) + b"\n"
                    for i in range(400))  # fmt: skip
    path = tmp_path / "l.jsonl"
    path.write_bytes(body)
    slices = list(units([path]))
    assert len(slices) > 10
    pos, line = 0, 1
    for s in slices:
        assert isinstance(s, checking.JsonSlice)
        assert (s.start, s.first_line) == (pos, line)
        assert s.start == 0 or body[s.start - 1 : s.start] == b"\n"
        assert s.start == 0 or not body[s.start :].startswith(bom)
        line += body.count(b"\n", s.start, s.end)
        pos = s.end
    assert pos == len(body)


# -- Ctrl-C -----------------------------------------------------------------------------


def _children(pid: int) -> set[int]:
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        out |= {int(c) for c in (task / "children").read_text().split()}
    return out


def _gone(pid: int) -> bool:
    try:
        return "Z" in Path(f"/proc/{pid}/stat").read_text().split(")", 1)[1].split()[0]
    except OSError:
        return True


def _default_sigint() -> None:  # a test run in the background inherits SIGINT ignored
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_stopping_the_check_ends_the_command_its_workers_and_the_spool(
    tmp_path: Path, sig: signal.Signals
) -> None:
    """Ctrl-C is one line (no traceback); a terminated or killed command takes its check
    workers with it (they would otherwise wait for work for ever); the spool never has
    a name, so nothing is left in the temp area."""
    path = tmp_path / "big.jsonl"
    line = _event_line()
    path.write_bytes((line + b"\n") * 20_000)  # far more than is checked in the test's time
    home = tmp_path / "home"
    env = {**os.environ, "HUB_HOME": str(home), "HUB_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:1"}
    proc = subprocess.Popen([sys.executable, "-c", "from hub.cli import main; main()",
                             "publish", "--jobs", "2", str(path)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=_default_sigint)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        workers: set[int] = set()
        spool_open = False
        while time.monotonic() < deadline and not (len(workers) == 2 and spool_open):
            time.sleep(0.1)
            workers = _children(proc.pid)
            links = [_link(f"/proc/{proc.pid}/fd/{n}") for n in os.listdir(f"/proc/{proc.pid}/fd")]
            spool_open = any(f.startswith(str(home / "tmp")) for f in links)
        assert len(workers) == 2 and spool_open, (workers, spool_open)
        assert os.listdir(home / "tmp") == []  # the spool has no name
        assert oct((home / "tmp").stat().st_mode & 0o777) == "0o700"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    if sig == signal.SIGINT:
        assert b"Traceback" not in err, err[-2000:]
        assert proc.returncode == 130
        assert err.decode().splitlines()[-1:] == [
            "interrupted during the check: nothing sent; all or nothing holds, publish the same "
            "input again"
        ], err[-2000:]
    deadline = time.monotonic() + 10
    while not all(_gone(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert all(_gone(pid) for pid in workers), workers
    assert os.listdir(home / "tmp") == []


#: ``hub`` with a producer that sends a record per millisecond and acknowledges it 20 ms
#: later (so some are always awaiting theirs), writing ``<sent> <acked>`` to
#: ``$FAKE_OUT`` when stopped and creating ``$FAKE_OUT.sending`` at its 300th record
_SLOW_HUB = """
import asyncio, os
from connectors.ingress import publishing
out = os.environ["FAKE_OUT"]
class Slow:
    sent = acked = 0
    async def start(self): pass
    async def stop(self):
        await asyncio.sleep(0.1)
        with open(out, "w") as f: f.write(f"{self.sent} {self.acked}")
    async def send(self, topic, value, *, key):
        await asyncio.sleep(0.001)
        self.sent += 1
        if self.sent == 300: open(out + ".sending", "w").close()
        fut = asyncio.get_running_loop().create_future()
        def ack():
            self.acked += 1
            fut.set_result(None)
        asyncio.get_running_loop().call_later(0.02, ack)
        return fut
async def no_topics(*_): return []
publishing.new_producer = lambda _settings: Slow()
publishing.ensure_topics = no_topics
from hub.cli import main
main()
"""

_INTERRUPTED = re.compile(
    r"^interrupted: ([\d,]+) of ([\d,]+) event\(s\) sent \(acknowledged by Kafka\) before "
    r"the stop; the rest not sent\. Sending had begun, so all or nothing could not hold; "
)


@pytest.mark.parametrize("with_ids", [True, False])
def test_ctrl_c_while_sending_says_how_many_events_kafka_acknowledged(
    tmp_path: Path, with_ids: bool
) -> None:
    """Ctrl-C in the send pass: exit 130 with one line giving the count the producer
    really acknowledged (those it held when stopped included), that the rest was not
    sent, and how to send it: the same input again only when every event carries its
    eventId (the dispatcher skips an id it has applied), else only the rest."""
    n = 5_000
    path = tmp_path / "big.jsonl"
    with path.open("wb") as f:
        for _ in range(n):
            f.write((_event_line() if with_ids else _event_line_without_id()) + b"\n")
    out = tmp_path / "fake"
    env = {**os.environ, "HUB_HOME": str(tmp_path / "home"), "FAKE_OUT": str(out)}
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_HUB, "publish", str(path)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=_default_sigint)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not Path(f"{out}.sending").exists() and proc.poll() is None:
            assert time.monotonic() < deadline, "the send pass did not begin"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        stdout, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = err.decode().splitlines()
    assert proc.returncode == 130, err[-2000:]
    assert stdout == b"" and len(lines) == 1, err[-2000:]
    found = _INTERRUPTED.match(lines[0])
    assert found, lines
    sent, acked = map(int, out.read_text().split())
    assert int(found[1].replace(",", "")) == acked == sent  # nothing left awaiting its ack
    assert 300 <= acked < n and int(found[2].replace(",", "")) == n
    if with_ids:
        assert lines[0].endswith("to send the rest, publish the same input again: every event "
                                 "carries its eventId and the hub skips one it has already "
                                 "applied (docs/operations.md)")  # fmt: skip
    else:
        assert lines[0].endswith(
            f"{n:,} event(s) have no eventId (the hub gives a new one at each publish), so "
            "publishing the same input again would duplicate what was sent: to send the rest, "
            f"publish only the events after the first {found[1]} valid ones (docs/operations.md)"
        )
