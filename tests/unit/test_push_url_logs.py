"""Audit K F9: a push URL's query string (a token, ``?access_token=...``) never reaches a
log line, whatever the verbosity: httpx logged each request's full URL at INFO (``hub -v
deliver``), httpcore its connections at DEBUG.

The deliverer runs as an operator runs it, ``hub -vv deliver --once`` in a process of its
own (the CLI's own logging set-up, not pytest's), on records already in the outbox (the
Kafka copy is replaced by nothing: no broker here), for a webhook receiver answering 200,
one answering 500 (retried), a SOAP receiver and a URL whose port refuses connections.
The token must reach the receivers (the query is sent) and no line of the log."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from hub.core.db import make_engine, migrate
from hub.core.log_urls import redact
from hub.domain.actors import Actor, ActorFilters, Delivery
from hub.stores.delivery.outbox import Outbox
from hub.stores.registry.store import ActorStore
from tests.support.hostile_receiver import Mode, hostile_receiver
from tests.support.outbox_records import demande_record

TOKEN = "ERPSECRET-4f1c9a"
#: ``hub`` with the feed copy (Kafka) left out: the records are in the outbox already
SCRIPT = """
import sys
from connectors.outbound.push import PushChannel

async def no_copy(self, actor):
    return 0

PushChannel.pump = no_copy
from hub.cli import main
main(sys.argv[1:])
"""


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _register(home: Path, urls: dict[str, tuple[str, str]]) -> None:
    engine = make_engine(f"sqlite:///{home / 'hub.db'}")
    migrate(engine)
    store, outbox = ActorStore(engine), Outbox(engine)
    for actor_id, (channel, url) in urls.items():
        store.save(Actor(id=actor_id, name=actor_id, kind="bailleur",
                         filters=ActorFilters(communes=["76540"]),
                         delivery=Delivery(channel=channel, options={"url": url})))  # type: ignore[arg-type]  # fmt: skip
        record = demande_record()
        outbox.add(actor_id, [(0, record["numUnique"], json.dumps(record).encode())])
    engine.dispose()


def test_no_push_url_query_in_the_most_verbose_logs(tmp_path: Path) -> None:
    home = tmp_path / ".hub"
    home.mkdir()
    query = f"?access_token={TOKEN}&x=1"
    modes = {f"/ok{query}": Mode(200, b"ok"), f"/down{query}": Mode(500, b"down"),
             f"/soap{query}": Mode(500, b"<html>proxy</html>", "text/html")}  # fmt: skip
    with hostile_receiver(modes) as rx:
        _register(home, {
            "wh-ok": ("webhook", f"{rx.base}/ok{query}"),
            "wh-down": ("webhook", f"{rx.base}/down{query}"),
            "soap-erp": ("soap", f"{rx.base}/soap{query}"),
            "wh-refused": ("webhook", f"http://127.0.0.1:{_closed_port()}/x{query}"),
        })  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        env.update(HUB_HOME=str(home), HUB_API__WEBHOOK_SECRET="logs",
                   HUB_API__WEBHOOK_TIMEOUT_S="5")  # fmt: skip
        res = subprocess.run([sys.executable, "-c", SCRIPT, "-vv", "deliver", "--once"],
                             env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
        got = rx.paths()
    assert res.returncode == 0, res.stderr[-3000:]
    assert "1 record(s) delivered" in res.stdout
    # the query was sent: the receivers need it
    assert {p.split("?")[0] for p in got} == {"/ok", "/down", "/soap"}
    assert all(TOKEN in p for p in got)
    log = res.stdout + res.stderr
    assert " DEBUG " in log  # -vv: the most verbose level was on
    assert TOKEN not in log, [ln for ln in log.splitlines() if TOKEN in ln]
    assert "access_token" not in log


def test_redact_drops_queries_and_userinfo_of_any_url() -> None:
    line = ("POST https://u:p@erp.example:8443/hook?access_token=T&x=1#frag \"HTTP/1.1 200\"; "
            "see http://[::1]:80/a?b=c, 'https://h/p?q=1' and HTTPS://X@Y/?z")  # fmt: skip
    out = redact(line)
    for secret in ("u:p@", "access_token", "T&x", "b=c", "q=1", "X@", "?z"):
        assert secret not in out, (secret, out)
    assert "https://erp.example:8443/hook?***#frag" in out
    assert "http://[::1]:80/a?***" in out and "'https://h/p?***'" in out
    assert "HTTPS://Y/?***" in out
    assert redact("no url here? a@b") == "no url here? a@b"
