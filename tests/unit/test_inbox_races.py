"""The inbox when files move under it (audit findings 1, 2, 9, 10 and "inbox ordering"),
on real files with a stand-in for Kafka: the stand-in records what the hub publishes and,
while the batch "waits for its acknowledgements", does what a legacy system or an
operator may do at that moment (rename a new file over, remove one, append to one).
The same races on the real broker: tests/integration/test_files_inbox_races.py."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from connectors.files import layout
from connectors.files.scan import FileInbox, scan_source
from connectors.ingress.publishing import PreparedEvent
from hub.core.settings import FilesSettings, HubSettings
from tests.support.demandes import new_num_unique
from tests.support.legacy_files import drop, legacy_xml

REPO = Path(__file__).resolve().parents[2]
ROUEN = "76540"
WORK = ".hub-work"  # where the hub keeps the files it took (docs/connectors-files.md)


class Kafka:
    """Stand-in for ``publish_events``: keeps what it is given, in order; ``during``:
    actions run one per publication, while that batch waits for Kafka."""

    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []
        self.during: list[Callable[[], None]] = []

    async def __call__(self, settings: HubSettings, events: Iterable[PreparedEvent],
                       **kwargs: Any) -> int:  # fmt: skip
        events = list(events)
        if self.during:
            self.during.pop(0)()
        await asyncio.sleep(0)
        self.published.extend(e.event for e in events)
        return len(events)

    def nums(self) -> list[str]:
        return [e["numUnique"] for e in self.published]


@pytest.fixture()
def kafka(monkeypatch: pytest.MonkeyPatch) -> Kafka:
    k = Kafka()
    monkeypatch.setattr("connectors.files.scan.publish_events", k)
    return k


def _inbox(tmp_path: Path, **files: Any) -> tuple[HubSettings, layout.InboxPaths]:
    s = HubSettings(home=tmp_path / "home",
                    files=FilesSettings(root=tmp_path / "files", sources=("erp",), settle_s=0,
                                        **files))  # fmt: skip
    paths = layout.inbox_paths(s, "erp")
    paths.create()
    return s, paths


def _scan(s: HubSettings, paths: layout.InboxPaths) -> Counter[str]:
    return asyncio.run(scan_source(s, paths)).counts


def _report(folder: Path, name: str) -> dict[str, Any]:
    return dict(json.loads((folder / layout.report_name(name)).read_text()))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _remove_everywhere(paths: layout.InboxPaths, name: str) -> Callable[[], None]:
    """An operator deleting ``name``, wherever the hub keeps it at that moment."""

    def rm() -> None:
        for p in [paths.folder / name, *(paths.folder / WORK).glob(f"*-{name}")]:
            if p.exists():
                p.unlink()

    return rm


def test_a_file_renamed_over_while_its_batch_waits_is_published_at_the_next_pass(
    tmp_path: Path, kafka: Kafka
) -> None:
    """Finding 1: the legacy system's next daily ``export.xml``, written then renamed over
    the one being published, is neither moved with the first one's report nor lost."""
    s, paths = _inbox(tmp_path)
    n1, n2 = new_num_unique(), new_num_unique()
    first, second = legacy_xml(n1, [ROUEN]), legacy_xml(n2, [ROUEN])
    drop(paths.folder, "export.xml", first)
    kafka.during.append(lambda: drop(paths.folder, "export.xml", second))

    n = _scan(s, paths)
    assert (n["published"], n["vanished"]) == (1, 0)
    assert kafka.nums() == [n1]
    # what is in done/ is exactly what was published, and its report says so
    assert (paths.done / "export.xml").read_bytes() == first
    report = _report(paths.done, "export.xml")
    assert (report["sha256"], report["numUnique"]) == (_sha(first), n1)
    assert (paths.folder / "export.xml").read_bytes() == second  # untouched, waiting

    n = _scan(s, paths)
    assert n["published"] == 1 and kafka.nums() == [n1, n2]
    again = f"export.{_sha(second)[:12]}.xml"  # the name is taken in done/ by the first
    assert (paths.done / again).read_bytes() == second
    assert _report(paths.done, again)["numUnique"] == n2
    assert not list(paths.folder.glob("*.xml")) and not list((paths.folder / WORK).iterdir())


def test_a_file_removed_while_its_batch_waits_is_counted_and_the_pass_goes_on(
    tmp_path: Path, kafka: Kafka
) -> None:
    """Finding 2: removed after it was examined, before its move: no crash, no orphan
    report, counted; the other files of the batch are moved."""
    s, paths = _inbox(tmp_path)
    na, nb = new_num_unique(), new_num_unique()
    drop(paths.folder, "a.xml", legacy_xml(na, [ROUEN]))
    drop(paths.folder, "b.xml", legacy_xml(nb, [ROUEN]))
    kafka.during.append(_remove_everywhere(paths, "a.xml"))

    n = _scan(s, paths)
    assert (n["published"], n["vanished"]) == (1, 1)
    assert sorted(kafka.nums()) == sorted([na, nb])  # both were published before the rm
    assert sorted(p.name for p in paths.done.iterdir()) == ["b.xml", "b.xml.report.json"]
    assert not list(paths.error.iterdir()) and not list((paths.folder / WORK).iterdir())


def test_a_file_removed_between_the_listing_and_its_turn_is_counted(
    tmp_path: Path, kafka: Kafka
) -> None:
    s, paths = _inbox(tmp_path, batch_size=1)
    nums = [new_num_unique() for _ in range(3)]
    for i, num in enumerate(nums):
        drop(paths.folder, f"{i}.xml", legacy_xml(num, [ROUEN]))
        os.utime(paths.folder / f"{i}.xml", ns=(10**18 + i, 10**18 + i))  # listing order
    kafka.during.append(_remove_everywhere(paths, "1.xml"))  # while 0.xml is published

    n = _scan(s, paths)
    assert (n["published"], n["vanished"], n["deferred"]) == (2, 1, 0)
    assert kafka.nums() == [nums[0], nums[2]]
    assert sorted(p.name for p in paths.done.glob("*.xml")) == ["0.xml", "2.xml"]


def test_the_watch_survives_a_file_removed_mid_batch(tmp_path: Path, kafka: Kafka) -> None:
    """Finding 2, ``hub files watch``: the connector goes on serving the inbox."""
    s, paths = _inbox(tmp_path, poll_interval_s=0.05)
    na, nb, nc = new_num_unique(), new_num_unique(), new_num_unique()
    drop(paths.folder, "a.xml", legacy_xml(na, [ROUEN]))
    drop(paths.folder, "b.xml", legacy_xml(nb, [ROUEN]))
    kafka.during.append(_remove_everywhere(paths, "a.xml"))

    async def watch() -> FileInbox:
        inbox = FileInbox(s)
        stop = asyncio.Event()
        task = asyncio.create_task(inbox.run(stop))

        async def until(cond: Callable[[], bool]) -> None:
            for _ in range(400):
                if cond() or task.done():
                    return
                await asyncio.sleep(0.01)

        await until(lambda: inbox.stats.counts["vanished"] >= 1)
        drop(paths.folder, "c.xml", legacy_xml(nc, [ROUEN]))  # a later file is still served
        await until(lambda: inbox.stats.counts["published"] >= 2)
        assert not task.done(), task.exception()
        stop.set()
        await task
        return inbox

    inbox = asyncio.run(watch())
    assert (inbox.stats.counts["published"], inbox.stats.counts["vanished"]) == (2, 1)
    assert inbox.stats.failures == 0
    assert kafka.nums()[-1] == nc
    assert sorted(p.name for p in paths.done.glob("*.xml")) == ["b.xml", "c.xml"]


def test_identical_files_are_duplicates_not_crash_recoveries(
    tmp_path: Path, kafka: Kafka
) -> None:
    """Finding 9: the same export dropped twice in one pass: published once, the second
    file counted (and reported) as identical, nothing said of a crash."""
    s, paths = _inbox(tmp_path)
    data = legacy_xml(new_num_unique(), [ROUEN])
    drop(paths.folder, "a.xml", data)
    drop(paths.folder, "b.xml", data)
    n = _scan(s, paths)
    assert (n["published"], n["duplicates"], n["recovered"]) == (1, 1, 0)
    assert len(kafka.published) == 1
    reports = [_report(paths.done, name) for name in ("a.xml", "b.xml")]
    assert [r["status"] for r in reports] == ["published", "published"]
    assert reports[0]["eventId"] == reports[1]["eventId"]
    assert "same content as a.xml" in reports[1]["message"]


def test_a_file_left_for_later_is_not_overtaken_by_a_later_file_of_its_demand(
    tmp_path: Path, kafka: Kafka
) -> None:
    """Suspicion "inbox ordering": a CRE that changes while its pass runs (a writer
    appending in place) is left for the next pass; the MOD of the same demand dropped
    after it must not be published before it."""
    s, paths = _inbox(tmp_path, batch_size=1)
    other, num = new_num_unique(), new_num_unique()
    files = [("1-other.xml", legacy_xml(other, [ROUEN])),
             ("2-cre.xml", legacy_xml(num, [ROUEN])),
             ("3-mod.xml", legacy_xml(num, [ROUEN], operation="MOD"))]  # fmt: skip
    for i, (name, data) in enumerate(files):
        drop(paths.folder, name, data)
        os.utime(paths.folder / name, ns=(10**18 + i, 10**18 + i))

    def append_to_cre() -> None:  # while 1-other.xml is published: 2-cre.xml grows
        with (paths.folder / "2-cre.xml").open("ab") as fh:
            fh.write(b"\n")

    kafka.during.append(append_to_cre)
    n = _scan(s, paths)
    assert (n["published"], n["deferred"]) == (1, 2)
    assert kafka.nums() == [other]
    _scan(s, paths)
    ops = [(e["numUnique"], e["operation"]) for e in kafka.published]
    assert ops == [(other, "CRE"), (num, "CRE"), (num, "MOD")]
    assert sorted(p.name for p in paths.done.glob("*.xml")) == [f for f, _ in files]


def _documented_reasons() -> set[str]:
    doc = (REPO / "docs" / "connectors-files.md").read_text()
    section = doc.split("#### Reason codes", 1)[1].split("\n#", 1)[0]
    return set(re.findall(r"^\| `([a-z_]+)` \|", section, re.M))


def test_report_reasons_are_the_documented_codes(tmp_path: Path, kafka: Kafka) -> None:
    """Finding 10: the reasons of rejected files are those docs/connectors-files.md
    promises; a document the XSD or a field rule refuses is ``invalid_input``."""
    s, paths = _inbox(tmp_path)
    good = legacy_xml(new_num_unique(), [ROUEN])
    ns = b"http://nuu.application.i2/"
    variants = {
        "xsd-pattern.xml": (good.replace(b"<typeFichier>CRE<", b"<typeFichier>C E<"),
                            "invalid_input"),
        "xsd-unknown-element.xml": (good.replace(b"</precision>", b"</precision><x>1</x>"),
                                    "invalid_input"),
        "wrong-namespace.xml": (good.replace(ns, b"http://other.example/"), "invalid_input"),
        "dis-typefichier.xml": (good.replace(b"<typeFichier>CRE<", b"<typeFichier>DIS<"),
                                "invalid_input"),
        "mod-without-number.xml": (
            re.sub(rb"<numUnique>\d+</numUnique>", b"",
                   legacy_xml(new_num_unique(), [ROUEN], operation="MOD"), count=1),
            "invalid_input"),
        "truncated.xml": (good[:-40], "malformed_xml"),
        "empty.xml": (b"", "malformed_xml"),
        "doctype.xml": (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x "y">]>'
                        + good.split(b"?>", 1)[1], "hostile_xml"),
        "unknown-commune.xml": (legacy_xml(new_num_unique(), ["76999"]), "unknown_commune"),
    }  # fmt: skip
    for name, (data, _) in variants.items():
        drop(paths.folder, name, data)
    n = _scan(s, paths)
    assert n["rejected"] == len(variants) and not kafka.published
    got = {name: _report(paths.error, name)["reason"] for name in variants}
    assert got == {name: reason for name, (_, reason) in variants.items()}
    documented = _documented_reasons()
    assert {"invalid_input", "malformed_xml", "hostile_xml", "sne_refused"} <= documented
    assert set(got.values()) <= documented
    assert "invalid_interfacenuu" not in documented


def test_a_creation_the_sne_cannot_number_now_waits_and_the_others_go_on(
    tmp_path: Path, kafka: Kafka, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An un-numbered CRE while the SNE is unreachable is left for later, never rejected;
    it has no numéro yet, so no later file can be of its demand: they are published."""
    from hub.core.settings import get_settings
    from tests.support.sne import free_port, new_demande_xml

    monkeypatch.setenv("HUB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HUB_SNE__URL", f"http://127.0.0.1:{free_port()}/sne")  # nobody there
    monkeypatch.setenv("HUB_SNE__RETRIES", "0")
    get_settings.cache_clear()
    try:
        s, paths = _inbox(tmp_path)
        num = new_num_unique()
        drop(paths.folder, "1-new.xml", new_demande_xml("U0001", [ROUEN], nom="ATTENTE"))
        drop(paths.folder, "2-other.xml", legacy_xml(num, [ROUEN]))
        for i, name in enumerate(("1-new.xml", "2-other.xml")):
            os.utime(paths.folder / name, ns=(10**18 + i, 10**18 + i))
        for _ in range(2):
            n = _scan(s, paths)
            assert (n["rejected"], n["deferred"]) == (0, 1)
        assert kafka.nums() == [num]
        assert [p.name for p in (paths.folder / WORK).iterdir()] == ["000000000001-1-new.xml"]
        assert not list(paths.error.iterdir())
    finally:
        get_settings.cache_clear()
