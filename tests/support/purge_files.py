"""Builders and probes for the tests of the file purge (``hub purge`` and the inbox
copies, SNE attestations): documents of a named applicant, dated, batched, and a sweep of
a hub's home for the files that still name a demand or a person."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from tests.support.legacy_files import legacy_xml

#: the applicant of the reference document (tests/data/interfacenuu/demande_complete.xml)
TEMPLATE_NAME = "Martin-Lefèvre".encode()


def named(xml: bytes, nom: str) -> bytes:
    """``xml`` (the reference document) with its applicant renamed ``nom``."""
    assert TEMPLATE_NAME in xml
    return xml.replace(TEMPLATE_NAME, nom.encode(), 1)


def dated(xml: bytes, when: datetime) -> bytes:
    """``xml`` with its ``dateFichier`` (the event's time) set to ``when``."""
    stamp = when.isoformat(timespec="milliseconds").encode()
    out, n = re.subn(rb"<(\w+:)?dateFichier>[^<]*</(\w+:)?dateFichier>",
                     rb"<\1dateFichier>" + stamp + rb"</\2dateFichier>", xml)  # fmt: skip
    assert n == 1
    return out


def demand(num: str, communes: list[str], op: str, when: datetime, nom: str) -> bytes:
    """A document of demand ``num`` whose applicant is ``nom``, dated ``when``."""
    return named(legacy_xml(num, communes, operation=op, when=when), nom)


def batch(*docs: bytes) -> bytes:
    """Several InterfaceNuu documents in one file (a batch export: the inbox refuses it)."""
    bodies = [re.sub(rb"^<\?xml[^>]*\?>\s*", b"", d) for d in docs]
    return b'<?xml version="1.0" encoding="UTF-8"?>\n<lot>' + b"".join(bodies) + b"</lot>\n"


def grouped(num: str) -> str:
    """The numéro as an attestation prints it: ``DDD MMYY SSSSSS GGGGG``."""
    return f"{num[:3]} {num[3:7]} {num[7:13]} {num[13:]}"


def files_naming(home: Path, needles: Iterable[str]) -> dict[Path, set[str]]:
    """Every file under ``home`` whose name or bytes hold one of ``needles`` (a numéro
    is also looked for grouped), with the needles found."""
    wanted = {n: {n.encode(), grouped(n).encode()} for n in needles}
    found: dict[Path, set[str]] = {}
    for folder, _dirs, files in os.walk(home):
        for name in files:
            path = Path(folder) / name
            if path.is_symlink() or not path.is_file():
                continue
            data = name.encode() + b"\n" + path.read_bytes()
            hits = {n for n, forms in wanted.items() if any(f in data for f in forms)}
            if hits:
                found[path] = hits
    return found


def snapshot(folder: Path) -> dict[Path, bytes]:
    """Every regular file under ``folder`` and its bytes."""
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
