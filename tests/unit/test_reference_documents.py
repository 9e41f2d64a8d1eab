"""The reference InterfaceNuu documents (issue 17 point 7).

``tests/data/interfacenuu/`` holds documents that ``hub publish --dry-run`` accepts as they
are, with no SNE configured: publishing the folder succeeds. ``tests/data/interfacenuu-refused/``
holds documents that are valid SNE input (the XSD accepts them) but that the hub refuses on
its own, each for the reason stated here:

* ``demande_association.xml`` — a CRE without numéro unique: only the SNE numbers it, so
  without an SNE configured the hub refuses it (with one, it is numbered first);

``demande_renouvellement.xml`` (a REN without ``logementRecherche``, valid in the outline)
is accepted since the dispatch no longer refuses a live demand that wishes no commune: it
reaches nobody until it wishes one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from connectors.interfacenuu.mapping import XSD_PATH
from hub.cli import main

DATA = Path(__file__).resolve().parents[1] / "data"
VALID = DATA / "interfacenuu"
REFUSED = DATA / "interfacenuu-refused"
REASONS = {
    "demande_association.xml": "CRE without numéro unique: only the SNE numbers a new demand "
                               "and no SNE is configured",
}


def test_dry_run_of_the_valid_folder_succeeds() -> None:
    files = sorted(VALID.glob("*.xml"))
    assert files
    res = CliRunner().invoke(main, ["publish", "--dry-run", str(VALID)])
    assert res.exit_code == 0, res.output
    assert str(VALID) not in res.output  # no file refused


def test_refused_folder_holds_exactly_the_documented_cases() -> None:
    assert sorted(p.name for p in REFUSED.glob("*.xml")) == sorted(REASONS)


@pytest.mark.parametrize("name", sorted(REASONS))
def test_each_refused_document_is_valid_sne_input_refused_for_its_reason(name: str) -> None:
    path = REFUSED / name
    xsd = etree.XMLSchema(etree.parse(str(XSD_PATH)))
    assert xsd.validate(etree.parse(str(path)))
    res = CliRunner().invoke(main, ["publish", "--dry-run", str(path)])
    assert res.exit_code == 1
    assert f"{path}: {REASONS[name]}" in res.output, res.output
