"""``hub publish --dry-run`` against whatever a file may hold (issue 19 point 4): arbitrary
JSON values, nestings up to 100,000 deep, lines above the limit, random bytes, oversize
XML. Every refused line is one ``file:line: reason`` line on stderr, the exit status is
1 (2 for a usage error), never a traceback; with ``--skip-invalid`` the valid events
still count. In-process through click's CliRunner, and as a real ``hub`` subprocess."""

from __future__ import annotations

import copy
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.ingress.publishing import prepare_event
from hub.cli import main
from hub.core.errors import InputError
from hub.core.settings import get_settings
from tests.support.demandes import new_num_unique
from tests.support.spec_events import spec_event, wished_communes

MAX_LINE = get_settings().publish.max_line_bytes
MAX_FILE = get_settings().files.max_file_bytes
ERROR_LINE = re.compile(r"^(?P<where>.+?):(?P<line>\d+): \S.*$")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=30,
)


@st.composite
def deep_lines(draw: st.DrawFn) -> bytes:
    depth = draw(st.integers(1, 100_000))
    opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}"), (b"{", b"")]))
    closed = draw(st.booleans())
    inner = opener * depth + b"0" + (closer * depth if closed else b"")
    return draw(st.sampled_from([inner, b'{"x":' + inner + b"}"]))


@st.composite
def huge_lines(draw: st.DrawFn) -> bytes:
    size = MAX_LINE + draw(st.integers(1, 4096))
    fill = draw(st.sampled_from([b"x", b"[", b" ", b"\xff"]))
    return b'{"k": "' + fill * size + b'"}'


def _one_line(data: bytes) -> bytes:
    return data.replace(b"\n", b" ").replace(b"\r", b" ")


@dataclass(frozen=True)
class Line:
    data: bytes
    valid: bool


def _spec_line() -> Line:
    communes = list(wished_communes())
    return Line(json.dumps(spec_event(new_num_unique(), communes[:2])).encode(), True)


lines = st.one_of(
    json_values.map(lambda v: Line(json.dumps(v).encode(), False)),
    deep_lines().map(lambda b: Line(b, False)),
    huge_lines().map(lambda b: Line(b, False)),
    st.binary(max_size=200).map(lambda b: Line(_one_line(b), False)),
    st.just(None).map(lambda _: _spec_line()),
)


def _check(stderr: str, stdout: str, code: int, path: Path, content: list[Line],
           skip_invalid: bool) -> None:  # fmt: skip
    assert "Traceback" not in stderr and "Traceback" not in stdout, stderr[-2000:]
    events = [(n, ln) for n, ln in enumerate(content, 1) if ln.data.strip()]
    valid = sum(ln.valid for _, ln in events)
    invalid = len(events) - valid
    refused = [ERROR_LINE.match(s) for s in stderr.splitlines() if not s.startswith("Error: ")]
    assert all(refused), stderr[-2000:]
    assert [(m["where"], int(m["line"])) for m in refused if m] == [
        (str(path), n) for n, ln in events if not ln.valid
    ]
    if not events:  # blank lines only
        assert code == 1, (stdout, stderr[-2000:])
        assert stderr.splitlines() == [f"Error: no event found in {path}; nothing published"]
    elif invalid and (not skip_invalid or not valid):
        assert code == 1, (stdout, stderr[-2000:])
        assert stderr.splitlines()[-1].startswith("Error: ")
    else:
        assert code == 0, stderr[-2000:]
        assert f"{valid} valid event(s), {invalid} invalid; nothing published" in stdout


@settings(max_examples=120, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.large_base_example])  # fmt: skip
@given(content=st.lists(lines, min_size=1, max_size=4), skip_invalid=st.booleans())
def test_publish_dry_run_never_crashes(content: list[Line], skip_invalid: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        path.write_bytes(b"\n".join(ln.data for ln in content) + b"\n")
        args = ["publish", "--dry-run", *(["--skip-invalid"] if skip_invalid else []), str(path)]
        res = CliRunner().invoke(main, args)
        # an exception escaping the command is a crash, whatever exit code it gave
        assert res.exception is None or isinstance(res.exception, SystemExit), repr(
            res.exception
        )
        _check(res.stderr, res.stdout, res.exit_code, path, content, skip_invalid)


def _hostile_file(folder: Path) -> tuple[Path, list[Line]]:
    rnd = random.Random(19)
    content = [
        Line(b"5", False),
        Line(b"null", False),
        Line(b"[" * 100_000 + b"]" * 100_000, False),
        Line(b'{"a":' * 100_000 + b"1" + b"}" * 100_000, False),
        _spec_line(),
        Line(b"x" * (MAX_LINE + 1), False),
        Line(_one_line(bytes(rnd.randrange(256) for _ in range(300))), False),
        Line(b'{"numUnique": "x", "operation": "CRE", "demande": 5}', False),
        Line(b'"\xff"', False),
        _spec_line(),
    ]
    path = folder / "hostile.jsonl"
    path.write_bytes(b"\n".join(ln.data for ln in content) + b"\n")
    return path, content


def _hub() -> list[str]:
    """The installed ``hub`` command (the console script), else the same entry point."""
    exe = shutil.which("hub", path=os.pathsep.join([str(Path(sys.executable).parent),
                                                    os.environ.get("PATH", "")]))  # fmt: skip
    return [exe] if exe else [sys.executable, "-c", "from hub.cli import main; main()"]


@pytest.mark.parametrize("skip_invalid", [False, True])
def test_hub_publish_subprocess_reports_every_bad_line(tmp_path: Path, skip_invalid: bool) -> None:
    path, content = _hostile_file(tmp_path)
    flags = ["--skip-invalid"] if skip_invalid else []
    res = subprocess.run([*_hub(), "publish", "--dry-run", *flags, str(path)],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    _check(res.stderr, res.stdout, res.returncode, path, content, skip_invalid)
    assert f"{path}:1: not a JSON object (got a number)" in res.stderr
    assert f"{path}:2: not a JSON object (got null)" in res.stderr
    assert f"{path}:3: JSON nested deeper than 64 levels" in res.stderr
    assert f"{path}:4: JSON nested deeper than 64 levels" in res.stderr
    assert f"{path}:6: line longer than {MAX_LINE} bytes" in res.stderr
    assert f"{path}:9: not UTF-8 (invalid byte at column 2)" in res.stderr


def test_usage_errors_and_other_files(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(main, ["publish", "--dry-run", str(tmp_path / "missing.jsonl")])
    assert res.exit_code == 2 and "Traceback" not in res.output
    big = tmp_path / "big.xml"
    big.write_bytes(b"<a>" + b"x" * MAX_FILE + b"</a>")
    odd = tmp_path / "notes.txt"
    odd.write_text("hello")
    res = runner.invoke(main, ["publish", "--dry-run", "--skip-invalid", str(big), str(odd)])
    assert res.exit_code == 1, res.output
    assert f"{big}: file larger than the {MAX_FILE} bytes cap" in res.stderr
    assert f"{odd}: unsupported file type .txt; use .jsonl or .xml" in res.stderr
    # an XML file is one event, a file of another type is refused as a file
    assert res.stderr.splitlines()[-1] == (
        "Error: 1 invalid event(s) and 1 refused file(s) and no valid event, nothing published"
    )


def test_xml_size_limit_is_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = (Path(__file__).resolve().parents[1] / "data" / "interfacenuu"
           / "demande_complete.xml").read_bytes()  # fmt: skip
    (tmp_path / "doc.xml").write_bytes(doc)
    monkeypatch.setenv("HUB_FILES__MAX_FILE_BYTES", str(len(doc) - 1))
    get_settings.cache_clear()
    try:
        res = CliRunner().invoke(main, ["publish", "--dry-run", str(tmp_path / "doc.xml")])
    finally:
        monkeypatch.delenv("HUB_FILES__MAX_FILE_BYTES")
        get_settings.cache_clear()
    assert res.exit_code == 1
    assert f"file larger than the {len(doc) - 1} bytes cap" in res.stderr


def _paths(value: object, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


SPEC = spec_event(new_num_unique(), list(wished_communes()))
SPEC_PATHS = _paths(SPEC)[1:]


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
@given(where=st.sampled_from(SPEC_PATHS), value=json_values)
def test_any_value_anywhere_in_an_event_is_accepted_or_one_input_error(
    where: tuple[str | int, ...], value: object
) -> None:
    """A spec event with any one value replaced by any JSON value: the shape is checked
    against the schema before the business rules read it (no TypeError, AttributeError)."""
    event = copy.deepcopy(SPEC)
    parent: Any = event
    for key in where[:-1]:
        parent = parent[key]
    parent[where[-1]] = value
    try:
        prepare_event(json.loads(json.dumps(event)))
    except InputError as exc:
        assert exc.message and "\n" not in exc.message


@pytest.mark.parametrize(("variable", "value"), [
    ("HUB_PUBLISH__MAX_LINE_BYTES", "5"), ("HUB_PUBLISH__MAX_JSON_DEPTH", "deep"),
    ("HUB_FILES__MAX_FILE_BYTES", "-1"),
])  # fmt: skip
def test_a_refused_setting_is_one_line_naming_it(tmp_path: Path, variable: str,
                                                 value: str) -> None:  # fmt: skip
    (tmp_path / "e.jsonl").write_text("{}\n")
    res = subprocess.run([*_hub(), "publish", "--dry-run", str(tmp_path / "e.jsonl")],
                         env={**os.environ, variable: value}, capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr[-2000:]
    assert res.stderr.strip().splitlines() == [
        f"Error: invalid setting {variable}: " + res.stderr.split(": ", 2)[2].strip()
    ]
    assert value not in res.stderr.replace(variable, "")


def test_names_from_the_input_never_break_the_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a\nb.jsonl").write_bytes(b"5\n")
    event = dict(SPEC, **{"evil\nname": 1, "x" * 5000: 2})
    (folder / "c.jsonl").write_text(json.dumps(event) + "\n")
    res = CliRunner().invoke(main, ["publish", "--dry-run", str(folder)])
    assert res.exit_code == 1
    assert res.stderr.splitlines() == [
        f"{folder}/a\\nb.jsonl:1: not a JSON object (got a number)",
        f"{folder}/c.jsonl:1: DemandeEvent: fr.passerelle.hub.DemandeEvent: unknown fields "
        f"'evil\\nname', '{'x' * 40}'",
        "Error: 2 invalid event(s), nothing published (use --skip-invalid to publish the rest)",
    ]


# -- no event at all, files refused or passed over ---------------------------------------


def _no_kafka(monkeypatch: pytest.MonkeyPatch) -> None:
    from connectors.ingress import publishing

    def refuse(_settings: object) -> None:
        raise AssertionError("nothing to send: Kafka must not be called")

    monkeypatch.setattr(publishing, "new_producer", refuse)


@pytest.mark.parametrize("kind", ["empty", "blank lines", "bom", "folder of .txt", "empty folder"])
@pytest.mark.parametrize("dry_run", [True, False])
def test_an_input_without_any_event_is_refused_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, dry_run: bool
) -> None:
    """An empty file, blank lines only, a byte order mark only, a folder holding no file
    of ours: one line naming the input, exit 1 like the other refusals, nothing sent (the
    passed-over files counted and named on stderr)."""
    _no_kafka(monkeypatch)
    path = tmp_path / ("in" if "folder" in kind else "events.jsonl")
    if "folder" in kind:
        path.mkdir()
        if kind == "folder of .txt":
            (path / "notes.txt").write_text('{"an": "event"}\n')
    else:
        path.write_bytes({"empty": b"", "blank lines": b"\n  \n\r\n\t\n",
                          "bom": b"\xef\xbb\xbf"}[kind])  # fmt: skip
    res = CliRunner().invoke(main, ["publish", *(["--dry-run"] if dry_run else []), str(path)])
    assert res.exit_code == 1, (res.output, res.exception)
    assert res.stdout == ""
    skipped = [f"passed over 1 file(s) in folders, not named .jsonl, .ndjson, .json or .xml: "
               f"{path / 'notes.txt'}"] if kind == "folder of .txt" else []  # fmt: skip
    assert res.stderr.splitlines() == [
        *skipped, f"Error: no event found in {path}; nothing published"
    ]


def test_several_inputs_without_event_are_named_the_first_three(tmp_path: Path) -> None:
    paths = [tmp_path / f"e{i}.jsonl" for i in range(5)]
    for p in paths:
        p.write_bytes(b"\n")
    res = CliRunner().invoke(main, ["publish", "--dry-run", *map(str, paths)])
    assert res.exit_code == 1
    assert res.stderr.splitlines() == [
        f"Error: no event found in {paths[0]}, {paths[1]}, {paths[2]} and 2 more; "
        "nothing published"
    ]


def test_files_passed_over_in_a_folder_are_counted_and_the_first_named(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.jsonl").write_text(json.dumps(SPEC) + "\n")
    odd = [folder / "README", folder / "notes.txt", folder / "sub" / "x.csv", folder / "z.md"]
    for f in odd:
        f.write_text("not ours")
    res = CliRunner().invoke(main, ["publish", "--dry-run", str(folder)])
    assert res.exit_code == 0, (res.output, res.exception)
    assert res.stderr.splitlines() == [
        "passed over 4 file(s) in folders, not named .jsonl, .ndjson, .json or .xml: "
        f"{odd[0]}, {odd[1]}, {odd[2]} and 1 more"
    ]
    assert "1 valid event(s), 0 invalid; nothing published (dry run)" in res.stdout


def test_the_bytes_of_files_passed_over_are_not_counted(tmp_path: Path) -> None:
    from connectors.ingress.publishing import input_bytes

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jsonl").write_bytes(b"x" * 10)
    (folder / "b.XML").write_bytes(b"x" * 100)
    (folder / "big.txt").write_bytes(b"x" * 100_000)
    odd = tmp_path / "c.txt"  # named: refused, not read
    odd.write_bytes(b"x" * 1000)
    assert input_bytes([folder, odd]) == 110


def test_a_file_refused_as_a_whole_is_a_refused_file_not_an_invalid_event(
    tmp_path: Path,
) -> None:
    good = tmp_path / "a.jsonl"
    good.write_text(json.dumps(SPEC) + "\n")
    odd = tmp_path / "notes.txt"
    odd.write_text("hello")
    runner = CliRunner()
    res = runner.invoke(main, ["publish", "--dry-run", str(odd)])
    assert res.exit_code == 1
    assert res.stderr.splitlines() == [
        f"{odd}: unsupported file type .txt; use .jsonl or .xml",
        "Error: 1 refused file(s) and no event found, nothing published",
    ]
    res = runner.invoke(main, ["publish", "--dry-run", str(good), str(odd)])
    assert res.exit_code == 1  # all or nothing: a refused file as an invalid event
    assert res.stderr.splitlines()[-1] == (
        "Error: 1 refused file(s), nothing published (use --skip-invalid to publish the rest)"
    )
    res = runner.invoke(main, ["publish", "--dry-run", "--skip-invalid", str(good), str(odd)])
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines() == [
        "1 valid event(s), 0 invalid, 1 refused file(s); nothing published (dry run)"
    ]
