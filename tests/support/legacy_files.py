"""Builders for the legacy file exchange tests: InterfaceNuu files and DIS file readers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lxml import etree

from connectors.files.disfile import NS as DIS_NS
from connectors.interfacenuu.snapshot import NS, q
from hub.core import xmlsafe

TEMPLATE = Path(__file__).resolve().parent.parent / "data" / "interfacenuu" / "demande_complete.xml"
HUB = [sys.executable, "-c", "from hub.cli import main; main()"]


def legacy_xml(num: str, communes: list[str], *, operation: str = "CRE",
               when: datetime | None = None) -> bytes:
    """A valid InterfaceNuu file (the complete sample, sensitive fields included) for
    demand ``num`` wishing ``communes``; radiation only for RAD."""
    root = xmlsafe.parse(TEMPLATE.read_bytes())
    root.find(f"{q('entete')}/{q('typeFichier')}").text = operation  # type: ignore[union-attr]
    stamp = (when or datetime.now(UTC)).isoformat(timespec="microseconds")
    root.find(f"{q('entete')}/{q('dateFichier')}").text = stamp  # type: ignore[union-attr]
    dl = root.find(f"{q('demande')}/{q('demandeLogement')}")
    assert dl is not None
    dl.find(q("numUnique")).text = num  # type: ignore[union-attr]
    assoc = dl.find(q("numUniqueAssocie"))
    if assoc is not None:
        dl.remove(assoc)
    locs = dl.find(f"{q('logementRecherche')}/{q('listeLocalisationSouhaite')}")
    assert locs is not None
    for child in list(locs):
        locs.remove(child)
    for c in communes:
        loc = etree.SubElement(locs, q("localisationSouhaite"))
        etree.SubElement(loc, q("commune")).set("code", c)
    radiation = dl.find(q("radiation"))
    if radiation is not None and operation != "RAD":
        dl.remove(radiation)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def drop(folder: Path, name: str, data: bytes) -> Path:
    """Drop a file the documented way: written under a ``.tmp`` name, then renamed."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"{name}.tmp"
    tmp.write_bytes(data)
    final = folder / name
    os.replace(tmp, final)
    return final


def files_env(hub_env: dict[str, str], root: Path, source: str, **extra: str) -> dict[str, str]:
    env = {**hub_env, "HUB_FILES__ROOT": str(root), "HUB_FILES__SOURCES": f'["{source}"]',
           "HUB_FILES__SETTLE_S": "0", "HUB_FILES__POLL_INTERVAL_S": "0.2"}
    env.update(extra)
    return env


def hub(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HUB, *args], env=env, capture_output=True, text=True, timeout=timeout)


def read_dis(folder: Path) -> list[dict[str, Any]]:
    """Every record of every visible DIS file of ``folder``, in file-name order: the
    record attributes plus ``file``, ``typeFichier``, ``communes`` and ``sensitive``."""
    out = []
    for path in sorted(folder.glob("DIS_*.xml")):
        root = xmlsafe.parse(path.read_bytes())
        assert root.tag == f"{{{DIS_NS}}}lotDiffusion", path
        for rec in root:
            item: dict[str, Any] = {**rec.attrib, "file": path.name, "lot": dict(root.attrib)}
            doc = rec.find(f"{{{NS}}}interfaceNuu")
            if doc is not None:
                item["document"] = doc
                item["typeFichier"] = doc.findtext(f"{q('entete')}/{q('typeFichier')}")
                item["communes"] = [c.get("code") for c in doc.iter(q("commune"))
                                    if c.getparent() is not None
                                    and c.getparent().tag == q("localisationSouhaite")]
                item["sensitive"] = doc.find(f".//{q('listeHandicap')}") is not None
            out.append(item)
    return out


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
