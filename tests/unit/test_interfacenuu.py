"""InterfaceNuu demand XML ⇄ DemandeEvent: samples, round trips, errors, generated files."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from connectors.interfacenuu import parse_demande_xml, render_demande_xml
from connectors.interfacenuu.mapping import XSD_PATH
from connectors.interfacenuu.snapshot import NS_AVRO, ROOT_RECORD, collapsed, snapshot_model
from hub.core.errors import InputError
from schemas import AVRO_DIR, get_codec

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "interfacenuu"
COMPLETE = (DATA / "demande_complete.xml").read_bytes() if DATA.exists() else b""
#: valid SNE documents hub publish refuses on its own (tests/unit/test_reference_documents.py)
REFUSED = ROOT / "tests" / "data" / "interfacenuu-refused"
ASSOCIATION = (REFUSED / "demande_association.xml").read_bytes() if REFUSED.exists() else b""
RENEWAL = (DATA / "demande_renouvellement.xml").read_bytes() if DATA.exists() else b""


def snapshots(*, for_xml: bool) -> st.SearchStrategy[dict[str, Any]]:
    """Snapshot dicts generated from ``fr.passerelle.sne.Demande.avsc``.

    ``for_xml`` keeps to what XML can carry back unchanged: no control characters (attribute
    values are whitespace-normalised, \\r becomes \\n), no empty in-place repeated
    elements ([] and None both mean "no element" there) and date values already
    whitespace-collapsed (``xs:date``/``xs:dateTime`` read back collapsed).
    """
    raw = json.loads((AVRO_DIR / f"{ROOT_RECORD}.avsc").read_text("utf-8"))
    named: dict[str, st.SearchStrategy[Any]] = {}
    text = st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=8)
    prim = {"string": text, "int": st.integers(-(2**31), 2**31 - 1), "boolean": st.booleans()}

    def of(t: Any, field: dict[str, Any] | None = None) -> st.SearchStrategy[Any]:
        if isinstance(t, list) and t[0] != "null":  # ["string", record]: XML reads records
            return of(t[1]) if for_xml else st.one_of(of(t[0]), of(t[1]))
        if isinstance(t, list):
            return st.none() | of(t[1], field)
        if for_xml and t == "string" and field is not None and "=xs:date" in field.get("doc", ""):
            return text.map(collapsed)
        if isinstance(t, str):
            return prim[t] if t in prim else st.deferred(lambda: named[t])
        if t["type"] == "array":
            in_place = field is not None and not field.get("xmlItem")
            return st.lists(of(t["items"]), min_size=1 if for_xml and in_place else 0, max_size=2)
        strat = st.fixed_dictionaries({
            # hub extensions have no XML element: XML gives them back as None
            f["name"]: st.none() if for_xml and f.get("hubExtension") else of(f["type"], f)
            for f in t["fields"]})
        named[f"{t.get('namespace', 'fr.passerelle.sne')}.{t['name']}"] = strat
        return strat

    return of(raw)  # type: ignore[return-value]


@cache
def rich() -> dict[str, Any]:
    return parse_demande_xml(COMPLETE)


def without_id(ev: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in ev.items() if k != "eventId"}


def test_envelope_of_the_complete_sample() -> None:
    ev = rich()
    assert ev["numUnique"] == "057121507390310691" and ev["operation"] == "MOD"
    expected = datetime.fromisoformat("2024-03-05T14:30:12.250+01:00").timestamp() * 1000
    assert ev["occurredAt"] == int(expected) and ev["versionInterface"] == "02.01"
    assert ev["source"] == "interfacenuu-xml"
    assert ev["changedFields"] == [  # list items with their 0-based index
        "informationDalo.statutDalo",
        "demandeLogement.logementRecherche.listeTypeLogement.typeLogement[1]",
        "demandeLogement.logementRecherche.listeLocalisationSouhaite.localisationSouhaite[0]",
        "demandeLogement.principauxMotifDemande.motifDemande[1]",  # unqualified flag tolerated
        "demandeLogement.personnePhysique.demandeur.nom",
        "demandeLogement.personnePhysique.listePersonneACharge.personneACharge[1]",
    ]


def test_snapshot_values_follow_the_avro_mapping() -> None:
    d = rich()["demande"]
    dl = d["demandeLogement"]
    assert d["informationDalo"]["statutDalo"] == "ACTIF"  # coded element → its code
    assert d["informationDalo"]["accompagnementSocialDalo"] is False  # "0"
    assert d["informationDalo"]["dateDecisionDalo"] == "2023-11-20"  # date kept verbatim
    lr = dl["logementRecherche"]
    assert lr["listeTypeLogement"] == ["T3", "T4"] and lr["montantLoyer"] == 650
    assert lr["listeLocalisationSouhaite"] == [
        {"commune": "57463", "quartier": "Borny"},
        {"commune": "57672", "quartier": None},
        {"commune": "2A004", "quartier": ""},
    ]
    assert dl["principauxMotifDemande"]["motifDemande"] == ["03", "13"]
    assert dl["association"] is None
    dem = dl["personnePhysique"]["demandeur"]
    assert dem["revenuFiscal"]["montantMoins2"] == -1200
    assert dem["listeRessourceVerseePersACharge"] == []  # empty wrapper ≠ absent
    assert dem["adressePostale"]["commune"] == "57463"
    assert dl["personnePhysique"]["adresseLogement"]["pays"] == "Allemagne"
    assert dl["listeAnomalie"][0] == {
        "complement": [{"valeur": "precision", "nom": "champ"}, {"valeur": "255", "nom": None}],
        "message": "Texte tronqué",
        "code": "W042",
        "propriete": "demandeLogement.precision",
    }
    assert dl["listeAnomalie"][1]["complement"] is None
    assert dl["listeDoublons"][0]["listeLocalisationSouhaitee"][0]["commune"] == "57463"
    assert dl["precision"].startswith("Rez-de-chaussée souhaité & proche")


def test_samples_cover_every_field_of_the_outline() -> None:
    seen: set[tuple[str, str]] = set()

    def walk(record: str, value: dict[str, Any]) -> None:
        for f in snapshot_model()[record]:
            v = value.get(f.name)
            if v is None:
                continue
            seen.add((record, f.name))
            if f.kind in snapshot_model():
                for item in v if f.array else [v]:
                    walk(f.kind, item)

    for doc in (COMPLETE, ASSOCIATION, RENEWAL):
        walk(ROOT_RECORD, parse_demande_xml(doc)["demande"])
    every = {(r, f.name) for r, fields in snapshot_model().items() for f in fields if not f.ext}
    assert every - seen == set()


def test_new_demand_without_numero_unique() -> None:
    ev = parse_demande_xml(ASSOCIATION)
    assert ev["numUnique"] == "" and ev["operation"] == "CRE"
    assert ev["versionInterface"] == "02.00"
    naive = datetime.fromisoformat("2024-01-15T09:00:00+01:00")  # no offset: Paris time
    assert ev["occurredAt"] == int(naive.timestamp() * 1000)


@pytest.mark.parametrize(
    "doc", [COMPLETE, ASSOCIATION, RENEWAL], ids=["complete", "association", "renewal"]
)
def test_round_trips(doc: bytes) -> None:
    ev = parse_demande_xml(doc)
    xml = render_demande_xml(ev)
    assert etree.XMLSchema(etree.parse(str(XSD_PATH))).validate(etree.fromstring(xml))
    assert without_id(parse_demande_xml(xml)) == without_id(ev)
    codec = get_codec()
    back = codec.decode_as(codec.encode("DemandeEvent", ev), "DemandeEvent")
    assert back == ev
    assert without_id(parse_demande_xml(render_demande_xml(back))) == without_id(ev)
    # rendering is deterministic, so the id is stable from the first rendering on
    assert (
        parse_demande_xml(render_demande_xml(back))["eventId"] == parse_demande_xml(xml)["eventId"]
    )


def test_event_id_is_deterministic_per_document() -> None:
    assert parse_demande_xml(COMPLETE)["eventId"] == parse_demande_xml(COMPLETE)["eventId"]
    other = COMPLETE.replace(b"14:30:12.250", b"14:30:12.251")
    assert parse_demande_xml(other)["eventId"] != parse_demande_xml(COMPLETE)["eventId"]


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(snapshots(for_xml=True), st.sampled_from(["MOD", "REN", "RAD"]))
def test_generated_snapshots_survive_xml_and_avro(demande: dict[str, Any], op: str) -> None:
    ev = {
        "eventId": "x",
        "numUnique": "057121507390310691",
        "operation": op,
        "occurredAt": 1_700_000_000_123,
        "source": "interfacenuu-xml",
        "changedFields": [],
        "versionInterface": "02.01",
        "demande": demande,
    }
    if (demande.get("demandeLogement") or {}).get("numUnique") is None:
        empty = {f.name: None for f in snapshot_model()[f"{NS_AVRO}.DemandeLogement"]}
        dl = {**(demande["demandeLogement"] or empty), "numUnique": ev["numUnique"]}
        demande = ev["demande"] = {**demande, "demandeLogement": dl}
    if not demande["demandeLogement"]["numUnique"].strip():
        return  # a blank number is refused for MOD/REN/RAD, tested elsewhere
    ev["numUnique"] = demande["demandeLogement"]["numUnique"].strip()
    back = parse_demande_xml(render_demande_xml(ev), validate=False)
    assert back["demande"] == demande and back["occurredAt"] == ev["occurredAt"]
    codec = get_codec()
    assert codec.decode_as(codec.encode("DemandeEvent", back), "DemandeEvent") == back


def test_changed_fields_render_as_qualified_flags() -> None:
    xml = render_demande_xml(rich())
    root = etree.fromstring(xml)
    flagged = root.xpath("//*[@n:modifie='true']", namespaces={"n": "http://nuu.application.i2/"})
    names = {etree.QName(e).localname for e in flagged}
    assert names == {
        "statutDalo",
        "typeLogement",
        "localisationSouhaite",
        "motifDemande",
        "nom",
        "personneACharge",
    }
    assert b'n:modifie="true"' in xml


def _doc(
    body: str = "",
    *,
    op: str = "MOD",
    version: str = "02.01",
    root: str = "interfaceNuu",
    num: str = "<numUnique>057121507390310691</numUnique>",
) -> bytes:
    return (
        f'<{root} xmlns="http://nuu.application.i2/" versionInterface="{version}">'
        f"<entete><typeFichier>{op}</typeFichier><dateFichier>2024-01-01T00:00:00Z"
        f"</dateFichier></entete><demande><demandeLogement><numGuichet>10691</numGuichet>"
        f"{num}<dateCreationDemande>2024-01-01</dateCreationDemande><precision/>{body}"
        f"<association><nom>A</nom></association></demandeLogement></demande></{root}>"
    ).encode()


def test_minimal_document_parses() -> None:
    ev = parse_demande_xml(_doc())
    assert ev["occurredAt"] == 1_704_067_200_000 and ev["changedFields"] == []


@pytest.mark.parametrize(
    ("doc", "problem"),
    [
        (_doc(root="autre"), "root element must be"),
        (_doc(version="03.00"), "versionInterface '03.00' unsupported"),
        (_doc(op="DIS"), "typeFichier 'DIS' is not a demand operation"),
        (_doc(num=""), "numUnique is required for operation MOD"),
        (_doc(num="<numUnique>  </numUnique>"), "numUnique is required"),
        (_doc("<forcerDoublon>peut-être</forcerDoublon>"), "forcerDoublon"),
        (
            _doc().replace(b"<precision/>", b"<precision>" + b"x" * 300 + b"</precision>"),
            "precision",
        ),
        (b"<interfaceNuu/>", "root element must be"),
    ],
)
def test_invalid_documents(doc: bytes, problem: str) -> None:
    with pytest.raises(InputError, match=problem) as err:
        parse_demande_xml(doc)
    assert "xxxxxxxx" not in str(err.value) and "peut-être" not in str(err.value)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("<inconnu/>", "unexpected element inconnu in demandeLogement"),
        ('<x:forcerDoublon xmlns:x="urn:other">true</x:forcerDoublon>', "namespace must be"),
        ("<forcerDoublon>peut-être</forcerDoublon>", "demandeLogement.forcerDoublon: not an xs"),
        ("<forcerDoublon>true</forcerDoublon><forcerDoublon>true</forcerDoublon>", "twice"),
        (
            "<logementRecherche><montantLoyer>99999999999</montantLoyer></logementRecherche>",
            "montantLoyer: not an xs:int",
        ),
        (
            "<logementRecherche><listeTypeLogement><autre/></listeTypeLogement></logementRecherche>",
            "unexpected element autre in demandeLogement.logementRecherche.listeTypeLogement",
        ),
        ("<refInterne><b/></refInterne>", "refInterne: a string element cannot have child"),
    ],
)
def test_structural_errors_without_xsd(body: str, problem: str) -> None:
    with pytest.raises(InputError, match=problem) as err:
        parse_demande_xml(_doc(body), validate=False)
    assert err.value.code == "invalid_interfacenuu"


@pytest.mark.parametrize(
    ("body", "read"),
    [
        # another prefix for the same namespace: legal XML, the same element
        ('<n:forcerDoublon xmlns:n="http://nuu.application.i2/">true</n:forcerDoublon>', True),
        # a namespace that only begins like ours, and one that ends like it: not ours
        ('<x:forcerDoublon xmlns:x="http://nuu.application.i2/x">true</x:forcerDoublon>', None),
        ('<x:forcerDoublon xmlns:x="urn:http://nuu.application.i2/">true</x:forcerDoublon>', None),
        ('<forcerDoublon xmlns="">true</forcerDoublon>', None),
    ],
)
def test_element_names_are_read_by_namespace_not_by_prefix(body: str, read: bool | None) -> None:
    """The local name is taken from the tag's text (``{namespace}name``) without a QName:
    only an element of exactly the InterfaceNuu namespace is read, whatever its prefix."""
    if read is None:
        with pytest.raises(InputError, match="namespace must be"):
            parse_demande_xml(_doc(body), validate=False)
    else:
        event = parse_demande_xml(_doc(body), validate=False)
        assert event["demande"]["demandeLogement"]["forcerDoublon"] is read


def test_hostile_xml_is_refused_before_mapping() -> None:
    doc = b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + _doc()
    with pytest.raises(InputError) as err:
        parse_demande_xml(doc)
    assert err.value.code == "hostile_xml"


def test_generated_schemas_are_up_to_date() -> None:
    gen = ROOT / "scripts" / "gen_sne_schemas.py"
    done = subprocess.run([sys.executable, str(gen), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
