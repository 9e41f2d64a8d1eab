"""The ``hub`` CLI when things are missing or wrong, for a person: one line on stderr, never
a traceback (the newcomer audit's points 1 to 8).

* No broker (a closed port, 127.0.0.1:1): every command that connects to Kafka says
  ``Kafka not reachable at 127.0.0.1:1: start it with 'hub stack up' (or set
  HUB_KAFKA__BOOTSTRAP_SERVERS)`` and exits 1, without aiokafka's own "Unable connect"
  log lines unless ``-v``, and without "Unclosed AIOKafkaConsumer".
* ``hub status`` with no broker shows what it could not read as unknown (``null`` in
  JSON), never as 0; an ``--actor`` the registry does not know is a one-line error.
* ``hub dlq show abc`` is a usage error naming PARTITION:OFFSET.
* A closed stdout (``| head -1``) ends any command quietly, exit 0.
* A feed in the registry's wire format read without ``HUB_REGISTRY__URL`` says so.
* Help is plain text: no reST ````literal```` markup.

Real ``hub`` subprocesses (a fresh home and SQLite database each) and click's CliRunner; no
broker needed.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from hub.cli import main
from hub.core.errors import DecodeError, TransientError
from hub.services.status import Brokers, Status

REPO = Path(__file__).resolve().parents[2]
DEAD = "127.0.0.1:1"
UNREACHABLE = (
    f"Error: Kafka not reachable at {DEAD}: start it with 'hub stack up' "
    "(or set HUB_KAFKA__BOOTSTRAP_SERVERS)"
)
XML = REPO / "tests" / "data" / "interfacenuu" / "demande_complete.xml"


@pytest.fixture()
def env(tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    return {**base, "HUB_HOME": str(tmp_path / "home"), "HUB_KAFKA__BOOTSTRAP_SERVERS": DEAD,
            "HUB_DATABASE__URL": f"sqlite:///{tmp_path / 'hub.db'}", "COLUMNS": "200",
            "PYTHONPATH": str(REPO)}  # fmt: skip


def hub(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from hub.cli import main; main()", *args],
                          env=env, capture_output=True, text=True, timeout=120,
                          cwd=env["HUB_HOME"].rsplit("/", 1)[0])  # fmt: skip


def assert_one_line(res: subprocess.CompletedProcess[str], line: str, rc: int = 1) -> None:
    assert res.returncode == rc, (res.returncode, res.stderr[-3000:])
    assert res.stderr.splitlines() == [line], res.stderr[-3000:]


@pytest.mark.parametrize(
    "args",
    [
        ("feed", "some-actor", "-e"),
        ("feed", "some-actor", "--from-beginning"),
        ("dlq", "list"),
        ("dlq", "show", "0:1"),
        ("dlq", "replay", "--all"),
        ("audit", "record", "--once"),
        ("clock", "tick"),
        ("publish", str(XML)),
        ("purge", "--dry-run"),
    ],
    ids=lambda a: " ".join(a[:2]) if a[0] != "publish" else "publish",
)
def test_no_broker_is_one_line(env: dict[str, str], args: tuple[str, ...]) -> None:
    assert_one_line(hub(env, *args), UNREACHABLE)


def test_actors_add_says_where_kafka_was_looked_for(env: dict[str, str]) -> None:
    res = hub(env, "actors", "add", "--id", "a1", "--name", "A", "--kind", "bailleur",
              "--commune", "76540")  # fmt: skip
    assert res.returncode == 1, res.stderr[-3000:]
    assert len(res.stderr.splitlines()) == 1, res.stderr[-3000:]
    assert "saved but not yet published" in res.stderr, res.stderr
    assert UNREACHABLE.removeprefix("Error: ") in res.stderr, res.stderr
    res = hub(env, "actors", "publish")
    assert res.returncode == 1 and len(res.stderr.splitlines()) == 1, res.stderr[-3000:]
    assert UNREACHABLE.removeprefix("Error: ") in res.stderr, res.stderr


def test_verbose_shows_the_kafka_client_connection_errors(env: dict[str, str]) -> None:
    res = hub(env, "-v", "clock", "tick")
    assert res.returncode == 1, res.stderr[-3000:]
    assert "Unable connect to" in res.stderr and res.stderr.splitlines()[-1] == UNREACHABLE


def test_connection_noise_drops_only_failed_connections() -> None:
    from hub.core.kafka.client import ConnectionNoise

    def record(msg: str, *args: object) -> logging.LogRecord:
        return logging.LogRecord("aiokafka", logging.ERROR, "client.py", 1, msg, args, None)

    noise = ConnectionNoise()
    assert not noise.filter(record('Unable connect to "%s:%s": %s', "h", 1, "refused"))
    assert not noise.filter(record("Unable connect to node with id %s: %s", 1, "x"))
    assert not noise.filter(record("Unable to update metadata from %s", [1]))
    assert noise.filter(record("Topic %s not found in cluster metadata", "t"))


def test_status_without_broker_shows_unknown_not_zero(env: dict[str, str]) -> None:
    res = hub(env, "status", "--timeout", "3")
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr[-3000:]
    assert "Unable connect" not in res.stderr, res.stderr
    out = res.stdout
    for line in ("Lag total unknown", "DLQ letters unknown", "Outboxes unknown",
                 "Feeds unknown"):  # fmt: skip
        assert line in out.splitlines(), out
    assert " 0" not in out.replace(DEAD, ""), out
    assert f"brokers: Kafka not reachable at {DEAD}" in out, out

    res = hub(env, "status", "--json", "--timeout", "3")
    assert res.returncode == 1, res.stderr[-3000:]
    doc = json.loads(res.stdout)
    assert doc["brokers"]["reachable"] is False
    for key in ("total_lag", "dlq_letters", "dlq_pending", "outbox_depths", "lag", "dlq",
                "feeds", "outboxes", "members"):  # fmt: skip
        assert doc[key] is None, (key, doc)


def test_status_of_an_unknown_actor_is_an_error(env: dict[str, str]) -> None:
    # the registry is readable (an empty, migrated database): the id is known to be unknown
    assert hub(env, "actors", "list").returncode == 0
    res = hub(env, "status", "--actor", "nosuch", "--timeout", "3")
    assert_one_line(res, "Error: no actor 'nosuch' in the registry (hub actors list)")
    assert res.stdout == ""


def test_render_and_json_of_parts_not_read() -> None:
    from hub.cli.status import render

    status = Status(generated_at_ms=0, group="g", brokers=Brokers(DEAD))
    doc = status.as_dict()
    assert doc["total_lag"] is None and doc["dlq_letters"] is None
    assert doc["dlq_pending"] is None and doc["outbox_depths"] is None
    text = render(status, 80)
    assert "Lag total unknown" in text and "Feeds unknown" in text, text
    assert "Worker group g state unknown protocol unknown members unknown" in text, text
    read = Status(generated_at_ms=0, group="g", brokers=Brokers(DEAD), members=[], lag=[],
                  dlq={}, outboxes=[], feeds=[])  # fmt: skip
    doc = read.as_dict()
    assert (doc["total_lag"], doc["dlq_letters"], doc["outbox_depths"]) == (0, 0, {})
    assert "Feeds 0" in render(read, 80) and "Outboxes empty" in render(read, 80)


@pytest.mark.parametrize("ref", ["abc", "1", "1:", ":2", "1:-2", "0x1:2", "1:x", "²:1"])
def test_dlq_ref_is_partition_colon_offset(ref: str) -> None:
    for args in (["dlq", "show", ref], ["dlq", "replay", ref]):
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 2, res.output
        assert "is not PARTITION:OFFSET, e.g. 0:42" in res.output, res.output


def test_dlq_ref_is_read_as_the_letters_write_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import hub.cli.dlq as dlq_cli
    import hub.services.dlq as dlq_service

    asked: list[str | None] = []

    def select(letters: list[Any], *, ref: str | None = None, **_: Any) -> list[Any]:
        asked.append(ref)
        raise dlq_service.NotFoundError(f"no dead letter at {ref}")

    monkeypatch.setattr(dlq_cli, "_letters", list)
    monkeypatch.setattr(dlq_service, "select", select)
    res = CliRunner().invoke(main, ["dlq", "show", "0:007"])
    assert res.exit_code == 1 and asked == ["0:7"], res.output


def test_a_closed_stdout_ends_quietly(env: dict[str, str]) -> None:
    code = ("import click\nfrom hub.cli import main\n"
            "@main.command()\ndef spew() -> None:\n"
            "    for i in range(1_000_000):\n        click.echo(f'line {i}')\n"
            "main()\n")  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-c", code, "spew"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline() == b"line 0\n"
    proc.stdout.close()  # as `head -1` does
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0, err
    assert err == ""


def test_a_feed_in_the_registry_wire_format_says_to_set_the_registry(
    monkeypatch: pytest.MonkeyPatch, clean_env: None
) -> None:
    import hub.cli.feed as feed_cli

    async def read_feed(*_: Any, **__: Any) -> AsyncIterator[dict[str, Any]]:
        raise DecodeError("unknown schema id 1", code="unknown_schema")
        yield {}  # an async generator, as the real one

    monkeypatch.setattr(feed_cli, "read_feed", read_feed)
    res = CliRunner().invoke(main, ["feed", "ddets-76", "--from-beginning", "-e"])
    assert res.exit_code == 1, res.output
    assert res.output.splitlines() == [
        "Error: hub.feed.ddets-76 holds records in the schema registry's (Confluent) wire "
        "format (unknown schema id 1): set HUB_REGISTRY__URL to the registry's "
        "Confluent-compatible API (e.g. http://127.0.0.1:28081/apis/ccompat/v7) to read them"
    ], res.output


def test_help_is_plain_text() -> None:
    def walk(command: click.Command, path: str) -> list[tuple[str, str]]:
        texts = [(path, command.help or ""), (path, command.short_help or "")]
        texts += [(f"{path} {p.name}", p.help or "") for p in command.params
                  if isinstance(p, click.Option)]  # fmt: skip
        if isinstance(command, click.Group):  # list/get_command: hub's load when named
            ctx = click.Context(command)
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None, name
                texts += walk(sub, f"{path} {name}")
        return texts

    marked = [(where, text) for where, text in walk(main, "hub") if "``" in text]
    assert not marked, marked
    res = CliRunner().invoke(main, ["audit", "--help"])
    assert "'hub audit record' records the deliveries" in res.output, res.output


def test_error_message_rewrites_a_quoted_unreachable_broker() -> None:
    from hub.cli import error_message
    from hub.core.errors import KafkaUnavailableError
    from hub.core.kafka.client import unavailable_message

    cause = KafkaUnavailableError("Kafka unavailable: KafkaConnectionError",
                                  bootstrap_servers="broker:9092")  # fmt: skip
    try:
        try:
            raise cause
        except KafkaUnavailableError as exc:
            raise TransientError(f"saved but not published: {exc.message}; run it again") from exc
    except TransientError as outer:
        said = error_message(outer)
    assert said == f"saved but not published: {unavailable_message('broker:9092')}; run it again"
    assert error_message(ValueError("a bug")) is None


def test_an_actor_saved_while_kafka_is_down_is_named_and_sent_by_the_same_command(
    env: dict[str, str],
) -> None:
    """The registry keeps an actor whose publication failed: ``hub actors list`` names it
    on stderr with the command that sends it, and ``hub actors add`` again does not
    answer "unchanged" (it tries to send it, here failing again on the same dead broker)."""
    args = ["actors", "add", "--id", "late-office", "--name", "Late", "--kind", "guichet",
            "--commune", "76540"]  # fmt: skip
    first = hub(env, *args)
    assert first.returncode == 1 and "saved but not yet published" in first.stderr
    listed = hub(env, "actors", "list")
    assert listed.returncode == 0 and "late-office" in listed.stdout
    assert "not yet on Kafka" in listed.stderr and "late-office" in listed.stderr
    assert "hub actors publish" in listed.stderr
    again = hub(env, *args)
    assert "unchanged" not in again.stdout and again.returncode == 1, again.stdout
    assert "saved but not yet published" in again.stderr
