"""Conformance corpus (issue 17 point 2): documents walked from the SNE outline itself
(:mod:`tests.support.outline_docs`, independent of ``hub/dev/generate/`` and of the hub's XSD
and Avro schema) go through the hub.

Property, per document: accepted as ``hub publish --dry-run`` accepts a file (the
publishing function it calls, plus a CliRunner run on a folder), maps to a DemandeEvent
(encoded, decoded), and rendered back as the DIS outbox and the SOAP push render it,
validates against the XSD with the same meaning: same elements, attributes and values
(booleans and integers by value), same flagged paths. 2,000 documents per run: 1,000 from a
fixed seed, 1,000 from a random seed printed on failure (``OUTLINE_CORPUS_SEED=<n>``
replays it), plus a hypothesis run that shrinks. Breaking each required part of a maximal
document once is refused in one line naming the element.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from lxml import etree

from connectors.files.disfile import render_batch
from connectors.ingress.publishing import prepare_event
from connectors.interfacenuu.mapping import XSD_PATH
from connectors.outbound.soap_envelope import envelope
from hub.cli import main
from hub.core.errors import InputError
from schemas import get_codec
from tests.support.outline_docs import (
    MODES,
    OPERATIONS,
    Document,
    breakages,
    check_code_lists,
    documents,
    generate,
)
from tests.support.outline_grammar import (
    COPY_DIR,
    DOMAIN_DIR,
    FILES,
    NS,
    grammar,
    meaning,
    outline_dir,
)

FIXED_SEED = 17_000_000
PER_RUN = 1000
RANDOM_SEED = int(os.environ.get("OUTLINE_CORPUS_SEED") or random.SystemRandom().randrange(2**40))
_XSD = etree.XMLSchema(etree.parse(str(XSD_PATH)))


def _demande(root: etree._Element) -> etree._Element:
    found = root.find(f"{{{NS}}}demande")
    assert found is not None
    return found


def _rendered(event: dict[str, object]) -> Iterator[tuple[str, etree._Element]]:
    """The InterfaceNuu documents the hub sends for ``event``: DIS batch and SOAP body."""
    record = {
        "kind": "RADIATION" if event["operation"] == "RAD" else "DEMANDE",
        "eventId": event["eventId"], "numUnique": event["numUnique"],
        "operation": event["operation"], "demandeVersion": 1,
        "occurredAt": event["occurredAt"], "dispatchedAt": 1_760_000_000_000,
        "profile": "consultant_sensible", "reason": None,
        "changedFields": event["changedFields"], "demande": event["demande"], "evenement": None,
    }
    batch = etree.fromstring(render_batch("corpus", 0, [(7, record)]))
    yield "DIS", batch.find(f".//{{{NS}}}interfaceNuu")  # type: ignore[misc]
    soap = etree.fromstring(envelope(json.dumps(record).encode(), 7))
    yield "SOAP", soap.find(f".//{{{NS}}}interfaceNuu")  # type: ignore[misc]


def check(doc: Document) -> None:
    """The property for one document (assertion messages say how to replay it)."""
    xml = doc.xml
    try:
        prepared = prepare_event(xml)
    except InputError as exc:
        raise AssertionError(f"refused {doc.describe()}: {exc}") from None
    event = get_codec().decode_as(prepared.value, "DemandeEvent")
    assert event["operation"] == doc.operation and event["versionInterface"] == doc.version
    expected = meaning(_demande(etree.fromstring(xml)))
    for how, rendered in _rendered(event):
        assert rendered is not None, how
        copy = etree.fromstring(etree.tostring(rendered))
        assert _XSD.validate(copy), f"{how} of {doc.describe()}: {_XSD.error_log.last_error}"
        assert meaning(_demande(copy)) == expected, f"{how} changed {doc.describe()}"


def test_outline_is_the_domain_reference() -> None:
    """The corpus reads the domain's outline; the project's copy is the same text."""
    if outline_dir() == DOMAIN_DIR:
        for f in FILES:
            assert (COPY_DIR / f).read_text("utf-8") == (DOMAIN_DIR / f).read_text("utf-8"), f
    check_code_lists()
    assert "t_demandeLogement" in grammar().types


def test_fixed_seed_corpus_goes_through_the_hub() -> None:
    for i in range(PER_RUN):
        check(generate(FIXED_SEED + i, MODES[i % len(MODES)]))


def test_random_seed_corpus_goes_through_the_hub() -> None:
    try:
        for i in range(PER_RUN):
            check(generate(RANDOM_SEED + i, MODES[i % len(MODES)]))
    except AssertionError as exc:
        raise AssertionError(f"OUTLINE_CORPUS_SEED={RANDOM_SEED} (document {i}): {exc}") from None


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(documents())
def test_corpus_documents_through_hypothesis(doc: Document) -> None:
    check(doc)


def test_every_mode_operation_and_branch_is_covered() -> None:
    """Each operation in each mode, each choice branch preferred: minimal documents carry
    no optional part (the locality choices of logementActuel/situationProfessionnelle
    absent), maximal ones every part (``complement/@nom`` included)."""
    for mode in MODES:
        for op in OPERATIONS:
            for prefer in (0, 1):
                doc = generate(hash((mode, op, prefer)) % 2**32, mode, operation=op,
                               prefer=prefer)
                check(doc)
                xml = doc.xml
                if mode == "minimal":
                    assert b"logementActuel" in xml or b"association" in xml
                    assert b"typeLogementPossede" not in xml and b"complement" not in xml
                if mode == "maximal":
                    assert b"complement nom=" in xml.replace(b"ns2:", b"").replace(b"n:", b"")


def test_every_profile_cut_renders_a_valid_document() -> None:
    """What an actor receives is cut to its access profile first: the cut never removes a
    part the XSD requires (300 corpus documents, three profiles)."""
    from hub.domain.profiles import cut_for_profile

    for i in range(300):
        doc = generate(FIXED_SEED + 70_000 + i, MODES[i % 3])
        event = prepare_event(doc.xml).event
        for profile in ("consultant_simple", "consultant_demande", "consultant_sensible"):
            cut = {**event, "demande": cut_for_profile(event["demande"], profile)}
            for how, rendered in _rendered(cut):
                copy = etree.fromstring(etree.tostring(rendered))
                assert _XSD.validate(copy), f"{how} {profile} {doc.describe()}"


def test_dry_run_accepts_a_folder_of_corpus_documents(tmp_path: Path) -> None:
    for i in range(30):
        doc = generate(FIXED_SEED + 50_000 + i, MODES[i % 3])
        (tmp_path / f"doc{i:02d}.xml").write_bytes(doc.xml)
    res = CliRunner().invoke(main, ["publish", "--dry-run", str(tmp_path)])
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("prefer", [0, 1])
def test_each_required_part_broken_once_is_refused_naming_it(prefer: int) -> None:
    """Every required element and attribute removed, every facet violated: one line naming
    the element, never echoing the offending value."""
    doc = generate(FIXED_SEED + prefer, "maximal", operation="MOD", prefer=prefer)
    count = 0
    for b in breakages(doc):
        with pytest.raises(InputError) as err:
            prepare_event(b.xml)
        msg = str(err.value)
        assert "\n" not in msg, b.what
        for name in b.names:
            assert name in msg, f"{b.what}: {msg}"
        assert "expected string" not in msg and "NoneType" not in msg, f"{b.what}: {msg}"
        if b.value and not b.value.isdigit() and len(b.value) > 1:  # values are never echoed
            assert b.value not in msg, f"{b.what}: {msg}"
        count += 1
    assert count > 150


def test_creations_without_number_are_left_to_the_sne(tmp_path: Path) -> None:
    """A CRE/CRS without numéro unique is legal SNE input: without an SNE configured the
    hub refuses it saying an SNE must number it (never 'malformed numéro unique'), the
    same in ``hub publish --dry-run``: one such line per document."""
    for i, op in enumerate(("CRE", "CRS") * 5):
        doc = generate(FIXED_SEED + 90_000 + i, MODES[i % 3], operation=op, numbered=False)
        assert b"numUnique>" not in doc.xml.split(b"listeDoublons")[0]
        with pytest.raises(InputError) as err:
            prepare_event(doc.xml)
        assert "SNE" in str(err.value) and "malformed" not in str(err.value)
        (tmp_path / f"new{i}.xml").write_bytes(doc.xml)
    res = CliRunner().invoke(main, ["publish", "--dry-run", str(tmp_path)])
    lines = [line for line in res.output.splitlines() if line.startswith(str(tmp_path))]
    assert res.exit_code == 1 and len(lines) == 10, res.output
    assert all("without numéro unique" in line and "SNE" in line for line in lines)
    assert "malformed" not in res.output


@pytest.mark.parametrize("op", ["CRE", "MOD", "REN"])
def test_minimal_live_documents_without_logement_recherche(op: str) -> None:
    check(generate(FIXED_SEED + 7, "minimal", operation=op, live_search=False))
