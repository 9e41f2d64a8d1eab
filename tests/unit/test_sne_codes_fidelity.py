"""SNE fidelity of codes and numéros (independent audit J, F3 and F4).

Every table here is read from the domain reference (``../shared/domain/README.md``), never
from ``hub.domain.refdata``; the field each table applies to comes from the InterfaceNuu
outline (``sne-interface/InterfaceNuu_v0201.txt``) and the reference's wording. Codes in
their table are accepted, any other non-empty code is refused ``unknown_code`` naming the
field, at the door (``hub publish``) and in the worker (a dead letter); numéros follow the
reference's ``DDD MMYY SSSSSS GGGGG`` (month 01-12), matched whole.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from aiokafka.partitioner import murmur2
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from dispatch.processor import InputRecord, Processor
from hub.cli import main
from hub.core import topics
from hub.core.errors import InputError
from hub.domain.actors import Actor, ActorFilters
from hub.domain.decisions import validate_event
from hub.domain.matching import TerritoryIndex
from hub.domain.refdata import check_num_unique
from tests.support.demandes import demande_event, new_num_unique
from tests.support.memory import MemorySender, MemoryStore
from tests.support.outline_docs import generate

DOMAIN = Path(__file__).resolve().parents[3] / "shared" / "domain" / "README.md"
ROUEN = "76540"


def _segment(text: str, start: str, end: str) -> str:
    i = text.index(start) + len(start)
    return text[i : text.index(end, i)]


@cache
def domain_tables() -> dict[str, frozenset[str]]:
    """The code lists of the domain reference, parsed from its text."""
    text = re.sub(r"\n  +", " ", DOMAIN.read_text(encoding="utf-8"))  # list items unwrapped
    codes = _segment(text, "## Code lists (SNE)", "Codes change over time")
    lifecycle = _segment(text, "**Radiation motives** (codes)", "Empty motive")
    found = {
        "civilite": re.findall(r"\b(\d) M", _segment(codes, "civilité", "·")),
        "nationalite": re.findall(r"\b(\d) \w", _segment(codes, "nationalité", "·")),
        "situationFamiliale": re.findall(
            r"\b([A-Z])\b", _segment(codes, "situation familiale", "\n- ")
        ),
        "typologie": re.findall(r"\b(C|T\d|T6P)\b", _segment(codes, "typologies", "·")),
        "categorie": re.findall(r"\b([A-Z]) [a-zé]", _segment(codes, "catégorie", "\n- ")),
        "contrat": re.findall(r"\b([A-Z]{3})\b", _segment(codes, "contract", "·")),
        "ressource": re.findall(r"\b([A-Z]{2,4})\b", _segment(codes, "resources", "\n- ")),
        "modeleLogement": re.findall(
            r"\b([A-Z]{2,6})\b", _segment(codes, "current housing", "\n- ")
        ),
        "motifDemande": re.findall(r"\b(\d\d) [a-z]", _segment(codes, "motives", "\n- ")),
        "reservataire": re.findall(r"\b([A-Z]{5,6})\b", _segment(codes, "réservataire", "·")),
        "statutDalo": re.findall(r"\b([A-Z]{3,6})\b", _segment(codes, "DALO status", "\n")),
        "motifRadiation": re.findall(r"`(RAD[A-Z]{3})`", lifecycle),
        "sousMotif": re.findall(r"`(IRR[A-Z]{3})`", lifecycle),
    }
    sizes = {k: len(set(v)) for k, v in found.items()}
    assert sizes == {
        "civilite": 3, "nationalite": 3, "situationFamiliale": 7, "typologie": 7,
        "categorie": 3, "contrat": 8, "ressource": 15, "modeleLogement": 17,
        "motifDemande": 23, "reservataire": 6, "statutDalo": 4, "motifRadiation": 5,
        "sousMotif": 2,
    }, sizes  # fmt: skip
    return {k: frozenset(v) for k, v in found.items()}


_DL = ("demandeLogement",)
_DEM = (*_DL, "personnePhysique", "demandeur")
#: (path in the snapshot, table, operation): the outline's coded elements the reference
#: names a table for (0: the first item of a list)
FIELDS: list[tuple[tuple[str | int, ...], str, str]] = [
    (("informationDalo", "statutDalo"), "statutDalo", "MOD"),
    (("informationDalo", "typologieLogementDalo"), "typologie", "MOD"),
    ((*_DL, "logementRecherche", "categorieLogementRecherche"), "categorie", "MOD"),
    ((*_DL, "logementRecherche", "listeTypeLogement", 0), "typologie", "MOD"),
    ((*_DL, "principauxMotifDemande", "motifDemande", 0), "motifDemande", "MOD"),
    ((*_DEM, "civilite"), "civilite", "MOD"),
    ((*_DEM, "nationalite"), "nationalite", "MOD"),
    ((*_DEM, "situationFamiliale"), "situationFamiliale", "MOD"),
    ((*_DEM, "situationProfessionnelle", "typeContratTravail"), "contrat", "MOD"),
    ((*_DEM, "listeRessourceRecue", 0, "ressource"), "ressource", "MOD"),
    ((*_DEM, "listeRessourceVersee", 0, "ressource"), "ressource", "MOD"),
    ((*_DL, "personnePhysique", "listeCotitulaire", 0, "civilite"), "civilite", "MOD"),
    ((*_DL, "personnePhysique", "listeCotitulaire", 0, "nationalite"), "nationalite", "MOD"),
    ((*_DL, "personnePhysique", "logementActuel", "listeModeleLogement", 0), "modeleLogement",
     "MOD"),
    ((*_DL, "radiation", "motifRadiation"), "motifRadiation", "RAD"),
    ((*_DL, "radiation", "sousMotifIrrecevabilite"), "sousMotif", "RAD"),
    ((*_DL, "radiation", "attributionLogement", "typeReservataire"), "reservataire", "RAD"),
    ((*_DL, "listeDoublons", 0, "demandeur", "civilite"), "civilite", "MOD"),
]  # fmt: skip


def _set(tree: dict[str, Any], path: tuple[str | int, ...], value: str) -> None:
    node: Any = tree
    for step, nxt in itertools.pairwise(path):
        if isinstance(step, int):
            while len(node) <= step:
                node.append({} if not isinstance(nxt, int) else [])
            node = node[step]
        else:
            if node.get(step) is None:
                node[step] = [] if isinstance(nxt, int) else {}
            node = node[step]
    last = path[-1]
    if isinstance(last, int):
        while len(node) <= last:
            node.append(value)
        node[last] = value
    else:
        node[last] = value


def _event(path: tuple[str | int, ...], op: str, code: str) -> dict[str, Any]:
    event = demande_event(new_num_unique(), [ROUEN], operation=op)
    if op == "RAD":
        event["demande"]["demandeLogement"]["radiation"] = {
            "dateRadiation": "2026-01-10",
            "motifRadiation": "RADATT",
        }
    _set(event["demande"], path, code)
    return event


@st.composite
def _field_and_code(draw: st.DrawFn, known: bool) -> tuple[tuple[str | int, ...], str, str, str]:
    path, table, op = draw(st.sampled_from(FIELDS))
    codes = domain_tables()[table]
    if known:
        return path, table, op, draw(st.sampled_from(sorted(codes)))
    shaped = st.from_regex(r"[A-Za-z0-9]{1,6}", fullmatch=True)
    # free text of XML characters (a character XML cannot carry is refused before, on its own)
    text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xD7FF), min_size=1, max_size=20)
    code = draw((shaped | text).filter(lambda c: c not in codes))
    return path, table, op, code


@settings(max_examples=300, deadline=None)
@given(_field_and_code(known=True))
def test_every_code_of_the_domain_tables_is_accepted(case: tuple[Any, str, str, str]) -> None:
    path, _table, op, code = case
    validate_event(_event(path, op, code))


@settings(max_examples=300, deadline=None)
@given(_field_and_code(known=False))
def test_a_code_outside_its_domain_table_is_refused_naming_the_field(
    case: tuple[Any, str, str, str],
) -> None:
    path, _table, op, code = case
    with pytest.raises(InputError) as err:
        validate_event(_event(path, op, code))
    assert err.value.code == "unknown_code", str(err.value)
    msg = str(err.value)
    assert str(path[-1] if isinstance(path[-1], str) else path[-2]) in msg
    assert "\n" not in msg
    if not re.fullmatch(r"[A-Za-z0-9]{1,6}", code):  # free text is never quoted
        assert repr(code) not in msg


def test_the_empty_radiation_motive_is_a_reactivation_and_stays_valid() -> None:
    validate_event(_event((*_DL, "radiation", "motifRadiation"), "RAD", ""))


def test_the_audit_codes_are_refused() -> None:
    for path, op, code in [
        ((*_DL, "radiation", "motifRadiation"), "RAD", "RADXXX"),
        (("informationDalo", "statutDalo"), "MOD", "FOO"),
        ((*_DEM, "civilite"), "MOD", "9"),
        ((*_DL, "principauxMotifDemande", "motifDemande", 0), "MOD", "99"),
    ]:
        with pytest.raises(InputError) as err:
            validate_event(_event(path, op, code))
        assert err.value.code == "unknown_code"


def test_the_worker_dead_letters_an_unknown_code(geography, codec) -> None:  # type: ignore[no-untyped-def]
    """A producer writing to hub.demandes directly: the event goes to hub.dlq with reason
    ``unknown_code`` (replayable once the table knows the code), nothing reaches a feed."""
    actor = Actor(id="rouen", name="rouen", kind="bailleur", version=1,
                  profile="consultant_simple", filters=ActorFilters(communes=[ROUEN]))  # fmt: skip
    store, sender = MemoryStore(4), MemorySender()
    proc = Processor(TerritoryIndex(geography, [actor]), codec, store, sender)
    event = _event((*_DL, "radiation", "motifRadiation"), "RAD", "RADXXX")
    key = event["numUnique"].encode()
    value = codec.encode("DemandeEvent", event)
    part = (murmur2(key) & 0x7FFFFFFF) % 4
    asyncio.run(proc.process([InputRecord(topics.DEMANDES, part, 0, key, value)]))
    dlq = [codec.decode_as(v, "DeadLetter") for _, v in sender.sent[topics.DLQ]]
    assert [d["reason"] for d in dlq] == ["unknown_code"]
    assert "motifRadiation" in dlq[0]["message"]
    assert not sender.sent.get(topics.feed_topic("rouen"))


# -- the numéro unique: DDD MMYY SSSSSS GGGGG ------------------------------------------------

_DDD = r"[0-9]{2}[0-9AB]"  # département on 3 characters (057, 02A, 971), 111 (IDF)
_SEQ_GUICHET = r"[0-9]{6}[0-9A-Z]{5}"  # 6-digit sequence, guichet code (10691, DGALN)
_YY = st.integers(0, 99).map(lambda y: f"{y:02d}")


def _num(ddd: str, month: int, yy: str, rest: str) -> str:
    return f"{ddd}{month:02d}{yy}{rest}"


_ddd = st.from_regex(_DDD, fullmatch=True)
_rest = st.from_regex(_SEQ_GUICHET, fullmatch=True)


def test_the_domain_examples_are_numeros() -> None:
    for num in ("057121507390310691", "0571215073903DGALN", "0571215073903G1104",
                "111062307390210691", "02A010907390110691", "971121507390310691"):  # fmt: skip
        assert check_num_unique(num) == num


@settings(max_examples=300, deadline=None)
@given(_ddd, st.integers(1, 12), _YY, _rest)
def test_every_month_of_the_grammar_is_accepted(ddd: str, mm: int, yy: str, rest: str) -> None:
    num = _num(ddd, mm, yy, rest)
    assert check_num_unique(num) == num
    validate_event(demande_event(num, [ROUEN], operation="MOD"))


@settings(max_examples=300, deadline=None)
@given(_ddd, st.integers(0, 99).filter(lambda m: not 1 <= m <= 12), _YY, _rest)
def test_a_month_00_or_13_and_above_is_refused(ddd: str, mm: int, yy: str, rest: str) -> None:
    with pytest.raises(InputError) as err:
        validate_event(demande_event(_num(ddd, mm, yy, rest), [ROUEN], operation="MOD"))
    assert err.value.code == "invalid_num_unique"


@settings(max_examples=200, deadline=None)
@given(_ddd, st.integers(1, 12), _YY, _rest, st.sampled_from(["\n", "\r\n", " ", "\n\n", "X"]))
def test_nothing_may_follow_the_numero(ddd: str, mm: int, yy: str, rest: str, tail: str) -> None:
    with pytest.raises(InputError) as err:
        check_num_unique(_num(ddd, mm, yy, rest) + tail)
    assert err.value.code == "invalid_num_unique"


def test_a_json_line_with_a_trailing_line_feed_in_its_numero_is_refused(tmp_path: Path) -> None:
    import json

    num = new_num_unique()
    event = demande_event(num + "\n", [ROUEN], operation="MOD")
    event["demande"]["demandeLogement"]["numUnique"] = num + "\n"
    (tmp_path / "e.jsonl").write_text(json.dumps(event) + "\n")
    res = CliRunner().invoke(main, ["publish", "--dry-run", str(tmp_path / "e.jsonl")])
    assert res.exit_code == 1 and "malformed numéro unique" in res.output, res.output


# -- a real entrance: hub publish (the check path of files and the API too) ------------------

_NS = "http://nuu.application.i2/"


def _document(local: str, code: str, seed: int) -> bytes:
    """An outline-generated RAD document (every optional part) whose first ``local``
    coded element carries ``code``."""
    doc = generate(seed, "maximal", operation="RAD", prefer=1)
    root = etree.fromstring(doc.xml)
    (elem,) = root.xpath(f"(//*[local-name()='{local}' and namespace-uri()='{_NS}'])[1]")
    elem.set("code", code)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.sampled_from(
        [
            ("civilite", "civilite"),
            ("statutDalo", "statutDalo"),
            ("motifRadiation", "motifRadiation"),
            ("motifDemande", "motifDemande"),
            ("modeleLogement", "modeleLogement"),
        ]
    ),
    st.data(),
)
def test_hub_publish_refuses_unknown_codes_and_takes_known_ones(
    tmp_path: Path, element: tuple[str, str], data: st.DataObject
) -> None:
    local, table = element
    codes = domain_tables()[table]
    good = data.draw(st.sampled_from(sorted(codes)))
    bad = data.draw(
        st.from_regex(r"[A-Z0-9]{1,6}", fullmatch=True).filter(lambda c: c not in codes)
    )
    seed = data.draw(st.integers(0, 10_000))
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    (folder / "good.xml").write_bytes(_document(local, good, seed))
    (folder / "bad.xml").write_bytes(_document(local, bad, seed))
    res = CliRunner().invoke(main, ["publish", "--dry-run", str(folder / "good.xml")])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(main, ["publish", "--dry-run", str(folder / "bad.xml")])
    assert res.exit_code == 1
    assert re.search(rf"(?i){local}(\[\d+\])?: unknown code {re.escape(repr(bad))}", res.output)
