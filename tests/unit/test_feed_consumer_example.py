"""The consumer guide's Python example (examples/python-consumer/feed_consumer.py, docs/
consumers.md) outside Kafka: it finds the repository's ``schemas/avro`` from its own file
whatever the working directory, a wrong ``--schemas`` is one line of error (no traceback),
and it tells the framings apart: Avro single-object encoding (``C3 01``) is decoded with
the ``.avsc`` files; the Confluent wire format (``00`` + schema id) is decoded with
``--registry URL`` (the writer schema asked of a Confluent-compatible API over real HTTP,
once per id) and, without it, refused with one line naming the format and the option.
Against the real broker: tests/integration/test_feed_consumers.py."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from schemas import get_codec
from schemas.confluent import frame
from tests.support.sne import free_port
from tests.unit.test_feedrecord_evolution import _record, _scored

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples/python-consumer/feed_consumer.py"


@pytest.fixture(scope="module")
def example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("feed_consumer", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def registry_api() -> Iterator[tuple[str, list[str]]]:
    """(base URL, paths asked) of a minimal Confluent-compatible ``GET /schemas/ids/{id}``
    serving what the hub registers: id 11 the current FeedRecord (named types inlined),
    id 3 the archived v3."""
    codec = get_codec()
    schemas = {11: codec.registry.current("FeedRecord").schema,
               3: codec.registry.version("FeedRecord", "v3").schema}
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            schema_id = int(self.path.rsplit("/", 1)[-1])
            found = schemas.get(schema_id)
            body = json.dumps({"schema": json.dumps(found)} if found is not None
                              else {"error_code": 40403, "message": "Schema not found"})
            self.send_response(200 if found is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/apis/ccompat/v7/", asked
    finally:
        server.shutdown()
        server.server_close()


def test_the_default_schemas_are_the_repository_s_whatever_the_cwd(
        example: ModuleType) -> None:
    assert example.DEFAULT_SCHEMAS == ROOT / "schemas" / "avro"
    _reader, writers = example.load_schemas(example.DEFAULT_SCHEMAS)
    assert get_codec().registry.current("FeedRecord").fingerprint in writers


def test_kafka_unreachable_is_one_line_of_error(tmp_path: Path) -> None:
    """No broker at ``--bootstrap`` (a port nothing listens on): exit 1 with one line naming
    the address and the option, no traceback, none of the client's warnings."""
    port = free_port()
    done = subprocess.run([sys.executable, str(SCRIPT), "--bootstrap", f"127.0.0.1:{port}",
                           "--actor", "nobody", "--idle", "1"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f"feed_consumer.py: error: Kafka not reachable at 127.0.0.1:{port} (--bootstrap)"]


@pytest.mark.parametrize("schemas", ["schemas/avro", "nowhere", "bad"])
def test_a_wrong_schemas_dir_is_one_line_of_error(schemas: str, tmp_path: Path) -> None:
    """Run where the relative path does not exist (the failure the guide's old command
    had from examples/python-consumer/), or with an unreadable FeedRecord file: exit 1,
    before any Kafka connection."""
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "fr.passerelle.hub.FeedRecord.avsc").write_text("{")
    done = subprocess.run([sys.executable, str(SCRIPT), "--bootstrap", "127.0.0.1:9",
                           "--actor", "nobody", "--schemas", schemas], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 1 and done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"feed_consumer.py: error: --schemas {schemas}: ")
    assert "Traceback" not in done.stderr


def test_a_confluent_record_without_registry_says_what_to_give(
        example: ModuleType) -> None:
    reader, writers = example.load_schemas(example.DEFAULT_SCHEMAS)
    single = get_codec().encode("FeedRecord", _record())
    with pytest.raises(example.Unreadable) as err:
        example.decode(frame(11, single[10:]), reader, writers)
    message = str(err.value)
    assert "\n" not in message
    assert "Confluent wire format (magic byte 0, schema id 11)" in message
    assert "--registry URL" in message and "HUB_REGISTRY__URL" in message
    assert isinstance(err.value, ValueError)  # what decode always raised


def test_neither_framing_nor_a_known_fingerprint_is_refused(example: ModuleType) -> None:
    reader, writers = example.load_schemas(example.DEFAULT_SCHEMAS)
    for value, says in [(b"plain text", "neither Avro single-object encoding (C3 01) nor "
                                        "the Confluent wire format (00)"),
                        (b"", "neither"), (b"\x00\x00", "neither"),
                        (b"\xc3\x01" + bytes(8) + b"body", "unknown writer schema")]:
        with pytest.raises(example.Unreadable, match=r"^[^\n]*$") as err:
            example.decode(value, reader, writers)
        assert says in str(err.value)


def test_a_confluent_record_is_decoded_with_the_registry(
        example: ModuleType, registry_api: tuple[str, list[str]]) -> None:
    url, asked = registry_api
    codec = get_codec()
    reader, writers = example.load_schemas(example.DEFAULT_SCHEMAS)
    registry = example.Registry(url)
    current = _scored(_record())
    single = codec.encode("FeedRecord", current)
    value = frame(11, single[10:])
    for _ in range(2):  # the same record as its single-object form
        got = example.decode(value, reader, writers, registry)
        assert got == example.decode(single, reader, writers)
        assert example.summary(got)["cotations"] == {"200023414": 40}
        assert got["eventId"] == current["eventId"] and got["demande"] is not None
    # an older writer, by its id: resolved to the current FeedRecord (defaults)
    v3 = codec.registry.version("FeedRecord", "v3")
    old = example.decode(frame(3, v3.write(_record())), reader, writers, registry)
    assert (old["delaiAnormalementLong"], old["cotations"]) == (None, [])
    assert asked == ["/apis/ccompat/v7/schemas/ids/11", "/apis/ccompat/v7/schemas/ids/3"]
    with pytest.raises(example.Unreadable, match=r"schema id 99 not read from .*HTTP Error 404"):
        example.decode(frame(99, single[10:]), reader, writers, registry)
