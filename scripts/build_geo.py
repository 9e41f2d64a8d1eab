#!/usr/bin/env python3
"""Regenerate ``hub/data/geo.tsv.gz`` from the npm package ``@etalab/decoupage-administratif``.

Usage::

    python scripts/build_geo.py                      # fetches 6.0.0 with `npm pack`
    python scripts/build_geo.py --version 6.1.0      # another millésime
    python scripts/build_geo.py --tarball pkg.tgz    # offline, from a tarball at hand

The package (Licence Ouverte data, MIT code) ships the INSEE Code Officiel Géographique and
the DGCL list of EPCI à fiscalité propre as JSON. We reduce it to the three tables the hub
needs to dispatch demands by territory, in a gzip TSV read by :mod:`hub.geo`.

Output contract (one record a line, tab-separated, UTF-8, ``\\n``):

* line 1: ``# source: @etalab/decoupage-administratif@<version> sha256:<hex of the tarball>``
* line 2: ``# columns: ...`` (documentation only)
* ``D  code  name  region_code  region_name``             one per département
* ``E  siren  name``                                       one per EPCI
* ``C  code  name  departement  epci  kind  parent  population  postal``  one per commune

``kind`` is ``commune-actuelle``, ``arrondissement-municipal``, ``commune-deleguee`` or
``commune-associee``. For the last three, ``parent`` is the current commune they belong to
and ``departement``/``epci`` are the parent's (a demand may wish "75112", which must land
where Paris lands). For a current commune ``parent`` is empty. ``epci`` is empty for the few
communes outside any EPCI (Île-de-Sein, Ouessant, Bréhat, L'Île-d'Yeu, the COM). When a code
is both a current commune and a commune déléguée (a commune nouvelle keeps its chef-lieu's
code), the current commune wins. ``population`` is the municipal population, 0 if unknown.
``postal`` lists the La Poste postal codes, comma-separated (a déléguée/associée without its
own takes its parent's; empty for the few places without any).

The output is byte-for-byte reproducible for a given tarball (sorted rows, gzip mtime 0), so
a regeneration shows up in review only when the data changed.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

PACKAGE = "@etalab/decoupage-administratif"
DEFAULT_VERSION = "6.0.0"
DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "hub" / "data" / "geo.tsv.gz"
KINDS = ("commune-actuelle", "arrondissement-municipal", "commune-deleguee", "commune-associee")


def fetch_tarball(version: str, dest: Path) -> Path:
    """Download the package tarball with ``npm pack`` into ``dest`` and return its path."""
    out = subprocess.run(
        ["npm", "pack", f"{PACKAGE}@{version}", "--silent", "--pack-destination", str(dest)],
        check=True,
        capture_output=True,
        text=True,
    )
    # npm prints the tarball's file name as the last line of stdout
    name = out.stdout.strip().splitlines()[-1]
    return dest / name


def read_json(tar: tarfile.TarFile, name: str) -> Any:
    member = tar.getmember(f"package/data/{name}")
    f = tar.extractfile(member)
    if f is None:
        raise SystemExit(f"{name}: not a regular file in the tarball")
    return json.load(f)


def clean(text: str) -> str:
    # names never hold tabs or newlines in the COG, but the TSV must stay parseable whatever
    return " ".join(text.split())


def build_rows(tarball: Path) -> list[str]:
    """Return the TSV records (without header) built from the package tarball."""
    with tarfile.open(tarball, "r:gz") as tar:
        communes: list[dict[str, Any]] = read_json(tar, "communes.json")
        epcis: list[dict[str, Any]] = read_json(tar, "epci.json")
        departements: list[dict[str, Any]] = read_json(tar, "departements.json")
        regions: list[dict[str, Any]] = read_json(tar, "regions.json")

    region_names = {r["code"]: r["nom"] for r in regions}
    rows: list[str] = []
    for d in sorted(departements, key=lambda d: d["code"]):
        region = d.get("region", "")
        region_name = clean(region_names.get(region, ""))
        rows.append("\t".join(("D", d["code"], clean(d["nom"]), region, region_name)))

    epci_of: dict[str, str] = {}
    for e in sorted(epcis, key=lambda e: e["code"]):
        rows.append("\t".join(("E", e["code"], clean(e["nom"]))))
        for m in e["membres"]:
            if m["code"] in epci_of:
                raise SystemExit(f"commune {m['code']} in two EPCIs")
            epci_of[m["code"]] = e["code"]

    current = {c["code"]: c for c in communes if c["type"] == "commune-actuelle"}
    records: dict[str, tuple[str, ...]] = {}
    for code, c in current.items():
        records[code] = (
            code,
            clean(c["nom"]),
            c["departement"],
            epci_of.get(code, ""),
            "commune-actuelle",
            "",
            str(c.get("population") or 0),
            ",".join(c.get("codesPostaux") or ()),
        )
    for c in communes:
        kind = c["type"]
        if kind not in KINDS:
            raise SystemExit(f"unexpected commune type {kind!r} for {c['code']}")
        if kind == "commune-actuelle" or c["code"] in current:
            continue  # the current commune of the same code wins
        parent_code = c["commune"] if kind == "arrondissement-municipal" else c["chefLieu"]
        parent = current.get(parent_code)
        if parent is None:
            raise SystemExit(f"{c['code']}: parent {parent_code} is not a current commune")
        records[c["code"]] = (
            c["code"],
            clean(c["nom"]),
            parent["departement"],
            epci_of.get(parent_code, ""),
            kind,
            parent_code,
            str(c.get("population") or 0),
            ",".join(c.get("codesPostaux") or parent.get("codesPostaux") or ()),
        )
    for code in sorted(records):
        rows.append("\t".join(("C", *records[code])))
    return rows


def write(rows: list[str], header: str, output: Path) -> None:
    text = header + "\n" + "\n".join(rows) + "\n"
    buf = io.BytesIO()
    # mtime=0 and no file name in the gzip header: same input, same bytes
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        gz.write(text.encode("utf-8"))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(buf.getvalue())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", default=DEFAULT_VERSION, help="package version to fetch")
    parser.add_argument("--tarball", type=Path, help="use this package tarball, no download")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        tarball = args.tarball or fetch_tarball(args.version, Path(tmp))
        sha = hashlib.sha256(tarball.read_bytes()).hexdigest()
        with tarfile.open(tarball, "r:gz") as tar:
            f = tar.extractfile("package/package.json")
            version = json.load(f)["version"] if f is not None else args.version
        rows = build_rows(tarball)
    header = (
        f"# source: {PACKAGE}@{version} sha256:{sha}\n"
        "# columns: D code name region region_name | E siren name"
        " | C code name departement epci kind parent population postal"
    )
    write(rows, header, args.output)
    counts = {k: sum(1 for r in rows if r.startswith(k + "\t")) for k in "DEC"}
    print(
        f"{args.output}: {counts['D']} départements, {counts['E']} EPCI, {counts['C']} communes,"
        f" {args.output.stat().st_size} bytes (source {PACKAGE}@{version} sha256:{sha[:12]}...)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
