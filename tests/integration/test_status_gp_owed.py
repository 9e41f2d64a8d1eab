"""``hub status`` counts the gestion partagée events stored but not acknowledged by Kafka
(read from the database, so shown when the broker is down, which is when they pile up),
``--json`` and text alike; a database it cannot read is a problem line and ``null``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hub.core.db import make_engine, migrate
from hub.stores.gp.store import GPStore
from tests.integration.test_gp_unpublished_migration import _record


def _hub(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from hub.cli import main; main()", *args],
                          env=env, capture_output=True, text=True, timeout=180)  # fmt: skip


def test_status_shows_the_events_kafka_has_not_acknowledged(hub_env: dict[str, str],
                                                            tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    engine = make_engine(url)
    migrate(engine)
    store = GPStore(engine)
    for i, num in enumerate(("076112500000510691", "076112500000510691", "076112500000610691")):
        store.append(_record(f"owed-{i}", num))
    store.mark_published(["owed-0"])
    env = {**hub_env, "HUB_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:1", "HUB_DATABASE__URL": url,
           "COLUMNS": "80"}  # fmt: skip
    res = _hub(env, "status", "--json", "--timeout", "3")
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr[-2000:]
    found = json.loads(res.stdout)
    assert found["gp_unpublished"] == 2 and found["gp_unpublished_age_s"] >= 0
    text = _hub(env, "status", "--timeout", "3").stdout
    assert "Gestion partagée events not acknowledged by Kafka 2 oldest" in " ".join(text.split())
    broken = {**env, "HUB_DATABASE__URL": f"sqlite:///{tmp_path / 'none' / 'no.db'}"}
    unread = json.loads(_hub(broken, "status", "--json", "--timeout", "3").stdout)
    assert unread["gp_unpublished"] is None
    assert any(p.startswith("gestion partagée: ") for p in unread["problems"]), unread
