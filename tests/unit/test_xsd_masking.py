"""One masking of XSD error messages (issue 18 point 2): the InterfaceNuu file path
(connectors.interfacenuu.mapping) and the SNE document path (connectors.sne.documents)
both go through hub.core.xmlsafe.mask_xsd_message and say the same thing, without the
document's values."""

from __future__ import annotations

import re

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
