"""One masking of XSD error messages (issue 18 point 2): the InterfaceNuu file path
(connectors.interfacenuu.mapping) and the SNE document path (connectors.sne.documents)
both go through hub.core.xmlsafe.mask_xsd_message and say the same thing, without the
document's values."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from lxml import etree

from connectors.interfacenuu.mapping import parse_demande_xml
from connectors.sne import documents
from hub.core import xmlsafe
from hub.core.errors import InputError

NS = "http://nuu.application.i2/"


DOC = (
    f'<interfaceNuu xmlns="{NS}" versionInterface="02.01">'
    f"<entete><typeFichier>MOD</typeFichier><dateFichier>2024-01-01T00:00:00Z"
    f"</dateFichier></entete><demande><demandeLogement><numGuichet>10691</numGuichet>"
    f"<numUnique>076112500000110691</numUnique>"
    f"<dateCreationDemande>2024-01-01</dateCreationDemande><precision/>"
    f"<association><nom>A</nom></association></demandeLogement></demande></interfaceNuu>"
)

#: what breaks the document (a replacement in DOC) and the value never to be echoed
BROKEN = {
    "too long": ("<precision/>", "<precision>" + "DURAND Jeanne " * 30 + "</precision>", "DURAND"),
    "pattern": ("<numGuichet>10691</numGuichet>", "<numGuichet>Jeanne</numGuichet>", "Jeanne"),
    "apostrophe": (
        "<numGuichet>10691</numGuichet>",
        "<numGuichet>Jeanne d'Arc</numGuichet>",
        "Arc",
    ),
    "date": ("<dateCreationDemande>2024-01-01", "<dateCreationDemande>Durand", "Durand"),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_both_paths_mask_the_same_way(name: str) -> None:
    old, new, secret = BROKEN[name]
    doc = DOC.replace(old, new).encode()
    with pytest.raises(InputError) as by_file:
        parse_demande_xml(doc)
    with pytest.raises(InputError) as by_sne:
        documents.load(doc, "demande")
    file_msg, sne_msg = str(by_file.value.message), str(by_sne.value.message)
    assert secret not in file_msg and secret not in sne_msg
    file_reason = re.sub(r"^.*?\): ", "", file_msg, count=1)
    sne_reason = re.sub(r"^\S+ line \d+: ", "", sne_msg, count=1)
    assert file_reason == sne_reason
    assert NS not in sne_reason and "Element '" in sne_reason
    if name == "date":  # libxml2 quotes the value: masked
        assert "'…' is not a valid value" in sne_reason


def test_the_node_values_are_masked_even_numbers_and_names() -> None:
    root = etree.fromstring(f'<a xmlns="{NS}"><nom code="7">12345</nom></a>'.encode())
    node = root[0]
    msg = (
        f"Element '{{{NS}}}nom', attribute 'code': [facet 'maxLength'] The value '12345' has "
        f"a length of '5'; this exceeds the allowed maximum length of '3'. '7' 'nom'"
    )
    masked = xmlsafe.mask_xsd_message(msg, node=node, names=frozenset({"nom"}), namespace=NS)
    assert "12345" not in masked and "'7'" not in masked
    assert "Element 'nom'" in masked and "'maxLength'" in masked and "'3'" in masked
    assert "'code'" in masked and masked.endswith("'…' 'nom'")


def test_without_the_node_every_unknown_quoted_token_is_masked() -> None:
    msg = "The value 'Jeanne' is not an element of the set {'true', 'false'}; '42' 'pattern'"
    assert xmlsafe.mask_xsd_message(msg) == (
        "The value '…' is not an element of the set {'…', '…'}; '42' 'pattern'"
    )


# -- finding 12: the facet values of the public schema stay, the sender's value does not ---

#: the sample demand written from the domain outline (tests/data/interfacenuu)
COMPLETE = Path(__file__).resolve().parents[1] / "data" / "interfacenuu" / "demande_complete.xml"
#: the facets as the domain outline states them (InterfaceNuu_v0201.txt: typeFichier and
#: mel), not as the code under test reads them
TYPEFICHIER_PATTERN = "[a-zA-Z0-9]{3}"
MEL_PATTERN = r"([a-zA-Z0-9_.\-]+@[a-zA-Z0-9_.\-]+\.[a-zA-Z]{1,3})?"


def _both_paths(doc: bytes) -> list[str]:
    messages = []
    for read in (lambda d: parse_demande_xml(d), lambda d: documents.load(d, "demande")):
        with pytest.raises(InputError) as refused:
            read(doc)
        messages.append(str(refused.value.message))
    return messages


def test_a_pattern_error_shows_the_pattern_and_masks_the_value() -> None:
    """The audit's case: whitespace around CRE breaks typeFichier's pattern; the sender is
    told the pattern (public XSD), not shown the value."""
    doc = COMPLETE.read_bytes().replace(
        b"<typeFichier>MOD</typeFichier>", b"<typeFichier>\n  MOD\n</typeFichier>"
    )
    for msg in _both_paths(doc):
        assert (
            f"Element 'typeFichier': [facet 'pattern'] The value '…' is not accepted by the "
            f"pattern '{TYPEFICHIER_PATTERN}'." in msg
        ), msg


def test_a_personal_value_breaking_a_pattern_stays_masked() -> None:
    secret = "elodie.martin@exemple"  # an e-mail address without its top-level domain
    doc = COMPLETE.read_bytes().replace(
        b"<mel>elodie.martin@example.fr</mel>", f"<mel>{secret}</mel>".encode()
    )
    for msg in _both_paths(doc):
        assert "elodie" not in msg and "exemple" not in msg, msg
        assert f"The value '…' is not accepted by the pattern '{MEL_PATTERN}'." in msg, msg


#: a schema with the facets the InterfaceNuu XSDs do not use (enumeration, fixed value,
#: minimum length), written from XML Schema Part 2, to get libxml2's own messages
FACETS_XSD = b"""<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:t"
  xmlns="urn:t" elementFormDefault="qualified">
 <xs:element name="r"><xs:complexType><xs:sequence>
  <xs:element name="op"><xs:simpleType><xs:restriction base="xs:string">
   <xs:enumeration value="CRE"/><xs:enumeration value="MOD"/></xs:restriction></xs:simpleType>
  </xs:element>
  <xs:element name="nom"><xs:simpleType><xs:restriction base="xs:string">
   <xs:minLength value="2"/><xs:maxLength value="36"/></xs:restriction></xs:simpleType>
  </xs:element>
 </xs:sequence><xs:attribute name="v" type="xs:string" fixed="02.01"/></xs:complexType>
 </xs:element></xs:schema>"""


@pytest.mark.parametrize(
    ("doc", "secret", "kept"),
    [
        (b'<r xmlns="urn:t"><op>Jeanne</op><nom>Durand</nom></r>', "Jeanne",
         "The value '…' is not an element of the set {'CRE', 'MOD'}."),
        (b'<r xmlns="urn:t"><op>CRE</op><nom>D</nom></r>', None,
         "this underruns the allowed minimum length of '2'."),
        (b'<r xmlns="urn:t" v="Durand"><op>CRE</op><nom>Du</nom></r>', "Durand",
         "The value '…' does not match the fixed value constraint '02.01'."),
    ],
)  # fmt: skip
def test_enumerations_lengths_and_fixed_values_of_the_schema_are_kept(
    doc: bytes, secret: str | None, kept: str
) -> None:
    xsd_tree = etree.ElementTree(etree.fromstring(FACETS_XSD))
    schema = etree.XMLSchema(xsd_tree)
    root = etree.fromstring(doc)
    assert not schema.validate(root)
    err = schema.error_log.last_error
    msg = xmlsafe.mask_xsd_message(
        err.message,
        node=xmlsafe.xsd_error_node(root, err.path),
        names=xmlsafe.xsd_names(xsd_tree),
        namespace="urn:t",
    )
    assert kept in msg, msg
    assert secret is None or secret not in msg
