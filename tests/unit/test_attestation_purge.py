"""Review I, F3: an attestation whose PDF writes its text as hex strings (``<3037...> Tj``,
as many PDF producers do) and whose name holds no numéro was never attributed, so never
purged, and not even reported. The hub now saves each attestation in a folder named by
its demand (``sne-attestations/<numéro>/``), which the purge reads; one of the former flat
layout it cannot attribute is reported at every purge."""

from __future__ import annotations

from pathlib import Path

from connectors.files.purge import purge_files
from hub.core.settings import HubSettings

NUM = "076112500000012345"
#: "Numéro unique 076112500000012345" as a PDF hex string: no digit run in the bytes
_HEX = f"Numéro unique {NUM}".encode("latin-1").hex().upper().encode()
PDF = (
    b"%PDF-1.4\n1 0 obj<</Length 80>>stream\nBT /F1 12 Tf <"
    + _HEX
    + b"> Tj ET\nendstream endobj\n%%EOF\n"
)


def test_an_attestation_in_its_demands_folder_goes_with_the_demand(tmp_path: Path) -> None:
    settings = HubSettings(home=tmp_path / "home")
    folder = settings.home / "sne-attestations" / NUM
    folder.mkdir(parents=True)
    pdf = folder / "recepisse.pdf"
    pdf.write_bytes(PDF)
    assert NUM.encode() not in PDF  # nothing in the bytes names it
    report = purge_files(settings, {NUM}, held=set())
    assert report.removed == [pdf] and not pdf.exists()
    assert not folder.exists()  # its name is the numéro too


def test_one_the_purge_cannot_attribute_is_reported(tmp_path: Path) -> None:
    settings = HubSettings(home=tmp_path / "home")
    flat = settings.home / "sne-attestations"
    flat.mkdir(parents=True)
    pdf = flat / "recepisse.pdf"
    pdf.write_bytes(PDF)
    report = purge_files(settings, {NUM}, held=set())
    assert pdf.exists() and report.removed == []
    assert [k.path for k in report.kept] == [pdf]
    assert "names no demand" in report.kept[0].why


def test_a_demand_accepted_before_the_month_check_is_still_purged(tmp_path: Path) -> None:
    """A numéro with month 00 (the door accepted it before session 19) keeps its files
    findable by the purge."""
    legacy = "076001500000012345"
    settings = HubSettings(home=tmp_path / "home")
    folder = settings.home / "sne-attestations" / legacy
    folder.mkdir(parents=True)
    (folder / "recepisse.pdf").write_bytes(PDF)
    flat = settings.home / "sne-attestations" / f"attestation_{legacy}.pdf"
    flat.write_bytes(b"%PDF-1.4\n%%EOF\n")
    report = purge_files(settings, {legacy}, held=set())
    assert sorted(report.removed) == sorted([folder / "recepisse.pdf", flat])
    assert not folder.exists()
