#!/usr/bin/env python3
"""Regenerate ``hub/data/geo.tsv.gz`` and ``hub/data/geo_successors.tsv.gz`` from the npm
package ``@etalab/decoupage-administratif``.

Usage::

    python scripts/build_geo.py                      # fetches 6.0.0 + the history with `npm pack`
    python scripts/build_geo.py --version 6.1.0      # another millésime
    python scripts/build_geo.py --tarball pkg.tgz    # the current table from a tarball at hand
    python scripts/build_geo.py --tarball-dir DIR    # every tarball from DIR when it is there

The package (Licence Ouverte data, MIT code) ships the INSEE Code Officiel Géographique and
the DGCL list of EPCI à fiscalité propre as JSON. We reduce it to the three tables the hub
needs to dispatch demands by territory, in a gzip TSV read by :mod:`hub.domain.geo`.

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

Successor table (``geo_successors.tsv.gz``, same encoding): how a code that left the INSEE
list (a commune merged into another or into a commune nouvelle, or renumbered by a change of
département) reaches a code of today's table. Sources, all in the same npm package:

* ``data/historique-communes.json`` of version 0.7.0, the last shipping it: INSEE's history
  of the COG from 1943 to 1 January 2019, event by event with its effective date;
* the ``communes.json`` of one version per later millésime (:data:`MILLESIMES`): a code
  present in one millésime and absent from the next left the list in between; its successor
  is the commune whose ``anciensCodes`` lists it in the later one;
* the current version's ``anciensCodes``, for the few codes the two above do not place
  (deletions of 1949–1968 recorded without a successor in the history).

* line 1: ``# source: @etalab/decoupage-administratif <version> sha256:<hex>, ...`` (every tarball)
* ``S  old  successor  date  basis  source``  one per code absent from the current table

``successor`` is the *direct* successor (the commune the code went into at that date); it may
itself have left the list since, so a reader follows the chain (16319 → 16115 in 1973,
16115 → 16046 by 2021). ``basis`` says what ``date`` is: ``history`` — the effective date of
the event in INSEE's history; ``cog`` — the first 1 January (a COG millésime) at which the
code is absent, the event took effect in the year(s) before; ``listed`` — only the current
version's ``anciensCodes`` knows it, ``date`` is the code's end in the history or empty.
``source`` is the package version the successor comes from. The build checks that following
the chain of every code lands on the commune whose ``anciensCodes`` lists it today.

The output is byte-for-byte reproducible for given tarballs (sorted rows, gzip mtime 0), so
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
DEFAULT_MILLESIME = "2026"
DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "hub" / "data" / "geo.tsv.gz"
DEFAULT_SUCCESSORS = DEFAULT_OUTPUT.with_name("geo_successors.tsv.gz")
#: the last version shipping INSEE's history of the COG (1943 → 1 January 2019)
HISTORY_VERSION = "0.7.0"
#: one version per COG millésime after the history (the package's README table; 2020 has none)
MILLESIMES = (
    ("2019", "0.7.0"),
    ("2021", "1.1.1"),
    ("2022", "2.3.1"),
    ("2023", "3.1.1"),
    ("2024", "4.1.0"),
    ("2025", "5.3.0"),
)
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


def _history_hops(history: list[dict[str, Any]], alive: set[str]) -> dict[str, Hop]:
    """Direct successors, from INSEE's history, of the codes absent from ``alive`` (the
    codes of the history's last millésime): each code's latest commune (``COM``) entity
    ended either into another code (a change of département: ``successeur`` has another
    code) or into a part (``COMP``/``COMD``/``COMA``) whose ``pole`` is the absorbing commune."""
    by_id = {e["id"]: e for e in history}
    by_code: dict[str, list[dict[str, Any]]] = {}
    for e in history:
        if e["type"] == "COM":
            by_code.setdefault(e["code"], []).append(e)
    hops: dict[str, Hop] = {}
    for code, entities in by_code.items():
        if code in alive:
            continue
        last = max(entities, key=lambda e: e.get("dateDebut", ""))
        succ = by_id.get(last.get("successeur", ""))
        if succ is None or "dateFin" not in last:
            continue  # a deletion without successor: left to anciensCodes
        target = succ["code"]
        if target == code:  # merged: the part's pole is the absorbing commune
            target = by_id.get(succ.get("pole", ""), {}).get("code")
        if target and target != code:
            hops[code] = (target, last["dateFin"], "history", HISTORY_VERSION)
    return hops


#: (direct successor, date, basis, package version of the successor)
Hop = tuple[str, str, str, str]


#: steps the sources do not give (INSEE's history of communes has no successor for them):
#: Saint-Barthélemy and Saint-Martin, communes of Guadeloupe (97123, 97127) until they
#: became collectivités d'outre-mer on 2007-07-15 (loi organique n° 2007-223), since
#: numbered 97701 and 97801 in the COG. Added when their successor is in today's table.
MANUAL_STEPS = {
    "97123": ("97701", "2007-07-15", "history", "manual"),
    "97127": ("97801", "2007-07-15", "history", "manual"),
}


def build_successors(history_tarball: Path, millesimes: list[tuple[str, str, Path]]) -> list[str]:
    """The ``S`` records (see the module doc). ``millesimes``: (year, version, tarball) in
    order, the first one the history's own millésime, the last one the current table's.
    Raises SystemExit if a chain loops or lands elsewhere than the current version's
    ``anciensCodes`` say."""
    with tarfile.open(history_tarball, "r:gz") as tar:
        history: list[dict[str, Any]] = read_json(tar, "historique-communes.json")
    tables: list[tuple[str, str, list[dict[str, Any]]]] = []
    for year, version, tarball in millesimes:
        with tarfile.open(tarball, "r:gz") as tar:
            tables.append((year, version, read_json(tar, "communes.json")))
    codes = [{c["code"] for c in table} for _, _, table in tables]
    hops = _history_hops(history, codes[0])
    for i in range(1, len(tables)):
        year, version, table = tables[i]
        owner = {old: c["code"] for c in table for old in c.get("anciensCodes") or ()}
        for gone in sorted(codes[i - 1] - codes[i]):
            if gone in owner:
                hops[gone] = (owner[gone], f"{year}-01-01", "cog", version)
    today, current_version = codes[-1], tables[-1][1]
    rows = {c["code"]: c for c in tables[-1][2]}
    owner_today = {old: c["code"] for c in tables[-1][2] for old in c.get("anciensCodes") or ()}
    ends = {e["code"]: e["dateFin"] for e in history if e["type"] == "COM" and "dateFin" in e}
    for old, code in owner_today.items():
        if old not in today and old not in hops:
            hops[old] = (code, ends.get(old, ""), "listed", current_version)
    for old, step in MANUAL_STEPS.items():
        if old not in hops and old not in today and step[0] in today:
            hops[old] = step
    records: list[str] = []
    for old in sorted(hops):
        if old in today:
            continue  # a code back in the list (rétablissement) is itself again
        chain = [old]
        while chain[-1] not in today:
            nxt = hops.get(chain[-1])
            if nxt is None or nxt[0] in chain:
                raise SystemExit(f"successor chain {' -> '.join(chain)} ends outside the table")
            chain.append(nxt[0])
        end = rows[chain[-1]]
        landed = end["code"] if end["type"] == "commune-actuelle" else (
            end.get("commune") or end.get("chefLieu"))
        if old in owner_today and owner_today[old] != landed:
            raise SystemExit(f"{old}: chain {' -> '.join(chain)} but anciensCodes says "
                             f"{owner_today[old]}")
        records.append("\t".join(("S", old, *hops[old])))
    return records


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
    parser.add_argument("--millesime", default=DEFAULT_MILLESIME,
                        help="COG year of that version (the README's table)")
    parser.add_argument("--tarball-dir", type=Path,
                        help="take etalab-decoupage-administratif-<version>.tgz from here")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--successors", type=Path, default=DEFAULT_SUCCESSORS)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:

        def get(version: str) -> Path:
            if args.tarball_dir is not None:
                at_hand = args.tarball_dir / f"etalab-decoupage-administratif-{version}.tgz"
                if at_hand.exists():
                    return Path(at_hand)
            return fetch_tarball(version, Path(tmp))

        tarball = args.tarball or get(args.version)
        sha = hashlib.sha256(tarball.read_bytes()).hexdigest()
        with tarfile.open(tarball, "r:gz") as tar:
            f = tar.extractfile("package/package.json")
            version = json.load(f)["version"] if f is not None else args.version
        rows = build_rows(tarball)
        older = [(y, v, get(v)) for y, v in MILLESIMES if y < args.millesime]
        chain = [*older, (args.millesime, version, tarball)]
        successors = build_successors(older[0][2], chain)
        shas = ", ".join(
            f"{PACKAGE}@{v} sha256:{hashlib.sha256(t.read_bytes()).hexdigest()}"
            for _, v, t in chain
        )
    write(successors, f"# source: {shas}\n# columns: S old successor date basis source",
          args.successors)
    print(f"{args.successors}: {len(successors)} old codes with a successor", file=sys.stderr)
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
