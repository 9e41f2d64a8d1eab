"""``hub purge`` and the files the hub keeps per demand (audit H, F-5), on the real broker
with a real worker and the SNE simulator: demands sent through a real inbox, some
radiated 800 days ago, some recent. The purge, killed midway and run again once the
worker has tombstoned the demands, leaves no file under the hub's home naming a purged
demand or its applicant (but a rejected batch also holding a recent demand, which it
reports), leaves the recent demands' files as they were, and a second run does nothing;
the inbox treats a file dropped again as before."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from connectors.files import layout
from connectors.files.scan import scan_source
from hub.core.settings import DatabaseSettings, FilesSettings, HubSettings, get_settings
from hub.dev.sne_simulator import create_app
from hub.services.purge import PENDING_FILE, run_purge
from tests.support.demandes import new_num_unique
from tests.support.legacy_files import drop
from tests.support.purge_files import batch, dated, demand, files_naming, snapshot
from tests.support.sne import ROUEN, new_demande_xml, serve

pytestmark = pytest.mark.kafka
NOW = datetime.now(UTC)
OLD = NOW - timedelta(days=800)
#: a fresh worker recovers the shared test state first (minutes on a long-lived broker)
WORKER_TIMEOUT = 240


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The hub's home (HUB_HOME: the SNE's attestations go there) with the SNE simulator
    configured; its database outside it (SQLite keeps deleted rows in free pages: the
    SQL purge has tests of its own)."""
    with serve(create_app(f"sqlite:///{tmp_path / 'sim.db'}")) as base:
        monkeypatch.setenv("HUB_HOME", str(tmp_path / "home"))
        monkeypatch.setenv("HUB_SNE__URL", f"{base}/sne")
        monkeypatch.setenv("HUB_SNE__RETRIES", "0")
        get_settings.cache_clear()
        yield tmp_path / "home"
    get_settings.cache_clear()


def _person() -> str:
    return "PURGE" + uuid.uuid4().hex[:8].upper()


def _wait_purgeable(s: HubSettings, nums: set[str], expected: list[str]) -> Any:
    deadline = time.monotonic() + WORKER_TIMEOUT
    while True:
        dry = asyncio.run(run_purge(s, only=nums, dry_run=True))
        if dry.purged == expected:
            return dry
        assert time.monotonic() < deadline, f"purgeable {dry.purged}, expected {expected}"
        time.sleep(1)


@pytest.mark.timeout(600)
def test_purge_leaves_no_file_of_a_purged_demand(
    settings: HubSettings, worker: Any, home: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    source = f"purge-{uuid.uuid4().hex[:8]}"
    db = DatabaseSettings(url=SecretStr(f"sqlite:///{tmp_path / 'hub.db'}"))
    files = FilesSettings(sources=(source,), settle_s=0)
    s = settings.model_copy(update={"home": home, "files": files, "database": db})
    paths = layout.inbox_paths(s, source)
    paths.create()
    a, c, r, q = (new_num_unique() for _ in range(4))
    who = {n: _person() for n in (a, c, r, q)}
    g_b, g_s = ("Q" + uuid.uuid4().hex[:4].upper() for _ in range(2))
    who_b, who_s = _person(), _person()

    def rnd(*files: tuple[str, bytes]) -> dict[str, int]:
        """One round: the files dropped, one pass of the real inbox."""
        for name, data in files:
            drop(paths.folder, name, data)
        counts = dict(asyncio.run(scan_source(s, paths)).counts)
        assert not list(paths.folder.glob("*.xml")) and not list(paths.work.iterdir())
        return counts

    day = timedelta(days=1)
    rnd((f"{a}-0.xml", demand(a, [ROUEN], "CRE", OLD, who[a])),
        (f"{c}-0.xml", demand(c, [ROUEN], "CRE", OLD, who[c])),
        ("nouvelle-b.xml", dated(new_demande_xml(g_b, [ROUEN], nom=who_b), OLD)),
        ("nouvelle-s.xml", new_demande_xml(g_s, [ROUEN], nom=who_s)),
        (f"{r}-0.xml", demand(r, [ROUEN], "CRE", NOW - 3 * day, who[r])),
        (f"{q}-0.xml", demand(q, [ROUEN], "CRE", NOW - 30 * day, who[q])))  # fmt: skip
    b, sn = (json.loads((paths.done / layout.report_name(n)).read_text())["numUnique"]
             for n in ("nouvelle-b.xml", "nouvelle-s.xml"))  # fmt: skip
    rnd((f"{a}-1.xml", demand(a, [ROUEN], "MOD", OLD + day, who[a])),
        (f"{a}-bad.xml", demand(a, ["76999"], "MOD", OLD + day, who[a])),  # rejected
        (f"{r}-1.xml", demand(r, [ROUEN], "MOD", NOW - 2 * day, who[r])),
        ("lot-ac.xml", batch(demand(a, [ROUEN], "MOD", OLD, who[a]),  # rejected batches
                             demand(c, [ROUEN], "MOD", OLD, who[c]))),
        ("lot-cr.xml", batch(demand(c, [ROUEN], "MOD", OLD, who[c]),
                             demand(r, [ROUEN], "MOD", NOW, who[r]))))  # fmt: skip
    rad = new_demande_xml(g_b, [ROUEN], operation="RAD", num_unique=b, nom=who_b)
    rnd((f"{a}-2.xml", demand(a, [ROUEN], "RAD", OLD + 2 * day, who[a])),
        (f"{c}-1.xml", demand(c, [ROUEN], "RAD", OLD + 2 * day, who[c])),
        ("b-rad.xml", dated(rad, OLD + 2 * day)),
        (f"{q}-1.xml", demand(q, [ROUEN], "RAD", NOW - 10 * day, who[q])))  # fmt: skip
    purged = {a: who[a], b: who_b, c: who[c]}
    recent = {r: who[r], q: who[q], sn: who_s}
    nums = {*purged, *recent}
    attestation_b = home / "sne-attestations" / b / f"attestation_enregistrement_{b}.pdf"
    assert attestation_b.exists()
    needles = [*purged, *purged.values()]
    assert len(files_naming(home, needles)) >= 15
    naming_recent = set(files_naming(home, [*recent, *recent.values()]))
    untouched = {p: d for p, d in snapshot(home).items()
                 if p in naming_recent and p not in files_naming(home, needles)}  # fmt: skip
    assert len(untouched) >= 10

    # the worker applied every event: the old radiations (only) are purgeable
    dry = _wait_purgeable(s, nums, sorted(purged))
    assert dry.files.removed and attestation_b in dry.files.removed
    before = snapshot(home)

    class Killed(Exception):
        pass

    real_unlink, removed = os.unlink, [0]

    def dies_at_the_fourth(path: Any, *args: Any, **kw: Any) -> None:
        if Path(path).is_relative_to(home):
            if removed[0] == 3:
                raise Killed  # the process dies before this removal
            removed[0] += 1
        real_unlink(path, *args, **kw)

    with monkeypatch.context() as m:
        m.setattr("os.unlink", dies_at_the_fourth)
        with pytest.raises(Killed):
            asyncio.run(run_purge(s, only=nums))
    assert (home / PENDING_FILE).exists() and files_naming(home, needles)
    assert len(snapshot(home)) == len(before) - 3 + 1  # 3 files gone, the pending list
    # the purge was requested: the worker tombstones the demands, the changelog hides them
    _wait_purgeable(s, nums, [])
    cli = subprocess.run(
        [sys.executable, "-c", "from hub.cli import main; main()", "purge", "--dry-run"],
        env={**_env(s), "HUB_HOME": str(home)}, capture_output=True, text=True, timeout=120,
        check=False)  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    assert f"  would remove files/inbox/{source}/done/b-rad.xml\n" in cli.stdout, cli.stdout

    report = asyncio.run(run_purge(s, only=nums))
    assert (report.purged, report.resumed) == ([], sorted(purged))
    assert report.files.removed and report.files.complete
    mixed = paths.error / "lot-cr.xml"
    assert {k.path for k in report.files.kept} == {mixed, paths.error / "lot-cr.xml.report.json"}
    assert not (home / PENDING_FILE).exists()
    # no file under the home names a purged demand or its applicant, but the batch that
    # also holds a demand the hub still holds (and says so)
    assert files_naming(home, needles) == {mixed: {c, who[c]}}
    assert {p: p.read_bytes() for p in untouched} == untouched  # recent ones untouched
    again = asyncio.run(run_purge(s, only=nums))
    assert (again.purged, again.resumed, again.sql_rows) == ([], [], {})
    assert again.files.removed == again.files.expired == [] and again.files.journal_entries == 0

    # the inbox treats a published file dropped again as before: the same content is the
    # same event, and a creation the SNE numbered is refused by the SNE (DOUBLON)
    first = json.loads((paths.done / f"{r}-1.xml.report.json").read_text())
    counts = rnd((f"{r}-1.xml", untouched[paths.done / f"{r}-1.xml"]),
                 ("nouvelle-s.xml", untouched[paths.done / "nouvelle-s.xml"]))  # fmt: skip
    assert (counts["published"], counts["rejected"]) == (1, 1)
    again_report = json.loads((paths.done / f"{r}-1.xml.report.json").read_text())
    assert again_report["eventId"] == first["eventId"]
    refused = json.loads((paths.error / "nouvelle-s.xml.report.json").read_text())
    assert refused["reason"] == "sne_refused"


def _env(s: HubSettings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(HUB_KAFKA__BOOTSTRAP_SERVERS=s.kafka.bootstrap_servers,
               HUB_WORKER__APP_ID=s.worker.app_id,
               HUB_FILES__SOURCES=json.dumps(list(s.files.sources)),
               HUB_DATABASE__URL=s.database_url)  # fmt: skip
    return env
