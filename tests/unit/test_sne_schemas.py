"""The project's SNE WSDLs and XSDs: fresh from their generators, complete, and usable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import zeep

from connectors.sne import documents
from connectors.sne.operations import SERVICES, WS_NS
from connectors.sne.server import WSDL_DIR
from hub.core.errors import InputError

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("script", ["gen_sne_wsdl.py", "gen_sne_service_xsds.py"])
def test_generated_files_are_fresh(script: str) -> None:
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / script), "--check"],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_wsdl_soap12_operations_and_actions(service: str) -> None:
    client = zeep.Client(str(WSDL_DIR / f"{service}.wsdl"))
    binding = client.wsdl.bindings[f"{{{WS_NS}}}{service}SoapBinding"]
    assert type(binding).__name__ == "Soap12Binding"
    ops = binding._operations
    assert set(ops) == set(SERVICES[service][1])
    for name, op in ops.items():
        assert op.soapaction == f"{WS_NS}{name}"
        assert op.style == "document"
    text = (WSDL_DIR / f"{service}.wsdl").read_text()
    assert "xmime:expectedContentTypes" in text and "demandeLogementException" in text


def test_service_documents_validate_and_errors_name_the_rule() -> None:
    search = documents.document("RECH", "G0001", {"operation": {"demandeMulticritere": {
        "etatDemande": "A", "communeSouhaitee": "76540"}}})
    documents.load(search, "recherche")
    ev = documents.document("AJO", "G0001", {"operation": {"numUnique": "076112500000110691"},
                                             "listeEvenements": [{"codeTypeEvenement": "REFUS"}]})
    documents.load(ev, "evenement")
    types = documents.document("LTE", "G0001", {"operation": {"codeTerritoire": "076"}})
    documents.load(types, "typeEvenement")
    bad = documents.document("RECH", "G0001", {"operation": {"demandeMulticritere": {
        "personneRecherchee": {"nom": "DURANDDURAND" * 4}}}})
    with pytest.raises(InputError) as err:
        documents.load(bad, "recherche")
    assert err.value.code == "XSD" and "nom" in err.value.message
    assert "DURAND" not in err.value.message  # personal values are masked
