"""The inbox's file size limit is ``files.max_file_bytes`` (issue 19): an oversize file goes
to ``error/`` with its report, refused from its size, and no file is ever read beyond the
size it had when the inbox was listed."""

from __future__ import annotations

import asyncio
import json
import tracemalloc
from pathlib import Path

from connectors.files import layout
from connectors.files.inbox import REJECTED, Candidate, examine
from connectors.files.scan import scan_source
from hub.core.settings import FilesSettings, HubSettings, KafkaSettings

DOC = Path(__file__).resolve().parents[1] / "data" / "interfacenuu" / "demande_complete.xml"


def _settings(tmp_path: Path, max_file_bytes: int) -> HubSettings:
    return HubSettings(
        home=tmp_path / "home",
        # no broker there: a file that passed the size check would fail the pass
        kafka=KafkaSettings(bootstrap_servers="127.0.0.1:1", request_timeout_ms=1000),
        files=FilesSettings(root=tmp_path / "files", sources=("erp",), settle_s=0,
                            publish_timeout_s=2, max_file_bytes=max_file_bytes),
    )  # fmt: skip


def test_a_file_above_the_setting_goes_to_error_with_its_report(tmp_path: Path) -> None:
    doc = DOC.read_bytes()  # a valid SNE document, one byte above the configured cap
    s = _settings(tmp_path, max_file_bytes=len(doc) - 1)
    paths = layout.inbox_paths(s, "erp")
    paths.create()
    (paths.folder / "big.xml").write_bytes(doc)
    stats = asyncio.run(scan_source(s, paths))
    assert (stats.counts["published"], stats.counts["rejected"]) == (0, 1)
    assert (paths.error / "big.xml").read_bytes() == doc
    report = json.loads((paths.error / "big.xml.report.json").read_text())
    assert report["status"] == "rejected" and report["reason"] == "hostile_xml"
    assert report["message"] == f"file is {len(doc)} bytes, above the {len(doc) - 1} bytes cap"
    assert report["size"] == len(doc) and len(report["sha256"]) == 64


def _peak_while(fn: object) -> tuple[object, int]:
    tracemalloc.start()
    try:
        out = fn()  # type: ignore[operator]
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_an_oversize_file_is_hashed_in_chunks_never_held(tmp_path: Path) -> None:
    big = tmp_path / "big.xml"
    with big.open("wb") as fh:
        fh.truncate(40 << 20)
    st = big.stat()
    out, peak = _peak_while(
        lambda: examine(Candidate(big, st.st_size, st.st_mtime_ns), "erp", max_bytes=1 << 20)
    )
    assert out is not None and out.status == REJECTED  # type: ignore[attr-defined]
    assert peak < 4 << 20


def test_a_file_grown_since_the_listing_is_not_read_beyond_its_listed_size(
    tmp_path: Path,
) -> None:
    f = tmp_path / "growing.xml"
    f.write_bytes(b"<a/>")
    listed = Candidate(f, 4, f.stat().st_mtime_ns)
    with f.open("r+b") as fh:  # a writer appends 40 MB after the listing
        fh.truncate(40 << 20)
    out, peak = _peak_while(lambda: examine(listed, "erp", max_bytes=1 << 20))
    assert out is None  # changed since listed: left for a later pass
    assert peak < 4 << 20
