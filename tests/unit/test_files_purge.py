"""The purge of the files the hub keeps per demand (audit H, F-5): inbox copies in
``done/`` and ``error/`` with their reports, the inbox journal's leftovers, the SNE's
attestations. The inbox tree is made by the real inbox (``scan_source``, a stand-in for
Kafka's acknowledgements, the SNE simulator numbering the new demands); end to end on the
real broker and worker: tests/integration/test_purge_inbox_files.py."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import uuid
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.files import layout
from connectors.files.journal import Journal
from connectors.files.purge import (
    attestation_entries,
    document_demands,
    pdf_demands,
    purge_files,
)
from connectors.files.scan import scan_source
from connectors.ingress.publishing import PreparedEvent
from hub.core.settings import FilesSettings, HubSettings, get_settings
from hub.dev.sne_simulator import create_app
from hub.dev.sne_simulator.attestation import attestation
from tests.support.demandes import new_num_unique
from tests.support.legacy_files import drop, legacy_xml
from tests.support.purge_files import batch, demand, files_naming, named, snapshot
from tests.support.sne import ROUEN, new_demande_xml, serve

NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(create_app(f"sqlite:///{tmp_path_factory.mktemp('sim') / 'sim.db'}")) as base:
        yield f"{base}/sne"


async def _acked(settings: HubSettings, events: Iterable[PreparedEvent], **kw: Any) -> int:
    """Stand-in for Kafka: every event acknowledged."""
    return len(list(events))


@dataclass
class Tree:
    """A hub's home whose inbox ``erp`` published and rejected files of demands to
    purge (``purged``: numéro → applicant) and of recent ones (``recent``)."""

    settings: HubSettings
    paths: layout.InboxPaths
    purged: dict[str, str]
    recent: dict[str, str]
    #: a rejected batch holding a purged demand and a recent one
    mixed: Path
    #: a recent demand's document naming a purged one as its associated demand
    associated: Path
    #: a rejected file naming a person and no demand
    nameless: Path

    @property
    def home(self) -> Path:
        return self.settings.home

    def names(self) -> list[str]:
        return [*self.purged, *self.purged.values()]


def _person() -> str:
    return "PURGE" + uuid.uuid4().hex[:8].upper()


def populate(root: Path, sne_url: str, monkeypatch: pytest.MonkeyPatch) -> Tree:
    home = root / "home"
    monkeypatch.setenv("HUB_HOME", str(home))
    monkeypatch.setenv("HUB_SNE__URL", sne_url)
    monkeypatch.setenv("HUB_SNE__RETRIES", "0")
    get_settings.cache_clear()
    s = HubSettings(files=FilesSettings(sources=("erp",), settle_s=0))
    paths = layout.inbox_paths(s, "erp")
    paths.create()
    old = NOW - timedelta(days=800)
    a, c, d, e, r, r2 = (new_num_unique() for _ in range(6))
    who = {n: _person() for n in (a, c, d, e, r, r2)}
    g_b, g_s = ("P" + uuid.uuid4().hex[:4].upper() for _ in range(2))
    who_b, who_s = _person(), _person()

    def scan(*files: tuple[str, bytes]) -> None:
        for name, data in files:
            drop(paths.folder, name, data)
        asyncio.run(scan_source(s, paths))

    with monkeypatch.context() as m:
        m.setattr("connectors.files.scan.publish_events", _acked)
        # the passes stop before forgetting moved files (a crash there): entries stay
        m.setattr(Journal, "compact", lambda self, present: None)
        scan(*((f"{a}-{i}.xml", demand(a, [ROUEN], op, old + timedelta(days=i), who[a]))
               for i, op in enumerate(("CRE", "MOD", "RAD"))))  # fmt: skip
        scan((f"{a}-bad.xml", demand(a, ["76999"], "MOD", old, who[a])),  # unknown commune
             ("nouvelle-b.xml", new_demande_xml(g_b, [ROUEN], nom=who_b)),
             ("nouvelle-s.xml", new_demande_xml(g_s, [ROUEN], nom=who_s)))  # fmt: skip
        b = _report_num(paths, "nouvelle-b.xml")
        sn = _report_num(paths, "nouvelle-s.xml")
        assoc = named(legacy_xml(r2, [ROUEN]), who[r2]).replace(
            f"<numUnique>{r2}</numUnique>".encode(),
            f"<numUnique>{r2}</numUnique><numUniqueAssocie>{a}</numUniqueAssocie>".encode(),
        )
        scan(("b-rad.xml", new_demande_xml(g_b, [ROUEN], operation="RAD", num_unique=b,
                                           nom=who_b)),
             ("lot-cd.xml", batch(demand(c, [ROUEN], "CRE", old, who[c]),
                                  demand(d, [ROUEN], "CRE", old, who[d]))),
             ("lot-er.xml", batch(demand(e, [ROUEN], "CRE", old, who[e]),
                                  demand(r, [ROUEN], "CRE", NOW, who[r]))),
             (f"{r}-0.xml", demand(r, [ROUEN], "CRE", NOW, who[r])),
             (f"{r}-1.xml", demand(r, [ROUEN], "MOD", NOW + timedelta(seconds=1), who[r])),
             (f"{r2}.xml", assoc),
             ("broken.xml", b"<interfaceNuu><nom>" + _person().encode() + b"</nom>"))  # fmt: skip
    assert not list(paths.folder.glob("*.xml")) and not list(paths.work.iterdir())
    assert (home / "sne-attestations" / b / f"attestation_enregistrement_{b}.pdf").exists()
    assert Journal(paths.journal).stale(set()) > 0  # the leftovers of the passes
    purged = {a: who[a], b: who_b, c: who[c], d: who[d], e: who[e]}
    recent = {r: who[r], r2: who[r2], sn: who_s}
    return Tree(s, paths, purged, recent, paths.error / "lot-er.xml", paths.done / f"{r2}.xml",
                paths.error / "broken.xml")  # fmt: skip


def _report_num(paths: layout.InboxPaths, name: str) -> str:
    import json

    report = json.loads((paths.done / layout.report_name(name)).read_text())
    assert report["status"] == "published", report
    return str(report["numUnique"])


@pytest.fixture()
def tree(tmp_path: Path, simulator: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Tree]:
    yield populate(tmp_path, simulator, monkeypatch)
    get_settings.cache_clear()


def _held(tree: Tree) -> set[str]:
    """What the dispatch state holds before the worker's tombstones: every demand."""
    return {*tree.purged, *tree.recent}


def test_the_purge_removes_every_file_of_the_purged_demands(tree: Tree) -> None:
    home = tree.home
    naming_recent = set(files_naming(home, [*tree.recent, *tree.recent.values()]))
    naming_purged = files_naming(home, tree.names())
    assert len(naming_purged) > 15  # documents, reports, journal, attestation
    untouched = {p: b for p, b in snapshot(home).items()
                 if p in naming_recent and p not in naming_purged}  # fmt: skip

    before = snapshot(home)
    dry = purge_files(tree.settings, tree.purged, _held(tree), dry_run=True)
    assert snapshot(home) == before  # a dry run removes nothing
    report = purge_files(tree.settings, tree.purged, _held(tree))
    assert sorted(report.removed) == sorted(dry.removed) and report.expired == []
    assert report.journal_entries == dry.journal_entries > 0 and report.complete

    # no file names a purged demand or its applicant, but the batch holding a recent
    # demand too (reported with why) and the recent document referring to a purged one
    left = files_naming(home, tree.names())
    assert set(left) == {tree.mixed, tree.associated}, left
    holding = {tree.mixed, tree.mixed.with_name(layout.report_name(tree.mixed.name))}
    nameless = {tree.nameless, Path(layout.report_name(str(tree.nameless)))}
    assert {k.path for k in report.kept} == holding | nameless
    assert all("still holds" in k.why for k in report.kept if k.path in holding)
    # a file naming no demand is said at every purge (review I, F3): personal data no
    # purge attributes, removed only by the retention
    assert all("names no demand" in k.why for k in report.kept if k.path in nameless)
    [kept_pdf] = (home / "sne-attestations").rglob("*.pdf")  # the recent demand's
    assert set(files_naming(kept_pdf.parent, tree.recent)) == {kept_pdf}
    assert Journal(tree.paths.journal).stale(set()) == 0  # nothing names a moved file
    # the recent demands' files are as they were
    assert {p: p.read_bytes() for p in untouched} == untouched
    assert tree.nameless.exists()  # no demand's: only a retention removes it

    again = purge_files(tree.settings, tree.purged, _held(tree))
    assert (again.removed, again.journal_entries) == ([], 0)
    assert [k.path for k in again.kept] == [k.path for k in report.kept]

    # the batch goes with the purge of its last demand (the purged one is no longer held)
    r = next(n for n in tree.recent if tree.mixed.read_bytes().count(n.encode()))
    last = purge_files(tree.settings, {r}, _held(tree) - set(tree.purged))
    assert tree.mixed in last.removed and not tree.mixed.exists()
    assert {k.path for k in last.kept} == nameless


def test_a_purge_killed_midway_is_finished_by_the_next_one(
    tree: Tree, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = tmp_path / "reference"
    shutil.copytree(tree.home, reference, symlinks=True)
    done = purge_files(_at(tree, reference), tree.purged, _held(tree))
    expected = {p.relative_to(reference) for p in snapshot(reference)}
    real_unlink = os.unlink

    class Killed(BaseException):
        pass

    def dies_before(k: int, home: Path) -> Any:
        """os.unlink, killing the process before the removal number ``k`` under ``home``."""
        removed = [0]

        def unlink(path: Any, *args: Any, **kw: Any) -> None:
            if Path(path).is_relative_to(home):
                if removed[0] == k:
                    raise Killed
                removed[0] += 1
            real_unlink(path, *args, **kw)

        return unlink

    for k in range(len(done.removed)):
        home = tmp_path / f"run{k}"
        shutil.copytree(tree.home, home, symlinks=True)
        settings = _at(tree, home)
        with monkeypatch.context() as m:
            m.setattr(os, "unlink", dies_before(k, home))
            with pytest.raises(Killed):
                purge_files(settings, tree.purged, _held(tree))
        purge_files(settings, tree.purged, _held(tree))
        assert {p.relative_to(home) for p in snapshot(home)} == expected, k


def _at(tree: Tree, home: Path) -> HubSettings:
    return tree.settings.model_copy(update={"home": home})


def test_the_retention_removes_what_is_older_whatever_its_demand(tree: Tree) -> None:
    now = time.time()
    long_ago = now - 400 * 86_400
    r = next(iter(tree.recent))
    aged = tree.paths.done / f"{r}-0.xml"
    # an inbox copy's age is its verdict's (its report), not the legacy system's mtime
    os.utime(layout.report_name(str(aged)), (long_ago, long_ago))
    os.utime(tree.paths.done / f"{r}-1.xml", (long_ago, long_ago))
    os.utime(layout.report_name(str(tree.nameless)), (long_ago, long_ago))
    before = snapshot(tree.home)
    assert purge_files(tree.settings, (), _held(tree), retention_days=365, now=now,
                       dry_run=True).expired  # fmt: skip
    assert snapshot(tree.home) == before

    report = purge_files(tree.settings, (), _held(tree), retention_days=365, now=now)
    expired = {aged, Path(layout.report_name(str(aged))), tree.nameless,
               Path(layout.report_name(str(tree.nameless)))}  # fmt: skip
    assert set(report.expired) == expired and report.removed == [] == report.kept
    assert not any(p.exists() for p in expired)
    assert (tree.paths.done / f"{r}-1.xml").exists()  # its report is recent
    assert purge_files(tree.settings, (), _held(tree), retention_days=365,
                       now=now).expired == []  # fmt: skip


def test_which_demands_a_file_holds() -> None:
    a, b, c = new_num_unique(), new_num_unique(), new_num_unique()
    doc = legacy_xml(a, [ROUEN]).replace(
        f"<numUnique>{a}</numUnique>".encode(),
        f"<numUnique>{a}</numUnique><numUniqueAssocie>{b}</numUniqueAssocie>".encode(),
    )
    assert document_demands(doc) == {a}  # an associated demand or a doublon is not its own
    assert document_demands(batch(doc, legacy_xml(c, [ROUEN]))) == {a, c}
    assert document_demands(doc[: len(doc) // 2]) == {a}  # truncated: its tags
    assert document_demands(doc.decode().encode("utf-16")) == {a}
    assert document_demands(b"<x><numUnique>123</numUnique></x>") == set()  # not a numéro
    # an attestation: the numéro in the text, grouped, plain or in a deflated stream
    text = f"BT (Demande n. {a[:3]} {a[3:7]} {a[7:13]} {a[13:]}) Tj ET".encode()
    pdf = b"%PDF-1.4\n1 0 obj\n<< /Filter /FlateDecode >>\nstream\n"
    assert pdf_demands(pdf + zlib.compress(text) + b"\nendstream\nendobj\n") == {a}
    assert pdf_demands(pdf + text + b"\nendstream\n") == {a}


def test_an_attestation_named_by_the_sne_without_its_numero(tmp_path: Path) -> None:
    a = new_num_unique()
    dl: dict[str, Any] = {"personnePhysique": {"demandeur": {"nom": "PURGEX", "civilite": "2"}}}
    made = attestation("CRE", a, dl)
    assert made is not None
    (tmp_path / "recu-guichet.pdf").write_bytes(made[1])
    [entry] = attestation_entries(tmp_path)
    assert entry.demands == {a}


def test_a_busy_inbox_is_left_to_the_next_run_which_finishes_it(
    tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``run_purge`` (the dispatch state and Kafka stood in for): an inbox whose pass holds
    its lock is left as it is and the purge's numéros stay pending; the next run finishes
    them although the worker's tombstones hide them from the state by then; a pending
    demand the state holds again (not purgeable) is dropped."""
    from connectors.files.fsutil import exclusive_lock
    from hub.services import purge

    requested: list[list[str]] = []
    state = purge.StateScan(0, sorted(tree.purged), frozenset(_held(tree)))

    rescan: list[purge.StateScan] = []

    async def scan_state(*args: Any, **kw: Any) -> purge.StateScan:
        return rescan.pop() if rescan else state

    async def request(settings: HubSettings, nums: list[str], cutoff_ms: int) -> dict[int, int]:
        requested.append(nums)
        # read again once the worker reached the records: it tombstoned them
        rescan.append(purge.StateScan(0, [], frozenset(tree.recent)))
        return {0: 0}

    async def await_worker(*args: Any) -> bool:
        return True

    monkeypatch.setattr(purge, "scan_state", scan_state)
    monkeypatch.setattr(purge, "request", request)
    monkeypatch.setattr(purge, "await_worker", await_worker)
    monkeypatch.setattr(purge, "purge_sql", lambda url, nums: {"api_holders": 0})
    pending = tree.home / purge.PENDING_FILE
    before = snapshot(tree.paths.folder)
    with exclusive_lock(tree.paths.lock, "a pass"):  # `hub files watch` in a pass
        report = asyncio.run(purge.run_purge(tree.settings, lock_wait_s=0.3))
    assert report.files.busy == ["erp"] and not report.files.complete
    assert "inbox 'erp' busy" in str(report)
    assert snapshot(tree.paths.folder) == before  # the inbox is as it was
    assert purge.pending(tree.settings) == set(tree.purged) and requested == [sorted(tree.purged)]

    # the worker has tombstoned them: the state neither holds them nor finds them purgeable
    state = purge.StateScan(0, [], frozenset(tree.recent))
    report = asyncio.run(purge.run_purge(tree.settings))
    assert (report.purged, report.resumed) == ([], sorted(tree.purged))
    assert report.files.complete and report.files.removed and not pending.exists()
    assert requested == [sorted(tree.purged)]  # nothing asked of the worker again
    assert set(files_naming(tree.home, tree.names())) == {tree.mixed, tree.associated}

    # an interrupted run's demand that came back since is not finished
    r = next(iter(tree.recent))
    pending.write_text(f'{{"nums": ["{r}"]}}\n')
    report = asyncio.run(purge.run_purge(tree.settings))
    assert report.resumed == [] and not pending.exists() and tree.mixed.exists()
