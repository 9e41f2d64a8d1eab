"""``hub status`` counts the records the SOAP gateway owes Kafka and lists those Kafka
refused with their error, read from the database (so shown when the broker is down,
which is when they pile up), ``--json`` and text alike; a database it cannot read is a
problem line and ``null``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from connectors.sne.gateway.owed_store import OwedStore, Record
from hub.core.db import make_engine, migrate

NUMS = ("076112500000810691", "076112500000910691")


def _hub(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from hub.cli import main; main()", *args],
                          env=env, capture_output=True, text=True, timeout=180)  # fmt: skip


def test_status_shows_the_gateway_records_owed_and_refused(hub_env: dict[str, str],
                                                           tmp_path: Path) -> None:  # fmt: skip
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    engine = make_engine(url)
    migrate(engine)
    store = OwedStore(engine)
    seqs = store.add([Record("hub.demandes", NUMS[0].encode(), b"d" * 10, "ev-1", "getNumUnique"),
                      Record("hub.evenements", NUMS[0].encode(), b"g" * 2_000_000, "ev-big",
                             "ajouterEvenementDemande"),
                      Record("hub.evenements", NUMS[1].encode(), b"g", "ev-3",
                             "ajouterEvenementDemande")])  # fmt: skip
    store.failed(seqs[1], "MessageSizeTooLargeError", refused=True)
    env = {**hub_env, "HUB_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:1", "HUB_DATABASE__URL": url,
           "COLUMNS": "80"}  # fmt: skip
    res = _hub(env, "status", "--json", "--timeout", "3")
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr[-2000:]
    found = json.loads(res.stdout)
    assert found["gateway_unpublished"] == 2 and found["gateway_unpublished_age_s"] >= 0
    assert found["gateway_refused"] == 1
    (refused,) = found["gateway_refused_records"]
    assert {k: refused[k] for k in ("topic", "num_unique", "event_id", "error", "size_bytes")} \
        == {"topic": "hub.evenements", "num_unique": NUMS[0], "event_id": "ev-big",
            "error": "MessageSizeTooLargeError", "size_bytes": 2_000_000}  # fmt: skip
    text = " ".join(_hub(env, "status", "--timeout", "3").stdout.split())
    assert "SOAP gateway records not acknowledged by Kafka 2 oldest" in text, text
    assert "refused by Kafka 1" in text
    assert f"hub.evenements {NUMS[0]} event ev-big 2,000,000 bytes refused" in text
    assert text.count("MessageSizeTooLargeError") == 1
    broken = {**env, "HUB_DATABASE__URL": f"sqlite:///{tmp_path / 'none' / 'no.db'}"}
    unread = json.loads(_hub(broken, "status", "--json", "--timeout", "3").stdout)
    assert unread["gateway_unpublished"] is None and unread["gateway_refused"] is None
    assert any(p.startswith("SOAP gateway: ") for p in unread["problems"]), unread
