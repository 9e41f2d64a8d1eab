"""File exchange pieces without a broker: names, atomic writes, locks, the journal, inbox
selection and verdicts, DIS rendering."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from connectors.files import claim, fsutil, layout
from connectors.files.disfile import render_batch
from connectors.files.inbox import PUBLISHED, REJECTED, Candidate, examine, finish, list_ready
from connectors.files.journal import Journal
from connectors.interfacenuu.mapping import XSD_PATH, parse_demande_xml
from hub.core import xmlsafe
from hub.core.errors import ConfigError
from hub.core.settings import FilesSettings, HubSettings
from hub.domain.actors import Actor, Delivery
from tests.support.demandes import demande_event, new_num_unique
from tests.support.legacy_files import legacy_xml

XXE = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
       b'<interfaceNuu xmlns="http://nuu.application.i2/">&x;</interfaceNuu>')


def _settings(tmp_path: Path, **files: Any) -> HubSettings:
    return HubSettings(home=tmp_path / "home", files=FilesSettings(**files))


def _candidate(path: Path) -> Candidate:
    st = path.stat()
    return Candidate(path, st.st_size, st.st_mtime_ns)


def test_dis_names_sort_in_offset_order_and_are_stable() -> None:
    names = [layout.dis_name("bailleur-1", 0, f, last) for f, last in ((0, 9), (10, 10), (11, 120))]
    assert names == sorted(names)
    assert names[0] == "DIS_bailleur-1_p0_000000000000-000000000009.xml"
    assert layout.dis_name("bailleur-1", 0, 0, 9) == names[0]  # same range, same name


def test_inbox_candidates_skip_work_in_progress() -> None:
    assert layout.is_inbox_candidate("export.xml") and layout.is_inbox_candidate("EXPORT.XML")
    for name in ("export.xml.tmp", ".export.xml", "export.part", "export.xml.report.json"):
        assert not layout.is_inbox_candidate(name), name


def test_dest_name_keeps_name_unless_taken_by_another_document(tmp_path: Path) -> None:
    assert layout.dest_name(tmp_path, "jour.xml", "a" * 64) == "jour.xml"
    (tmp_path / "jour.xml").write_bytes(b"old")
    (tmp_path / "jour.xml.report.json").write_text(json.dumps({"sha256": "b" * 64}))
    assert layout.dest_name(tmp_path, "jour.xml", "a" * 64) == "jour.aaaaaaaaaaaa.xml"
    # a replay of the document already there (same digest) keeps its name
    assert layout.dest_name(tmp_path, "jour.xml", "b" * 64) == "jour.xml"
    # a crash after the report, before the move: the replay picks the same name
    (tmp_path / "x.xml.report.json").write_text(json.dumps({"sha256": "c" * 64}))
    assert layout.dest_name(tmp_path, "x.xml", "c" * 64) == "x.xml"


def test_outbox_dir_from_delivery_option(tmp_path: Path) -> None:
    s = _settings(tmp_path, root=tmp_path / "files")
    plain = Actor(id="a1", name="A", kind="bailleur", delivery=Delivery(channel="file"))
    assert layout.outbox_dir(s, plain) == tmp_path / "files" / "outbox" / "a1"
    rel = plain.model_copy(update={"delivery": Delivery(channel="file", options={"dir": "x/y"})})
    assert layout.outbox_dir(s, rel) == tmp_path / "files" / "x" / "y"
    absolute = plain.model_copy(
        update={"delivery": Delivery(channel="file", options={"dir": str(tmp_path / "abs")})})
    assert layout.outbox_dir(s, absolute) == tmp_path / "abs"


def test_source_names_must_be_safe_folder_names(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        layout.inbox_paths(_settings(tmp_path), "../etc")


def test_write_atomic_replaces_and_leaves_no_temporary(tmp_path: Path) -> None:
    fsutil.write_atomic(tmp_path, "f.xml", b"one")
    fsutil.write_atomic(tmp_path, "f.xml", b"two")
    assert (tmp_path / "f.xml").read_bytes() == b"two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.xml"]


def test_write_atomic_failure_never_shows_a_partial_file(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    fsutil.write_atomic(tmp_path, "f.xml", b"complete")

    def broken_fsync(fd: int) -> None:
        raise OSError(5, "I/O error")

    monkeypatch.setattr(fsutil.os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        fsutil.write_atomic(tmp_path, "f.xml", b"half")
    with pytest.raises(OSError):
        fsutil.write_atomic(tmp_path, "g.xml", b"half")
    monkeypatch.undo()
    assert (tmp_path / "f.xml").read_bytes() == b"complete"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.xml"]


def test_stale_temporaries_are_removed(tmp_path: Path) -> None:
    (tmp_path / fsutil.tmp_name("DIS_a.xml")).write_bytes(b"<half")
    (tmp_path / "DIS_a.xml").write_bytes(b"<whole/>")
    assert fsutil.remove_stale_tmp(tmp_path) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["DIS_a.xml"]


def test_exclusive_lock_refuses_a_second_holder(tmp_path: Path) -> None:
    with (fsutil.exclusive_lock(tmp_path / "l.lock", "inbox 'x'"),
          pytest.raises(ConfigError, match="already being processed"),
          fsutil.exclusive_lock(tmp_path / "l.lock", "inbox 'x'")):
        pass
    with fsutil.exclusive_lock(tmp_path / "l.lock", "inbox 'x'"):
        pass  # released on exit


def test_journal_survives_a_torn_line_and_compacts(tmp_path: Path) -> None:
    path = tmp_path / "j"
    j = Journal(path)
    j.add([("d1", "a.xml"), ("d2", "b.xml")])
    with path.open("ab") as fh:
        fh.write(b'{"sha256": "d3", "na')  # a crash in the middle of an append
    j = Journal(path)
    assert "d1" in j and "d2" in j and "d3" not in j
    j.add([("d4", "c.xml")])
    j = Journal(path)
    assert {"d1", "d2", "d4"} == {d for d in ("d1", "d2", "d3", "d4") if d in j}
    j.compact({"c.xml"})
    assert len(Journal(path)) == 1 and "d4" in Journal(path)


def test_journal_keeps_the_sne_numbers_of_files_not_moved_yet(tmp_path: Path) -> None:
    path = tmp_path / "j"
    j = Journal(path)
    j.add_number("d1", "000000000001-new.xml", "076112500000110691")
    j.add([("d2", "000000000002-mod.xml")])
    with path.open("ab") as fh:
        fh.write(b'{"sha256": "d3", "name": "x", "step": "numbe')  # a crashed append
    j = Journal(path)  # another process: what was fsynced is there
    assert j.number_of("d1") == "076112500000110691" and "d1" not in j
    assert "d2" in j and j.number_of("d2") is None and j.number_of("d3") is None
    j.compact({"000000000001-new.xml"})  # mod.xml was moved, new.xml still waits
    j = Journal(path)
    assert j.number_of("d1") == "076112500000110691" and "d2" not in j
    j.compact(set())
    assert Journal(path).number_of("d1") is None


def test_claimed_files_keep_their_claim_order_and_inbox_name(tmp_path: Path) -> None:
    inbox, work = tmp_path / "inbox", tmp_path / "inbox" / layout.WORK
    work.mkdir(parents=True)
    for name in ("b.xml", "a.xml", "export.xml"):
        (inbox / name).write_bytes(name.encode())
    seq = claim.next_sequence(work)
    taken = [claim.claim(_candidate(inbox / n), work, seq + i)
             for i, n in enumerate(("b.xml", "a.xml", "export.xml"))]
    gone = inbox / "gone.xml"
    gone.write_bytes(b"removed after the listing")
    listed_gone = _candidate(gone)
    gone.unlink()
    assert claim.claim(listed_gone, work, 99) is None
    assert [c.name for c in taken if c] == ["b.xml", "a.xml", "export.xml"]
    (inbox / "export.xml").write_bytes(b"the next export")  # the name is free again
    again = claim.claim(_candidate(inbox / "export.xml"), work, claim.next_sequence(work))
    assert again is not None and again.path.read_bytes() == b"the next export"
    listed = claim.list_claimed(work)
    assert [c.name for c in listed] == ["b.xml", "a.xml", "export.xml", "export.xml"]
    assert listed[2].path.read_bytes() == b"export.xml"  # the first one, untouched
    assert claim.inbox_name(listed[3].path.name) == "export.xml"
    assert not [p for p in inbox.iterdir() if p.is_file()]


def test_list_ready_waits_for_files_to_settle_and_orders_them(tmp_path: Path) -> None:
    old, new = tmp_path / "b.xml", tmp_path / "a.xml"
    old.write_bytes(b"1")
    new.write_bytes(b"2")
    (tmp_path / "c.xml.tmp").write_bytes(b"3")
    (tmp_path / "done").mkdir()
    past = time.time() - 60
    os.utime(old, (past, past))
    now = time.time()
    assert [c.path.name for c in list_ready(tmp_path, settle_s=5, now=now)] == ["b.xml"]
    later = list_ready(tmp_path, settle_s=0, now=now + 1)
    assert [c.path.name for c in later] == ["b.xml", "a.xml"]


def test_examine_verdicts(tmp_path: Path) -> None:
    good = tmp_path / "good.xml"
    good.write_bytes(legacy_xml(new_num_unique(), ["76540"]))
    out = examine(_candidate(good), "erp")
    # valid, checked; prepared (numbered if need be) only when about to be published
    assert out is not None and out.status == PUBLISHED and out.checked is not None
    assert out.prepared is None
    assert out.checked.event["source"] == "files:erp"
    # same bytes, same event id: the dispatcher recognises a replay
    assert out.checked.event["eventId"] == parse_demande_xml(good.read_bytes())["eventId"]

    xxe = tmp_path / "xxe.xml"
    xxe.write_bytes(XXE)
    out = examine(_candidate(xxe), "erp")
    assert out is not None and out.status == REJECTED and out.reason == "hostile_xml"

    unknown = tmp_path / "unknown.xml"
    unknown.write_bytes(legacy_xml(new_num_unique(), ["76999"]))
    out = examine(_candidate(unknown), "erp")
    assert out is not None and (out.status, out.reason) == (REJECTED, "unknown_commune")

    changed = _candidate(good)
    good.write_bytes(good.read_bytes() + b" ")
    assert examine(changed, "erp") is None  # still being written: left for later


def test_oversized_file_is_refused_without_parsing(tmp_path: Path) -> None:
    big = tmp_path / "big.xml"
    big.write_bytes(b"<a>" + b"x" * (xmlsafe.DEFAULT_MAX_BYTES + 1) + b"</a>")
    out = examine(_candidate(big), "erp")
    assert out is not None and (out.status, out.reason) == (REJECTED, "hostile_xml")
    assert "cap" in out.message


def test_finish_writes_report_then_moves(tmp_path: Path) -> None:
    s = _settings(tmp_path, root=tmp_path / "files")
    paths = layout.inbox_paths(s, "erp")
    paths.create()
    f = paths.folder / "xxe.xml"
    f.write_bytes(XXE)
    out = examine(_candidate(f), "erp")
    assert out is not None
    dest = finish(out, paths, now_ms=1_700_000_000_000)
    assert dest == paths.error / "xxe.xml" and not f.exists()
    report = json.loads((paths.error / "xxe.xml.report.json").read_text())
    assert report["status"] == "rejected" and report["reason"] == "hostile_xml"
    assert report["processedAt"].startswith("2023-11-14T22:13:20")
    assert "/etc/passwd" not in report["message"]


def _feed_record(num: str, kind: str = "DEMANDE", **extra: Any) -> dict[str, Any]:
    ev = demande_event(num, ["76540"], handicap=True)
    rec = {"kind": kind, "eventId": ev["eventId"], "numUnique": num, "operation": "CRE",
           "demandeVersion": 1, "occurredAt": ev["occurredAt"], "dispatchedAt": 1_700_000_000_000,
           "profile": "consultant_simple", "reason": None, "changedFields": [],
           "demande": parse_demande_xml(legacy_xml(num, ["76540"]))["demande"], "evenement": None}
    rec.update(extra)
    return rec


def test_render_batch_is_deterministic_and_carries_valid_documents() -> None:
    n1, n2, n3 = new_num_unique(), new_num_unique(), new_num_unique()
    records = [(5, _feed_record(n1)), (6, _feed_record(n2, "RADIATION", operation="RAD")),
               (8, _feed_record(n3, "RETRAIT", reason="hors_territoire", demande=None))]
    data = render_batch("bailleur-1", 0, records)
    assert data == render_batch("bailleur-1", 0, records)
    root = xmlsafe.parse(data)
    assert root.get("premierOffset") == "5" and root.get("dernierOffset") == "8"
    assert root.get("nombre") == "3"
    recs = list(root)
    assert [r.get("nature") for r in recs] == ["DEMANDE", "RADIATION", "RETRAIT"]
    assert recs[2].get("motif") == "hors_territoire" and len(recs[2]) == 0
    xsd = etree.XMLSchema(etree.parse(str(XSD_PATH)))
    types = []
    for r in recs[:2]:
        doc = r[0]
        assert xsd.validate(doc), xsd.error_log.last_error
        types.append(doc.findtext("{http://nuu.application.i2/}entete/"
                                  "{http://nuu.application.i2/}typeFichier"))
    assert types == ["DIS", "RAD"]
    with pytest.raises(ValueError):
        render_batch("bailleur-1", 0, [])
