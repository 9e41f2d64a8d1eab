"""Independent audit J (SNE fidelity): F1 dates with whitespace, F2 coded elements without
code (empty radiation motive = reactivation), F5 years not on 4 digits, F8 change flags, F9
``dateFichier`` below the millisecond.

Documents are built from the domain outline by audit J's own generator
(:mod:`tests.support.auditj_grammar`) and read back by its own reader
(:mod:`tests.support.auditj_reader`), never by the hub's code; they go through the real
entrances: the check of ``hub publish`` (:func:`check_raw`, and the CLI's dry run) and the
file inbox (:func:`connectors.files.inbox.examine`); the rendering back is the DIS batch
file (:func:`render_batch`), compared field by field with the independent reading.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from connectors.files.disfile import render_batch
from connectors.files.inbox import PUBLISHED, REJECTED, examine, list_ready
from connectors.ingress.publishing import check_raw
from hub.cli import main
from hub.core.errors import InputError
from hub.domain.carriable import day_problem
from hub.domain.cotation.faits import parse_date
from hub.domain.renewal import parse_day
from schemas import get_codec
from tests.support.auditj_grammar import NS, Gen, document, load
from tests.support.auditj_reader import compare, demande_of, flags, prune

TYPES = load()
N = f"{{{NS}}}"
DATES = ("dateCreationDemande", "dateNaissance", "dateRadiation", "dateRenouvellement")
#: XML whitespace around a value: what xs:date's whiteSpace=collapse removes
SPACE = st.lists(st.sampled_from([" ", "\t", "\n", "\r\n"]), min_size=1, max_size=4).map("".join)


def _doc(seed: int = 1, op: str = "MOD") -> etree._Element:
    """A document of every optional part, for a natural person (the first seed from
    ``seed`` on whose choice is ``personnePhysique``)."""
    while True:
        root = document(TYPES, Gen(TYPES, mode="max", maxrep=3, seed=seed), op=op)
        if root.find(f"{N}demande/{N}demandeLogement/{N}personnePhysique") is not None:
            return root
        seed += 1


def _bytes(root: etree._Element) -> bytes:
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def _event(data: bytes) -> dict[str, Any]:
    return get_codec().decode_as(check_raw(data).value, "DemandeEvent")  # type: ignore[no-any-return]


def _dis(event: dict[str, Any]) -> bytes:
    """The InterfaceNuu document of ``event`` as a DIS batch file carries it."""
    record = {
        "kind": "DEMANDE", "eventId": event["eventId"], "numUnique": event["numUnique"],
        "operation": event["operation"], "demandeVersion": 1,
        "occurredAt": event["occurredAt"], "dispatchedAt": 1_760_000_000_000,
        "profile": "consultant_sensible", "reason": None,
        "changedFields": event["changedFields"], "demande": event["demande"], "evenement": None,
    }  # fmt: skip
    batch = etree.fromstring(render_batch("audit-j", 0, [(7, record)]))
    return bytes(etree.tostring(batch.find(f".//{N}interfaceNuu")))


def _same_meaning(original: bytes, event: dict[str, Any]) -> None:
    """The snapshot and its DIS rendering both read, independently, as ``original``."""
    expected = prune(demande_of(original))
    assert compare(expected, prune(event["demande"])) == []
    assert compare(expected, prune(demande_of(_dis(event)))) == []


def _inbox(tmp_path: Path, data: bytes) -> Any:
    (tmp_path / "doc.xml").write_bytes(data)
    (candidate,) = list_ready(tmp_path, settle_s=0, now=2e9)
    return examine(candidate, "audit-j")


# ------------------------------------------------------------------ F1: dates with whitespace


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(before=SPACE, after=SPACE, which=st.sampled_from(DATES), seed=st.integers(0, 50))
def test_dates_with_whitespace_are_the_dates(
    before: str, after: str, which: str, seed: int
) -> None:
    root = _doc(seed)
    if which == "dateRenouvellement" and root.find(f".//{N}{which}") is None:
        return
    for el in root.iter(f"{N}{which}", f"{N}dateFichier"):
        el.text = f"{before}{el.text}{after}"
    data = _bytes(root)
    event = _event(data)  # refused by libxml2's check before the fix
    _same_meaning(data, event)
    dl = event["demande"]["demandeLogement"]
    assert parse_day(dl["dateCreationDemande"]) == dt.date.fromisoformat(
        demande_of(data)["demandeLogement"]["dateCreationDemande"][:10]
    )


@pytest.mark.parametrize("raw", [" 2011-01-01 ", "\n2011-01-01\n", "\t2011-01-01Z\r\n"])
def test_date_readers_take_the_collapsed_value(raw: str) -> None:
    day = dt.date(2011, 1, 1)
    assert parse_day(raw) == day and parse_date(raw) == day
    far = raw.replace("2011", "2300")
    assert day_problem({"demandeLogement": {"dateCreationDemande": far}}) is not None


def test_inbox_takes_a_pretty_printed_date(tmp_path: Path) -> None:
    root = _doc(3)
    born = root.find(f".//{N}demandeur/{N}dateNaissance")
    assert born is not None
    born.text = f"\n      {born.text}\n    "
    outcome = _inbox(tmp_path, _bytes(root))
    assert outcome.status == PUBLISHED, outcome.message


# ----------------------------------------- F2: coded elements without code, reactivation


def _without_code(root: etree._Element, path: str) -> None:
    el = root.find(path)
    assert el is not None and el.get("code") is not None
    del el.attrib["code"]


def test_radiation_with_an_empty_motive_is_a_reactivation(tmp_path: Path) -> None:
    root = _doc(5, op="RAD")
    _without_code(root, f".//{N}radiation/{N}motifRadiation")
    data = _bytes(root)
    event = _event(data)
    assert event["operation"] == "MOD"  # active again, never radiated
    assert event["demande"]["demandeLogement"]["radiation"]["motifRadiation"] == ""
    _same_meaning(data, event)
    rendered = etree.fromstring(_dis(event)).find(f".//{N}motifRadiation")
    assert rendered is not None and rendered.get("code") is None
    assert _inbox(tmp_path, data).status == PUBLISHED


@pytest.mark.parametrize(
    "path",
    [
        f".//{N}demandeur/{N}civilite",
        f".//{N}demandeur/{N}nationalite",
        f".//{N}logementActuel/{N}listeModeleLogement/{N}modeleLogement",
    ],
)
def test_coded_element_without_code_is_accepted_and_rendered_back(path: str) -> None:
    root = _doc(7)
    _without_code(root, path)
    data = _bytes(root)
    _same_meaning(data, _event(data))


# --------------------------------------------------------- F5: years not on four digits


@pytest.mark.parametrize("value", ["10000-01-01", "-0001-01-01", "0001-01-01", "99999-12-31"])
def test_creation_dates_outside_the_hub_days_are_refused(value: str, tmp_path: Path) -> None:
    root = _doc(9)
    el = root.find(f".//{N}dateCreationDemande")
    assert el is not None
    el.text = value
    data = _bytes(root)
    with pytest.raises(InputError) as err:
        check_raw(data)
    assert err.value.code == "date_out_of_range"
    assert "demande.demandeLogement.dateCreationDemande" in err.value.message
    outcome = _inbox(tmp_path, data)
    assert outcome.status == REJECTED and "dateCreationDemande" in outcome.message
    (tmp_path / "doc.xml").unlink()
    (tmp_path / "pub.xml").write_bytes(data)
    res = CliRunner().invoke(main, ["publish", "--dry-run", str(tmp_path / "pub.xml")])
    assert res.exit_code == 1 and "dateCreationDemande" in res.output


# -------------------------------------------------------------------- F8: change flags

FLAGGABLE = (
    "localisationSouhaite",
    "typeLogement",
    "motifDemande",
    "detailRessource",
    "cotitulaire",
    "nom",
    "dateNaissance",
    "personneACharge",
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    picks=st.lists(st.tuples(st.sampled_from(FLAGGABLE), st.integers(0, 20)), min_size=1,
                   max_size=3),
    spelling=st.sampled_from(["true", "1", " true ", "\ttrue\n", " 1", "false", " 0 "]),
    seed=st.integers(0, 50),
)  # fmt: skip
def test_flags_come_back_on_the_flagged_elements_only(
    picks: list[tuple[str, int]], spelling: str, seed: int
) -> None:
    root = _doc(seed)
    for name, k in picks:
        found = list(root.find(f"{N}demande").iter(f"{N}{name}"))  # type: ignore[union-attr]
        if found:
            found[k % len(found)].set(f"{N}modifie", spelling)
    data = _bytes(root)
    expected = flags(data)
    event = _event(data)
    assert sorted(event["changedFields"]) == sorted(expected)
    assert bool(expected) == (spelling.strip() in ("true", "1"))
    assert sorted(flags(_dis(event))) == sorted(expected)  # not every item of the list
    _same_meaning(data, event)


# ------------------------------------------------------- F9: dateFichier below the ms


@pytest.mark.parametrize(
    ("value", "instant"),
    [
        ("2016-01-15T09:30:00.1234567", "2016-01-15T09:30:00.123+01:00"),
        ("2016-01-15T09:30:00.9999999Z", "2016-01-15T09:30:00.999+00:00"),
        ("1950-06-01T00:00:00.0005+00:00", "1950-06-01T00:00:00.000+00:00"),
        ("1950-06-01T00:00:00.1234-01:00", "1950-06-01T01:00:00.123+00:00"),
    ],
)
def test_date_fichier_is_kept_to_the_millisecond(value: str, instant: str) -> None:
    root = _doc(11)
    el = root.find(f"{N}entete/{N}dateFichier")
    assert el is not None
    el.text = value
    event = _event(_bytes(root))
    expected = dt.datetime.fromisoformat(instant)
    assert event["occurredAt"] == (expected - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // (
        dt.timedelta(milliseconds=1)
    )
