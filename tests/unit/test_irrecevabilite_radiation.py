"""The radiation a CAL decision of irrecevabilité leads to (dispatch/evenements.py
``radiation_for``) is a valid InterfaceNuu document whatever the decision's ``MOTIF``:
``radiation/sousMotifIrrecevabilite`` is a code (``[a-zA-Z0-9]{1,6}``), so only a code
of the domain's list goes there, any other text leaves it null — and the radiation still
happens (audit D, S1: a record written to hub.evenements without the API's CAL guard)."""

from __future__ import annotations

import time
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from connectors.interfacenuu import parse_demande_xml, render_demande_xml
from connectors.interfacenuu.mapping import XSD_PATH
from dispatch.evenements import radiation_for
from hub.domain.cal_rules import IRRECEVABILITE_MOTIFS
from hub.domain.state import DemandeState
from tests.support.demandes import new_num_unique
from tests.support.legacy_files import legacy_xml

NUM = new_num_unique()


@cache
def _xsd() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD_PATH)))


@cache
def _state() -> DemandeState:
    """An active demand whose snapshot is a valid InterfaceNuu document."""
    demande = parse_demande_xml(legacy_xml(NUM, ["76540"]))["demande"]
    return DemandeState(NUM, 1, True, frozenset({"a"}), "e0", "CRE", 0, demande=demande)


def _decision(motif: str | None) -> dict[str, Any]:
    fields = {"CODECAL": "CAL1", "LOGEMENT": "L1", "DECISIONID": "d1", "DECISION": "IRREC",
              "DATEDEC": "2026-12-01"}  # fmt: skip
    if motif is not None:
        fields["MOTIF"] = motif
    return {"eventId": "e1", "numUnique": NUM, "operation": "AJO",
            "codeTypeEvenement": "DECISCAL", "dateSurvenance": "2026-12-01", "auteur": "a",
            "occurredAt": int(time.time() * 1000), "caracteristiques": fields}  # fmt: skip


def _radiated(motif: str | None) -> tuple[Any, etree._Element]:
    rad = radiation_for(_decision(motif), _state())
    assert rad is not None and rad["operation"] == "RAD"
    radiation = rad["demande"]["demandeLogement"]["radiation"]
    assert radiation["motifRadiation"] == "RADIRR"
    doc = etree.fromstring(render_demande_xml(rad))
    assert _xsd().validate(doc), _xsd().error_log.last_error
    return radiation["sousMotifIrrecevabilite"], doc


def test_free_text_motif_gives_a_valid_radiation_without_sub_motive() -> None:
    """The audit's repro: the text is not copied into the coded element."""
    sous, _doc = _radiated("Ressources supérieures au plafond")
    assert sous is None


@pytest.mark.parametrize("motif", IRRECEVABILITE_MOTIFS)
def test_a_listed_code_is_kept(motif: str) -> None:
    sous, doc = _radiated(motif)
    assert sous == motif
    found = doc.find(".//{http://nuu.application.i2/}sousMotifIrrecevabilite")
    assert found is not None and found.get("code") == motif


@pytest.mark.parametrize("motif", [None, "", "irrsej", "IRRSEJ ", "IRRXXX"])
def test_absent_or_unlisted_motif_is_null(motif: str | None) -> None:
    assert _radiated(motif)[0] is None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=40))
def test_any_text_gives_a_valid_document(motif: str) -> None:
    sous, _doc = _radiated(motif)
    assert sous == (motif if motif in IRRECEVABILITE_MOTIFS else None)
