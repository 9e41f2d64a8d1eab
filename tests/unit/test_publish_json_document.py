"""``hub publish`` of a ``.json`` file holding one pretty-printed JSON document (audit
finding 13): one line saying that ``.json`` files are read as JSON lines, not one refusal
per line of the file; JSON lines files keep their refusals line by line. The events are
made from the specification (tests/support/spec_events), the documents by the standard
library's ``json.dumps(indent=2)``, as an editor or a script would write them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from connectors.ingress.json_files import MESSAGE
from connectors.ingress.publishing import InputLimits, iter_inputs
from hub.cli import main
from hub.core.settings import get_settings
from tests.support.demandes import new_num_unique
from tests.support.spec_events import spec_event, wished_communes


def _event() -> dict[str, object]:
    return spec_event(new_num_unique(), list(wished_communes())[:2])


def _publish(*paths: Path) -> tuple[int, list[str], str]:
    res = CliRunner().invoke(
        main, ["publish", "--dry-run", "--skip-invalid", *(str(p) for p in paths)]
    )
    return res.exit_code, res.stderr.splitlines(), res.stdout


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(lambda: json.dumps(_event(), indent=2), id="pretty-object"),
        pytest.param(lambda: json.dumps([_event(), _event()], indent=2), id="pretty-array"),
        pytest.param(lambda: "\ufeff\n\n" + json.dumps(_event(), indent=4), id="bom-blank-lines"),
        pytest.param(lambda: json.dumps(_event(), indent=2, ensure_ascii=False).replace(
            "{\n  ", "{ ", 1), id="first-key-on-line-1"),
    ],
)  # fmt: skip
def test_a_pretty_printed_json_file_is_one_refusal(tmp_path: Path, document: object) -> None:
    pretty = tmp_path / "pretty.json"
    pretty.write_text(document(), encoding="utf-8")  # type: ignore[operator]
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps(_event()) + "\n")
    code, stderr, stdout = _publish(pretty, good)
    assert code == 0, stderr
    assert stderr == [f"{pretty}: {MESSAGE}"]
    assert "1 valid event(s), 0 invalid, 1 refused file(s)" in stdout
    # the other reader of inputs says the same, once
    limits = InputLimits.of(get_settings())
    refused = [(w, str(r)) for w, r in iter_inputs([pretty], limits) if isinstance(r, Exception)]
    assert refused == [(str(pretty), MESSAGE)]


def test_json_lines_keep_their_refusals_line_by_line(tmp_path: Path) -> None:
    lines = [json.dumps(_event()), "{not json", json.dumps(_event()), "[1, 2]", "{"]
    for name in ("events.json", "events.jsonl"):
        f = tmp_path / name
        f.write_text("\n".join(lines) + "\n")
        code, stderr, stdout = _publish(f)
        assert code == 0, stderr
        assert [s.split(": ", 1)[0] for s in stderr] == [f"{f}:2", f"{f}:4", f"{f}:5"]
        assert "2 valid event(s), 3 invalid" in stdout


@pytest.mark.parametrize(
    "first",
    [
        pytest.param("5", id="a-number"),
        pytest.param('{"numUnique": NaN}', id="nan"),
        pytest.param("[" * 1000 + "]" * 1000, id="deep"),
    ],
)
def test_a_first_line_that_is_a_json_value_leaves_the_file_as_json_lines(
    tmp_path: Path, first: str
) -> None:
    f = tmp_path / "events.json"
    f.write_text(first + "\n" + json.dumps(_event()) + "\n")
    code, stderr, _ = _publish(f)
    assert code == 0
    assert len(stderr) == 1 and stderr[0].startswith(f"{f}:1: "), stderr


def test_a_pretty_printed_jsonl_file_keeps_one_refusal_per_line(tmp_path: Path) -> None:
    """Named as JSON lines, it is read as such: its lines are what the name promises."""
    f = tmp_path / "pretty.jsonl"
    text = json.dumps(_event(), indent=2)
    f.write_text(text)
    code, stderr, _ = _publish(f)
    assert code == 1
    assert len(stderr) > 10 and stderr[0].startswith(f"{f}:1: not JSON")
